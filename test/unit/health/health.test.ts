import { describe, expect, it } from 'vitest';
import { checkHealth, healthHttpResponse, healthReport } from '../../../src/pipelines/health';
import { deliverImmediate, type AlertQueueItem } from '../../../src/pipelines/deliverAlerts';
import {
  ConcurrencyError,
  type AlertRecord,
  type AlertStateStore,
  type Checkpoint,
  type CheckpointStore,
  type EmailMessage,
  type EmailSender,
  type FindingStore,
  type PoisonStore,
  type QueueMessage,
  type StoredFinding,
  type WorkQueue,
} from '../../../src/ports';
import type { Finding } from '../../../src/core/finding';
import { policy } from '../alerts/fixtures';

class MemCheckpoints implements CheckpointStore {
  constructor(public items: Checkpoint[]) {}
  async get(s: string, e: string) {
    return this.items.find((c) => c.source === s && c.environmentId === e);
  }
  async put(cp: Checkpoint) {
    this.items = [...this.items.filter((c) => !(c.source === cp.source && c.environmentId === cp.environmentId)), cp];
    return cp;
  }
  async list() {
    return this.items;
  }
}
class MemPoison implements PoisonStore {
  constructor(public bySource: Record<string, number> = {}) {}
  async put() {}
  async count(source?: string) {
    return source ? (this.bySource[source] ?? 0) : Object.values(this.bySource).reduce((a, b) => a + b, 0);
  }
}
class MemFindings implements FindingStore {
  items = new Map<string, StoredFinding>();
  async upsertMany(fs: Finding[]) {
    const created: string[] = [];
    for (const f of fs) if (!this.items.has(f.id)) (this.items.set(f.id, { ...f, state: 'open' }), created.push(f.id));
    return { created };
  }
  async query() {
    return { items: [...this.items.values()] };
  }
  async get(id: string) {
    return this.items.get(id);
  }
}
class MemAlerts implements AlertStateStore {
  rows = new Map<string, AlertRecord>();
  n = 0;
  async get(route: string, key: string) {
    return this.rows.get(`${route}|${key}`);
  }
  async put(r: AlertRecord) {
    const cur = this.rows.get(`${r.route}|${r.key}`);
    if ((cur && cur.etag !== r.etag) || (!cur && r.etag)) throw new ConcurrencyError(r.key);
    const stored = { ...r, etag: String(++this.n) };
    this.rows.set(`${r.route}|${r.key}`, stored);
    return stored;
  }
  async list(route: string, state?: string) {
    return [...this.rows.values()].filter((r) => r.route === route && (!state || r.state === state));
  }
}
class MemQueue<T> implements WorkQueue<T> {
  name = 'mem';
  bodies: T[] = [];
  async send(b: T) {
    this.bodies.push(b);
  }
  async sendMany(b: T[]) {
    this.bodies.push(...b);
  }
  async receive(): Promise<QueueMessage<T>[]> {
    return this.bodies.splice(0).map((body, i) => ({ id: String(i), popReceipt: '', dequeueCount: 1, body }));
  }
  async delete() {}
  async extend() {}
  async poison() {}
  async approximateCount() {
    return this.bodies.length;
  }
}

const ENV = 'env-1';
const t = (iso: string) => ({ now: () => new Date(iso) });

describe('healthReport', () => {
  const cps = () =>
    new MemCheckpoints([
      { source: 'runs', environmentId: ENV, watermark: '2025-01-01T09:55:00.000Z', lastSuccess: '2025-01-01T10:00:00.000Z', consecutiveFailures: 0 },
      {
        source: 'audit',
        environmentId: ENV,
        watermark: '2025-01-01T08:00:00.000Z',
        lastSuccess: '2025-01-01T08:05:00.000Z',
        consecutiveFailures: 7,
        lastError: 'HTTP 403 at https://contoso.crm4.dynamics.com/api/data/v9.2/audits?sig=abcdef',
      },
      { source: 'webhook', environmentId: ENV, watermark: '2025-01-01T01:00:00.000Z' },
    ]);

  it('reports lag, last success and failures; stalled after N intervals; 503 then', async () => {
    const r = await healthReport({ checkpoints: cps(), poison: new MemPoison(), clock: t('2025-01-01T10:03:00Z'), schedules: { runs: 5, audit: 5 }, stallIntervals: 3 });
    expect(r.status).toBe('stalled');
    const audit = r.sources.find((s) => s.source === 'audit')!;
    expect(audit).toMatchObject({ stalled: true, lagSeconds: 7380, consecutiveFailures: 7, stalledSince: '2025-01-01T08:20:00.000Z' });
    expect(audit.lastError).not.toContain('sig=');
    expect(r.sources.find((s) => s.source === 'runs')!.stalled).toBe(false);
    // No schedule known: reported, never stalled.
    expect(r.sources.find((s) => s.source === 'webhook')!.stalled).toBe(false);
    const http = healthHttpResponse(r);
    expect(http.status).toBe(503);
    expect(JSON.parse(http.body).sources).toHaveLength(3);
  });

  it('is healthy (200) when every source advanced within N intervals', async () => {
    const r = await healthReport({ checkpoints: cps(), poison: new MemPoison(), clock: t('2025-01-01T08:19:59Z'), schedules: { runs: 5, audit: 5 }, stallIntervals: 3 });
    expect(r.status).toBe('healthy');
    expect(healthHttpResponse(r).status).toBe(200);
  });
});

describe('checkHealth', () => {
  it('raises health.source-stalled once per stuck watermark, plus poison records, and they reach email', async () => {
    const checkpoints = new MemCheckpoints([{ source: 'audit', environmentId: ENV, watermark: '2025-01-01T08:00:00.000Z', lastSuccess: '2025-01-01T08:05:00.000Z' }]);
    const findings = new MemFindings();
    const queue = new MemQueue<AlertQueueItem>();
    const poison = new MemPoison({ audit: 2 });
    const base = { checkpoints, poison, findings, schedules: { audit: 5 }, stallIntervals: 3, alertsQueue: queue };
    const r1 = await checkHealth({ ...base, clock: t('2025-01-01T09:00:00Z') });
    expect(r1.findings.map((f) => f.ruleId).sort()).toEqual(['health.poison-records', 'health.source-stalled']);
    const stalled = r1.findings.find((f) => f.ruleId === 'health.source-stalled')!;
    expect(stalled).toMatchObject({ kind: 'health', severity: 'high', environmentId: ENV, subject: { type: 'source', id: `audit/${ENV}` } });
    expect(r1.findings.find((f) => f.ruleId === 'health.poison-records')!.severity).toBe('medium');
    expect(r1.created).toHaveLength(2);
    expect(queue.bodies).toHaveLength(2);

    // Later checks while still stuck: same ids, nothing new to alert.
    const r2 = await checkHealth({ ...base, clock: t('2025-01-01T10:00:00Z') });
    expect(r2.findings.find((f) => f.ruleId === 'health.source-stalled')!.id).toBe(stalled.id);
    expect(r2.created).toEqual([]);

    // Through the alert path: the stall (high) is emailed at once.
    const sent: EmailMessage[] = [];
    const email: EmailSender = { send: async (m) => (sent.push(m), { operationId: 'op', status: 'Succeeded' }), getStatus: async () => ({ status: 'Succeeded' }) };
    const log = { info() {}, warn() {}, error() {} };
    const rep = await deliverImmediate(
      { findings, alertState: new MemAlerts(), email, policy: policy(), clock: t('2025-01-01T09:00:00Z'), log, alertsQueue: queue },
      queue.bodies.splice(0),
    );
    expect(rep.sent.length).toBeGreaterThan(0);
    expect(sent.some((m) => m.subject.includes('HIGH') && m.text.includes('health.source-stalled') && m.text.includes('Why it matters'))).toBe(true);

    // The source advances, then stalls at a new watermark: a new finding.
    checkpoints.items = [{ source: 'audit', environmentId: ENV, watermark: '2025-01-01T11:00:00.000Z', lastSuccess: '2025-01-01T11:01:00.000Z' }];
    const r3 = await checkHealth({ ...base, clock: t('2025-01-01T12:00:00Z') });
    expect(r3.created).toContain(r3.findings.find((f) => f.ruleId === 'health.source-stalled')!.id);
  });
});
