/**
 * Webhook load test: an open-loop generator (requests leave on schedule whatever the latency, so a
 * slow server shows up as latency, not as a lower rate) posting realistic RemoteExecutionContext
 * bodies with the key header to a loopback URL, reporting p50/p99. Target: p99 < 50 ms at 200 req/s.
 *
 * Run alone against `serve`: ./node_modules/.bin/node dist/bench/webhookBench.js <url> <key> [rps] [seconds]
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { buildRemoteExecutionContext } from '../src/dev/webhookSamples';
import { USERS } from '../src/dev/simulator/ids';

export interface WebhookBenchOptions {
  /** Loopback only (127.0.0.1, ::1, localhost); anything else is refused. */
  url: string;
  key: string;
  /** Requests per second; default 200, at most 1000. */
  rps?: number;
  /** Duration; default 30 s, at most 120 s. */
  seconds?: number;
  /** x-ms-dynamics-organization header sent; default the demo environment's host. */
  organization?: string;
  /** Unmeasured warm-up at the same rate first (JIT, connection pool); default 2 s, at most 10 s. */
  warmupSeconds?: number;
  /** Share of requests that are unexpected writes (raise findings, so they hit the finding writer); default 0.05. */
  unexpectedShare?: number;
}

export interface WebhookBenchResult {
  sent: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  statusCounts: Record<string, number>;
  rps: number;
  seconds: number;
  unexpectedShare: number;
}

export const MAX_BENCH_RPS = 1000;
export const MAX_BENCH_SECONDS = 120;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopbackUrl(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return (u.protocol === 'http:' || u.protocol === 'https:') && (LOOPBACK.has(u.hostname) || /^127\.\d+\.\d+\.\d+$/.test(u.hostname));
}

export { buildRemoteExecutionContext, type ContextSpec } from '../src/dev/webhookSamples';

// ---------------- the load generator ----------------

const DEMO_ORG_ID = '0b6c5a2d-1e4f-4a7b-9c3d-5e8f7a9b1c2d';
const DEMO_HOST = 'contoso-prod.crm4.dynamics.com';
/**
 * Traffic of the sample tenant (src/dev/simulator ids, so `serve` on the simulator resolves them):
 * mostly the automations writing their own tables, and a share of unexpected writes (a person on the
 * automation-owned invoice table) that raise findings and therefore exercise the finding writer.
 */
const LEGIT: { userId: string; table: string }[] = [
  { userId: USERS.invoiceSync.systemuserid, table: 'cr5f2_invoice' },
  { userId: USERS.contactEnricher.systemuserid, table: 'contact' },
  { userId: USERS.contactEnricher.systemuserid, table: 'account' },
];
const UNEXPECTED = { userId: USERS.bob.systemuserid, table: 'cr5f2_invoice' };

/** One POST with node:http (no fetch: its pooling adds queueing that would be measured as server latency). */
function post(url: URL, agent: http.Agent, body: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = (url.protocol === 'https:' ? https : http).request(
      url,
      { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, timeout: 10_000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function benchWebhook(opts: WebhookBenchOptions): Promise<WebhookBenchResult> {
  if (!isLoopbackUrl(opts.url)) throw new Error(`benchWebhook: url must be a loopback http(s) URL (127.0.0.1, ::1, localhost), got a non-loopback host`);
  const rps = opts.rps ?? 200;
  const seconds = opts.seconds ?? 30;
  if (!(rps > 0 && rps <= MAX_BENCH_RPS)) throw new Error(`benchWebhook: rps must be in (0, ${MAX_BENCH_RPS}]`);
  if (!(seconds > 0 && seconds <= MAX_BENCH_SECONDS)) throw new Error(`benchWebhook: seconds must be in (0, ${MAX_BENCH_SECONDS}]`);
  const warmup = opts.warmupSeconds ?? 2;
  if (!(warmup >= 0 && warmup <= 10)) throw new Error('benchWebhook: warmupSeconds must be in [0, 10]');
  const target = new URL(opts.url);
  // Keep-alive pool like a real client (Dataverse reuses connections); sized for the open loop's bursts.
  const agent = new (target.protocol === 'https:' ? https.Agent : http.Agent)({ keepAlive: true, maxSockets: 256 });
  const latencies: number[] = [];
  const statusCounts: Record<string, number> = {};
  let errors = 0;

  const unexpectedShare = opts.unexpectedShare ?? 0.05;
  if (!(unexpectedShare >= 0 && unexpectedShare <= 1)) throw new Error('benchWebhook: unexpectedShare must be in [0, 1]');
  const everyUnexpected = unexpectedShare > 0 ? Math.round(1 / unexpectedShare) : Infinity;

  const fire = async (i: number, measure: boolean): Promise<void> => {
    const who = i % everyUnexpected === everyUnexpected - 1 ? UNEXPECTED : LEGIT[i % LEGIT.length]!;
    const message = i % 10 === 0 ? 'Create' : 'Update';
    const body = JSON.stringify(
      buildRemoteExecutionContext({
        message,
        table: who.table,
        recordId: randomUUID(),
        userId: who.userId,
        organizationId: DEMO_ORG_ID,
        attributes: { name: `bench record ${i}`, description: 'x'.repeat(200) },
      }),
    );
    const t0 = performance.now();
    let status: number | 'error';
    try {
      status = await post(target, agent, body, {
        'content-type': 'application/json',
        'x-flowwarden-key': opts.key,
        'x-ms-dynamics-organization': opts.organization ?? DEMO_HOST,
        'x-ms-dynamics-entity-name': who.table,
        'x-ms-dynamics-request-name': message,
      });
    } catch {
      status = 'error';
    }
    if (!measure) return;
    if (status !== 'error') latencies.push(performance.now() - t0);
    statusCounts[String(status)] = (statusCounts[String(status)] ?? 0) + 1;
    if (status === 'error' || status >= 400) errors++;
  };

  // Open loop: request i leaves at start + i·interval, independent of earlier responses.
  const phase = async (count: number, measure: boolean): Promise<void> => {
    const interval = 1000 / rps;
    const inflight: Promise<void>[] = [];
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      const wait = start + i * interval - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      inflight.push(fire(i, measure));
    }
    await Promise.all(inflight);
  };
  const total = Math.round(rps * seconds);
  try {
    await phase(Math.round(rps * warmup), false);
    await phase(total, true);
  } finally {
    agent.destroy();
  }
  latencies.sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 100) / 100;
  return {
    sent: total,
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(latencies[latencies.length - 1] ?? 0),
    errors,
    statusCounts,
    rps,
    seconds,
    unexpectedShare,
  };
}

if (require.main === module) {
  const [url, key, rps, seconds] = process.argv.slice(2);
  if (!url || !key) {
    console.error('usage: webhookBench <loopback url> <key> [rps=200] [seconds=30]');
    process.exit(2);
  }
  benchWebhook({ url, key, rps: rps ? Number(rps) : 200, seconds: seconds ? Number(seconds) : 30 }).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
