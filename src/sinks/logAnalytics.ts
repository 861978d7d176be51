import { LogsIngestionClient, isAggregateLogsUploadError, type LogsIngestionClientOptions } from '@azure/monitor-ingestion';
import type { TokenCredential } from '@azure/core-auth';
import { isRestError, type PipelinePolicy, type PipelineRequest } from '@azure/core-rest-pipeline';
import type { Finding } from '../core/finding';
import { safeEvidence } from '../core/alerts/render';
import type { BacklogStore, Clock, FindingsLog, FindingStore, Logger, RequestOptions } from '../ports';

/** The custom table and the DCR stream feeding it (docs/log-analytics.md). */
export const FINDINGS_TABLE = 'FlowWardenFindings_CL';
export const FINDINGS_STREAM = 'Custom-FlowWardenFindings';

/** Columns of the stream, in order, with their Log Analytics types. */
export const FINDINGS_COLUMNS = [
  { name: 'TimeGenerated', type: 'datetime' },
  { name: 'FindingId', type: 'string' },
  { name: 'Kind', type: 'string' },
  { name: 'RuleId', type: 'string' },
  { name: 'Severity', type: 'string' },
  { name: 'EnvironmentId', type: 'string' },
  { name: 'SubjectType', type: 'string' },
  { name: 'SubjectId', type: 'string' },
  { name: 'SubjectName', type: 'string' },
  { name: 'ObservedAt', type: 'datetime' },
  { name: 'Title', type: 'string' },
  { name: 'Detail', type: 'string' },
  { name: 'Evidence', type: 'dynamic' },
] as const;

export interface FindingLogRow {
  TimeGenerated: string;
  FindingId: string;
  Kind: string;
  RuleId: string;
  Severity: string;
  EnvironmentId: string;
  SubjectType: string;
  SubjectId: string;
  SubjectName: string;
  ObservedAt: string;
  Title: string;
  Detail: string;
  Evidence: Record<string, string | number | boolean>;
}

/** One row per finding. TimeGenerated = detection time; evidence passes the same filter as emails. */
export function toLogRow(f: Finding): FindingLogRow {
  return {
    TimeGenerated: f.detectedAt,
    FindingId: f.id,
    Kind: f.kind,
    RuleId: f.ruleId,
    Severity: f.severity,
    EnvironmentId: f.environmentId,
    SubjectType: f.subject.type,
    SubjectId: f.subject.id,
    SubjectName: f.subject.name ?? '',
    ObservedAt: f.observedAt,
    Title: f.title,
    Detail: f.detail,
    Evidence: safeEvidence(f.evidence),
  };
}

export interface LogsIngestionFindingsLogOptions {
  /** Data Collection Endpoint (or the DCR's logs ingestion endpoint). */
  endpoint: string;
  /** Immutable id of the DCR (dcr-…). */
  dcrId: string;
  stream?: string;
  credential: TokenCredential;
  /** Rows per upload call (the SDK further splits into 1 MB gzip chunks). Default 500. */
  batchSize?: number;
  clientOptions?: LogsIngestionClientOptions;
}

/** An upload that failed; says how many rows and the HTTP status, never row content. */
export class LogsUploadError extends Error {
  constructor(
    readonly failedRows: number,
    readonly statusCode?: number,
  ) {
    super(`Logs Ingestion upload failed for ${failedRows} row(s)${statusCode ? ` (HTTP ${statusCode})` : ''}`);
    this.name = 'LogsUploadError';
  }
}

/** FindingsLog over the real LogsIngestionClient (@azure/monitor-ingestion). */
export class LogsIngestionFindingsLog implements FindingsLog {
  readonly client: LogsIngestionClient;
  private readonly stream: string;

  constructor(private readonly options: LogsIngestionFindingsLogOptions) {
    if (!options.endpoint) throw new Error('LogsIngestionFindingsLog: FLOWWARDEN_LOGS_INGESTION_ENDPOINT is required');
    if (!options.dcrId) throw new Error('LogsIngestionFindingsLog: FLOWWARDEN_LOGS_DCR_ID is required');
    this.client = new LogsIngestionClient(options.endpoint, options.credential, options.clientOptions);
    if (isLoopbackUrl(options.endpoint)) this.client.pipeline.addPolicy(loopbackHttpPolicy(), { afterPhase: 'Sign' });
    this.stream = options.stream ?? FINDINGS_STREAM;
  }

  async upload(findings: Finding[], options: RequestOptions = {}): Promise<void> {
    const size = this.options.batchSize ?? 500;
    for (let i = 0; i < findings.length; i += size) {
      const rows = findings.slice(i, i + size).map(toLogRow);
      try {
        await this.client.upload(this.options.dcrId, this.stream, rows as unknown as Record<string, unknown>[], { abortSignal: options.abortSignal, maxConcurrency: 1 });
      } catch (e) {
        if (isAggregateLogsUploadError(e)) {
          const first = e.errors[0]?.cause;
          throw new LogsUploadError(e.errors.reduce((n, x) => n + x.failedLogs.length, 0), isRestError(first) ? first.statusCode : undefined);
        }
        throw e;
      }
    }
  }
}

export interface PublishDeps {
  findingsLog: FindingsLog;
  backlog: BacklogStore;
  clock: Clock;
  log: Logger;
}

/**
 * Send findings to Log Analytics after they were written to the findings table (the system of record).
 * A failure never propagates: the ids go to the backlog and `drainBacklog` catches up later.
 */
export async function publishFindings(deps: PublishDeps, findings: Finding[]): Promise<{ uploaded: number; backlogged: number }> {
  if (!findings.length) return { uploaded: 0, backlogged: 0 };
  try {
    await deps.findingsLog.upload(findings);
    return { uploaded: findings.length, backlogged: 0 };
  } catch (e) {
    const reason = errorText(e);
    const now = deps.clock.now().toISOString();
    await deps.backlog.putMany(findings.map((f) => ({ findingId: f.id, environmentId: f.environmentId, observedAt: f.observedAt, queuedAt: now, attempts: 1, lastError: reason })));
    deps.log.warn('Log Analytics upload failed; findings kept in the re-send backlog', { count: findings.length, error: reason });
    return { uploaded: 0, backlogged: findings.length };
  }
}

/** Re-send the backlog oldest first, `max` at a time. Entries whose finding is gone are dropped with a warning. */
export async function drainBacklog(
  deps: PublishDeps & { findings: FindingStore },
  options: { max?: number } = {},
): Promise<{ uploaded: number; remaining: number; dropped: number }> {
  const entries = await deps.backlog.list(options.max ?? 500);
  if (!entries.length) return { uploaded: 0, remaining: 0, dropped: 0 };
  const found: Finding[] = [];
  const gone: string[] = [];
  for (const e of entries) {
    const f = await deps.findings.get(e.findingId, e.environmentId, e.observedAt);
    if (!f) {
      gone.push(e.findingId);
      continue;
    }
    const { state: _state, ...finding } = f;
    found.push(finding);
  }
  if (gone.length) {
    deps.log.warn('backlog entries without a finding in the table were dropped', { count: gone.length });
    await deps.backlog.removeMany(gone);
  }
  try {
    if (found.length) await deps.findingsLog.upload(found);
  } catch (e) {
    const reason = errorText(e);
    await deps.backlog.putMany(entries.filter((x) => !gone.includes(x.findingId)).map((x) => ({ ...x, attempts: x.attempts + 1, lastError: reason })));
    deps.log.warn('Log Analytics backlog re-send failed; will retry', { count: found.length, error: reason });
    return { uploaded: 0, remaining: await deps.backlog.count(), dropped: gone.length };
  }
  await deps.backlog.removeMany(found.map((f) => f.id));
  return { uploaded: found.length, remaining: await deps.backlog.count(), dropped: gone.length };
}

function errorText(e: unknown): string {
  if (e instanceof LogsUploadError) return e.message;
  if (isRestError(e)) return `HTTP ${e.statusCode ?? '?'} ${e.code ?? ''}`.trim();
  return e instanceof Error ? e.name : 'unknown error';
}

export function isLoopbackUrl(url: string): boolean {
  try {
    return ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(url).hostname);
  } catch {
    return false;
  }
}

/**
 * Local endpoints only. The SDK refuses bearer tokens over plain http, and the local Logs endpoints
 * (src/dev/localLogs.ts) are plain http on loopback. Clients address them as https://127.0.0.1:PORT;
 * this policy, placed after signing, sends such a request over http instead. Any other host is untouched.
 */
export function loopbackHttpPolicy(): PipelinePolicy {
  return {
    name: 'flowwardenLoopbackHttp',
    async sendRequest(request: PipelineRequest, next) {
      const original = request.url;
      const u = new URL(original);
      if (u.protocol !== 'https:' || !['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname)) return next(request);
      u.protocol = 'http:';
      request.url = u.toString();
      request.allowInsecureConnection = true;
      try {
        return await next(request);
      } finally {
        // Retries re-enter the bearer policy with this request object: give it back its https URL.
        request.url = original;
      }
    },
  };
}
