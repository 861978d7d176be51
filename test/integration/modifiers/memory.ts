/**
 * In-memory twins of the store ports and a fake Dataverse audit source for the modifier pipeline tests.
 * They follow the port contracts (idempotent upsert by id, ETag checkpoints, nextLink paging).
 */
import type { Finding } from '../../../src/core/finding';
import {
  ConcurrencyError,
  type AuditPage,
  type AuditRow,
  type Checkpoint,
  type CheckpointStore,
  type DataverseSource,
  type FindingQuery,
  type FindingStore,
  type Logger,
  type ModifierProfileEntry,
  type PoisonStore,
  type ProfileStore,
  type StoredFinding,
  type SystemUserRecord,
} from '../../../src/ports';

export class MemoryFindingStore implements FindingStore {
  readonly items = new Map<string, StoredFinding>();
  writes = 0;
  /** Set to make the next N upsertMany calls fail (simulated storage outage). */
  failNext = 0;
  async upsertMany(findings: Finding[]): Promise<{ created: string[] }> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('simulated storage outage');
    }
    this.writes++;
    const created: string[] = [];
    for (const f of findings) {
      if (this.items.has(f.id)) continue;
      this.items.set(f.id, { ...f, state: 'open' });
      created.push(f.id);
    }
    return { created };
  }
  async query(q: FindingQuery): Promise<{ items: StoredFinding[] }> {
    return { items: [...this.items.values()].filter((f) => (!q.kind || f.kind === q.kind) && (!q.environmentId || f.environmentId === q.environmentId)) };
  }
  async get(id: string): Promise<StoredFinding | undefined> {
    return this.items.get(id);
  }
  all(): StoredFinding[] {
    return [...this.items.values()];
  }
}

export class MemoryCheckpointStore implements CheckpointStore {
  readonly items = new Map<string, Checkpoint>();
  private n = 0;
  puts: Checkpoint[] = [];
  async get(source: string, environmentId: string): Promise<Checkpoint | undefined> {
    const c = this.items.get(`${source}/${environmentId}`);
    return c ? { ...c } : undefined;
  }
  async put(cp: Checkpoint): Promise<Checkpoint> {
    const k = `${cp.source}/${cp.environmentId}`;
    const cur = this.items.get(k);
    if (cp.etag ? cur?.etag !== cp.etag : cur !== undefined) throw new ConcurrencyError(`checkpoint ${k}`);
    const next = { ...cp, etag: `e${++this.n}` };
    this.items.set(k, next);
    this.puts.push({ ...next });
    return { ...next };
  }
  async list(): Promise<Checkpoint[]> {
    return [...this.items.values()];
  }
}

export class MemoryProfileStore implements ProfileStore {
  readonly items = new Map<string, ModifierProfileEntry>();
  private started = new Map<string, string>();
  failReads = false;
  async listTable(environmentId: string, table: string): Promise<ModifierProfileEntry[]> {
    if (this.failReads) throw new Error('simulated storage outage');
    return [...this.items.values()].filter((e) => e.environmentId === environmentId && e.table === table);
  }
  async record(entries: { environmentId: string; table: string; identityId: string; seenAt: string }[]): Promise<void> {
    for (const e of entries) {
      const k = `${e.environmentId}/${e.table}/${e.identityId}`;
      const cur = this.items.get(k);
      this.items.set(k, cur
        ? { ...cur, firstSeen: e.seenAt < cur.firstSeen ? e.seenAt : cur.firstSeen, lastSeen: e.seenAt > cur.lastSeen ? e.seenAt : cur.lastSeen, count: cur.count + 1 }
        : { environmentId: e.environmentId, table: e.table, identityId: e.identityId, firstSeen: e.seenAt, lastSeen: e.seenAt, count: 1 });
      const s = this.started.get(e.environmentId);
      if (!s || e.seenAt < s) this.started.set(e.environmentId, e.seenAt);
    }
  }
  async learningStartedAt(environmentId: string): Promise<string | undefined> {
    if (this.failReads) throw new Error('simulated storage outage');
    return this.started.get(environmentId);
  }
}

export class MemoryPoisonStore implements PoisonStore {
  readonly entries: { source: string; environmentId: string; key: string; reason: string; sample?: string; at: string }[] = [];
  async put(entry: { source: string; environmentId: string; key: string; reason: string; sample?: string; at: string }): Promise<void> {
    this.entries.push(entry);
  }
  async count(source?: string): Promise<number> {
    return this.entries.filter((e) => !source || e.source === source).length;
  }
}

export class MemoryLogger implements Logger {
  readonly lines: { level: string; message: string; props?: Record<string, unknown> }[] = [];
  info(message: string, props?: Record<string, string | number | boolean | undefined>): void {
    this.lines.push({ level: 'info', message, ...(props ? { props } : {}) });
  }
  warn(message: string, props?: Record<string, string | number | boolean | undefined>): void {
    this.lines.push({ level: 'warn', message, ...(props ? { props } : {}) });
  }
  error(message: string, props?: Record<string, string | number | boolean | undefined>): void {
    this.lines.push({ level: 'error', message, ...(props ? { props } : {}) });
  }
  text(): string {
    return JSON.stringify(this.lines);
  }
}

/**
 * Fake Dataverse: audit rows per environment served with the OData paging contract
 * (createdon in [since, until), oldest first, pageSize rows per page, an opaque nextLink to resume).
 */
export class FakeDataverse implements DataverseSource {
  readonly audits = new Map<string, AuditRow[]>();
  readonly users = new Map<string, SystemUserRecord>();
  /** systemuser ids whose lookup fails (Dataverse unreachable for them). */
  readonly failingUsers = new Set<string>();
  /** Environments whose audit listing fails. */
  readonly failingEnvironments = new Set<string>();
  readonly listCalls: { environmentId: string; since: string; until?: string; resume?: string }[] = [];
  userLookups = 0;

  async *listAudits(environmentId: string, options: { since: string; until?: string; pageSize?: number; resume?: string }): AsyncIterable<AuditPage> {
    this.listCalls.push({ environmentId, since: options.since, ...(options.until ? { until: options.until } : {}), ...(options.resume ? { resume: options.resume } : {}) });
    if (this.failingEnvironments.has(environmentId)) throw new Error(`Dataverse ${environmentId} unavailable (503)`);
    let since = options.since;
    let until = options.until;
    let skip = 0;
    const size = options.pageSize ?? 5000;
    if (options.resume) {
      const u = new URL(options.resume);
      since = u.searchParams.get('since')!;
      until = u.searchParams.get('until') ?? undefined;
      skip = Number(u.searchParams.get('skip'));
    }
    const rows = (this.audits.get(environmentId) ?? [])
      .filter((r) => r.createdon >= since && (!until || r.createdon < until))
      .sort((a, b) => a.createdon.localeCompare(b.createdon));
    for (let i = skip; i < rows.length || i === skip; i += size) {
      const page = rows.slice(i, i + size);
      const more = i + size < rows.length;
      const next = more ? `https://fake.crm.dynamics.com/api/data/v9.2/audits?since=${encodeURIComponent(since)}${until ? `&until=${encodeURIComponent(until)}` : ''}&skip=${i + size}` : undefined;
      yield next ? { rows: page, nextLink: next } : { rows: page };
      if (!more) break;
    }
  }
  async getSystemUser(_env: string, id: string): Promise<SystemUserRecord | undefined> {
    this.userLookups++;
    if (this.failingUsers.has(id.toLowerCase())) throw new Error('ECONNREFUSED');
    return this.users.get(id.toLowerCase());
  }
  listSystemUsers(): AsyncIterable<SystemUserRecord> {
    return (async function* () {})();
  }
  listRoles(): AsyncIterable<never> {
    return (async function* () {})();
  }
  async listUserRoles(): Promise<never[]> {
    return [];
  }
  listTeams(): AsyncIterable<never> {
    return (async function* () {})();
  }
  async listTeamMembers(): Promise<string[]> {
    return [];
  }
  async listTeamRoles(): Promise<never[]> {
    return [];
  }
  listWorkflows(): AsyncIterable<never> {
    return (async function* () {})();
  }
  listConnectionReferences(): AsyncIterable<never> {
    return (async function* () {})();
  }
  listEnvironmentVariableDefinitions(): AsyncIterable<never> {
    return (async function* () {})();
  }
  listEnvironmentVariableValues(): AsyncIterable<never> {
    return (async function* () {})();
  }
}

export const fixedClock = (iso: string) => {
  let t = Date.parse(iso);
  return { now: () => new Date(t), advance: (ms: number) => void (t += ms), set: (s: string) => void (t = Date.parse(s)) };
};
