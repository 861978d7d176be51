import { Cron } from 'croner';
import type { App } from './compose';
import type { QueueMessage } from './ports';
import type { HandlerRequest, HandlerResponse } from './host/httpTypes';
import { handleDataverseWebhook } from './pipelines/dataverseWebhook';
import { deliverDigest, deliverImmediate, drainAlertsQueue, isAlertQueueItem, type AlertQueueItem, type DeliverAlertsDeps } from './pipelines/deliverAlerts';
import { checkHealth, healthReport } from './pipelines/health';
import { pollAudit, AUDIT_SOURCE } from './pipelines/pollAudit';
import { scanDefinitions, DEFINITIONS_SOURCE } from './pipelines/scanDefinitions';
import { scanRun } from './pipelines/scanRunWorker';
import { runsOf, scanRuns, RUNS_SOURCE, type RunBatchMessage, type RunScanMessage, type RunsQueueMessage } from './pipelines/scanRuns';
import { snapshotPermissions, PERMISSIONS_SOURCE } from './pipelines/snapshotPermissions';
import { drainBacklog } from './sinks/logAnalytics';

/**
 * The jobs of DESIGN.md §3, each binding one pipeline to the composed app. `functions/` (Azure), `serve`
 * (local host), `scan` and `demo` (CLI) all call these, so every way of running executes the same code.
 */

/** Same retry budget as host.json `maxDequeueCount`: after it a message goes to the poison queue. */
export const MAX_DEQUEUE = 5;

export function jobScanRuns(app: App, overrides: { runsPerMessage?: number } = {}) {
  return scanRuns({
    flowApi: app.flowApi,
    checkpoints: app.checkpoints,
    runsQueue: app.runsQueue,
    policy: app.policy,
    clock: app.clock,
    log: app.log,
    lookbackMinutes: app.config.lookbackMinutes,
    initialLookbackHours: app.config.initialLookbackHours,
    runsPerMessage: overrides.runsPerMessage ?? app.config.runsPerMessage,
  });
}

export function jobScanRun(app: App, msg: RunScanMessage) {
  return scanRun({ flowApi: app.flowApi, findings: app.findings, policy: app.policy, fingerprintKey: app.config.fingerprintKey, clock: app.clock, log: app.log, cache: app.runCache }, validateRunMessage(msg));
}

/** A queue body that is not a run reference is a poisoned message: say which field is wrong. */
export function validateRunMessage(body: unknown): RunScanMessage {
  const b = body as Partial<RunScanMessage> | null;
  for (const field of ['environmentId', 'flowId', 'runId'] as const) {
    if (!b || typeof b[field] !== 'string' || !b[field]) throw new PoisonMessageError(`run message: ${field} must be a non-empty string`);
  }
  return b as RunScanMessage;
}

/** A runs queue body (a batch of one flow's runs, or a single run), checked field by field. */
export function validateRunsMessage(body: unknown): RunsQueueMessage {
  const b = body as Partial<RunBatchMessage> | null;
  if (!b || typeof b !== 'object' || !('runs' in b)) return validateRunMessage(body);
  for (const field of ['environmentId', 'flowId'] as const) {
    if (typeof b[field] !== 'string' || !b[field]) throw new PoisonMessageError(`run message: ${field} must be a non-empty string`);
  }
  if (!Array.isArray(b.runs) || b.runs.length === 0) throw new PoisonMessageError('run message: runs must be a non-empty array');
  b.runs.forEach((r, i) => {
    if (!r || typeof r.runId !== 'string' || !r.runId) throw new PoisonMessageError(`run message: runs[${i}].runId must be a non-empty string`);
  });
  return b as RunBatchMessage;
}

export interface RunsMessageResult {
  runs: number;
  actions: number;
  /** Content links fetched. */
  fetched: number;
  /** Sides whose content hash was already scanned: not fetched, findings rebuilt from the cached hits. */
  cached: number;
  findings: number;
  created: number;
  /** Runs that failed while others succeeded: sent again in a new message of their own. */
  requeued: number;
}

/**
 * Scan every run a runs message stands for, one after the other (the message was validated whole, so
 * each run reference is well formed). A run that fails (throttled past the retry budget, a 5xx, a run
 * body of the wrong shape) does not hold the others back: it is sent again in a smaller message of its
 * own once the others are done, so a retry
 * re-scans only what failed. Only when no run of the message got anywhere does this throw, and the
 * queue's own retry (visibility timeout, dequeue count, poison queue) takes over. Each split strictly
 * shrinks the message, so a run is tried at most (runs in the message + maxDequeueCount) times.
 */
export async function jobScanRunsMessage(app: App, body: unknown): Promise<RunsMessageResult> {
  const msg = validateRunsMessage(body);
  const runs = runsOf(msg);
  const res: RunsMessageResult = { runs: runs.length, actions: 0, fetched: 0, cached: 0, findings: 0, created: 0, requeued: 0 };
  const failed: { run: RunScanMessage; error: unknown }[] = [];
  for (const run of runs) {
    try {
      const r = await jobScanRun(app, run);
      res.actions += r.actions;
      res.fetched += r.fetched;
      res.cached += r.skippedCached;
      res.findings += r.findings;
      res.created += r.created.length;
    } catch (e) {
      failed.push({ run, error: e });
    }
  }
  if (failed.length === 0) return res;
  if (failed.length === runs.length) throw failed[0]!.error;
  const retry: RunBatchMessage = {
    environmentId: msg.environmentId,
    flowId: msg.flowId,
    ...(msg.flowName ? { flowName: msg.flowName } : {}),
    runs: failed.map(({ run }) => ({ runId: run.runId, ...(run.endTime ? { endTime: run.endTime } : {}) })),
  };
  await app.runsQueue.send(retry);
  res.requeued = failed.length;
  app.log.warn('scanRunWorker: runs failed, sent again on their own', {
    flowId: msg.flowId,
    runIds: retry.runs.map((r) => r.runId).join(','),
    error: failed[0]!.error instanceof Error ? failed[0]!.error.message : String(failed[0]!.error),
  });
  return res;
}

export class PoisonMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PoisonMessageError';
  }
}

/**
 * Local stand-in for the queue trigger (CLI, serve, demo, bench): receive run messages, scan them with
 * bounded concurrency, delete on success, leave failures for a retry after the visibility timeout, and
 * set a message aside (poison queue + poison table) when it is malformed or out of retries.
 */
export async function jobDrainRuns(app: App, options: { concurrency?: number; visibilityTimeoutSec?: number; maxIdlePolls?: number } = {}) {
  const totals = { messages: 0, runs: 0, actions: 0, fetched: 0, cached: 0, findings: 0, created: 0, failed: 0, poisoned: 0, requeued: 0 };
  const concurrency = options.concurrency ?? 8;
  const visibility = options.visibilityTimeoutSec ?? 60;
  // A pool, as the queue trigger runs: `concurrency` lanes each take the next message as soon as
  // they are free (no batch barrier waiting for the slowest message of a batch); a lane that finds
  // the local buffer empty fetches up to `concurrency` more, one fetch at a time. The drain ends when
  // the queue answered empty `maxIdlePolls` times in a row.
  const maxIdle = options.maxIdlePolls ?? 1;
  const buffer: QueueMessage<RunsQueueMessage>[] = [];
  let idle = 0;
  let fetching: Promise<void> | undefined;
  // A failed receive or delete (storage down) stops every lane after its current message; the drain
  // then throws. Messages still in the local buffer reappear after their visibility timeout.
  let failure: { error: unknown } | undefined;
  const settle = async (op: () => Promise<unknown>): Promise<boolean> => {
    try {
      await op();
      return true;
    } catch (error) {
      failure ??= { error };
      return false;
    }
  };
  const next = async (): Promise<QueueMessage<RunsQueueMessage> | undefined> => {
    for (;;) {
      if (failure) return undefined;
      const m = buffer.shift();
      if (m) return m;
      if (idle >= maxIdle) return undefined;
      fetching ??= app.runsQueue
        .receive(Math.min(32, concurrency), visibility)
        .then(
          (got) => {
            if (got.length) {
              idle = 0;
              buffer.push(...got);
            } else idle++;
          },
          (error: unknown) => {
            failure ??= { error };
          },
        )
        .finally(() => (fetching = undefined));
      await fetching;
    }
  };
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let m = await next(); m; m = await next()) {
        totals.messages++;
        // A message of many runs can take longer than its visibility timeout (throttling, a slow
        // tenant): renew the lease while it is worked on, so no second worker picks it up meanwhile.
        const lease = leaseRenewal(app, m, visibility);
        let r: RunsMessageResult | undefined;
        let error: unknown;
        try {
          r = await jobScanRunsMessage(app, m.body);
        } catch (e) {
          error = e;
        }
        await lease.stop();
        if (r) {
          totals.runs += r.runs;
          totals.actions += r.actions;
          totals.fetched += r.fetched;
          totals.cached += r.cached;
          totals.findings += r.findings;
          totals.created += r.created;
          totals.requeued += r.requeued;
          // Settling a message with the queue is storage too: if that fails, stop like a failed receive
          // (the message reappears after its visibility timeout; the scan is idempotent).
          if (!(await settle(() => app.runsQueue.delete(m)))) break;
          continue;
        }
        const reason = error instanceof Error ? error.message : String(error);
        if (error instanceof PoisonMessageError || m.dequeueCount >= MAX_DEQUEUE) {
          totals.poisoned++;
          const setAside = async () => {
            await setAsidePoisonRun(app, m.body, reason);
            await app.runsQueue.poison(m, reason);
          };
          if (!(await settle(setAside))) break;
        } else {
          totals.failed++;
          app.log.warn('scanRunWorker: run message failed, will retry', { flowId: (m.body as RunScanMessage)?.flowId, error: reason, dequeueCount: m.dequeueCount });
        }
      }
    }),
  );
  if (failure) throw failure.error;
  return totals;
}

/**
 * Renew a received message's visibility every half timeout until stopped. `stop` waits for a renewal
 * in flight, so the pop receipt the caller deletes with is the newest. A renewal that fails (the
 * message is gone, or another worker holds it) is logged and ends the renewals.
 */
export function leaseRenewal(app: Pick<App, 'runsQueue' | 'log'>, m: QueueMessage<unknown>, visibilitySec: number): { stop(): Promise<void> } {
  let inFlight: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    inFlight = inFlight.then(() =>
      app.runsQueue.extend(m as QueueMessage<RunsQueueMessage>, visibilitySec).catch((e: unknown) => {
        clearInterval(timer);
        app.log.warn('scanRunWorker: could not renew the message lease', { messageId: m.id, error: e instanceof Error ? e.message : String(e) });
      }),
    );
  }, Math.max(250, (visibilitySec * 1000) / 2));
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await inFlight;
    },
  };
}

/** Record a poisoned run message in the poison table (counted by health): one row per run it names. */
export async function setAsidePoisonRun(app: App, body: unknown, reason: string): Promise<void> {
  const b = (body ?? {}) as Partial<RunScanMessage> & { runs?: unknown };
  const environmentId = typeof b.environmentId === 'string' ? b.environmentId : 'unknown';
  const flowId = typeof b.flowId === 'string' && b.flowId ? b.flowId : '?';
  const runIds = Array.isArray(b.runs)
    ? b.runs.map((r) => (r && typeof (r as { runId?: unknown }).runId === 'string' ? (r as { runId: string }).runId : '?'))
    : [typeof b.runId === 'string' && b.runId ? b.runId : '?'];
  const at = app.clock.now().toISOString();
  for (const runId of runIds.length ? [...new Set(runIds)] : ['?']) {
    await app.poison.put({ source: RUNS_SOURCE, environmentId, key: `${flowId}/${runId}`, reason, at });
  }
}

export function jobScanDefinitions(app: App) {
  return scanDefinitions({
    flowApi: app.flowApi,
    dataverse: app.dataverse,
    findings: app.findings,
    checkpoints: app.checkpoints,
    poison: app.poison,
    policy: app.policy,
    fingerprintKey: app.config.fingerprintKey,
    clock: app.clock,
    log: app.log,
    initialLookbackHours: app.config.initialLookbackHours,
  });
}

export function jobPollAudit(app: App) {
  return pollAudit({
    dataverse: app.dataverse,
    findings: app.findings,
    checkpoints: app.checkpoints,
    profiles: app.profiles,
    poison: app.poison,
    policy: app.policy,
    log: app.log,
    clock: app.clock,
    lookbackMinutes: app.config.lookbackMinutes,
    initialLookbackHours: app.config.initialLookbackHours,
    resolver: app.resolver,
    roleNames: app.roleNames,
  });
}

export function jobSnapshotPermissions(app: App) {
  return snapshotPermissions({
    dataverse: app.dataverse,
    flowApi: app.flowApi,
    connections: app.connections,
    policy: app.policy,
    clock: app.clock,
    snapshots: app.snapshots,
    findings: app.findings,
    checkpoints: app.checkpoints,
    log: app.log,
  });
}

export function jobWebhook(app: App, req: HandlerRequest): Promise<HandlerResponse> {
  return handleDataverseWebhook(req, {
    findings: app.findings,
    profiles: app.profiles,
    poison: app.poison,
    resolver: app.resolver,
    policy: app.policy,
    webhookSecrets: app.config.webhookSecrets,
    maxBytes: app.config.webhookMaxBytes,
    log: app.log,
    clock: app.clock,
    roleNames: app.roleNames,
  });
}

function alertDeps(app: App): DeliverAlertsDeps {
  if (!app.email) throw new Error('alerts: no email sender configured (set FLOWWARDEN_ACS_ENDPOINT and FLOWWARDEN_EMAIL_SENDER, or FLOWWARDEN_OUTBOX_DIR)');
  return {
    findings: app.findingStore,
    alertState: app.alertState,
    email: app.email,
    policy: app.policy,
    clock: app.clock,
    log: app.log,
    alertsQueue: app.alertsQueue,
    // The quota is ACS's: with only the outbox configured there is nothing to throttle.
    throttle: !!(app.config.email.acsEndpoint || app.config.email.acsConnectionString),
    ...(app.policy.alerts.sendLimits ? { limits: app.policy.alerts.sendLimits } : {}),
  };
}

/** Queue trigger body(ies): a body that is not an alert reference is set aside in the poison table, not dropped. */
export async function jobDeliverAlerts(app: App, items: unknown[]) {
  const valid: AlertQueueItem[] = [];
  for (const item of items) {
    if (isAlertQueueItem(item)) valid.push(item);
    else
      await app.poison.put({
        source: 'alerts',
        environmentId: 'flowwarden',
        key: JSON.stringify(item ?? null).slice(0, 200),
        reason: 'alert message: expected {findingId, environmentId, observedAt, severity, kind, ruleId}',
        at: app.clock.now().toISOString(),
      });
  }
  return deliverImmediate(alertDeps(app), valid);
}

export function jobDrainAlerts(app: App) {
  return drainAlertsQueue(alertDeps(app));
}

export function jobDigest(app: App, options: { force?: boolean } = {}) {
  return deliverDigest(alertDeps(app), options);
}

export function jobDrainBacklog(app: App) {
  if (!app.findingsLog) return Promise.resolve({ uploaded: 0, remaining: 0, dropped: 0 });
  return drainBacklog({ findingsLog: app.findingsLog, backlog: app.backlog, clock: app.clock, log: app.log, findings: app.findingStore });
}

/** Interval of each source's schedule in minutes, to tell "late" from "stalled". */
export function sourceIntervals(app: App): Record<string, number> {
  const s = app.config.schedules;
  return {
    [RUNS_SOURCE]: intervalMinutes(s.runs),
    [DEFINITIONS_SOURCE]: intervalMinutes(s.definitions),
    [AUDIT_SOURCE]: intervalMinutes(s.audit),
    [PERMISSIONS_SOURCE]: intervalMinutes(s.permissions),
  };
}

export function intervalMinutes(ncrontab: string): number {
  const runs = new Cron(ncrontab, { timezone: 'UTC', paused: true }).nextRuns(2);
  if (runs.length < 2) return 60;
  return Math.max(1, (runs[1]!.getTime() - runs[0]!.getTime()) / 60_000);
}

export function jobHealthReport(app: App) {
  return healthReport({ checkpoints: app.checkpoints, poison: app.poison, clock: app.clock, schedules: sourceIntervals(app), stallIntervals: app.config.stallIntervals });
}

export function jobCheckHealth(app: App) {
  return checkHealth({ checkpoints: app.checkpoints, poison: app.poison, clock: app.clock, schedules: sourceIntervals(app), stallIntervals: app.config.stallIntervals, findings: app.findings });
}

/** GET /api/health: per-source lag and last success; 503 when a source is stalled. */
export async function jobHealthHttp(app: App): Promise<HandlerResponse> {
  const report = await jobHealthReport(app);
  const stalled = report.sources.some((s: { stalled: boolean }) => s.stalled);
  return { status: stalled ? 503 : 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(report) };
}
