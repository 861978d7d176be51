import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../../src/compose';
import { PLANTED_FORMATS } from '../../../src/dev/simulator/fakeSecrets';
import { jobDrainRuns, jobScanRuns, jobScanRunsMessage, MAX_DEQUEUE, PoisonMessageError, validateRunsMessage } from '../../../src/jobs';
import { RunScanCache, scanRun } from '../../../src/pipelines/scanRunWorker';
import { RUNS_SOURCE, runsOf, type RunBatchMessage, type RunsQueueMessage } from '../../../src/pipelines/scanRuns';
import type { FlowApiSource } from '../../../src/ports';
import { HttpError } from '../../../src/sources/httpPipeline';
import { findingIds, startRig, type Rig } from './rig';

/** A generated tenant where Compose actions (same content on both sides) and static connector inputs repeat. */
const TENANT = { flows: 4, runs: 7, actions: 8, secretRate: 0.15, seed: 777 };

const fanOut = (app: App, runsPerMessage: number) => jobScanRuns(app, { runsPerMessage });

async function drainAll(app: App): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await jobDrainRuns(app, { visibilityTimeoutSec: 1, maxIdlePolls: 1 });
    if ((await app.runsQueue.approximateCount()) === 0) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error('runs queue did not drain');
}

describe('runs in batches, content fetched once per hash', () => {
  let batched: Rig;
  let single: Rig;
  beforeAll(async () => {
    [batched, single] = await Promise.all([
      startRig('batched', { tenant: TENANT, recordRequests: true }),
      startRig('single', { tenant: TENANT, recordRequests: true }),
    ]);
  });
  afterAll(async () => {
    await batched?.stop();
    await single?.stop();
  });

  it('scanRuns puts up to N runs of one flow in a message, every finished run exactly once', async () => {
    const { app, sim } = batched;
    const fan = await fanOut(app, 3);
    expect(fan.errors).toEqual([]);
    const t = sim.tenant;
    const finished = t.flows.flatMap((f) => Array.from({ length: f.runCount }, (_, r) => `${f.id}/${t.run(f, r).name}`));
    expect(fan.enqueued).toBe(finished.length);
    // 7 runs per flow in messages of at most 3: 3 + 3 + 1 per flow.
    expect(fan.messages).toBe(TENANT.flows * 3);

    const seen: string[] = [];
    const bodies: RunsQueueMessage[] = [];
    for (;;) {
      const got = await app.runsQueue.receive(32, 30);
      if (!got.length) break;
      for (const m of got) bodies.push(m.body);
      // Put them back for the drain below (receive hid them for 30 s).
      await Promise.all(got.map((m) => app.runsQueue.delete(m)));
    }
    for (const body of bodies) {
      const msg = validateRunsMessage(body) as RunBatchMessage;
      expect(msg.runs.length).toBeGreaterThan(0);
      expect(msg.runs.length).toBeLessThanOrEqual(3);
      for (const r of runsOf(msg)) {
        expect(r.flowId).toBe(msg.flowId);
        seen.push(`${r.flowId}/${r.runId}`);
      }
    }
    expect(seen.sort()).toEqual([...finished].sort());
    await app.runsQueue.sendMany(bodies);
    await drainAll(app);

    // The same tenant, one message per run: the same findings, id for id.
    const one = await fanOut(single.app, 1);
    expect(one.messages).toBe(finished.length);
    await drainAll(single.app);
    const a = await findingIds(app);
    const b = await findingIds(single.app);
    expect(a.ids.length).toBeGreaterThan(5);
    expect(a).toEqual(b);
  });

  it('content with the same hash is fetched once, and its cached hits give the findings a fetch gives', async () => {
    const { app, sim } = batched;
    const t = sim.tenant;
    const g = sim.generated!;
    // Every planted side was found, the Compose outputs (served from their inputs' hash) included.
    const sides = new Set((await app.findingStore.queryAll({ kind: 'secret-exposure' })).map((f) => `${f.subject.id}|${String(f.evidence['direction'])}`));
    let planted = 0;
    let composeOutputs = 0;
    for (const p of g.plantedSecrets()) {
      planted++;
      if (p.actionName.startsWith('Compose_') && p.direction === 'outputs') composeOutputs++;
      expect(sides.has(`${p.flowId}/runs/${p.runId}/actions/${p.actionName}|${p.direction}`), `${p.actionName} ${p.direction} ${p.format}`).toBe(true);
    }
    expect(planted).toBeGreaterThan(5);
    expect(composeOutputs).toBeGreaterThan(0);
    expect(PLANTED_FORMATS.length).toBeGreaterThan(0);

    // One fetch per distinct content (hash and size), not per side.
    const contentFetches = sim.requestLog().filter((r) => r.kind === 'content');
    const unsecuredSides = t.flows.reduce((n, f) => n + Array.from({ length: f.runCount }, (_, r) => t.runActions(f, r)).flat().reduce((k, a) => k + (a.secureInputs ? 0 : 1) + (a.secureOutputs ? 0 : 1), 0), 0);
    const distinct = new Set<string>();
    for (const f of t.flows)
      for (let r = 0; r < f.runCount; r++)
        for (const a of t.runActions(f, r))
          for (const d of ['inputs', 'outputs'] as const) if (!(d === 'inputs' ? a.secureInputs : a.secureOutputs)) distinct.add(JSON.stringify(t.content(f, r, a.name, d)));
    expect(contentFetches.length).toBe(distinct.size);
    expect(contentFetches.length).toBeLessThan(unsecuredSides * 0.8);

    // Scanning each run alone with a cold cache (every distinct content of the run fetched) writes
    // the same findings, id for id, as the shared cache did.
    const cold: string[] = [];
    const store = { ...app.findings, upsertMany: async (fs: Parameters<App['findings']['upsertMany']>[0]) => (cold.push(...fs.map((f) => f.id)), { created: fs.map((f) => f.id) }) };
    for (const f of t.flows)
      for (let r = 0; r < f.runCount; r++)
        await scanRun(
          { flowApi: app.flowApi, findings: store, policy: app.policy, fingerprintKey: app.config.fingerprintKey, clock: app.clock, log: app.log, cache: new RunScanCache() },
          { environmentId: sim.environmentId, flowId: f.id, runId: t.run(f, r).name, flowName: f.displayName },
        );
    const warm = (await app.findingStore.queryAll({ kind: 'secret-exposure' })).filter((f) => f.subject.type === 'flow-run-action').map((f) => f.id);
    expect([...new Set(cold)].sort()).toEqual([...new Set(warm)].sort());
  });

  it('several runs asking for the same content at once wait for one fetch', async () => {
    const { app, sim } = single;
    const t = sim.tenant;
    const f = t.flows[1]!;
    const before = sim.requestLog().filter((r) => r.kind === 'content').length;
    const cache = new RunScanCache();
    const deps = { flowApi: app.flowApi, findings: app.findings, policy: app.policy, fingerprintKey: app.config.fingerprintKey, clock: app.clock, log: app.log, cache };
    const twice = await Promise.all([0, 0, 0].map(() => scanRun(deps, { environmentId: sim.environmentId, flowId: f.id, runId: t.run(f, 2).name })));
    const fetched = sim.requestLog().filter((r) => r.kind === 'content').length - before;
    expect(twice.map((r) => r.fetched).reduce((a, b) => a + b, 0)).toBe(fetched);
    expect(fetched).toBe(twice[0]!.fetched + twice[1]!.fetched + twice[2]!.fetched);
    // Three scans of one run: each distinct content of the run once in all.
    const distinct = new Set(t.runActions(f, 2).flatMap((a) => (['inputs', 'outputs'] as const).filter((d) => !(d === 'inputs' ? a.secureInputs : a.secureOutputs)).map((d) => JSON.stringify(t.content(f, 2, a.name, d)))));
    expect(fetched).toBe(distinct.size);
    expect(new Set(twice.map((r) => r.findings))).toHaveProperty('size', 1);
  });
});

describe('a message of several runs when some fail', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig('batchFail', { tenant: TENANT });
  });
  afterAll(async () => {
    await rig?.stop();
  });

  /** The app, with getRunActions of the given runs failing as a throttled call does once its retries are spent. */
  function failing(app: App, runIds: Set<string>): App {
    const flowApi: FlowApiSource = Object.create(app.flowApi) as FlowApiSource;
    flowApi.getRunActions = async (environmentId, flowId, runId, options) => {
      if (runIds.has(runId)) throw new HttpError(429, `https://flow.invalid/runs/${runId}`, 'req-1', undefined, `GET runs/${runId} failed: 429`);
      return app.flowApi.getRunActions(environmentId, flowId, runId, options);
    };
    return { ...app, flowApi };
  }

  it('scans the others, sends the failed run again on its own, throws only when nothing got anywhere, and sets it aside after the retries', async () => {
    const { app, sim } = rig;
    const t = sim.tenant;
    const f = t.flows[0]!;
    const runIds = [0, 1, 2].map((r) => t.run(f, r).name);
    const bad = runIds[1]!;
    const broken = failing(app, new Set([bad]));
    const msg: RunBatchMessage = { environmentId: sim.environmentId, flowId: f.id, flowName: f.displayName, runs: runIds.map((runId) => ({ runId })) };

    const r = await jobScanRunsMessage(broken, msg);
    expect(r).toMatchObject({ runs: 3, requeued: 1 });
    expect(r.actions).toBe(2 * TENANT.actions);
    const again = await app.runsQueue.receive(32, 1);
    expect(again).toHaveLength(1);
    expect(again[0]!.body).toEqual({ environmentId: sim.environmentId, flowId: f.id, flowName: f.displayName, runs: [{ runId: bad }] });
    // The findings of the two good runs are written.
    const written = new Set((await app.findingStore.queryAll({ kind: 'secret-exposure' })).map((x) => String(x.evidence['runId'])));
    for (const p of sim.generated!.plantedSecrets()) if (p.flowId === f.id && p.runId !== bad && runIds.includes(p.runId)) expect(written.has(p.runId)).toBe(true);

    // The split message alone: nothing gets anywhere, so it throws and the queue retries it.
    await expect(jobScanRunsMessage(broken, again[0]!.body)).rejects.toThrow(/429/);
    await app.runsQueue.delete(again[0]!);

    // Through the drain: retried by the queue until maxDequeueCount, then set aside with a poison row.
    await broken.runsQueue.send({ environmentId: sim.environmentId, flowId: f.id, runs: [{ runId: bad }] });
    for (let i = 0; i < MAX_DEQUEUE + 2 && (await app.runsQueue.approximateCount()) > 0; i++) {
      await jobDrainRuns(broken, { visibilityTimeoutSec: 1, maxIdlePolls: 1 });
      await new Promise((res) => setTimeout(res, 1100));
    }
    expect(await app.runsQueue.approximateCount()).toBe(0);
    const poison = await app.poison.list(RUNS_SOURCE);
    expect(poison.map((p) => p.key)).toContain(`${f.id}/${bad}`);
    expect(poison.find((p) => p.key === `${f.id}/${bad}`)?.reason).toMatch(/429/);

    // Without the fault the same run scans cleanly (nothing about it was lost but time).
    const ok = await jobScanRunsMessage(app, { environmentId: sim.environmentId, flowId: f.id, runs: [{ runId: bad }] });
    expect(ok).toMatchObject({ runs: 1, requeued: 0, actions: TENANT.actions });
  });

  it('a storage failure stops the drain with that error, and the message comes back to be scanned again', async () => {
    const { app, sim } = rig;
    const t = sim.tenant;
    const f = t.flows[1]!;
    await app.runsQueue.send({ environmentId: sim.environmentId, flowId: f.id, runs: [{ runId: t.run(f, 3).name }] });
    const failing = (method: 'receive' | 'delete'): App => {
      const q = Object.create(app.runsQueue) as App['runsQueue'];
      q[method] = async () => {
        throw new Error(`storage down (${method})`);
      };
      return { ...app, runsQueue: q };
    };
    await expect(jobDrainRuns(failing('receive'), { visibilityTimeoutSec: 1 })).rejects.toThrow(/storage down \(receive\)/);
    // Scanned, but the delete fails: the drain stops with the error, the message is not lost.
    await expect(jobDrainRuns(failing('delete'), { visibilityTimeoutSec: 1, concurrency: 4 })).rejects.toThrow(/storage down \(delete\)/);
    await new Promise((r) => setTimeout(r, 1200));
    const back = await app.runsQueue.receive(1, 30);
    expect(back.map((m) => m.dequeueCount)).toEqual([2]);
    await app.runsQueue.delete(back[0]!);
  });

  it('a batch message of the wrong shape is refused naming the field', () => {
    expect(() => validateRunsMessage({ environmentId: 'e', flowId: 'f', runs: [] })).toThrow(/runs must be a non-empty array/);
    expect(() => validateRunsMessage({ environmentId: 'e', flowId: 'f', runs: [{ runId: 'a' }, { runId: 5 }] })).toThrow(/runs\[1\]\.runId/);
    expect(() => validateRunsMessage({ environmentId: 'e', runs: [{ runId: 'a' }] })).toThrow(/flowId/);
    expect(() => validateRunsMessage({ environmentId: 'e', flowId: 'f', runs: [{ runId: 'a' }] })).not.toThrow();
    expect(() => validateRunsMessage({ environmentId: 'e', flowId: 'f', runs: 'x' })).toThrow(PoisonMessageError);
  });
});
