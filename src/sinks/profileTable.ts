import type { TableClient } from '@azure/data-tables';
import type { ModifierProfileEntry, ProfileStore } from '../ports';
import { isStatus, safeKey, TABLES, type TableService } from './tableService';

interface ProfileEntity extends Record<string, unknown> {
  partitionKey: string;
  rowKey: string;
  environmentId: string;
  table: string;
  identityId: string;
  firstSeen: string;
  lastSeen: string;
  count: number;
}

const META_ROW = 'learning';

/** Learned modifier profiles: `{environmentId}_{table}` / identity id (DESIGN.md §5). */
export class TableProfileStore implements ProfileStore {
  constructor(private readonly tables: TableService) {}

  private client(): Promise<TableClient> {
    return this.tables.ready(TABLES.profiles);
  }

  async listTable(environmentId: string, table: string): Promise<ModifierProfileEntry[]> {
    const client = await this.client();
    const out: ModifierProfileEntry[] = [];
    const pk = partition(environmentId, table);
    for await (const e of client.listEntities<ProfileEntity>({ queryOptions: { filter: `PartitionKey eq '${pk.replace(/'/g, "''")}'` } })) {
      out.push({ environmentId: e.environmentId, table: e.table, identityId: e.identityId, firstSeen: e.firstSeen, lastSeen: e.lastSeen, count: e.count });
    }
    return out;
  }

  async record(entries: { environmentId: string; table: string; identityId: string; seenAt: string }[]): Promise<void> {
    if (entries.length === 0) return;
    const client = await this.client();
    // Fold the batch first so one event burst is one write per identity.
    const folded = new Map<string, { environmentId: string; table: string; identityId: string; first: string; last: string; n: number }>();
    for (const e of entries) {
      const k = `${e.environmentId}\u0000${e.table}\u0000${e.identityId.toLowerCase()}`;
      const f = folded.get(k);
      if (!f) folded.set(k, { environmentId: e.environmentId, table: e.table, identityId: e.identityId.toLowerCase(), first: e.seenAt, last: e.seenAt, n: 1 });
      else {
        if (e.seenAt < f.first) f.first = e.seenAt;
        if (e.seenAt > f.last) f.last = e.seenAt;
        f.n++;
      }
    }
    let earliestByEnv = new Map<string, string>();
    for (const f of folded.values()) {
      await this.merge(client, f);
      const prev = earliestByEnv.get(f.environmentId);
      if (!prev || f.first < prev) earliestByEnv.set(f.environmentId, f.first);
    }
    for (const [env, first] of earliestByEnv) await this.markLearningStart(client, env, first);
    earliestByEnv = new Map();
  }

  async learningStartedAt(environmentId: string): Promise<string | undefined> {
    const client = await this.client();
    try {
      const e = await client.getEntity<{ startedAt: string }>(metaPartition(environmentId), META_ROW);
      return e.startedAt;
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
  }

  /** Read-modify-write with ETags; retried on a concurrent writer. */
  private async merge(client: TableClient, f: { environmentId: string; table: string; identityId: string; first: string; last: string; n: number }): Promise<void> {
    const pk = partition(f.environmentId, f.table);
    const rk = safeKey(f.identityId);
    for (let attempt = 0; attempt < 8; attempt++) {
      let existing: (ProfileEntity & { etag: string }) | undefined;
      try {
        existing = await client.getEntity<ProfileEntity>(pk, rk) as ProfileEntity & { etag: string };
      } catch (e) {
        if (!isStatus(e, 404)) throw e;
      }
      try {
        if (!existing) {
          await client.createEntity<ProfileEntity>({ partitionKey: pk, rowKey: rk, environmentId: f.environmentId, table: f.table, identityId: f.identityId, firstSeen: f.first, lastSeen: f.last, count: f.n });
        } else {
          await client.updateEntity<ProfileEntity>(
            {
              ...existing,
              firstSeen: f.first < existing.firstSeen ? f.first : existing.firstSeen,
              lastSeen: f.last > existing.lastSeen ? f.last : existing.lastSeen,
              count: existing.count + f.n,
            },
            'Replace',
            { etag: existing.etag },
          );
        }
        return;
      } catch (e) {
        if (!isStatus(e, 409, 412)) throw e;
      }
    }
    throw new Error(`profile ${pk}/${rk}: too many concurrent updates`);
  }

  private async markLearningStart(client: TableClient, environmentId: string, at: string): Promise<void> {
    try {
      await client.createEntity({ partitionKey: metaPartition(environmentId), rowKey: META_ROW, startedAt: at });
    } catch (e) {
      if (!isStatus(e, 409)) throw e;
    }
  }
}

function partition(environmentId: string, table: string): string {
  return safeKey(`${environmentId}_${table}`);
}
function metaPartition(environmentId: string): string {
  return safeKey(`${environmentId}__meta`);
}
