import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Cron } from 'croner';
import type { Logger } from '../ports';
import type { HandlerRequest, HandlerResponse } from './httpTypes';

export interface Route {
  method: 'GET' | 'POST';
  path: string;
  handle(req: HandlerRequest): Promise<HandlerResponse>;
}

export interface TimerJob {
  name: string;
  /** NCRONTAB with seconds (six fields), as the Functions host reads it. */
  schedule: string;
  run(): Promise<unknown>;
}

export interface QueueJob {
  name: string;
  /** Process what is waiting; returns how many messages were handled. */
  drain(): Promise<number>;
  /** Poll interval when the queue was empty. */
  idleMs?: number;
}

export interface LocalHost {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * Hosts the same handlers as the Functions app on loopback, for machines without Functions Core Tools:
 * HTTP routes, timers (NCRONTAB, UTC, never overlapping themselves, like the host's singleton timers)
 * and queue pollers.
 */
export async function startLocalHost(options: {
  port?: number;
  host?: string;
  routes: Route[];
  timers?: TimerJob[];
  queues?: QueueJob[];
  log: Logger;
}): Promise<LocalHost> {
  const server = http.createServer((req, res) => {
    void dispatch(options.routes, req, res, options.log);
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 7071, options.host ?? '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let stopping = false;
  const crons = (options.timers ?? []).map((t) => {
    let running = false;
    return new Cron(t.schedule, { timezone: 'UTC', protect: true }, async () => {
      if (running || stopping) return;
      running = true;
      try {
        await t.run();
      } catch (e) {
        options.log.error(`timer ${t.name} failed`, { error: e instanceof Error ? e.message : String(e) });
      } finally {
        running = false;
      }
    });
  });
  const pollers = (options.queues ?? []).map(async (q) => {
    while (!stopping) {
      let handled = 0;
      try {
        handled = await q.drain();
      } catch (e) {
        options.log.error(`queue ${q.name} failed`, { error: e instanceof Error ? e.message : String(e) });
      }
      if (handled === 0 && !stopping) await new Promise((r) => setTimeout(r, q.idleMs ?? 2000));
    }
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      stopping = true;
      for (const c of crons) c.stop();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await Promise.allSettled(pollers);
    },
  };
}

async function dispatch(routes: Route[], req: http.IncomingMessage, res: http.ServerResponse, log: Logger): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const route = routes.find((r) => r.path === url.pathname.replace(/\/+$/, '') && r.method === req.method);
  try {
    if (!route) {
      const known = routes.some((r) => r.path === url.pathname.replace(/\/+$/, ''));
      req.resume();
      send(res, { status: known ? 405 : 404, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: known ? 'method not allowed' : 'not found' }) });
      return;
    }
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
    const query: Record<string, string | undefined> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const out = await route.handle({ method: req.method ?? 'GET', headers, query, body: req });
    // Whatever the handler did not read is drained so the connection can be reused.
    if (!req.readableEnded) req.resume();
    send(res, out);
  } catch (e) {
    log.error('local host: handler failed', { path: url.pathname, error: e instanceof Error ? e.message : String(e) });
    if (!req.readableEnded) req.resume();
    send(res, { status: 503, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: 'temporarily unavailable' }) });
  }
}

function send(res: http.ServerResponse, out: HandlerResponse): void {
  if (res.headersSent) return;
  res.writeHead(out.status, { 'content-length': Buffer.byteLength(out.body), ...(out.headers ?? {}) });
  res.end(out.body);
}
