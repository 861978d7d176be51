import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '../../..');

/** The compiled CLI (npm test builds dist/ first), in a child process with a controlled environment. */
function cli(args: string[], env: Record<string, string> = {}, input?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLOWWARDEN_')));
    const child = spawn(process.execPath, [path.join(root, 'bin/flowwarden.js'), ...args], { cwd: root, env: { ...clean, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'fw-cli-'));
function file(name: string, text: string): string {
  const p = path.join(tmp, name);
  writeFileSync(p, text);
  return p;
}

describe('flowwarden CLI contract', () => {
  it('policy check: 0 for the demo policy', async () => {
    const r = await cli(['policy', 'check', 'policy/demo.policy.yaml']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/valid \(1 environment\(s\), 3 table\(s\), 5 identities\)/);
  });

  it('policy check: 2 with every problem named by file and path', async () => {
    const bad = file('bad.yaml', 'environments:\n  - id: prod\n    dataverseUrl: not-a-url\ntables:\n  contact:\n    allowedModifiers: ["bob"]\n    allowPeople: maybe\n');
    const r = await cli(['policy', 'check', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`invalid policy ${bad}`);
    expect(r.stderr).toContain('environments.0.dataverseUrl: expected an http(s) URL');
    expect(r.stderr).toMatch(/tables\.contact\.allowedModifiers\.0: expected "<systemuser id>", "app:<application id>" or "upn:<user principal name>"/);
    expect(r.stderr).toMatch(/tables\.contact\.allowPeople:/);
  });

  it('policy check: 2 for a missing file and for YAML that does not parse', async () => {
    expect((await cli(['policy', 'check', path.join(tmp, 'nope.yaml')])).stderr).toContain('file not found');
    const r = await cli(['policy', 'check', file('broken.yaml', 'environments: [\n')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('not valid YAML');
  });

  it('a bad setting exits 2 naming the variable', async () => {
    const r = await cli(['findings'], { FLOWWARDEN_POLICY: 'policy/demo.policy.yaml', FLOWWARDEN_FINGERPRINT_KEY: 'short', FLOWWARDEN_WEBHOOK_SECRET: 'local-only-webhook-secret-0000', FLOWWARDEN_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('FLOWWARDEN_FINGERPRINT_KEY: expected at least 32 characters');
  });

  it('unknown commands and options exit 2', async () => {
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect((await cli(['findings', '--bogus'])).code).toBe(2);
    expect((await cli(['policy', 'lint', 'x'])).code).toBe(2);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['demo', 'scan', 'detect', 'findings', 'query', 'simulate', 'serve', 'policy check']) expect(help.stdout).toContain(c);
  });

  it('detect --jsonl reads stdin and writes offsets only', async () => {
    const secret = 'ghp_' + 'a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8';
    const r = await cli(['detect', '--jsonl', '-'], {}, JSON.stringify({ id: 'x', text: `token=${secret}` }) + '\n' + JSON.stringify({ id: 'y', text: 'nothing here' }) + '\n');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; secrets: { ruleId: string; start: number; end: number }[] });
    expect(lines.map((l) => l.id)).toEqual(['x', 'y']);
    expect(lines[0]!.secrets.length).toBeGreaterThan(0);
    expect(lines[1]!.secrets).toEqual([]);
    expect(r.stdout).not.toContain(secret);
  });
});
