import type { Finding } from '../core/finding';
import type { FindingQuery, FindingStore, Logger, StoredFinding } from '../ports';

export type CreatedHook = (created: Finding[]) => Promise<void>;

/** A store that can run a callback between writing new findings and marking them published (TableFindingStore). */
type InnerStore = FindingStore & {
  upsertMany(findings: Finding[], options?: { beforeIndex?: (created: string[]) => Promise<boolean | void> }): Promise<{ created: string[] }>;
};

/**
 * The one finding writer every pipeline gets: writes to the table (system of record) first, then hands
 * the findings that are new to the hooks (alerts queue, Log Analytics), and only then lets the table
 * mark them published (its id index). A crash or a failing hook before that leaves them "new": the
 * next sighting (retry, look-back re-scan) publishes them again, so an alert is never lost between
 * the table write and the queue; the alert pipeline sends each (route, finding) once. A critical
 * hook's failure is rethrown so the caller does not advance its checkpoint.
 */
export class PublishingFindingStore implements FindingStore {
  constructor(
    private readonly inner: InnerStore,
    private readonly hooks: { name: string; run: CreatedHook; critical: boolean }[],
    private readonly log: Logger,
  ) {}

  async upsertMany(findings: Finding[]): Promise<{ created: string[] }> {
    let published = false;
    const publish = async (createdIds: string[]): Promise<boolean> => {
      published = true;
      const ids = new Set(createdIds);
      const unique = [...new Map(findings.filter((f) => ids.has(f.id)).map((f) => [f.id, f])).values()];
      let allOk = true;
      for (const hook of this.hooks) {
        try {
          await hook.run(unique);
        } catch (e) {
          const message = e instanceof Error ? e.message : String(e);
          this.log.error(`finding hook ${hook.name} failed`, { count: unique.length, error: message });
          if (hook.critical) throw e;
          allOk = false;
        }
      }
      // Not every hook took them: leave them unpublished, the next sighting tries again.
      return allOk;
    };
    const res = await this.inner.upsertMany(findings, { beforeIndex: publish });
    // A store without the callback (in-memory twins) returns first: publish afterwards.
    if (!published && res.created.length) await publish(res.created);
    return res;
  }

  query(q: FindingQuery): Promise<{ items: StoredFinding[]; continuationToken?: string }> {
    return this.inner.query(q);
  }

  get(id: string, environmentId: string, observedAt: string): Promise<StoredFinding | undefined> {
    return this.inner.get(id, environmentId, observedAt);
  }
}
