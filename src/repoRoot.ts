import { existsSync } from 'node:fs';
import path from 'node:path';

/** The package root (where package.json is), from compiled dist/ or from sources run by vitest. */
export function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'policy'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('flowwarden: cannot find the package root (package.json next to policy/)');
}
