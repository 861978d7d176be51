import type { App } from '../../../src/compose';
import { jobDrainRuns, jobPollAudit, jobScanRuns, jobSnapshotPermissions } from '../../../src/jobs';
import { sleep } from './rig';

/**
 * One detection pass the way the timers and the queue trigger would run it, including what the
 * platform does after a failure: a timer runs again next tick (it resumes from its checkpoint), a
 * queue message reappears after its visibility timeout. Bounded: a job that keeps failing fails the test.
 */
export async function detectionPass(app: App, options: { attempts?: number; visibilityTimeoutSec?: number } = {}): Promise<{ retries: Record<string, number> }> {
  const attempts = options.attempts ?? 6;
  const retries: Record<string, number> = {};
  const again = async (name: string, job: () => Promise<void>) => {
    for (let i = 1; ; i++) {
      try {
        return await job();
      } catch (e) {
        retries[name] = (retries[name] ?? 0) + 1;
        if (i >= attempts) throw new Error(`${name} still failing after ${attempts} attempts: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  };
  // The three timers are independent (their own checkpoints), so they run side by side as in Azure.
  await Promise.all([
    again('snapshotPermissions', async () => {
      const r = await jobSnapshotPermissions(app);
      if (r.errors.length) throw new Error(r.errors.map((e) => e.message).join('; '));
    }),
    (async () => {
      await again('scanRuns', async () => {
        const r = await jobScanRuns(app);
        if (r.errors.length) throw new Error(r.errors.map((e) => e.message).join('; '));
      });
      await drainUntilEmpty(app, options.visibilityTimeoutSec ?? 1);
    })(),
    again('pollAudit', async () => void (await jobPollAudit(app))),
  ]);
  return { retries };
}

/** Drain the runs queue until no message is left (visible or not), like the queue trigger would. */
export async function drainUntilEmpty(app: App, visibilityTimeoutSec: number, maxRounds = 60): Promise<void> {
  for (let round = 0; round < maxRounds; round++) {
    await jobDrainRuns(app, { visibilityTimeoutSec, maxIdlePolls: 1 });
    if ((await app.runsQueue.approximateCount()) === 0) return;
    await sleep(visibilityTimeoutSec * 1000);
  }
  throw new Error(`runs queue not empty after ${maxRounds} rounds`);
}
