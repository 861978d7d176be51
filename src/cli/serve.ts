import { parseArgs } from 'node:util';
import type { App } from '../compose';
import { startLocalHost, type LocalHost } from '../host/localHost';
import {
  jobCheckHealth,
  jobDigest,
  jobDrainAlerts,
  jobDrainBacklog,
  jobDrainRuns,
  jobHealthHttp,
  jobPollAudit,
  jobScanDefinitions,
  jobScanRuns,
  jobSnapshotPermissions,
  jobWebhook,
} from '../jobs';
import { appFromEnv } from './appFromEnv';
import { EXIT, UsageError, type CliIO } from './io';

/** Start the local host on the same handlers as functions/: HTTP routes, timers, queue pollers. */
export async function serveApp(app: App, options: { port?: number; timers?: boolean; queues?: boolean } = {}): Promise<LocalHost> {
  const s = app.config.schedules;
  return startLocalHost({
    ...(options.port !== undefined ? { port: options.port } : {}),
    log: app.log,
    routes: [
      { method: 'POST', path: '/api/webhooks/dataverse', handle: (req) => jobWebhook(app, req) },
      { method: 'GET', path: '/api/health', handle: () => jobHealthHttp(app) },
    ],
    timers:
      options.timers === false
        ? []
        : [
            { name: 'scanRuns', schedule: s.runs, run: () => jobScanRuns(app) },
            { name: 'scanDefinitions', schedule: s.definitions, run: () => jobScanDefinitions(app) },
            { name: 'pollAudit', schedule: s.audit, run: () => jobPollAudit(app) },
            { name: 'snapshotPermissions', schedule: s.permissions, run: () => jobSnapshotPermissions(app) },
            { name: 'deliverDigest', schedule: s.alerts, run: async () => (await maybe(app, () => jobDigest(app)), await jobDrainBacklog(app)) },
            { name: 'healthCheck', schedule: s.health, run: () => jobCheckHealth(app) },
          ],
    queues:
      options.queues === false
        ? []
        : [
            { name: 'scanRunWorker', drain: async () => (await jobDrainRuns(app, { maxIdlePolls: 1 })).messages },
            ...(app.email ? [{ name: 'deliverAlerts', drain: async () => { const r = await jobDrainAlerts(app); return r.sent.length + r.pending.length + r.skipped.length; } }] : []),
          ],
  });
}

async function maybe<T>(app: App, f: () => Promise<T>): Promise<T | undefined> {
  return app.email ? f() : undefined;
}

/** `serve [--port 7071]` */
export async function runServe(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { port: { type: 'string', default: '7071' } } });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port: expected a port number');
  const app = await appFromEnv();
  const host = await serveApp(app, { port });
  io.stdout.write(`flowwarden serve: listening on ${host.url} (POST /api/webhooks/dataverse, GET /api/health); timers and queue workers running. Ctrl+C stops.\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await host.stop();
  return EXIT.ok;
}
