import { describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../../src/dev/simulator/server';
import { SAMPLE_FLOW_IDS } from '../../../src/dev/simulator/sampleTenant';
import { ConnectionsFixture } from './fixture';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Everything a scan reads, minus per-server values (signatures, request ids). */
async function snapshot(sim: SimulatorHandle, fx: ConnectionsFixture) {
  const env = sim.environmentId;
  const flows = await collect(fx.flowApi.listFlows(env));
  const runs = await collect(fx.flowApi.listRuns(env, SAMPLE_FLOW_IDS.syncInvoices));
  const { actions } = await fx.flowApi.getRunActions(env, SAMPLE_FLOW_IDS.syncInvoices, runs[0]!.runId);
  const contents: string[] = [];
  for (const a of actions) for (const l of [a.inputsLink, a.outputsLink]) if (l) contents.push((await fx.flowApi.fetchContent(l)).text ?? '');
  const since = new Date(sim.tenant.run(sim.tenant.flows[0]!, 0).startTime);
  since.setUTCHours(since.getUTCHours() - 6);
  const audits = (await collect(fx.dataverse.listAudits(env, { since: since.toISOString(), pageSize: 4 }))).flatMap((p) => p.rows.map((r) => [r.action, r.objecttypecode, r._objectid_value, r._userid_value]));
  const users = (await collect(fx.dataverse.listSystemUsers(env))).map((u) => u.systemuserid);
  return { flows, runs, actions: actions.map((a) => [a.name, a.status, a.inputsSecured, a.outputsSecured]), contents, audits, users };
}

describe('fault injection', () => {
  it('a 30 % 429 storm (Retry-After as seconds and HTTP-date) gives the same results as a clean run, waiting as told', async () => {
    const fixed = new Date();
    const clean = await startSimulator({ now: () => fixed });
    const stormy = await startSimulator({ now: () => fixed, faults: { rate429: 0.3, retryAfterSeconds: 1, retryAfterForm: 'alternate', seed: 11 } });
    try {
      const expected = await snapshot(clean, new ConnectionsFixture(clean));
      const started = Date.now();
      const got = await snapshot(stormy, new ConnectionsFixture(stormy));
      const elapsed = Date.now() - started;
      expect(got).toEqual(expected);
      const throttled = stormy.stats().faults['429'];
      expect(throttled).toBeGreaterThan(2);
      // Each 429 asked for ≥ 1 s and the client waited (two calls of getRunActions run in parallel, so waits may overlap).
      expect(elapsed).toBeGreaterThanOrEqual(Math.ceil(throttled / 2) * 900);
      const requests = Object.entries(stormy.stats().requests).filter(([k]) => k !== 'token' && k !== 'adminScope').reduce((n, [, v]) => n + v, 0);
      const cleanRequests = Object.entries(clean.stats().requests).filter(([k]) => k !== 'token' && k !== 'adminScope').reduce((n, [, v]) => n + v, 0);
      expect(requests).toBe(cleanRequests + throttled);
    } finally {
      await clean.stop();
      await stormy.stop();
    }
  });

  it('503s, connection resets and slow responses are retried to the same result', async () => {
    const fixed = new Date();
    const clean = await startSimulator({ now: () => fixed });
    const flaky = await startSimulator({ now: () => fixed, faults: { rate503: 0.15, rateReset: 0.15, rateSlow: 0.1, slowMs: 30, seed: 5 } });
    try {
      const expected = await snapshot(clean, new ConnectionsFixture(clean));
      const got = await snapshot(flaky, new ConnectionsFixture(flaky, { retryDelayInMs: 20, maxRetryDelayInMs: 100, maxRetries: 8 }));
      expect(got).toEqual(expected);
      const f = flaky.stats().faults;
      expect(f['503']).toBeGreaterThan(0);
      expect(f.reset).toBeGreaterThan(0);
      expect(f.slow).toBeGreaterThan(0);
    } finally {
      await clean.stop();
      await flaky.stop();
    }
  });

  it('gives up after the retry budget with a typed error', async () => {
    const sim = await startSimulator({ faults: { rate503: 1 } });
    try {
      const fx = new ConnectionsFixture(sim, { maxRetries: 2, retryDelayInMs: 10, maxRetryDelayInMs: 20 });
      await expect(collect(fx.flowApi.listFlows(sim.environmentId))).rejects.toMatchObject({ name: 'HttpError', status: 503 });
      expect(sim.stats().requests['flowapi.flows']).toBe(3);
    } finally {
      await sim.stop();
    }
  });

  it('POST /_sim/faults changes rates and rejects bad ones', async () => {
    const sim = await startSimulator();
    try {
      const bad = await fetch(`${sim.url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ rate429: 2 }) });
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { error: { message: string } }).error.message).toMatch(/rate429/);
      const ok = await fetch(`${sim.url}/_sim/faults`, { method: 'POST', body: JSON.stringify({ rate429: 1, retryAfterForm: 'http-date' }) });
      expect(ok.status).toBe(200);
      const res = await fetch(`${sim.url}/api/data/v9.2/roles`);
      expect(res.status).toBe(429);
      expect(Number.isNaN(Date.parse(res.headers.get('retry-after') ?? ''))).toBe(false);
      expect(res.headers.get('x-ms-service-request-id')).toBeTruthy();
      const stats = (await (await fetch(`${sim.url}/_sim/stats`)).json()) as { requests: Record<string, number>; faults: Record<string, number> };
      expect(stats.requests['dataverse.roles']).toBe(1);
      expect(stats.faults['429']).toBe(1);
    } finally {
      await sim.stop();
    }
  });
});
