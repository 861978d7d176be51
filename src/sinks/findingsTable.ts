import { odata, type TableClient, type TableEntity, type TransactionAction } from '@azure/data-tables';
import { SEVERITIES, severityRank, type Finding, type Severity } from '../core/finding';
import type { FindingQuery, FindingState, FindingStore, StoredFinding } from '../ports';
import { checkEntity, fitString, isStatus, MAX_BATCH, TABLES, type TableService } from './tableService';

interface FindingEntity extends Record<string, unknown> {
  partitionKey: string;
  rowKey: string;
  kind: string;
  ruleId: string;
  severity: string;
  severityRank: number;
  environmentId: string;
  subjectType: string;
  subjectId: string;
  subjectName?: string;
  observedAt: string;
  detectedAt: string;
  title: string;
  detail: string;
  evidence: string;
  state: string;
}

function idPartition(id: string): string {
  return id.slice(0, 2);
}

/** Run `f` over `items` with at most `limit` in flight; results in input order. */
async function mapLimit<T, R>(items: T[], limit: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]!);
      }
    }),
  );
  return out;
}

/** `{environmentId}_{yyyyMMdd of observedAt}` (DESIGN.md §5). */
export function findingPartition(environmentId: string, observedAt: string): string {
  const d = new Date(observedAt);
  if (Number.isNaN(d.getTime())) throw new Error(`finding.observedAt: not an ISO date: "${observedAt}"`);
  const day = d.toISOString().slice(0, 10).replace(/-/g, '');
  return `${environmentId.replace(/[\/\\#?]/g, '_')}_${day}`;
}

function toEntity(f: Finding): FindingEntity {
  return {
    partitionKey: findingPartition(f.environmentId, f.observedAt),
    rowKey: f.id,
    kind: f.kind,
    ruleId: f.ruleId,
    severity: f.severity,
    severityRank: severityRank(f.severity),
    environmentId: f.environmentId,
    subjectType: f.subject.type,
    subjectId: fitString(f.subject.id, 1024),
    ...(f.subject.name !== undefined ? { subjectName: fitString(f.subject.name, 1024) } : {}),
    observedAt: f.observedAt,
    detectedAt: f.detectedAt,
    title: fitString(f.title, 1024),
    detail: fitString(f.detail),
    evidence: JSON.stringify(f.evidence),
    state: 'open',
  };
}

function fromEntity(e: TableEntity<FindingEntity>): StoredFinding {
  return {
    id: e.rowKey,
    kind: e.kind as Finding['kind'],
    ruleId: e.ruleId,
    severity: e.severity as Severity,
    environmentId: e.environmentId,
    subject: { type: e.subjectType, id: e.subjectId, ...(e.subjectName ? { name: e.subjectName } : {}) },
    observedAt: e.observedAt,
    detectedAt: e.detectedAt,
    title: e.title,
    detail: e.detail,
    evidence: JSON.parse(e.evidence) as Finding['evidence'],
    state: (e.state as FindingState) ?? 'open',
  };
}

/**
 * The system of record. Writes are create-only, so writing a finding twice is a no-op and a re-scan never
 * overwrites the state (acknowledged/resolved) a person set.
 */
export class TableFindingStore implements FindingStore {
  constructor(private readonly tables: TableService) {}

  private table(): Promise<TableClient> {
    return this.tables.ready(TABLES.findings);
  }

  /**
   * `beforeIndex` runs after the rows are written and before the id index is: the publishing store
   * hands new findings to the alerts queue there. A crash or a failure before the index is written
   * leaves the findings "new", so the next attempt publishes them again (hooks are idempotent by id);
   * indexing first would lose their alerts for good. Returning false skips the index write.
   */
  async upsertMany(findings: Finding[], options: { beforeIndex?: (created: string[]) => Promise<boolean | void> } = {}): Promise<{ created: string[] }> {
    if (findings.length === 0) return { created: [] };
    const [table, ids] = await Promise.all([this.table(), this.tables.ready(TABLES.findingIds)]);
    const unique = [...new Map(findings.map((f) => [f.id, f])).values()];
    const entities = unique.map((f) => {
      const e = toEntity(f);
      checkEntity(TABLES.findings, e);
      return e;
    });
    // A finding is new when its id is in no partition yet (its observedAt may differ from the first sighting's).
    const known = await mapLimit(entities, 16, async (e) => {
      try {
        await ids.getEntity(idPartition(e.rowKey), e.rowKey, { queryOptions: { select: ['partition'] } });
        return true;
      } catch (err) {
        if (isStatus(err, 404)) return false;
        throw err;
      }
    });
    const fresh = entities.filter((_, i) => !known[i]);
    const byPartition = new Map<string, FindingEntity[]>();
    for (const e of fresh) {
      const list = byPartition.get(e.partitionKey) ?? [];
      list.push(e);
      byPartition.set(e.partitionKey, list);
    }
    for (const list of byPartition.values()) {
      for (let i = 0; i < list.length; i += MAX_BATCH) await this.createChunk(table, list.slice(i, i + MAX_BATCH));
    }
    // New = not indexed yet. A row that exists without its index entry was written by an attempt that
    // crashed before indexing (and so before its alert/Log Analytics hooks ran): report it again, the
    // hooks are idempotent by finding id.
    const created = fresh.map((e) => e.rowKey);
    if (options.beforeIndex && created.length && (await options.beforeIndex(created)) === false) return { created };
    // The index is written after the finding: a crash in between re-creates nothing (409 on the same partition) and indexes it next time.
    await mapLimit(fresh, 16, async (e) => {
      try {
        await ids.createEntity({ partitionKey: idPartition(e.rowKey), rowKey: e.rowKey, partition: e.partitionKey });
      } catch (err) {
        if (!isStatus(err, 409)) throw err;
      }
    });
    return { created };
  }

  /** One transaction when every entity is new; when one exists the batch fails whole, so fall back to one by one. */
  private async createChunk(table: TableClient, chunk: FindingEntity[]): Promise<string[]> {
    if (chunk.length > 1) {
      try {
        const actions: TransactionAction[] = chunk.map((e) => ['create', e]);
        await table.submitTransaction(actions);
        return chunk.map((e) => e.rowKey);
      } catch (e) {
        if (!isStatus(e, 409)) throw e;
      }
    }
    const created: string[] = [];
    for (const e of chunk) {
      try {
        await table.createEntity(e);
        created.push(e.rowKey);
      } catch (err) {
        if (!isStatus(err, 409)) throw err;
      }
    }
    return created;
  }

  async get(id: string, environmentId: string, observedAt: string): Promise<StoredFinding | undefined> {
    const table = await this.table();
    const read = async (pk: string) => {
      try {
        return fromEntity(await table.getEntity<FindingEntity>(pk, id));
      } catch (e) {
        if (isStatus(e, 404)) return undefined;
        throw e;
      }
    };
    const direct = await read(findingPartition(environmentId, observedAt));
    if (direct) return direct;
    // The caller's observedAt may be a later sighting's: the id index knows the partition of the stored row.
    const ids = await this.tables.ready(TABLES.findingIds);
    try {
      const ref = await ids.getEntity<{ partition: string }>(idPartition(id), id);
      return await read(ref.partition);
    } catch (e) {
      if (isStatus(e, 404)) return undefined;
      throw e;
    }
  }

  async setState(id: string, environmentId: string, observedAt: string, state: FindingState): Promise<void> {
    const table = await this.table();
    await table.updateEntity({ partitionKey: findingPartition(environmentId, observedAt), rowKey: id, state }, 'Merge');
  }

  async query(q: FindingQuery): Promise<{ items: StoredFinding[]; continuationToken?: string }> {
    const table = await this.table();
    const filters: string[] = [];
    if (q.environmentId) {
      const env = q.environmentId.replace(/[\/\\#?]/g, '_');
      filters.push(odata`PartitionKey ge ${q.since ? findingPartition(env, q.since) : `${env}_`}`);
      filters.push(odata`PartitionKey lt ${`${env}_~`}`);
    }
    if (q.since) filters.push(odata`observedAt ge ${q.since}`);
    if (q.until) filters.push(odata`observedAt lt ${q.until}`);
    if (q.kind) filters.push(odata`kind eq ${q.kind}`);
    if (q.severity) {
      if (!(SEVERITIES as readonly string[]).includes(q.severity)) throw new Error(`severity: expected one of ${SEVERITIES.join(', ')}`);
      filters.push(odata`severityRank ge ${severityRank(q.severity)}`);
    }
    const pages = table
      .listEntities<FindingEntity>({ queryOptions: filters.length ? { filter: filters.join(' and ') } : {} })
      .byPage({ maxPageSize: q.pageSize ?? 1000, ...(q.continuationToken ? { continuationToken: q.continuationToken } : {}) });
    const next = await pages.next();
    if (next.done || !next.value) return { items: [] };
    const page = next.value;
    return {
      items: page.map(fromEntity),
      ...(page.continuationToken ? { continuationToken: page.continuationToken } : {}),
    };
  }

  /** Every finding matching the query, all pages. */
  async queryAll(q: Omit<FindingQuery, 'continuationToken'>): Promise<StoredFinding[]> {
    const out: StoredFinding[] = [];
    let token: string | undefined;
    do {
      const page = await this.query({ ...q, ...(token ? { continuationToken: token } : {}) });
      out.push(...page.items);
      token = page.continuationToken;
    } while (token);
    return out;
  }
}
