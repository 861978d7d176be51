/**
 * Scale benchmark of the run-history path through the REAL pipeline: scanRuns fans a generated tenant
 * out on the Azurite queue, jobDrainRuns workers receive the messages, fetch runs and unsecured content
 * from the tenant simulator over HTTP, detect, and write findings to Azurite tables (plus the alerts
 * queue for new findings). Azurite and the simulator run as child processes, so the RSS measured here
 * is the pipeline's own.
 *
 * Run alone: ./node_modules/.bin/node dist/bench/pipelineBench.js [flows runs actions]
 * (default 500 × 20 × 10 = 100,000 actions, 0.5 % of unsecured sides carry a planted secret).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { compose } from '../src/compose';
import { loadConfig } from '../src/config';
import { startAzurite } from '../src/dev/azurite';
import { generateTenant } from '../src/dev/simulator/generatedTenant';
import type { SimStats } from '../src/dev/simulator/server';
import { jobDrainRuns, jobScanRuns } from '../src/jobs';
import { createLogger } from '../src/log';
import { loadPolicyFile } from '../src/policyFile';
import { repoRoot } from '../src/repoRoot';

export interface PipelineBenchOptions {
  flows?: number;
  runs?: number;
  actions?: number;
  /** Share of unsecured action sides with a planted secret (default 0.005). */
  secretRate?: number;
  seed?: number;
  /** Parallel queue drains in this process (default 2: with 8 each, 16 messages in flight, host.json's batchSize). */
  workers?: number;
  /** Messages scanned concurrently per drain (default 8). */
  concurrency?: number;
  onProgress?: (line: string) => void;
}

export interface PipelineBenchResult {
  tenant: { flows: number; runs: number; actions: number; secretRate: number; seed: number };
  actions: number;
  runs: number;
  /** Queue messages the workers scanned (runs of one flow per message, plus any retries). */
  messages: number;
  /** Fan-out and drain overlap: `fanOut` is when the last message was enqueued, `drainAfterFanOut` the rest. */
  seconds: { total: number; fanOut: number; drainAfterFanOut: number };
  actionsPerSecond: number;
  /** Flow API + content-link requests the simulator answered (tokens and the Dataverse side excluded). */
  http: {
    requests: number;
    byKind: Record<string, number>;
    contentFetches: number;
    /** requests / actions scanned: every action has two sides (inputs, outputs), each its own content link. */
    perAction: number;
    /** requests / unsecured sides with content: the unit that is fetched (secured sides are never fetched). */
    perUnsecuredSide: number;
    unsecuredSides: number;
    /** Distinct contents (hash and size) among the unsecured sides: each must be read once to find every secret. */
    distinctContents: number;
    /** Sides not fetched because their content hash had been scanned already. */
    servedFromCache: number;
    /**
     * The fewest requests that can find every planted secret in this tenant, per action: each distinct
     * unsecured content once, one read per run, a run listing and a definition per flow, the flow list.
     */
    lowerBoundPerAction: number;
    skippedSecured: number;
  };
  rssMb: { pipelinePeak: number; pipelineHeapUsedPeak: number; simulatorPeak?: number };
  /** CPU seconds spent by each process during the run (children read from /proc on Linux): where the time goes. */
  cpuSeconds: { pipeline: number; simulator?: number; azurite?: number };
  /** Pipeline CPU per action: the pipeline's own ceiling is 1 / this, per core. */
  pipelineCpuMsPerAction: number;
  secrets: { planted: number; found: number; missing: string[]; findingsWritten: number; otherFindings: number };
  machine: { cpus: number; loadAverage1m: number };
  targets: { actionsPerSecond: boolean; requestsPerAction: boolean; requestsPerUnsecuredSide: boolean; rss: boolean; allPlantedFound: boolean };
}

const DEFAULTS = { flows: 500, runs: 20, actions: 10, secretRate: 0.005, seed: 20240611 };
/** Fingerprint key of the benchmark only (public, like the demo's). */
const BENCH_FINGERPRINT_KEY = 'flowwarden-bench-only-fingerprint-key-not-a-secret';

export async function benchPipeline(opts: PipelineBenchOptions = {}): Promise<PipelineBenchResult> {
  const tenant = {
    flows: opts.flows ?? DEFAULTS.flows,
    runs: opts.runs ?? DEFAULTS.runs,
    actions: opts.actions ?? DEFAULTS.actions,
    secretRate: opts.secretRate ?? DEFAULTS.secretRate,
    seed: opts.seed ?? DEFAULTS.seed,
  };
  const say = opts.onProgress ?? (() => undefined);
  const stops: (() => Promise<void>)[] = [];
  try {
    say(`starting Azurite and the simulator (${tenant.flows} flows × ${tenant.runs} runs × ${tenant.actions} actions) in child processes…`);
    const [azurite, sim] = await Promise.all([startAzurite(), startSimulatorChild(tenant)]);
    stops.push(azurite.stop, sim.stop);

    const config = loadConfig({
      FLOWWARDEN_POLICY: path.join(repoRoot(), 'policy', 'demo.policy.yaml'),
      FLOWWARDEN_STORAGE_CONNECTION_STRING: azurite.connectionString,
      FLOWWARDEN_FINGERPRINT_KEY: BENCH_FINGERPRINT_KEY,
      FLOWWARDEN_WEBHOOK_SECRET: 'bench-webhook-secret-not-used-0001',
      FLOWWARDEN_FLOW_API_URL: sim.url,
      FLOWWARDEN_POWERAPPS_API_URL: sim.url,
      FLOWWARDEN_DATAVERSE_URL_OVERRIDE: sim.url,
      FLOWWARDEN_CREDENTIAL: 'local',
      FLOWWARDEN_LOG_LEVEL: 'error',
    });
    const policy = await loadPolicyFile(config.policyPath);
    const app = compose(config, policy, { log: createLogger('error') });

    // Sample RSS while the pipeline runs (this process only).
    let peakRss = process.memoryUsage().rss;
    let peakHeap = process.memoryUsage().heapUsed;
    // rss() alone is cheap; the full memoryUsage() (heap statistics too) is read less often.
    let tick = 0;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage.rss());
      if (++tick % 10 === 0) peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    }, 50);
    sampler.unref();
    const before = await sim.stats();
    const azuritePid = childPid(/azurite/);
    const cpu0 = { pipeline: process.cpuUsage(), simulator: cpuOfChild(sim.pid), azurite: cpuOfChild(azuritePid) };

    const t0 = performance.now();
    say(`scanRuns fans out the runs (one message per flow's batch of runs) while ${opts.workers ?? 2} queue workers × ${opts.concurrency ?? 8} drain it (as the queue trigger starts on the first message)…`);
    let fanOutDone = false;
    let t1 = t0;
    const fanOut = jobScanRuns(app).then(
      (fan) => {
        t1 = performance.now();
        fanOutDone = true;
        if (fan.errors.length) throw new Error(`scanRuns failed: ${fan.errors.map((e) => e.message).join('; ')}`);
        say(`  ${fan.enqueued} runs enqueued in ${fan.messages} messages in ${((t1 - t0) / 1000).toFixed(1)} s`);
        return fan;
      },
      (e: unknown) => {
        fanOutDone = true;
        throw e;
      },
    );
    const progress = setInterval(() => say(`  … ${((performance.now() - t0) / 1000).toFixed(0)} s, RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`), 10_000);
    progress.unref();
    const totals = { actions: 0, fetched: 0, cached: 0, messages: 0, runs: 0, created: 0, failed: 0, poisoned: 0, requeued: 0 };
    const worker = async () => {
      // Poll like the Functions host: keep draining; when the queue is empty, back off briefly, and
      // stop once the fan-out is done and nothing is left.
      for (;;) {
        const r = await jobDrainRuns(app, { concurrency: opts.concurrency ?? 8, maxIdlePolls: 1 });
        for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r[k];
        if (r.messages === 0) {
          if (fanOutDone && (await app.runsQueue.approximateCount()) === 0) return;
          await new Promise((res) => setTimeout(res, 100));
        }
      }
    };
    await Promise.all([fanOut, ...Array.from({ length: opts.workers ?? 2 }, worker)]);
    const t2 = performance.now();
    clearInterval(progress);
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    if (totals.failed || totals.poisoned) say(`  warning: ${totals.failed} runs failed, ${totals.poisoned} poisoned`);

    const pipelineCpu = process.cpuUsage(cpu0.pipeline);
    const cpu = {
      pipeline: round((pipelineCpu.user + pipelineCpu.system) / 1e6, 1),
      ...optional('simulator', diff(cpuOfChild(sim.pid), cpu0.simulator)),
      ...optional('azurite', diff(cpuOfChild(azuritePid), cpu0.azurite)),
    };
    const after = await sim.stats();
    const byKind: Record<string, number> = {};
    for (const [k, v] of Object.entries(after.requests)) {
      if (k === 'token' || k === 'adminScope' || k.startsWith('dataverse.')) continue;
      const d = v - (before.requests[k] ?? 0);
      if (d) byKind[k] = d;
    }
    const requests = Object.values(byKind).reduce((a, b) => a + b, 0);

    say('checking every planted secret against the findings table…');
    const gen = generateTenant({ ...tenant });
    const { unsecuredSides, distinctContents } = countSides(gen, tenant);
    const found = new Set<string>();
    let secretFindings = 0;
    let other = 0;
    for (const f of await app.findingStore.queryAll({ kind: 'secret-exposure' })) {
      if (f.subject.type !== 'flow-run-action') {
        other++;
        continue;
      }
      secretFindings++;
      found.add(`${f.subject.id}|${String(f.evidence['direction'])}`);
    }
    let planted = 0;
    const missing: string[] = [];
    for (const p of gen.plantedSecrets()) {
      planted++;
      const k = `${p.flowId}/runs/${p.runId}/actions/${p.actionName}|${p.direction}`;
      if (!found.has(k) && missing.length < 20) missing.push(`${k} (${p.format} at ${p.path})`);
      else if (!found.has(k)) missing.push(k);
    }

    const seconds = (t2 - t0) / 1000;
    const actionsPerSecond = totals.actions / seconds;
    const perAction = requests / Math.max(1, totals.actions);
    const perUnsecuredSide = requests / Math.max(1, unsecuredSides);
    const result: PipelineBenchResult = {
      tenant,
      actions: totals.actions,
      runs: totals.runs,
      messages: totals.messages,
      seconds: { total: round(seconds, 2), fanOut: round((t1 - t0) / 1000, 2), drainAfterFanOut: round((t2 - t1) / 1000, 2) },
      actionsPerSecond: Math.round(actionsPerSecond),
      http: {
        requests,
        byKind,
        contentFetches: byKind['content'] ?? 0,
        perAction: round(perAction, 3),
        perUnsecuredSide: round(perUnsecuredSide, 3),
        unsecuredSides,
        distinctContents,
        servedFromCache: totals.cached,
        lowerBoundPerAction: round((distinctContents + tenant.flows * tenant.runs + tenant.flows * 2 + (byKind['flowapi.flows'] ?? 1)) / (tenant.flows * tenant.runs * tenant.actions), 3),
        skippedSecured: tenant.flows * tenant.runs * tenant.actions * 2 - unsecuredSides,
      },
      rssMb: {
        pipelinePeak: round(peakRss / 2 ** 20, 1),
        pipelineHeapUsedPeak: round(peakHeap / 2 ** 20, 1),
        ...optional('simulatorPeak', peakRssOfChild(sim.pid)),
      },
      cpuSeconds: cpu,
      pipelineCpuMsPerAction: round((cpu.pipeline * 1000) / Math.max(1, totals.actions), 3),
      secrets: { planted, found: planted - missing.length, missing: missing.slice(0, 20), findingsWritten: secretFindings, otherFindings: other },
      machine: { cpus: cpus().length, loadAverage1m: round(loadavg()[0]!, 2) },
      targets: {
        actionsPerSecond: actionsPerSecond >= 2000,
        requestsPerAction: perAction <= 1.1,
        requestsPerUnsecuredSide: perUnsecuredSide <= 1.1,
        rss: peakRss < 300 * 2 ** 20,
        allPlantedFound: missing.length === 0 && totals.actions === tenant.flows * tenant.runs * tenant.actions,
      },
    };
    return result;
  } finally {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  }
}

function optional<K extends string>(k: K, v: number | undefined): Partial<Record<K, number>> {
  return v === undefined ? {} : ({ [k]: v } as Record<K, number>);
}

/**
 * Unsecured sides (what could have to be fetched) and distinct unsecured contents (what must be: a
 * secret can be in any of them, and the same bytes need reading only once). Hashes the content the
 * simulator serves, side by side; nothing is kept but the hashes.
 */
function countSides(gen: ReturnType<typeof generateTenant>, t: { flows: number; runs: number }): { unsecuredSides: number; distinctContents: number } {
  let unsecuredSides = 0;
  const distinct = new Set<string>();
  for (const flow of gen.flows) {
    for (let r = 0; r < t.runs; r++) {
      for (const a of gen.runActions(flow, r)) {
        for (const dir of ['inputs', 'outputs'] as const) {
          if (dir === 'inputs' ? a.secureInputs : a.secureOutputs) continue;
          unsecuredSides++;
          const text = JSON.stringify(gen.content(flow, r, a.name, dir));
          distinct.add(`${createHash('md5').update(text).digest('base64')}:${Buffer.byteLength(text)}`);
        }
      }
    }
  }
  return { unsecuredSides, distinctContents: distinct.size };
}

function diff(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : round(a - b, 1);
}

/** CPU seconds (user + system) of a process from /proc/<pid>/stat (Linux, 100 ticks/s); undefined elsewhere. */
function cpuOfChild(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** A direct child of this process whose command line matches (Azurite's pid is not on its handle). */
function childPid(cmd: RegExp): number | undefined {
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        if (ppid === process.pid && cmd.test(readFileSync(`/proc/${d}/cmdline`, 'utf8'))) return Number(d);
      } catch {
        // The process went away while we looked.
      }
    }
  } catch {
    // No /proc: not Linux.
  }
  return undefined;
}

/** VmHWM (peak resident set) of a child, from /proc (Linux); undefined elsewhere. */
function peakRssOfChild(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? round(Number(m[1]) / 1024, 1) : undefined;
  } catch {
    return undefined;
  }
}

interface SimChild {
  url: string;
  pid: number | undefined;
  stats(): Promise<SimStats>;
  stop(): Promise<void>;
}

/** `flowwarden simulate` with a generated tenant, in its own process (its CPU and memory are not the pipeline's). */
async function startSimulatorChild(t: { flows: number; runs: number; actions: number; secretRate: number; seed: number }): Promise<SimChild> {
  const bin = path.join(repoRoot(), 'bin', 'flowwarden.js');
  const child: ChildProcess = spawn(
    process.execPath,
    [bin, 'simulate', '--port', '0', '--flows', String(t.flows), '--runs', String(t.runs), '--actions', String(t.actions), '--secret-rate', String(t.secretRate), '--seed', String(t.seed)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`simulator did not start within 30 s:\n${out}`)), 30_000);
    const onData = (b: Buffer) => {
      out = (out + b.toString()).slice(-8192);
      const m = /tenant simulator on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`simulator exited with code ${code}:\n${out}`));
    });
  });
  child.stdout!.resume();
  child.stderr!.resume();
  return {
    url,
    pid: child.pid,
    stats: async () => (await (await fetch(`${url}/_sim/stats`)).json()) as SimStats,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

function round(n: number, d: number): number {
  const k = 10 ** d;
  return Math.round(n * k) / k;
}

/** Human summary of a result (the integrator's `npm run bench` may print it). */
export function formatPipelineBench(r: PipelineBenchResult): string {
  const ok = (b: boolean) => (b ? 'met' : 'NOT met');
  return [
    `pipeline benchmark: ${r.tenant.flows} flows × ${r.tenant.runs} runs × ${r.tenant.actions} actions, secret rate ${r.tenant.secretRate}, seed ${r.tenant.seed}`,
    `  actions scanned      ${r.actions} in ${r.runs} runs (${r.messages} queue messages), ${r.seconds.total} s (fan-out done at ${r.seconds.fanOut} s, drained ${r.seconds.drainAfterFanOut} s later)`,
    `  throughput           ${r.actionsPerSecond} actions/s  (target >= 2000: ${ok(r.targets.actionsPerSecond)})`,
    `  HTTP requests        ${r.http.requests} to the Flow API + content links: ${JSON.stringify(r.http.byKind)}`,
    `    per action         ${r.http.perAction}  (target <= 1.1: ${ok(r.targets.requestsPerAction)}; the least any scan finding every planted secret can make here: ${r.http.lowerBoundPerAction})`,
    `    per unsecured side ${r.http.perUnsecuredSide}  (${r.http.unsecuredSides} unsecured sides, ${r.http.distinctContents} distinct contents, each fetched once; ${r.http.servedFromCache} sides served from the content-hash cache; ${r.http.skippedSecured} secured sides never fetched; <= 1.1: ${ok(r.targets.requestsPerUnsecuredSide)})`,
    `  peak RSS             pipeline ${r.rssMb.pipelinePeak} MB (target < 300: ${ok(r.targets.rss)}; heap used peak ${r.rssMb.pipelineHeapUsedPeak} MB)${r.rssMb.simulatorPeak !== undefined ? `, simulator child ${r.rssMb.simulatorPeak} MB` : ''}`,
    `  CPU seconds          pipeline ${r.cpuSeconds.pipeline} (${r.pipelineCpuMsPerAction} ms per action), simulator ${r.cpuSeconds.simulator ?? '?'}, Azurite ${r.cpuSeconds.azurite ?? '?'}`,
    `  planted secrets      ${r.secrets.found} / ${r.secrets.planted} found (${ok(r.targets.allPlantedFound)}); ${r.secrets.findingsWritten} run-history findings written${r.secrets.missing.length ? `; missing e.g. ${r.secrets.missing.slice(0, 3).join(', ')}` : ''}`,
    `  machine              ${r.machine.cpus} CPUs, load average ${r.machine.loadAverage1m}`,
  ].join('\n');
}

if (require.main === module) {
  const [flows, runs, actions] = process.argv.slice(2).map(Number);
  const o: PipelineBenchOptions = { onProgress: (l) => console.error(l) };
  if (flows) o.flows = flows;
  if (runs) o.runs = runs;
  if (actions) o.actions = actions;
  benchPipeline(o).then(
    (r) => {
      console.log(formatPipelineBench(r));
      console.log('\n' + JSON.stringify(r));
    },
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
