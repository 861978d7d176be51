import type { TableClient } from '@azure/data-tables';
import type { BacklogEntry, BacklogStore } from '../ports';
import { isStatus, safeKey, TABLES, type TableService } from './tableService';

const PK = 'loganalytics';

/** The Log Analytics re-send backlog on table FlowWardenBacklog: one entity per finding id. */
export class TableBacklogStore implements BacklogStore {
  constructor(private readonly tables: TableService) {}

  private client(): Promise<TableClient> {
    return this.tables.ready(TABLES.backlog);
  }

  async putMany(entries: BacklogEntry[]): Promise<void> {
    const client = await this.client();
    for (const e of entries) {
      await client.upsertEntity(
        {
          partitionKey: PK,
          rowKey: safeKey(e.findingId),
          findingId: e.findingId,
          environmentId: e.environmentId,
          observedAt: e.observedAt,
          queuedAt: e.queuedAt,
          attempts: e.attempts,
          lastError: (e.lastError ?? '').slice(0, 1000),
        },
        'Replace',
      );
    }
  }

  /** Oldest first. Reads the whole partition: the backlog is small unless ingestion is down for long. */
  async list(max: number): Promise<BacklogEntry[]> {
    const client = await this.client();
    const out: BacklogEntry[] = [];
    for await (const e of client.listEntities<BacklogEntry>({ queryOptions: { filter: `PartitionKey eq '${PK}'` } })) {
      out.push({
        findingId: e.findingId,
        environmentId: e.environmentId,
        observedAt: e.observedAt,
        queuedAt: e.queuedAt,
        attempts: Number(e.attempts),
        lastError: e.lastError || undefined,
      });
    }
    return out.sort((a, b) => a.queuedAt.localeCompare(b.queuedAt) || a.findingId.localeCompare(b.findingId)).slice(0, max);
  }

  async removeMany(findingIds: string[]): Promise<void> {
    const client = await this.client();
    for (const id of findingIds) {
      try {
        await client.deleteEntity(PK, safeKey(id));
      } catch (e) {
        if (!isStatus(e, 404)) throw e;
      }
    }
  }

  async count(): Promise<number> {
    const client = await this.client();
    let n = 0;
    for await (const _ of client.listEntities({ queryOptions: { filter: `PartitionKey eq '${PK}'`, select: ['RowKey'] } })) n++;
    return n;
  }
}
