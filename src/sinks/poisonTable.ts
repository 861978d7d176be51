import { createHash } from 'node:crypto';
import type { TableClient } from '@azure/data-tables';
import type { PoisonStore } from '../ports';
import { fitString, safeKey, TABLES, type TableService } from './tableService';

/** Records set aside because they could not be processed: kept with the reason, counted by health. */
export class TablePoisonStore implements PoisonStore {
  constructor(private readonly tables: TableService) {}

  private client(): Promise<TableClient> {
    return this.tables.ready(TABLES.poison);
  }

  async put(entry: { source: string; environmentId: string; key: string; reason: string; sample?: string; at: string }): Promise<void> {
    const client = await this.client();
    const rk = `${entry.environmentId}_${createHash('sha256').update(entry.key).digest('hex').slice(0, 32)}`;
    await client.upsertEntity(
      {
        partitionKey: safeKey(entry.source),
        rowKey: safeKey(rk),
        environmentId: entry.environmentId,
        key: fitString(entry.key, 1024),
        reason: fitString(entry.reason, 4096),
        sample: fitString(entry.sample ?? '', 4096),
        at: entry.at,
      },
      'Replace',
    );
  }

  async count(source?: string): Promise<number> {
    const client = await this.client();
    let n = 0;
    const opts = source ? { queryOptions: { filter: `PartitionKey eq '${safeKey(source).replace(/'/g, "''")}'`, select: ['PartitionKey'] } } : { queryOptions: { select: ['PartitionKey'] } };
    for await (const _ of client.listEntities(opts)) n++;
    return n;
  }

  async list(source?: string): Promise<{ source: string; environmentId: string; key: string; reason: string; at: string }[]> {
    const client = await this.client();
    const out: { source: string; environmentId: string; key: string; reason: string; at: string }[] = [];
    const opts = source ? { queryOptions: { filter: `PartitionKey eq '${safeKey(source).replace(/'/g, "''")}'` } } : {};
    for await (const e of client.listEntities<{ environmentId: string; key: string; reason: string; at: string }>(opts)) {
      out.push({ source: e.partitionKey!, environmentId: e.environmentId, key: e.key, reason: e.reason, at: e.at });
    }
    return out;
  }
}
