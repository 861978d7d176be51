/**
 * `npm run bench`: every benchmark in one run, figures printed side by side. Performance targets live
 * here, never in timed unit tests. Bounded and loopback only.
 *   detect   — detector MB/s vs secretlint's recommended preset on generated run-history JSONL
 *   webhook  — p50/p99 of POST /api/webhooks/dataverse through the local host at 200 req/s for 30 s
 * Pass names to run a subset: `npm run bench -- detect`.
 */
import { benchDetect } from './detectBench';
import { benchWebhook } from './webhookBench';
import { startDemoStack } from '../src/cli/demo';
import { serveApp } from '../src/cli/serve';

async function webhook(): Promise<Record<string, number | string>> {
  const stack = await startDemoStack();
  try {
    const host = await serveApp(stack.app, { port: 0, timers: false, queues: false });
    try {
      const r = await benchWebhook({ url: `${host.url}/api/webhooks/dataverse`, key: stack.app.config.webhookSecrets[0]!, rps: 200, seconds: 30 });
      return { sent: r.sent, rps: r.rps, p50Ms: r.p50Ms, p99Ms: r.p99Ms, maxMs: r.maxMs, errors: r.errors, statuses: JSON.stringify(r.statusCounts), target: 'p99 < 50 ms' };
    } finally {
      await host.stop();
    }
  } finally {
    await stack.stop();
  }
}

const BENCHES: Record<string, () => Promise<Record<string, number | string>>> = {
  detect: () => benchDetect(),
  webhook,
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const names = wanted.length ? wanted : Object.keys(BENCHES);
  const results: Record<string, Record<string, number | string>> = {};
  for (const name of names) {
    const bench = BENCHES[name];
    if (!bench) throw new Error(`unknown benchmark "${name}" (known: ${Object.keys(BENCHES).join(', ')})`);
    process.stdout.write(`\n== ${name}\n`);
    results[name] = await bench();
  }
  process.stdout.write('\n== summary\n');
  for (const [name, r] of Object.entries(results)) {
    process.stdout.write(`${name}: ${Object.entries(r).map(([k, v]) => `${k}=${v}`).join('  ')}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
  process.exitCode = 1;
});
