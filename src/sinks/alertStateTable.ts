import type { TableClient } from '@azure/data-tables';
import { ConcurrencyError, type AlertDeliveryState, type AlertRecord, type AlertStateStore } from '../ports';
import { checkEntity, isStatus, safeKey, TABLES, type TableService } from './tableService';

/** Alert delivery state per (route, dedupe key), ETag-guarded so two workers never both send. */
export class TableAlertStateStore implements AlertStateStore {
  constructor(private readonly tables: TableService) {}

  private client(): Promise<TableClient> {
    return this.tables.ready(TABLES.alerts);
  }

  async get(route: string, key: string): Promise<AlertRecord | undefined> {
    const client = await this.client();
    try {
      const e = await client.getEntity<{ json: string }>(safeKey(route), safeKey(key));
      return { ...(JSON.parse(e.json) as AlertRecord), etag: e.etag };
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
  }

  async put(record: AlertRecord): Promise<AlertRecord> {
    const client = await this.client();
    const { etag, ...rest } = record;
    const entity = { partitionKey: safeKey(record.route), rowKey: safeKey(record.key), state: record.state, json: JSON.stringify(rest) };
    checkEntity(TABLES.alerts, entity);
    try {
      const res = etag ? await client.updateEntity(entity, 'Replace', { etag }) : await client.createEntity(entity);
      return { ...record, etag: res.etag };
    } catch (e) {
      if (isStatus(e, 409, 412)) throw new ConcurrencyError(`alert ${record.route}/${record.key}`);
      throw e;
    }
  }

  async list(route: string, state?: AlertDeliveryState): Promise<AlertRecord[]> {
    const client = await this.client();
    const pk = safeKey(route).replace(/'/g, "''");
    const filter = state ? `PartitionKey eq '${pk}' and state eq '${state}'` : `PartitionKey eq '${pk}'`;
    const out: AlertRecord[] = [];
    for await (const e of client.listEntities<{ json: string }>({ queryOptions: { filter } })) {
      out.push({ ...(JSON.parse(e.json) as AlertRecord), etag: e.etag });
    }
    return out;
  }
}
