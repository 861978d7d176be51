import type { Finding } from '../core/finding';
import type { FindingQuery, FindingStore, Logger, StoredFinding } from '../ports';

export type CreatedHook = (created: Finding[]) => Promise<void>;

/**
 * The one finding writer every pipeline gets: writes to the table (system of record) first, then hands
 * the findings that are new to the hooks (alerts queue, Log Analytics). A hook failure is logged and
 * rethrown so the caller does not advance its checkpoint; the table write already happened and is
 * idempotent, and the alert digest / Log Analytics backlog sweep anything a hook missed.
 */
export class PublishingFindingStore implements FindingStore {
  constructor(
    private readonly inner: FindingStore,
    private readonly hooks: { name: string; run: CreatedHook; critical: boolean }[],
    private readonly log: Logger,
  ) {}

  async upsertMany(findings: Finding[]): Promise<{ created: string[] }> {
    const res = await this.inner.upsertMany(findings);
    if (res.created.length === 0) return res;
    const ids = new Set(res.created);
    const created = findings.filter((f) => ids.has(f.id));
    const unique = [...new Map(created.map((f) => [f.id, f])).values()];
    for (const hook of this.hooks) {
      try {
        await hook.run(unique);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        this.log.error(`finding hook ${hook.name} failed`, { count: unique.length, error: message });
        if (hook.critical) throw e;
      }
    }
    return res;
  }

  query(q: FindingQuery): Promise<{ items: StoredFinding[]; continuationToken?: string }> {
    return this.inner.query(q);
  }

  get(id: string, environmentId: string, observedAt: string): Promise<StoredFinding | undefined> {
    return this.inner.get(id, environmentId, observedAt);
  }
}
