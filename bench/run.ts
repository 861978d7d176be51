/**
 * `npm run bench`: every benchmark in one run, figures printed side by side. Performance targets live
 * here, never in timed unit tests. Bounded and loopback only.
 *   detect   — detector MB/s vs secretlint's recommended preset on generated run-history JSONL
 *   webhook  — p50/p99 of POST /api/webhooks/dataverse through the local host at 200 req/s for 30 s
 *   pipeline — 500 flows × 20 runs × 10 actions (100,000 actions, 0.5 % secrets) through the real pipeline:
 *              queue fan-out on Azurite, content fetch from the simulator, detection, Table writes
 *              (about a minute on 2 cores)
 * Pass names to run a subset: `npm run bench -- detect webhook`. Each runs in its own process.
 */
import { spawn } from 'node:child_process';
import { benchDetect } from './detectBench';
import { benchWebhook } from './webhookBench';
import { benchPipeline, formatPipelineBench } from './pipelineBench';
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

async function pipeline(): Promise<Record<string, number | string>> {
  const r = await benchPipeline({ onProgress: (line: string) => process.stdout.write(`  ${line}\n`) });
  process.stdout.write(formatPipelineBench(r) + '\n');
  return {
    actions: r.actions,
    actionsPerSecond: r.actionsPerSecond,
    httpPerAction: r.http.perAction,
    httpPerUnsecuredSide: r.http.perUnsecuredSide,
    peakRssMb: r.rssMb.pipelinePeak,
    plantedFound: `${r.secrets.found}/${r.secrets.planted}`,
    targets: 'actions/s >= 2000, http/action <= 1.1, RSS < 300 MB, all planted found',
  };
}

const BENCHES: Record<string, () => Promise<Record<string, number | string>>> = {
  detect: () => benchDetect(),
  webhook,
  pipeline,
};

const RESULT_PREFIX = 'FLOWWARDEN_BENCH_RESULT ';

/**
 * Each benchmark runs in a fresh Node process (this script with `--one <name>`): one benchmark's heap,
 * loaded modules and JIT state must not slow the next one down (the pipeline measured ~30 % more CPU
 * per action when it ran after the detector benchmark in the same process).
 */
function runChild(name: string): Promise<Record<string, number | string>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, __filename, '--one', name], { stdio: ['ignore', 'pipe', 'inherit'] });
    let result: Record<string, number | string> | undefined;
    let pending = '';
    child.stdout!.on('data', (b: Buffer) => {
      pending += b.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith(RESULT_PREFIX)) result = JSON.parse(line.slice(RESULT_PREFIX.length)) as Record<string, number | string>;
        else process.stdout.write(line + '\n');
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (pending) process.stdout.write(pending);
      if (code === 0 && result) resolve(result);
      else reject(new Error(`benchmark ${name} exited with code ${code}${result ? '' : ' and no result'}`));
    });
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--one') {
    const bench = BENCHES[args[1] ?? ''];
    if (!bench) throw new Error(`unknown benchmark "${args[1]}"`);
    process.stdout.write(RESULT_PREFIX + JSON.stringify(await bench()) + '\n');
    return;
  }
  const names = args.length ? args : Object.keys(BENCHES);
  for (const name of names) if (!BENCHES[name]) throw new Error(`unknown benchmark "${name}" (known: ${Object.keys(BENCHES).join(', ')})`);
  const results: Record<string, Record<string, number | string>> = {};
  for (const name of names) {
    process.stdout.write(`\n== ${name}\n`);
    results[name] = await runChild(name);
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
