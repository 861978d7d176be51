import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compose, type App } from '../../../src/compose';
import { loadConfig } from '../../../src/config';
import { jobDrainAlerts, jobPollAudit, jobScanRun, jobScanRuns } from '../../../src/jobs';
import { memoryLogger } from '../../../src/log';
import type { RunScanMessage } from '../../../src/pipelines/scanRuns';
import { loadPolicyFile } from '../../../src/policyFile';
import { drainUntilEmpty } from './passes';
import { findingIds, sentAlertMessages, sleep, startRig, type Rig } from './rig';

/** A second instance on the same storage: its own process-level caches and clients, as on another host. */
async function secondInstance(rig: Rig): Promise<App> {
  const config = loadConfig(rig.env);
  return compose(config, await loadPolicyFile(config.policyPath), { log: memoryLogger(), storageNamePrefix: rig.prefix });
}

describe('concurrency', () => {
  let reference: Rig;
  let rig: Rig;
  beforeAll(async () => {
    [reference, rig] = await Promise.all([startRig('concRef'), startRig('conc')]);
  });
  afterAll(async () => {
    await reference?.stop();
    await rig?.stop();
  });

  it('two workers on the same run, two scanRuns and two pollAudit timers overlapping, two alert drains: one set of findings, no alert twice', async () => {
    // Reference: one instance, one pass.
    expect((await jobScanRuns(reference.app)).errors).toEqual([]);
    await drainUntilEmpty(reference.app, 1);
    await jobPollAudit(reference.app);
    await jobDrainAlerts(reference.app);
    const expected = await findingIds(reference.app);

    const a = rig.app;
    const b = await secondInstance(rig);

    // Two timers overlap: the checkpoint's ETag lets at most one advance it; the other backs off or
    // re-enqueues the same runs (the worker is idempotent).
    const fans = await Promise.all([jobScanRuns(a), jobScanRuns(b)]);
    for (const f of fans) expect(f.errors).toEqual([]);
    expect(fans.some((f) => f.enqueued > 0)).toBe(true);

    // Two workers on the same run at the same moment (a message redelivered while its first worker still runs).
    const t = rig.sim.tenant;
    const runs: RunScanMessage[] = t.flows.flatMap((flow) => Array.from({ length: flow.runCount }, (_, r) => ({ environmentId: t.environmentId, flowId: flow.id, runId: t.run(flow, r).name })));
    const pairs = await Promise.all(runs.map((m) => Promise.all([jobScanRun(a, m), jobScanRun(b, m)])));
    for (const [x, y] of pairs) expect(x.findings).toBe(y.findings);
    // …and both instances drain the queue side by side.
    await Promise.all([drainUntilEmpty(a, 1), drainUntilEmpty(b, 1)]);

    // Two pollAudit timers overlapping: one owns the environment, the other sees the ETag conflict and leaves it.
    const polls = await Promise.all([jobPollAudit(a), jobPollAudit(b)]);
    const statuses = polls.map((p) => p.environments[0]!.status);
    expect(statuses).toContain('ok');
    expect(statuses).not.toContain('failed');

    // Two alert drains at once; then, as the queue trigger does, whatever one of them deferred comes
    // back and is drained until the queue is empty. The ACS quota is not what this test is about
    // (deliverAlerts.test.ts covers the throttle): both instances published the findings they saw as
    // new, and two drains of duplicated items plan more, smaller messages than one drain, which can
    // fill the default 10-sends-a-minute window and defer the rest by up to a minute.
    for (const app of [a, b]) app.policy.alerts.sendLimits = { perMinute: 600, perHour: 6000 };
    await Promise.all([jobDrainAlerts(a), jobDrainAlerts(b)]);
    for (let i = 0; i < 20 && (await a.alertsQueue.approximateCount()) > 0; i++) {
      await sleep(1100);
      await Promise.all([jobDrainAlerts(a), jobDrainAlerts(b)]);
    }
    expect(await a.alertsQueue.approximateCount()).toBe(0);

    const got = await findingIds(a);
    expect(got.ids).toEqual(expected.ids);
    expect(got.rows).toBe(got.ids.length);

    const messages = await sentAlertMessages(a);
    const alerted = messages.flatMap((m) => m.findingIds.map((id) => `${m.route}|${id}`));
    expect(new Set(alerted).size).toBe(alerted.length);
    expect(rig.acs.sent.length).toBe(messages.length);
    const refAlerted = (await sentAlertMessages(reference.app)).flatMap((m) => m.findingIds.map((id) => `${m.route}|${id}`));
    expect(alerted.sort()).toEqual(refAlerted.sort());
  });
});
