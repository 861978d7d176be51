import type { TableClient } from '@azure/data-tables';
import { ConcurrencyError, type Checkpoint, type CheckpointStore } from '../ports';
import { checkKey, isStatus, TABLES, type TableService } from './tableService';

interface CheckpointEntity extends Record<string, unknown> {
  partitionKey: string;
  rowKey: string;
  watermark: string;
  cursor?: string;
  windowEnd?: string;
  lastSuccess?: string;
  lastAttempt?: string;
  lastError?: string;
  consecutiveFailures?: number;
}

/** One checkpoint per (source, environment) with ETag optimistic concurrency: a stale writer is refused. */
export class TableCheckpointStore implements CheckpointStore {
  constructor(private readonly tables: TableService) {}

  private table(): Promise<TableClient> {
    return this.tables.ready(TABLES.checkpoints);
  }

  async get(source: string, environmentId: string): Promise<Checkpoint | undefined> {
    const table = await this.table();
    try {
      const e = await table.getEntity<CheckpointEntity>(checkKey('checkpoint.source', source), checkKey('checkpoint.environmentId', environmentId));
      return fromEntity(e);
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
  }

  async put(cp: Checkpoint): Promise<Checkpoint> {
    const table = await this.table();
    const entity: CheckpointEntity = {
      partitionKey: checkKey('checkpoint.source', cp.source),
      rowKey: checkKey('checkpoint.environmentId', cp.environmentId),
      watermark: cp.watermark,
      ...(cp.cursor ? { cursor: cp.cursor.slice(0, 32_000) } : { cursor: '' }),
      ...(cp.windowEnd ? { windowEnd: cp.windowEnd } : { windowEnd: '' }),
      ...(cp.lastSuccess ? { lastSuccess: cp.lastSuccess } : {}),
      ...(cp.lastAttempt ? { lastAttempt: cp.lastAttempt } : {}),
      lastError: (cp.lastError ?? '').slice(0, 2000),
      consecutiveFailures: cp.consecutiveFailures ?? 0,
    };
    try {
      const res = cp.etag
        ? await table.updateEntity(entity, 'Replace', { etag: cp.etag })
        : await table.createEntity(entity);
      return { ...cp, etag: res.etag };
    } catch (e) {
      if (isStatus(e, 409, 412)) throw new ConcurrencyError(`checkpoint ${cp.source}/${cp.environmentId}`);
      throw e;
    }
  }

  async list(): Promise<Checkpoint[]> {
    const table = await this.table();
    const out: Checkpoint[] = [];
    for await (const e of table.listEntities<CheckpointEntity>()) out.push(fromEntity(e));
    return out;
  }
}

function fromEntity(e: CheckpointEntity & { etag?: string }): Checkpoint {
  return {
    source: e.partitionKey,
    environmentId: e.rowKey,
    watermark: e.watermark,
    ...(e.cursor ? { cursor: e.cursor } : {}),
    ...(e.windowEnd ? { windowEnd: e.windowEnd } : {}),
    ...(e.lastSuccess ? { lastSuccess: e.lastSuccess } : {}),
    ...(e.lastAttempt ? { lastAttempt: e.lastAttempt } : {}),
    ...(e.lastError ? { lastError: e.lastError } : {}),
    consecutiveFailures: e.consecutiveFailures ?? 0,
    ...(e.etag ? { etag: e.etag } : {}),
  };
}
