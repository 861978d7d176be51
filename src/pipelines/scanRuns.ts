import type { Policy } from '../core/policy';
import { ConcurrencyError, type CheckpointStore, type Clock, type FlowApiSource, type Logger, type WorkQueue } from '../ports';

/** One finished run to scan (what scanRunWorker scans; also the single-run queue message shape). */
export interface RunScanMessage {
  environmentId: string;
  flowId: string;
  runId: string;
  flowName?: string;
  endTime?: string;
}

/** Finished runs of one flow in one queue message (what scanRuns sends; up to `runsPerMessage`). */
export interface RunBatchMessage {
  environmentId: string;
  flowId: string;
  flowName?: string;
  runs: { runId: string; endTime?: string }[];
}

/** A flowwarden-runs message: a batch of one flow's runs, or (older senders, tests) a single run. */
export type RunsQueueMessage = RunBatchMessage | RunScanMessage;

/** The single-run messages a queue message stands for. */
export function runsOf(msg: RunsQueueMessage): RunScanMessage[] {
  if (!('runs' in msg)) return [msg];
  return msg.runs.map((r) => ({
    environmentId: msg.environmentId,
    flowId: msg.flowId,
    runId: r.runId,
    ...(msg.flowName ? { flowName: msg.flowName } : {}),
    ...(r.endTime ? { endTime: r.endTime } : {}),
  }));
}

export const RUNS_SOURCE = 'flow-runs';
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'canceled', 'timedout', 'skipped', 'aborted']);
/** A run still running after this long is not waited for: its start stops holding the watermark back. */
const MAX_HOLD_BACK_MS = 7 * 24 * 3600_000;

export interface ScanRunsDeps {
  flowApi: FlowApiSource;
  checkpoints: CheckpointStore;
  runsQueue: WorkQueue<RunsQueueMessage>;
  /** Runs of one flow per message (default 25; 1 = one message per run). */
  runsPerMessage?: number;
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
  /** Runs enqueued (each in exactly one message). */
  enqueued: number;
  /** Queue messages sent. */
  messages: number;
  stillRunning: number;
  errors: { environmentId: string; message: string }[];
}

/**
 * Discover runs that finished since the checkpoint (minus a look-back for late data) and enqueue them,
 * up to `runsPerMessage` runs of one flow per message (the listing is per flow anyway, and fewer
 * messages cost fewer queue operations on both sides). The watermark advances to the scan's start, held back to the start of the oldest
 * run still running, so a long run is picked up when it ends. The checkpoint is written only after
 * every message is enqueued: a crash re-enqueues (the worker is idempotent), never skips.
 */
export async function scanRuns(deps: ScanRunsDeps, options: { environmentIds?: string[]; abortSignal?: AbortSignal } = {}): Promise<ScanRunsResult> {
  const result: ScanRunsResult = { environments: 0, flows: 0, runsSeen: 0, enqueued: 0, messages: 0, stillRunning: 0, errors: [] };
  const perMessage = Math.max(1, Math.min(200, deps.runsPerMessage ?? 25));
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
      const batch: RunsQueueMessage[] = [];
      const send = async (n: number) => {
        if (batch.length < n) return;
        const out = batch.splice(0);
        await deps.runsQueue.sendMany(out);
        result.messages += out.length;
      };
      for await (const flow of deps.flowApi.listFlows(env.id, { abortSignal: options.abortSignal })) {
        result.flows++;
        let runs: RunBatchMessage['runs'] = [];
        const flush = () => {
          if (runs.length) batch.push({ environmentId: env.id, flowId: flow.flowId, ...(flow.displayName ? { flowName: flow.displayName } : {}), runs });
          runs = [];
        };
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
          runs.push({ runId: run.runId, ...(run.endTime ? { endTime: run.endTime } : {}) });
          result.enqueued++;
          if (runs.length >= perMessage) flush();
          await send(32);
        }
        flush();
        await send(32);
      }
      await send(1);
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
      deps.log.info('scanRuns: runs enqueued', { environmentId: env.id, enqueued: result.enqueued, messages: result.messages, stillRunning: result.stillRunning });
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
