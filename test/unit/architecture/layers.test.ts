import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../../..');
function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (p.endsWith('.ts')) out.push(p);
  }
  return out;
}
function imports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);
}

describe('architecture', () => {
  it('src/core imports no SDK and no adapter', () => {
    const bad: string[] = [];
    for (const f of files(path.join(root, 'src/core'))) {
      for (const spec of imports(f)) {
        const resolved = spec.startsWith('.') ? path.relative(root, path.resolve(path.dirname(f), spec)) : spec;
        if (/^@azure\//.test(spec) || /^src\/(sources|sinks|pipelines|dev|cli|host)\b/.test(resolved) || /^src\/(config|compose|jobs|credentials)$/.test(resolved)) {
          bad.push(`${path.relative(root, f)} → ${spec}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  it('functions/ registrations stay thin (no detector or SDK logic)', () => {
    const dir = path.join(root, 'functions');
    for (const f of files(dir)) {
      const lines = readFileSync(f, 'utf8').split('\n').filter((l) => l.trim() && !l.trim().startsWith('//') && !l.trim().startsWith('*'));
      expect(lines.length, path.relative(root, f)).toBeLessThanOrEqual(40);
      for (const spec of imports(f)) expect(spec, path.relative(root, f)).not.toMatch(/^@azure\/(?!functions)/);
    }
  });
});
