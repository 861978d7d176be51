import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { samplePlantedSecretValues } from '../../src/dev/simulator/sampleTenant';
import { runDemoPipeline } from '../../src/cli/demo';
import { TABLES } from '../../src/sinks/tableService';

const root = path.resolve(__dirname, '../..');
const planted = samplePlantedSecretValues();

/** Rules the sample tenant is built to show (issues: secret exposure, environment variables, modifiers, drift). */
const EXPECTED_RULES = [
  'secret.keyvault-getsecret-unsecured',
  'secret.http-auth-unsecured',
  'secret.hardcoded-in-definition',
  'secret.plaintext-environment-variable',
  'secret.secret-env-var-unsecured-action',
  'secret.jwt',
  'secret.azure-storage-connection-string',
  'secret.azure-functions-key-url',
  'modifier.not-in-policy',
  'modifier.person-on-automation-table',
  'modifier.outside-lane',
  'modifier.first-seen',
  'modifier.impersonation',
  'drift.role-added',
  'drift.role-removed',
  'drift.owner-has-data-roles',
  'drift.privileged-app-user',
  'drift.flow-owner-changed',
  'drift.coowner-added',
  'drift.shared-beyond-policy',
  'drift.connection-owned-by-person',
  'drift.single-identity-everything',
];

function expectNoSecret(where: string, text: string): void {
  for (const v of planted) expect(text.includes(v), `${where} contains a planted secret value`).toBe(false);
}

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(root, 'bin/flowwarden.js'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npx flowwarden demo --json (end to end, compiled CLI in a child process)', () => {
  const outbox = mkdtempSync(path.join(os.tmpdir(), 'fw-outbox-'));
  let res: { code: number | null; stdout: string; stderr: string };
  beforeAll(async () => {
    res = await runCli(['demo', '--json', '--outbox', outbox]);
  }, 240_000);
  afterAll(() => rmSync(outbox, { recursive: true, force: true }));

  it('exits 0 and prints a JSON array of findings with the contract fields', () => {
    expect(res.code, res.stderr).toBe(0);
    const findings = JSON.parse(res.stdout) as Record<string, unknown>[];
    expect(Array.isArray(findings)).toBe(true);
    expect(findings.length).toBeGreaterThan(20);
    for (const f of findings) {
      for (const k of ['id', 'kind', 'ruleId', 'severity', 'environmentId', 'subject', 'observedAt', 'title', 'detail', 'evidence', 'detectedAt']) expect(f, k).toHaveProperty(k);
      expect(['secret-exposure', 'unexpected-modifier', 'permission-drift']).toContain(f['kind']);
      expect(['critical', 'high', 'medium', 'low', 'info']).toContain(f['severity']);
      expect(Number.isNaN(Date.parse(String(f['observedAt'])))).toBe(false);
    }
    expect(new Set(findings.map((f) => f['id'])).size).toBe(findings.length);
  });

  it('shows every detection of the sample tenant', () => {
    const rules = new Set((JSON.parse(res.stdout) as { ruleId: string }[]).map((f) => f.ruleId));
    for (const r of EXPECTED_RULES) expect(rules.has(r), r).toBe(true);
  });

  it('prints no planted secret value on stdout or stderr, nor in the outbox', () => {
    expectNoSecret('stdout', res.stdout);
    expectNoSecret('stderr', res.stderr);
    const files = readdirSync(outbox).filter((f) => f.endsWith('.eml'));
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expectNoSecret(f, readFileSync(path.join(outbox, f), 'utf8'));
  });
});

describe('demo pipeline (in process): nothing written anywhere carries a secret, and a second pass is silent', () => {
  const outbox = mkdtempSync(path.join(os.tmpdir(), 'fw-outbox-'));
  let demo: Awaited<ReturnType<typeof runDemoPipeline>>;
  beforeAll(async () => {
    demo = await runDemoPipeline({ outboxDir: outbox });
  }, 240_000);
  afterAll(async () => {
    await demo?.stop();
    rmSync(outbox, { recursive: true, force: true });
  });

  it('runs every step without failure', () => {
    expect(demo.steps.filter((s) => !s.ok)).toEqual([]);
    const names = demo.steps.map((s) => s.step);
    for (const s of ['snapshotPermissions', 'scanRuns', 'scanDefinitions', 'pollAudit', 'dataverseWebhook', 'deliverAlerts', 'deliverDigest', 'healthCheck']) expect(names).toContain(s);
  });

  it('sends immediate emails and one digest, and nothing new on the second pass', () => {
    expect(demo.emails.length).toBeGreaterThan(0);
    expect(demo.emails.filter((s) => /digest/i.test(s)).length).toBeGreaterThanOrEqual(1);
    expect(demo.secondPass).toEqual({ newFindings: 0, emails: 0 });
  });

  it('no table row, email, ingestion payload or log line contains a planted secret value', async () => {
    for (const base of Object.values(TABLES)) {
      const client = await demo.app.tables.ready(base);
      for await (const e of client.listEntities()) expectNoSecret(`table ${base}`, JSON.stringify(e));
    }
    for (const f of readdirSync(outbox)) expectNoSecret(f, readFileSync(path.join(outbox, f), 'utf8'));
    expect(demo.logAnalyticsRows).toBeGreaterThan(0);
    expectNoSecret('Log Analytics rows', JSON.stringify(demo.logs.rows));
    for (const r of demo.logs.requests) expectNoSecret('Logs Ingestion request', r.body);
    expectNoSecret('ACS emails', JSON.stringify(demo.acs.sent));
    for (const r of demo.acs.requests) expectNoSecret('ACS request', JSON.stringify(r));
    for (const line of demo.logLines) expectNoSecret('log', line);
  });
});
