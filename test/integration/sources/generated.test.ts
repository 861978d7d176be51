import { describe, expect, it } from 'vitest';
import { startSimulator } from '../../../src/dev/simulator/server';
import { ConnectionsFixture } from './fixture';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('generated tenant over HTTP', () => {
  it('pages runs via nextLink, stops at startedAfter, and serves the planted secrets', async () => {
    const sim = await startSimulator({ tenant: { flows: 3, runs: 120, actions: 4, secretRate: 0.2, seed: 8 }, flowApiPageSize: 50 });
    try {
      const fx = new ConnectionsFixture(sim);
      const flows = await collect(fx.flowApi.listFlows(sim.environmentId));
      expect(flows).toHaveLength(3);
      const runs = await collect(fx.flowApi.listRuns(sim.environmentId, flows[1]!.flowId));
      expect(runs).toHaveLength(120);
      expect(sim.stats().requests['flowapi.runs']).toBe(3);
      expect(new Set(runs.map((r) => r.runId)).size).toBe(120);
      const cutoff = runs[29]!.startTime!;
      const recent = await collect(fx.flowApi.listRuns(sim.environmentId, flows[1]!.flowId, { startedAfter: cutoff }));
      expect(recent.map((r) => r.runId)).toEqual(runs.slice(0, 30).map((r) => r.runId));

      const planted = [...sim.generated!.plantedSecrets()].filter((p) => p.flowIndex === 1 && p.runIndex < 3);
      expect(planted.length).toBeGreaterThan(0);
      for (const p of planted) {
        const { actions } = await fx.flowApi.getRunActions(sim.environmentId, p.flowId, p.runId);
        const a = actions.find((x) => x.name === p.actionName)!;
        const link = p.direction === 'inputs' ? a.inputsLink : a.outputsLink;
        const res = await fx.flowApi.fetchContent(link!);
        const value = p.path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], JSON.parse(res.text!));
        expect(typeof value).toBe('string');
      }
    } finally {
      await sim.stop();
    }
  });
});
