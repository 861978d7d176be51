import { makeFinding, type Finding } from '../core/finding';
import { ruleInfo } from '../core/catalogue';
import type { Checkpoint, CheckpointStore, Clock, FindingStore, PoisonStore, WorkQueue } from '../ports';
import { enqueueAlerts, type AlertQueueItem } from './deliverAlerts';

/**
 * Self-monitoring: per-source lag and last success (GET /api/health) and findings when a source
 * stalls or records are set aside, delivered through the normal alert path.
 */

export interface SourceHealth {
  source: string;
  environmentId: string;
  /** Everything before it is processed. */
  watermark: string;
  lastSuccess?: string;
  lastAttempt?: string;
  /** Seconds between now and the watermark. */
  lagSeconds: number;
  consecutiveFailures: number;
  /** Last error, with signed-URL parameters removed. */
  lastError?: string;
  intervalMinutes?: number;
  stalled: boolean;
  /** Since when it counts as stalled (lastSuccess + stallIntervals × interval). */
  stalledSince?: string;
}

export interface HealthReport {
  status: 'healthy' | 'stalled';
  checkedAt: string;
  sources: SourceHealth[];
  poisonRecords: number;
}

export interface HealthDeps {
  checkpoints: CheckpointStore;
  poison: PoisonStore;
  clock: Clock;
  /** Scheduled interval of each source in minutes (sources without one are reported, never "stalled"). */
  schedules: Record<string, number>;
  /** A source that has not advanced for this many intervals is stalled (FLOWWARDEN_STALL_INTERVALS, default 3). */
  stallIntervals?: number;
}

export async function healthReport(deps: HealthDeps): Promise<HealthReport> {
  const now = deps.clock.now();
  const n = deps.stallIntervals ?? 3;
  const cps = await deps.checkpoints.list();
  const sources = cps
    .map((cp) => sourceHealth(cp, deps.schedules[cp.source], n, now))
    .sort((a, b) => a.source.localeCompare(b.source) || a.environmentId.localeCompare(b.environmentId));
  return {
    status: sources.some((s) => s.stalled) ? 'stalled' : 'healthy',
    checkedAt: now.toISOString(),
    sources,
    poisonRecords: await deps.poison.count(),
  };
}

function sourceHealth(cp: Checkpoint, intervalMinutes: number | undefined, n: number, now: Date): SourceHealth {
  const lastAdvance = Date.parse(cp.lastSuccess ?? cp.watermark);
  const stallAt = intervalMinutes ? lastAdvance + n * intervalMinutes * 60_000 : undefined;
  const stalled = stallAt !== undefined && Number.isFinite(stallAt) && now.getTime() >= stallAt;
  return {
    source: cp.source,
    environmentId: cp.environmentId,
    watermark: cp.watermark,
    lastSuccess: cp.lastSuccess,
    lastAttempt: cp.lastAttempt,
    lagSeconds: Math.max(0, Math.round((now.getTime() - Date.parse(cp.watermark)) / 1000)),
    consecutiveFailures: cp.consecutiveFailures ?? 0,
    lastError: cp.lastError ? scrub(cp.lastError) : undefined,
    intervalMinutes,
    stalled,
    stalledSince: stalled ? new Date(stallAt!).toISOString() : undefined,
  };
}

/** Strip query strings from URLs (SAS `sig=`, `code=`) and cap the length. */
function scrub(s: string): string {
  return s.replace(/(https?:\/\/[^\s?#]+)\?[^\s]*/gi, '$1?[redacted]').slice(0, 500);
}

/** For GET /api/health: 200 when every source advances, 503 when one is stalled. */
export function healthHttpResponse(report: HealthReport): { status: 200 | 503; headers: Record<string, string>; body: string } {
  return {
    status: report.status === 'healthy' ? 200 : 503,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(report),
  };
}

export const SOURCE_STALLED_RULE = 'health.source-stalled';
export const POISON_RULE = 'health.poison-records';
/** Environment id of findings about flowwarden itself rather than one environment. */
export const FLOWWARDEN_ENVIRONMENT = 'flowwarden';

/** Findings for the report: one per stalled source and stuck watermark, one per source with poison records per day. */
export async function healthFindings(report: HealthReport, deps: { poison: PoisonStore; schedules: Record<string, number> }): Promise<Finding[]> {
  const detectedAt = report.checkedAt;
  const out: Finding[] = [];
  const stalledInfo = ruleInfo(SOURCE_STALLED_RULE)!;
  for (const s of report.sources.filter((x) => x.stalled)) {
    out.push(
      makeFinding(
        {
          kind: 'health',
          ruleId: SOURCE_STALLED_RULE,
          severity: 'high',
          environmentId: s.environmentId,
          subject: { type: 'source', id: `${s.source}/${s.environmentId}`, name: s.source },
          // When it became stalled: fixed while the watermark is stuck, so the id and the table row are stable.
          observedAt: s.stalledSince!,
          title: `Source ${s.source} has not advanced since ${s.lastSuccess ?? s.watermark}`,
          detail:
            `The ${s.source} source of environment ${s.environmentId} is stuck at watermark ${s.watermark} ` +
            `(last success ${s.lastSuccess ?? 'never'}, ${s.consecutiveFailures} consecutive failure(s)` +
            `${s.lastError ? `, last error: ${s.lastError}` : ''}). Nothing it watches is being checked. ${stalledInfo.fix}`,
          evidence: {
            source: s.source,
            watermark: s.watermark,
            lastSuccess: s.lastSuccess ?? '',
            lagSeconds: s.lagSeconds,
            consecutiveFailures: s.consecutiveFailures,
            intervalMinutes: s.intervalMinutes ?? 0,
          },
          evidenceKey: s.watermark,
        },
        detectedAt,
      ),
    );
  }
  if (report.poisonRecords > 0) {
    const day = detectedAt.slice(0, 10);
    const sources = [...new Set([...Object.keys(deps.schedules), ...report.sources.map((s) => s.source)])].sort();
    const perSource: [string, number][] = [];
    for (const src of sources) {
      const c = await deps.poison.count(src);
      if (c > 0) perSource.push([src, c]);
    }
    const counted = perSource.reduce((a, [, c]) => a + c, 0);
    if (counted < report.poisonRecords) perSource.push(['other', report.poisonRecords - counted]);
    for (const [src, count] of perSource) {
      out.push(
        makeFinding(
          {
            kind: 'health',
            ruleId: POISON_RULE,
            severity: 'medium',
            environmentId: FLOWWARDEN_ENVIRONMENT,
            subject: { type: 'source', id: src, name: src },
            observedAt: `${day}T00:00:00.000Z`,
            title: `${count} record(s) of source ${src} were set aside as unprocessable`,
            detail: `${count} record(s) from ${src} failed processing repeatedly and were moved to the poison queue/table; they were not checked. ${ruleInfo(POISON_RULE)!.fix}`,
            evidence: { source: src, count },
            // One finding per source per day while records sit in the poison store.
            evidenceKey: day,
          },
          detectedAt,
        ),
      );
    }
  }
  return out;
}

/**
 * Timer: build the report, write health findings (idempotent by id) and enqueue the new ones on the
 * alerts queue, so a stall alerts once per stuck watermark.
 */
export async function checkHealth(
  deps: HealthDeps & { findings: FindingStore; stallIntervals: number; alertsQueue?: WorkQueue<AlertQueueItem> },
): Promise<{ report: HealthReport; findings: Finding[]; created: string[] }> {
  const report = await healthReport(deps);
  const findings = await healthFindings(report, deps);
  const { created } = findings.length ? await deps.findings.upsertMany(findings) : { created: [] as string[] };
  if (deps.alertsQueue && created.length) {
    const set = new Set(created);
    await enqueueAlerts({ alertsQueue: deps.alertsQueue }, findings.filter((f) => set.has(f.id)));
  }
  return { report, findings, created };
}
