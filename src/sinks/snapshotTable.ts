import type { TableClient, TransactionAction } from '@azure/data-tables';
import type { PermissionSnapshot } from '../core/records';
import type { SnapshotStore } from '../ports';
import { checkEntity, chunkJson, isStatus, MAX_BATCH, safeKey, TABLES, unchunkJson, type TableService } from './tableService';

type Kind = 'principal' | 'flow' | 'connection';
const KINDS: Kind[] = ['principal', 'flow', 'connection'];

/**
 * Last permission snapshot per environment: one entity per principal / flow / connection in
 * `{environmentId}_{kind}` partitions, plus a meta entity with the time it was taken.
 */
export class TableSnapshotStore implements SnapshotStore {
  constructor(private readonly tables: TableService) {}

  private client(): Promise<TableClient> {
    return this.tables.ready(TABLES.snapshots);
  }

  async load(environmentId: string): Promise<PermissionSnapshot | undefined> {
    const client = await this.client();
    let takenAt: string;
    try {
      takenAt = (await client.getEntity<{ takenAt: string }>(safeKey(`${environmentId}_meta`), 'snapshot')).takenAt;
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
    const snap: PermissionSnapshot = { environmentId, takenAt, principals: [], flows: [], connections: [] };
    for (const kind of KINDS) {
      for (const e of await this.listPartition(client, environmentId, kind)) {
        const data = unchunkJson(e) as never;
        if (kind === 'principal') snap.principals.push(data);
        else if (kind === 'flow') snap.flows.push(data);
        else snap.connections.push(data);
      }
    }
    return snap;
  }

  async save(snapshot: PermissionSnapshot): Promise<void> {
    const client = await this.client();
    const env = snapshot.environmentId;
    const groups: Record<Kind, { id: string; data: unknown }[]> = {
      principal: snapshot.principals.map((p) => ({ id: p.id, data: p })),
      flow: snapshot.flows.map((f) => ({ id: f.flowId, data: f })),
      connection: snapshot.connections.map((c) => ({ id: c.connectionId, data: c })),
    };
    for (const kind of KINDS) {
      const pk = safeKey(`${env}_${kind}`);
      const keep = new Set<string>();
      const actions: TransactionAction[] = [];
      for (const item of groups[kind]) {
        const rk = safeKey(item.id);
        keep.add(rk);
        const entity = { partitionKey: pk, rowKey: rk, subjectId: item.id, takenAt: snapshot.takenAt, ...chunkJson(JSON.stringify(item.data)) };
        checkEntity(TABLES.snapshots, entity);
        actions.push(['upsert', entity, 'Replace']);
      }
      for (const e of await this.listPartition(client, env, kind)) {
        if (!keep.has(e.rowKey)) actions.push(['delete', { partitionKey: pk, rowKey: e.rowKey }]);
      }
      for (let i = 0; i < actions.length; i += MAX_BATCH) await client.submitTransaction(actions.slice(i, i + MAX_BATCH));
    }
    // The meta entity last: a crash before it leaves the previous takenAt, and the next run re-diffs.
    await client.upsertEntity({ partitionKey: safeKey(`${env}_meta`), rowKey: 'snapshot', takenAt: snapshot.takenAt }, 'Replace');
  }

  private async listPartition(client: TableClient, env: string, kind: Kind): Promise<(Record<string, unknown> & { rowKey: string })[]> {
    const pk = safeKey(`${env}_${kind}`);
    const out: (Record<string, unknown> & { rowKey: string })[] = [];
    for await (const e of client.listEntities<Record<string, unknown>>({ queryOptions: { filter: `PartitionKey eq '${pk.replace(/'/g, "''")}'` } })) {
      out.push(e as Record<string, unknown> & { rowKey: string });
    }
    return out;
  }
}
