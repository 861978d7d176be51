import type { App } from '../compose';
import {
  jobCheckHealth,
  jobDigest,
  jobDrainAlerts,
  jobDrainBacklog,
  jobDrainRuns,
  jobPollAudit,
  jobScanDefinitions,
  jobScanRuns,
  jobSnapshotPermissions,
} from '../jobs';

export interface StepResult {
  step: string;
  ok: boolean;
  summary: string;
  error?: string;
}

/** Run one step, record its outcome; a failing step does not stop the others (each source is independent). */
export async function step(results: StepResult[], name: string, f: () => Promise<string>): Promise<void> {
  try {
    results.push({ step: name, ok: true, summary: await f() });
  } catch (e) {
    results.push({ step: name, ok: false, summary: 'failed', error: e instanceof Error ? e.message : String(e) });
  }
}

/** Every detection pipeline once, in the order the timers would run them (scan --once, demo). */
export async function runDetectionsOnce(app: App, results: StepResult[]): Promise<void> {
  await step(results, 'snapshotPermissions', async () => {
    const r = await jobSnapshotPermissions(app);
    if (r.errors.length) throw new Error(r.errors.map((e) => `${e.environmentId}: ${e.message}`).join('; '));
    return r.environments.map((e) => `${e.principals} principals, ${e.flows} flows, ${e.connections} connections${e.firstRun ? ' (first snapshot: baseline violations only)' : ''}, ${e.created.length} new findings`).join('; ');
  });
  await step(results, 'scanRuns', async () => {
    const d = await jobScanRuns(app);
    if (d.errors.length) throw new Error(d.errors.map((e) => `${e.environmentId}: ${e.message}`).join('; '));
    const w = await jobDrainRuns(app, { maxIdlePolls: 1 });
    return `${d.enqueued} runs from ${d.flows} flows; ${w.actions} actions, ${w.fetched} contents fetched, ${w.created} new findings${w.poisoned ? `, ${w.poisoned} poisoned` : ''}`;
  });
  await step(results, 'scanDefinitions', async () => {
    const r = await jobScanDefinitions(app);
    if (r.errors.length) throw new Error(r.errors.map((e) => `${e.environmentId}: ${e.message}`).join('; '));
    return `${r.flows + r.solutionFlows} definitions, ${r.environmentVariables} environment variables, ${r.created.length} new findings`;
  });
  await step(results, 'pollAudit', async () => {
    const r = await jobPollAudit(app);
    return `${r.rows} audit rows, ${r.created} new findings${r.poisoned ? `, ${r.poisoned} set aside` : ''}`;
  });
}

/** Alerts, Log Analytics backlog and health after the detections. */
export async function runDeliveryOnce(app: App, results: StepResult[]): Promise<void> {
  await step(results, 'healthCheck', async () => {
    const r = await jobCheckHealth(app);
    const stalled = r.report.sources.filter((s) => s.stalled).map((s) => s.source);
    return `${r.report.sources.length} sources, ${stalled.length ? `stalled: ${stalled.join(', ')}` : 'none stalled'}, ${r.report.poisonRecords} poison records, ${r.created.length} new findings`;
  });
  if (app.email) {
    await step(results, 'deliverAlerts', async () => {
      const r = await jobDrainAlerts(app);
      return `${r.sent.length} immediate emails, ${r.pending.length} findings for the digest`;
    });
    await step(results, 'deliverDigest', async () => {
      const r = await jobDigest(app, { force: true });
      return `${r.sent.length} digest emails`;
    });
  }
  if (app.findingsLog) await step(results, 'logAnalyticsBacklog', async () => JSON.stringify(await jobDrainBacklog(app)));
}
