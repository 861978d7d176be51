import { readFile } from 'node:fs/promises';
import { parsePolicy, PolicyError, type Policy } from './core/policy';

/** Read and validate a policy file; a missing file is a PolicyError naming it. */
export async function loadPolicyFile(file: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new PolicyError(file, [{ path: '', message: code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? String(e)})` }]);
  }
  return parsePolicy(text, file);
}
