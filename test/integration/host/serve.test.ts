import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoStack, type DemoStack } from '../../../src/cli/demo';
import { serveApp } from '../../../src/cli/serve';
import type { LocalHost } from '../../../src/host/localHost';
import { jobCheckHealth, jobDrainAlerts } from '../../../src/jobs';
import { RUNS_SOURCE } from '../../../src/pipelines/scanRuns';

describe('serve: the local host on the composed app (Azurite, simulator, local ACS)', () => {
  let stack: DemoStack;
  let host: LocalHost;
  beforeAll(async () => {
    stack = await startDemoStack({ storageNamePrefix: `Serve${Date.now().toString(36)}` });
    host = await serveApp(stack.app, { port: 0, timers: false, queues: false });
  }, 60_000);
  afterAll(async () => {
    await host?.stop();
    await stack?.stop();
  });

  it('GET /api/health is 200 while every source advances, unknown routes 404, wrong methods 405', async () => {
    const res = await fetch(`${host.url}/api/health`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('healthy');
    expect((await fetch(`${host.url}/api/nope`)).status).toBe(404);
    expect((await fetch(`${host.url}/api/health`, { method: 'POST' })).status).toBe(405);
  });

  it('the webhook route refuses a call without the key before reading the body', async () => {
    const res = await fetch(`${host.url}/api/webhooks/dataverse`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"MessageName":"Update"}' });
    expect(res.status).toBe(401);
    expect(await res.text()).not.toContain('MessageName');
  });

  it('a source that stopped advancing: 503 on /api/health, one health.source-stalled finding, and an email', async () => {
    const { app, acs } = stack;
    const envId = app.policy.environments[0]!.id;
    const longAgo = new Date(Date.now() - 3 * 3600_000).toISOString();
    await app.checkpoints.put({ source: RUNS_SOURCE, environmentId: envId, watermark: longAgo, lastSuccess: longAgo, lastAttempt: new Date().toISOString(), lastError: 'HTTP 503 from the Flow API', consecutiveFailures: 12 });
    const res = await fetch(`${host.url}/api/health`);
    expect(res.status).toBe(503);
    const report = (await res.json()) as { sources: { source: string; stalled: boolean; consecutiveFailures: number }[] };
    expect(report.sources.find((s) => s.source === RUNS_SOURCE)).toMatchObject({ stalled: true, consecutiveFailures: 12 });

    const first = await jobCheckHealth(app);
    expect(first.created.length).toBe(1);
    expect(first.findings[0]!.ruleId).toBe('health.source-stalled');
    expect((await jobCheckHealth(app)).created).toEqual([]);

    const before = acs.sent.length;
    await jobDrainAlerts(app);
    const mails = acs.sent.slice(before);
    expect(mails.length).toBeGreaterThan(0);
    expect(mails.some((m) => /stalled|flow-runs/i.test(`${m.subject}\n${m.plainText ?? ''}`))).toBe(true);
  });
});
