import { describe, expect, it } from 'vitest';
import { makeFinding, type Finding } from '../../../src/core/finding';
import { memoryLogger } from '../../../src/log';
import { TableFindingStore } from '../../../src/sinks/findingsTable';
import { PublishingFindingStore } from '../../../src/sinks/publishingFindingStore';
import { isolatedStorage } from '../../helpers/storage';

function finding(i: number): Finding {
  return makeFinding({
    kind: 'secret-exposure',
    ruleId: 'secret.github-pat',
    severity: 'high',
    environmentId: 'env-publish',
    subject: { type: 'flow-run-action', id: `flow/runs/r${i}/actions/a` },
    observedAt: '2025-03-01T10:00:00Z',
    title: 't',
    detail: 'd',
    evidence: { fingerprint: `fp${i}` },
    evidenceKey: `inputs|$.x|fp${i}`,
  }, '2025-03-01T10:05:00Z');
}

describe('publishing new findings (alerts queue) is crash-safe', () => {
  it('a hook that fails (or a process that dies) before the findings are marked published gets them again on the next write; once taken, never again', async () => {
    const { tables } = isolatedStorage('publish');
    const published: string[][] = [];
    let failNext = true;
    const store = new PublishingFindingStore(
      new TableFindingStore(tables),
      [
        {
          name: 'alerts-queue',
          critical: false,
          run: async (created) => {
            if (failNext) {
              failNext = false;
              throw new Error('queue unavailable');
            }
            published.push(created.map((f) => f.id).sort());
          },
        },
      ],
      memoryLogger(),
    );
    const batch = [finding(1), finding(2)];
    const ids = batch.map((f) => f.id).sort();
    // First write: rows stored, the hook fails → not marked published.
    expect((await store.upsertMany(batch)).created.sort()).toEqual(ids);
    expect(published).toEqual([]);
    // The re-scan sees them again and publishes them.
    expect((await store.upsertMany(batch)).created.sort()).toEqual(ids);
    expect(published).toEqual([ids]);
    // From now on they are old news.
    expect((await store.upsertMany(batch)).created).toEqual([]);
    expect(published).toEqual([ids]);
    // One row each in the table.
    expect((await new TableFindingStore(tables).queryAll({})).map((f) => f.id).sort()).toEqual(ids);
  });
});
