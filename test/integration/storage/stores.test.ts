import { describe, expect, it } from 'vitest';
import { makeFinding, type Finding } from '../../../src/core/finding';
import { ConcurrencyError } from '../../../src/ports';
import { TableCheckpointStore } from '../../../src/sinks/checkpointTable';
import { TableFindingStore } from '../../../src/sinks/findingsTable';
import { TableProfileStore } from '../../../src/sinks/profileTable';
import { TableSnapshotStore } from '../../../src/sinks/snapshotTable';
import { TablePoisonStore } from '../../../src/sinks/poisonTable';
import { TableAlertStateStore } from '../../../src/sinks/alertStateTable';
import { StorageWorkQueue } from '../../../src/sinks/storageQueue';
import { checkKey, StorageLimitError } from '../../../src/sinks/tableService';
import { isolatedStorage } from '../../helpers/storage';
import { leaseRenewal } from '../../../src/jobs';
import { memoryLogger } from '../../../src/log';
import type { RunsQueueMessage } from '../../../src/pipelines/scanRuns';

const ENV = 'env-a';
function finding(i: number, over: Partial<Finding> = {}): Finding {
  return makeFinding(
    {
      kind: i % 2 ? 'secret-exposure' : 'permission-drift',
      ruleId: i % 2 ? 'secret.test' : 'drift.test',
      severity: i % 3 === 0 ? 'critical' : 'low',
      environmentId: ENV,
      subject: { type: 'test', id: `s${i}` },
      observedAt: new Date(Date.UTC(2026, 10, 1 + (i % 5), 10)).toISOString(),
      title: `finding ${i}`,
      detail: 'detail',
      evidence: { n: i },
      evidenceKey: `k${i}`,
      ...over,
    },
    '2026-11-20T00:00:00.000Z',
  );
}

describe('TableFindingStore (Azurite)', () => {
  it('writes a finding twice as one row and reports only new ids', async () => {
    const { tables } = isolatedStorage('find1');
    const store = new TableFindingStore(tables);
    const f = finding(1);
    expect((await store.upsertMany([f])).created).toEqual([f.id]);
    expect((await store.upsertMany([f, f])).created).toEqual([]);
    const all = await store.queryAll({});
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ id: f.id, state: 'open', subject: f.subject, evidence: f.evidence });
  });

  it('batches mixed new and existing findings in one partition without losing any', async () => {
    const { tables } = isolatedStorage('find2');
    const store = new TableFindingStore(tables);
    const same = (i: number) => finding(i, { observedAt: '2026-11-02T10:00:00.000Z' });
    await store.upsertMany([same(1), same(2)]);
    const batch = Array.from({ length: 150 }, (_, i) => same(i));
    const { created } = await store.upsertMany(batch);
    expect(created).toHaveLength(148);
    expect(await store.queryAll({})).toHaveLength(150);
  });

  it('queries by environment, time, kind and severity, with continuation tokens', async () => {
    const { tables } = isolatedStorage('find3');
    const store = new TableFindingStore(tables);
    const items = Array.from({ length: 30 }, (_, i) => finding(i));
    await store.upsertMany(items);
    await store.upsertMany([finding(99, { environmentId: 'env-b' })]);
    const page1 = await store.query({ environmentId: ENV, pageSize: 7 });
    expect(page1.items).toHaveLength(7);
    expect(page1.continuationToken).toBeTruthy();
    const all = await store.queryAll({ environmentId: ENV, pageSize: 7 });
    expect(all).toHaveLength(30);
    const since = '2026-11-04T00:00:00.000Z';
    const recent = await store.queryAll({ environmentId: ENV, since });
    expect(recent.length).toBe(items.filter((f) => f.observedAt >= since).length);
    const crit = await store.queryAll({ severity: 'high', environmentId: ENV });
    expect(crit.map((f) => f.id).sort()).toEqual(items.filter((f) => f.severity === 'critical').map((f) => f.id).sort());
    const secrets = await store.queryAll({ kind: 'secret-exposure', environmentId: ENV });
    expect(secrets).toHaveLength(15);
  });

  it('enforces the real service limits that Azurite does not', async () => {
    const { tables } = isolatedStorage('find4');
    const store = new TableFindingStore(tables);
    expect(() => checkKey('x', 'a/b')).toThrow(StorageLimitError);
    expect(() => checkKey('x', 'a'.repeat(1025))).toThrow(/1024 bytes/);
    const big = finding(1, { evidence: { blob: 'x'.repeat(40_000) } });
    await expect(store.upsertMany([big])).rejects.toThrow(/FlowWardenFindings\.evidence/);
    const longDetail = finding(2, { detail: 'y'.repeat(50_000) });
    await store.upsertMany([longDetail]);
    const [back] = await store.queryAll({});
    expect(back!.detail.length).toBeLessThanOrEqual(32 * 1024);
  });
});

describe('TableCheckpointStore (Azurite)', () => {
  it('refuses an update with a stale ETag and a second create', async () => {
    const { tables } = isolatedStorage('cp');
    const store = new TableCheckpointStore(tables);
    const first = await store.put({ source: 'audits', environmentId: ENV, watermark: '2026-11-01T00:00:00Z' });
    await expect(store.put({ source: 'audits', environmentId: ENV, watermark: 'x' })).rejects.toBeInstanceOf(ConcurrencyError);
    const second = await store.put({ ...first, watermark: '2026-11-02T00:00:00Z', cursor: 'https://x/next?$skiptoken=1' });
    await expect(store.put({ ...first, watermark: '2026-11-03T00:00:00Z' })).rejects.toBeInstanceOf(ConcurrencyError);
    const back = await store.get('audits', ENV);
    expect(back).toMatchObject({ watermark: '2026-11-02T00:00:00Z', cursor: 'https://x/next?$skiptoken=1', etag: second.etag });
    const cleared = await store.put({ ...back!, cursor: undefined, watermark: '2026-11-04T00:00:00Z' });
    expect((await store.get('audits', ENV))?.cursor).toBeUndefined();
    expect(cleared.etag).not.toBe(second.etag);
    expect(await store.list()).toHaveLength(1);
  });
});

describe('other stores (Azurite)', () => {
  it('profiles fold observations and remember when learning started', async () => {
    const { tables } = isolatedStorage('prof');
    const store = new TableProfileStore(tables);
    expect(await store.learningStartedAt(ENV)).toBeUndefined();
    await store.record([
      { environmentId: ENV, table: 'contact', identityId: 'U1', seenAt: '2026-11-02T00:00:00Z' },
      { environmentId: ENV, table: 'contact', identityId: 'u1', seenAt: '2026-11-01T00:00:00Z' },
      { environmentId: ENV, table: 'account', identityId: 'u2', seenAt: '2026-11-03T00:00:00Z' },
    ]);
    await store.record([{ environmentId: ENV, table: 'contact', identityId: 'u1', seenAt: '2026-11-05T00:00:00Z' }]);
    const contact = await store.listTable(ENV, 'contact');
    expect(contact).toEqual([{ environmentId: ENV, table: 'contact', identityId: 'u1', firstSeen: '2026-11-01T00:00:00Z', lastSeen: '2026-11-05T00:00:00Z', count: 3 }]);
    expect(await store.learningStartedAt(ENV)).toBe('2026-11-01T00:00:00Z');
  });

  it('snapshots round-trip and drop subjects that disappeared', async () => {
    const { tables } = isolatedStorage('snap');
    const store = new TableSnapshotStore(tables);
    expect(await store.load(ENV)).toBeUndefined();
    const principals = Array.from({ length: 120 }, (_, i) => ({ id: `p${i}`, kind: 'person' as const, roles: [{ roleId: 'r', roleName: 'Basic User', via: 'direct' }] }));
    await store.save({ environmentId: ENV, takenAt: '2026-11-01T00:00:00Z', principals, flows: [{ flowId: 'f1', permissions: [], connectionReferences: [] }], connections: [] });
    await store.save({ environmentId: ENV, takenAt: '2026-11-02T00:00:00Z', principals: principals.slice(0, 3), flows: [], connections: [] });
    const back = await store.load(ENV);
    expect(back?.takenAt).toBe('2026-11-02T00:00:00Z');
    expect(back?.principals.map((p) => p.id).sort()).toEqual(['p0', 'p1', 'p2']);
    expect(back?.flows).toEqual([]);
  });

  it('alert state is ETag-guarded; poison entries are counted', async () => {
    const { tables } = isolatedStorage('alert');
    const alerts = new TableAlertStateStore(tables);
    const a = await alerts.put({ route: 'oncall', key: 'f1', state: 'pending', findingIds: ['f1'], attempts: 0, updatedAt: 'now' });
    await expect(alerts.put({ route: 'oncall', key: 'f1', state: 'pending', findingIds: ['f1'], attempts: 0, updatedAt: 'now' })).rejects.toBeInstanceOf(ConcurrencyError);
    await alerts.put({ ...a, state: 'sent' });
    await expect(alerts.put({ ...a, state: 'sending' })).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await alerts.list('oncall', 'sent')).map((r) => r.key)).toEqual(['f1']);
    const poison = new TablePoisonStore(tables);
    await poison.put({ source: 'audits', environmentId: ENV, key: 'row1', reason: 'action: unknown code 999', at: 'now' });
    await poison.put({ source: 'audits', environmentId: ENV, key: 'row1', reason: 'again', at: 'now' });
    await poison.put({ source: 'webhook', environmentId: ENV, key: 'req', reason: 'bad', at: 'now' });
    expect(await poison.count('audits')).toBe(1);
    expect(await poison.count()).toBe(2);
  });

  it('queues carry JSON bodies and set poisoned messages aside', async () => {
    const { connectionString, queuePrefix } = isolatedStorage('q');
    const q = new StorageWorkQueue<{ runId: string }>({ connectionString, namePrefix: queuePrefix }, 'flowwarden-runs');
    await q.sendMany(Array.from({ length: 5 }, (_, i) => ({ runId: `r${i}` })));
    const got = await q.receive(10, 30);
    expect(got.map((m) => m.body.runId).sort()).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    await q.poison(got[0]!, 'bad run');
    for (const m of got.slice(1)) await q.delete(m);
    expect(await q.approximateCount()).toBe(0);
    expect(await q.poisonCount()).toBe(1);
  });

  it('a lease renewal keeps a long-running message hidden, and the newest pop receipt deletes it', async () => {
    const { connectionString, queuePrefix } = isolatedStorage('qlease');
    const q = new StorageWorkQueue<RunsQueueMessage>({ connectionString, namePrefix: queuePrefix }, 'flowwarden-runs');
    await q.send({ environmentId: 'env', flowId: 'f', runs: [{ runId: 'r1' }] });
    const [m] = await q.receive(1, 1);
    expect(m).toBeDefined();
    const first = m!.popReceipt;
    const lease = leaseRenewal({ runsQueue: q, log: memoryLogger() }, m!, 1);
    // Three times the visibility timeout: without renewal it would have reappeared twice.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await q.receive(1, 1)).toEqual([]);
    await lease.stop();
    expect(m!.popReceipt).not.toBe(first);
    await q.delete(m!);
    await new Promise((r) => setTimeout(r, 1200));
    expect(await q.receive(1, 1)).toEqual([]);
    expect(await q.approximateCount()).toBe(0);
  });

  it('without renewal the same message reappears after its visibility timeout (the control)', async () => {
    const { connectionString, queuePrefix } = isolatedStorage('qnolease');
    const q = new StorageWorkQueue<{ runId: string }>({ connectionString, namePrefix: queuePrefix }, 'flowwarden-runs');
    await q.send({ runId: 'r1' });
    expect(await q.receive(1, 1)).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1500));
    const again = await q.receive(1, 30);
    expect(again.map((m) => m.dequeueCount)).toEqual([2]);
  });
});

describe('TableFindingStore: one row per id even when observedAt moves', () => {
  it('does not write a second row in another day partition', async () => {
    const { tables } = isolatedStorage('find5');
    const store = new TableFindingStore(tables);
    const first = finding(7, { observedAt: '2026-11-01T10:00:00.000Z' });
    const later = { ...first, observedAt: '2026-11-09T10:00:00.000Z', detectedAt: '2026-11-09T10:00:00.000Z' };
    expect((await store.upsertMany([first])).created).toEqual([first.id]);
    expect((await store.upsertMany([later])).created).toEqual([]);
    const all = await store.queryAll({});
    expect(all).toHaveLength(1);
    expect(all[0]!.observedAt).toBe('2026-11-01T10:00:00.000Z');
  });
});
