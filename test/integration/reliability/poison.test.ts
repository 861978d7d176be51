import { QueueServiceClient } from '@azure/storage-queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveApp } from '../../../src/cli/serve';
import { fakeGithubPat } from '../../../src/dev/simulator/fakeSecrets';
import { ORGANIZATION_ID, USERS } from '../../../src/dev/simulator/ids';
import { dynamicsHeaders, remoteExecutionContext } from '../../../src/dev/webhookSamples';
import { jobHealthReport, jobPollAudit, jobScanRuns, MAX_DEQUEUE } from '../../../src/jobs';
import { AUDIT_SOURCE } from '../../../src/pipelines/pollAudit';
import { RUNS_SOURCE } from '../../../src/pipelines/scanRuns';
import { WEBHOOK_SOURCE } from '../../../src/pipelines/dataverseWebhook';
import { drainUntilEmpty } from './passes';
import { RIG_WEBHOOK_SECRET, startRig, type Rig } from './rig';

/** Raw answers the simulator serves instead of the real ones, by path (set once the tenant is known). */
const raw = new Map<string, { status?: number; body: string; contentType?: string }>();

describe('poison input', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('poison', { rawResponse: (_kind, p) => raw.get(p) });
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('run history: malformed content is scanned as text or skipped, a run of the wrong shape and garbage queue messages are set aside, the rest is found', async () => {
    const { sim, app } = rig;
    const t = sim.tenant;
    const [f0, f1, f2] = t.flows as [(typeof t.flows)[0], (typeof t.flows)[0], (typeof t.flows)[0]];
    const unsecured = (flow: typeof f0, r: number) => t.runActions(flow, r).find((a) => !a.secureInputs)!.name;
    const contentPath = (flow: typeof f0, r: number, action: string) =>
      `/workflows/${flow.id.replace(/-/g, '')}/runs/${t.run(flow, r).name}/actions/${encodeURIComponent(action)}/contents/ActionInputs`;
    const pat1 = fakeGithubPat(77, 'poison', 1);
    const pat2 = fakeGithubPat(77, 'poison', 2);
    // Not JSON at all, with a token in it: scanned as text.
    const a0 = unsecured(f0, 0);
    raw.set(contentPath(f0, 0, a0), { body: `upstream said: token=${pat1} (truncated`, contentType: 'text/plain' });
    // Truncated JSON: scanned as text.
    const a1 = unsecured(f0, 1);
    raw.set(contentPath(f0, 1, a1), { body: `{"headers":{"Authorization":"token ${pat2}"},"body":{"items":[1,2,` });
    // 50,000 levels of nesting: no stack overflow, the run completes.
    const a2 = unsecured(f1, 0);
    raw.set(contentPath(f1, 0, a2), { body: '{"a":'.repeat(50_000) + '1' + '}'.repeat(50_000) });
    // A run whose body has the wrong shape (name not a string): an error naming the field, retried, set aside.
    const badRun = t.run(f2, 0).name;
    raw.set(`/providers/Microsoft.ProcessSimple/scopes/admin/environments/${sim.environmentId}/flows/${f2.id}/runs/${badRun}`, { body: '{"name":42,"properties":"x"}' });

    const fan = await jobScanRuns(app);
    expect(fan.errors).toEqual([]);
    // Garbage straight into the queue: not JSON, and JSON without a run id.
    const qs = QueueServiceClient.fromConnectionString(rig.env.FLOWWARDEN_STORAGE_CONNECTION_STRING!);
    const q = qs.getQueueClient(app.runsQueue.name);
    await q.sendMessage(Buffer.from('this is not json {', 'utf8').toString('base64'));
    await q.sendMessage(Buffer.from(JSON.stringify({ environmentId: sim.environmentId, flowId: f0.id }), 'utf8').toString('base64'));

    await drainUntilEmpty(app, 1, MAX_DEQUEUE + 3);

    const poison = await app.poison.list(RUNS_SOURCE);
    const bad = poison.find((p) => p.key === `${f2.id}/${badRun}`);
    expect(bad?.reason).toMatch(/name/);
    expect(poison.some((p) => /environmentId/.test(p.reason) && p.key === '?/?')).toBe(true);
    expect(poison.some((p) => /runId/.test(p.reason) && p.key === `${f0.id}/?`)).toBe(true);
    expect(poison).toHaveLength(3);
    expect(await app.runsQueue.poisonCount()).toBe(3);
    // A poison record never carries the content (it may hold secrets).
    expect(JSON.stringify(poison)).not.toContain('ghp_');

    const findings = await app.findingStore.queryAll({ kind: 'secret-exposure' });
    const sides = new Set(findings.map((f) => `${f.subject.id}|${String(f.evidence['direction'])}`));
    const side = (flow: typeof f0, r: number, a: string) => `${flow.id}/runs/${t.run(flow, r).name}/actions/${a}|inputs`;
    expect(sides.has(side(f0, 0, a0))).toBe(true);
    expect(sides.has(side(f0, 1, a1))).toBe(true);
    // Every planted secret outside the poisoned run and the replaced sides is found: the batch went on.
    const replaced = new Set([side(f0, 0, a0), side(f0, 1, a1), side(f1, 0, a2)]);
    let checked = 0;
    for (const p of sim.generated!.plantedSecrets()) {
      const k = `${p.flowId}/runs/${p.runId}/actions/${p.actionName}|${p.direction}`;
      if (p.runId === badRun || replaced.has(k)) continue;
      expect(sides.has(k), k).toBe(true);
      checked++;
    }
    expect(checked).toBeGreaterThan(3);
    // No finding and no log line carries a secret value.
    expect(JSON.stringify(findings)).not.toContain(pat1);
    expect(rig.log.lines.join('\n')).not.toContain(pat1);
  });

  it('audit log: an unknown action code is counted and mapped, an unattributable row is set aside naming the field, the page goes on', async () => {
    const { sim, app } = rig;
    const audits = sim.tenant.dataverse.sets['audits']!;
    const template = audits.find((r) => r['action'] === 2 && r['objecttypecode'] === 'account') ?? audits[0]!;
    const at = new Date(Date.now() - 5 * 60_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    audits.push({ ...template, auditid: 'a0d17000-0000-4000-8000-00000000aa01', action: 9999, createdon: at });
    audits.push({ ...template, auditid: 'a0d17000-0000-4000-8000-00000000aa02', _userid_value: 'not-a-guid', createdon: at });
    audits.push({ ...template, auditid: 'a0d17000-0000-4000-8000-00000000aa03', createdon: 'yesterday-ish' });

    const r = await jobPollAudit(app);
    expect(r.unknownActions['action:9999']).toBe(1);
    expect(r.poisoned).toBeGreaterThanOrEqual(1);
    expect(r.created).toBeGreaterThan(0);
    const set = await app.poison.list(AUDIT_SOURCE);
    expect(set.some((p) => /_userid_value/.test(p.reason))).toBe(true);
    expect(r.environments[0]!.status).toBe('ok');
  });

  it('webhook: truncated bodies, wrong content types, huge and deeply nested bodies get 4xx naming the problem; bad bodies are set aside and counted in health', async () => {
    const { app } = rig;
    const host = await serveApp(app, { port: 0, timers: false, queues: false });
    try {
      const orgHost = new URL(app.policy.environments[0]!.dataverseUrl).host;
      const valid = remoteExecutionContext({
        message: 'Update',
        table: 'cr5f2_invoice',
        recordId: '1c0ffee0-0000-4000-8000-00000000e001',
        userId: USERS.bob.systemuserid,
        attributes: { cr5f2_amount: 5 },
        organizationId: ORGANIZATION_ID,
        at: new Date(),
        correlationId: 'c0ffee00-0000-4000-8000-00000000e001',
      });
      const post = async (body: string | Buffer, contentType = 'application/json') => {
        const res = await fetch(`${host.url}/api/webhooks/dataverse`, {
          method: 'POST',
          headers: { ...dynamicsHeaders({ organizationHost: orgHost, table: 'cr5f2_invoice', message: 'Update' }), 'content-type': contentType, 'x-flowwarden-key': RIG_WEBHOOK_SECRET },
          body,
        });
        return { status: res.status, body: await res.text() };
      };
      const before = (await jobHealthReport(app)).poisonRecords;

      const truncated = await post(valid.slice(0, Math.floor(valid.length / 2)));
      expect(truncated.status).toBe(400);
      expect(JSON.parse(truncated.body).field).toBe('(body)');
      const wrongType = await post(valid, 'text/plain');
      expect(wrongType.status).toBe(415);
      expect(wrongType.body).toMatch(/content-type/);
      const huge = await post(Buffer.alloc(app.config.webhookMaxBytes + 10, 0x20));
      expect(huge.status).toBe(413);
      const deep = await post('{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000));
      expect([400, 413]).toContain(deep.status);
      const wrongField = await post(JSON.stringify({ MessageName: 42, PrimaryEntityName: 'account' }));
      expect(wrongField.status).toBe(400);
      expect(JSON.parse(wrongField.body).field).toBe('MessageName');
      // Nothing of the input is echoed back.
      expect(truncated.body).not.toContain('cr5f2_amount');
      // The batch goes on: the next good delivery is accepted.
      expect((await post(valid)).status).toBe(202);

      const after = await jobHealthReport(app);
      const webhookPoison = await app.poison.list(WEBHOOK_SOURCE);
      expect(webhookPoison.length).toBeGreaterThanOrEqual(2);
      expect(after.poisonRecords - before).toBe(webhookPoison.length);
    } finally {
      await host.stop();
    }
  });
});
