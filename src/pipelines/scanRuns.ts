import type { Policy } from '../core/policy';
import { ConcurrencyError, type CheckpointStore, type Clock, type FlowApiSource, type Logger, type WorkQueue } from '../ports';

/** One queue message per finished run (fan-out to scanRunWorker). */
export interface RunScanMessage {
  environmentId: string;
  flowId: string;
  runId: string;
  flowName?: string;
  endTime?: string;
}

export const RUNS_SOURCE = 'flow-runs';
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'canceled', 'timedout', 'skipped', 'aborted']);
/** A run still running after this long is not waited for: its start stops holding the watermark back. */
const MAX_HOLD_BACK_MS = 7 * 24 * 3600_000;

export interface ScanRunsDeps {
  flowApi: FlowApiSource;
  checkpoints: CheckpointStore;
  runsQueue: WorkQueue<RunScanMessage>;
  policy: Policy;
  clock: Clock;
  log: Logger;
  lookbackMinutes: number;
  initialLookbackHours: number;
}

export interface ScanRunsResult {
  environments: number;
  flows: number;
  runsSeen: number;
  enqueued: number;
  stillRunning: number;
  errors: { environmentId: string; message: string }[];
}

/**
 * Discover runs that finished since the checkpoint (minus a look-back for late data) and enqueue one
 * message per run. The watermark advances to the scan's start, held back to the start of the oldest
 * run still running, so a long run is picked up when it ends. The checkpoint is written only after
 * every message is enqueued: a crash re-enqueues (the worker is idempotent), never skips.
 */
export async function scanRuns(deps: ScanRunsDeps, options: { environmentIds?: string[]; abortSignal?: AbortSignal } = {}): Promise<ScanRunsResult> {
  const result: ScanRunsResult = { environments: 0, flows: 0, runsSeen: 0, enqueued: 0, stillRunning: 0, errors: [] };
  const envs = deps.policy.environments.filter((e) => !options.environmentIds || options.environmentIds.includes(e.id));
  for (const env of envs) {
    result.environments++;
    const startedAt = deps.clock.now();
    let cp = await deps.checkpoints.get(RUNS_SOURCE, env.id);
    const from = cp
      ? new Date(new Date(cp.watermark).getTime() - deps.lookbackMinutes * 60_000)
      : new Date(startedAt.getTime() - deps.initialLookbackHours * 3600_000);
    try {
      let holdBack = startedAt.getTime();
      const batch: RunScanMessage[] = [];
      for await (const flow of deps.flowApi.listFlows(env.id, { abortSignal: options.abortSignal })) {
        result.flows++;
        for await (const run of deps.flowApi.listRuns(env.id, flow.flowId, { startedAfter: from.toISOString(), abortSignal: options.abortSignal })) {
          result.runsSeen++;
          if (!TERMINAL.has(run.status.toLowerCase())) {
            result.stillRunning++;
            const started = run.startTime ? new Date(run.startTime).getTime() : startedAt.getTime();
            if (startedAt.getTime() - started < MAX_HOLD_BACK_MS) holdBack = Math.min(holdBack, started);
            continue;
          }
          // Runs that ended before the look-back window were scanned by an earlier pass.
          if (cp && run.endTime && new Date(run.endTime).getTime() < from.getTime()) continue;
          batch.push({
            environmentId: env.id,
            flowId: flow.flowId,
            runId: run.runId,
            ...(flow.displayName ? { flowName: flow.displayName } : {}),
            ...(run.endTime ? { endTime: run.endTime } : {}),
          });
          if (batch.length >= 256) {
            await deps.runsQueue.sendMany(batch.splice(0));
          }
          result.enqueued++;
        }
      }
      if (batch.length) await deps.runsQueue.sendMany(batch.splice(0));
      const watermark = new Date(holdBack).toISOString();
      cp = await deps.checkpoints.put({
        ...(cp ?? {}),
        source: RUNS_SOURCE,
        environmentId: env.id,
        watermark: cp && cp.watermark > watermark ? cp.watermark : watermark,
        lastSuccess: startedAt.toISOString(),
        lastAttempt: startedAt.toISOString(),
        lastError: undefined,
        consecutiveFailures: 0,
      });
      deps.log.info('scanRuns: runs enqueued', { environmentId: env.id, enqueued: result.enqueued, stillRunning: result.stillRunning });
    } catch (e) {
      if (e instanceof ConcurrencyError) {
        deps.log.warn('scanRuns: another instance advanced the checkpoint; leaving it', { environmentId: env.id });
        continue;
      }
      const message = e instanceof Error ? e.message : String(e);
      result.errors.push({ environmentId: env.id, message });
      deps.log.error('scanRuns failed', { environmentId: env.id, error: message });
      await recordFailure(deps.checkpoints, RUNS_SOURCE, env.id, message, startedAt, deps.initialLookbackHours, deps.log);
    }
  }
  return result;
}

/** Record a failed attempt on the checkpoint so health can report it; the watermark does not move. */
export async function recordFailure(checkpoints: CheckpointStore, source: string, environmentId: string, message: string, at: Date, initialLookbackHours: number, log?: Logger): Promise<void> {
  try {
    const cp = await checkpoints.get(source, environmentId);
    await checkpoints.put({
      ...(cp ?? { source, environmentId, watermark: new Date(at.getTime() - initialLookbackHours * 3600_000).toISOString() }),
      lastAttempt: at.toISOString(),
      lastError: message.slice(0, 500),
      consecutiveFailures: (cp?.consecutiveFailures ?? 0) + 1,
    });
  } catch (e) {
    // Best effort: the original error is what the caller reports; this one is only logged.
    log?.warn('could not record the failure on the checkpoint', { source, environmentId, error: e instanceof Error ? e.message : String(e) });
  }
}
