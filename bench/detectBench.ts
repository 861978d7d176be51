/**
 * `detect` benchmark: MB/s of the flowwarden engine on generated run-history JSONL (the
 * `detect --jsonl` path: JSON.parse each line + detectText), recall on planted secrets, and
 * secretlint's recommended preset side by side on the same data (one lintSource call per line,
 * profiler off).
 *
 * Fairness: by default secretlint lints every line of the corpus (no extrapolation), twice, after the
 * same warm-up as flowwarden, and both sides parse the JSONL line. The flowwarden passes are spread
 * before, between and after the secretlint passes so both meet the same machine load; the ratio
 * uses the medians. (Interleaving small chunks was tried: secretlint's garbage then gets collected
 * inside flowwarden's timed chunks, which measures secretlint's GC, not flowwarden.) Wall-clock and
 * process CPU-time MB/s are both reported, with the load average before and after: on a shared
 * machine CPU time is the steadier figure, wall clock the honest one.
 *
 * Run alone: ./node_modules/.bin/tsc -p tsconfig.build.json && ./node_modules/.bin/node dist/bench/detectBench.js [MB] [secretlint MB]
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { detectText } from '../src/core/secrets/engine';
import { generateRunHistory, type PlantedLine, type RunHistoryCorpus } from './gen/runHistory';

export interface DetectBenchOptions {
  /** Size of the generated corpus in MB (10^6 bytes); default 24. */
  megabytes?: number;
  /** How much of the corpus secretlint lints (MB); default all of it. Less is extrapolated, and says so. */
  secretlintMegabytes?: number;
  /** Timed flowwarden passes over the whole corpus, spread around the secretlint passes; median and best are reported. Default 6. */
  iterations?: number;
  /** Timed secretlint passes (each over `secretlintMegabytes`); the median is reported. Default 2. */
  secretlintPasses?: number;
  seed?: number;
  /** Where the table goes; default console.log. */
  log?: (line: string) => void;
}

interface Span {
  start: number;
  end: number;
}

/** Wall and CPU milliseconds spent in one measured region. */
interface Cost {
  wallMs: number;
  cpuMs: number;
}

function overlaps(p: PlantedLine, m: Span): boolean {
  return m.start < p.end && m.end > p.start;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

async function measure(f: () => unknown): Promise<Cost> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await f();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wallMs, cpuMs: (c.user + c.system) / 1000 };
}

/** The `detect --jsonl` path over lines [from, to); keeps the spans when `keep` is given. */
function detectLines(lines: string[], from: number, to: number, keep?: Span[][]): number {
  let found = 0;
  for (let i = from; i < to; i++) {
    const rec = JSON.parse(lines[i]!) as { id: string; text: string };
    const ms = detectText(rec.text);
    found += ms.length;
    if (keep) keep[i] = ms.map((m) => ({ start: m.start, end: m.end }));
  }
  return found;
}

type LintSource = (typeof import('@secretlint/core'))['lintSource'];

async function loadSecretlint(): Promise<(text: string, i: number) => Promise<Span[]>> {
  // ESM-only packages: dynamic import from this CommonJS module.
  const [{ lintSource }, preset, { secretLintProfiler }] = await Promise.all([
    import('@secretlint/core') as Promise<{ lintSource: LintSource }>,
    import('@secretlint/secretlint-rule-preset-recommend'),
    import('@secretlint/profiler'),
  ]);
  secretLintProfiler.setEnabled(false);
  const config = { rules: [{ id: '@secretlint/secretlint-rule-preset-recommend', rule: preset.creator }] };
  return async (text, i) => {
    const res = await lintSource({
      source: { content: text, filePath: `/bench/line-${i}.json`, ext: '.json', contentType: 'text' },
      options: { config, noPhysicFilePath: true },
    });
    return res.messages.map((m) => ({ start: m.range[0], end: m.range[1] }));
  };
}

/** secretlint on lines [from, to) the same way: parse the JSONL line, lint its text. */
async function lintLines(lint: (text: string, i: number) => Promise<Span[]>, lines: string[], from: number, to: number, keep: Span[][]): Promise<void> {
  for (let i = from; i < to; i++) {
    const rec = JSON.parse(lines[i]!) as { id: string; text: string };
    keep[i] = await lint(rec.text, i);
  }
}

/** The first lines of the corpus that make up at least `limitBytes` (UTF-8, newline included). */
function linesUntil(corpus: RunHistoryCorpus, limitBytes: number): { to: number; bytes: number } {
  let bytes = 0;
  let to = 0;
  while (to < corpus.lines.length && bytes < limitBytes) bytes += Buffer.byteLength(corpus.lines[to++]!) + 1;
  return { to, bytes };
}

export async function benchDetect(opts: DetectBenchOptions = {}): Promise<Record<string, number | string>> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const megabytes = opts.megabytes ?? 24;
  const iterations = opts.iterations ?? 6;
  const slPasses = Math.max(1, opts.secretlintPasses ?? 2);
  const load0 = loadavg()[0]!;

  const tGen = performance.now();
  const corpus = generateRunHistory({ megabytes, seed: opts.seed ?? 20240611 });
  const genMs = performance.now() - tGen;
  const mb = corpus.bytes / 1e6;
  const slLimit = Math.min(corpus.bytes, (opts.secretlintMegabytes ?? Infinity) * 1e6);

  const lint = await loadSecretlint();
  // The same warm-up for both (3 MB), so the timed parts measure optimized code, not the JIT.
  // Flowwarden's warm-up is its untimed pass over the whole corpus that keeps the matches for recall.
  const warm = linesUntil(corpus, 3e6);
  const fwFound: Span[][] = new Array(corpus.lines.length);
  const matchesTotal = detectLines(corpus.lines, 0, corpus.lines.length, fwFound);
  await lintLines(lint, corpus.lines, 0, warm.to, []);

  const passes: Cost[] = [];
  const fwPass = async (): Promise<void> => {
    passes.push(await measure(() => detectLines(corpus.lines, 0, corpus.lines.length)));
  };
  // Rounds: flowwarden passes, then one secretlint pass; a last batch of flowwarden passes closes.
  const slFound: Span[][] = new Array(corpus.lines.length);
  const slPart = linesUntil(corpus, slLimit);
  const slCosts: Cost[] = [];
  const batches = slPasses + 1;
  for (let r = 0; r < batches; r++) {
    const upTo = Math.round((iterations * (r + 1)) / batches);
    while (passes.length < upTo) await fwPass();
    if (r < slPasses) slCosts.push(await measure(() => lintLines(lint, corpus.lines, 0, slPart.to, slFound)));
  }
  const slBytes = slPart.bytes;
  const slLines = slPart.to;
  const slMB = slBytes / 1e6;
  const sl = { wall: slMB / (median(slCosts.map((c) => c.wallMs)) / 1000), cpu: slMB / (median(slCosts.map((c) => c.cpuMs)) / 1000) };
  const fwWall = mb / (median(passes.map((p) => p.wallMs)) / 1000);
  const fwWallBest = mb / (Math.min(...passes.map((p) => p.wallMs)) / 1000);
  const fwCpu = mb / (median(passes.map((p) => p.cpuMs)) / 1000);
  const load1 = loadavg()[0]!;

  // Recall: a planted line counts when any match overlaps the planted span.
  const perFormat = new Map<string, { planted: number; fw: number; sl: number; slLinted: number }>();
  let fwRecalled = 0;
  let slRecalled = 0;
  let slPlanted = 0;
  for (const [i, p] of corpus.planted) {
    const e = perFormat.get(p.format) ?? { planted: 0, fw: 0, sl: 0, slLinted: 0 };
    e.planted++;
    if (fwFound[i]!.some((m) => overlaps(p, m))) {
      e.fw++;
      fwRecalled++;
    }
    const sl = slFound[i];
    if (sl) {
      slPlanted++;
      e.slLinted++;
      if (sl.some((m) => overlaps(p, m))) {
        e.sl++;
        slRecalled++;
      }
    }
    perFormat.set(p.format, e);
  }
  let noisyLines = 0;
  for (let i = 0; i < fwFound.length; i++) if (!corpus.planted.has(i) && fwFound[i]!.length > 0) noisyLines++;
  let slNoisyLines = 0;
  for (let i = 0; i < slFound.length; i++) if (slFound[i] && !corpus.planted.has(i) && slFound[i]!.length > 0) slNoisyLines++;

  const planted = corpus.planted.size;
  const whole = slBytes >= corpus.bytes;
  const slScope = whole ? `all ${fmt(slMB, 2)} MB, ${slLines} lines` : `first ${fmt(slMB, 2)} MB, ${slLines} lines, extrapolated`;
  const figures: Record<string, number | string> = {
    corpusMB: round(mb, 2),
    lines: corpus.lines.length,
    plantedLines: planted,
    generateMs: Math.round(genMs),
    flowwardenMBps: round(fwWall, 1),
    flowwardenMBpsBest: round(fwWallBest, 1),
    flowwardenCpuMBps: round(fwCpu, 1),
    flowwardenMsPerPass: round(median(passes.map((p) => p.wallMs)), 1),
    // Every timed pass, in order (wall ms): shows how noisy the machine was.
    flowwardenPassesMs: passes.map((p) => Math.round(p.wallMs)).join(' '),
    secretlintPassesMs: slCosts.map((p) => Math.round(p.wallMs)).join(' '),
    flowwardenRecall: round(fwRecalled / planted, 4),
    flowwardenMatches: matchesTotal,
    flowwardenNoisyLines: noisyLines,
    secretlintMB: round(slMB, 2),
    secretlintMBps: round(sl.wall, 2),
    secretlintCpuMBps: round(sl.cpu, 2),
    secretlintRecall: round(slRecalled / Math.max(1, slPlanted), 4),
    secretlintNoisyLines: slNoisyLines,
    ratio: round(fwWall / sl.wall, 1),
    ratioCpu: round(fwCpu / sl.cpu, 1),
    loadAverage1mBefore: round(load0, 2),
    loadAverage1m: round(load1, 2),
    cpus: cpus().length,
    secretlintNote: `secretlint linted ${slScope}`,
  };

  const rows: string[][] = [
    ['', 'flowwarden detect', 'secretlint preset-recommend'],
    ['throughput, MB/s wall (median of passes)', `${fmt(fwWall, 1)} (best ${fmt(fwWallBest, 1)}, ${iterations} passes)`, `${fmt(sl.wall, 2)} (${slScope}, ${slPasses} passes)`],
    ['throughput, MB/s of process CPU time', fmt(fwCpu, 1), fmt(sl.cpu, 2)],
    ['recall on planted lines', `${fwRecalled}/${planted} (${fmt((100 * fwRecalled) / planted, 1)} %)`, `${slRecalled}/${slPlanted} (${fmt((100 * slRecalled) / Math.max(1, slPlanted), 1)} %)`],
    ['lines with matches, not planted', String(noisyLines), String(slNoisyLines)],
  ];
  log(`detect benchmark: ${fmt(mb, 2)} MB, ${corpus.lines.length} JSONL lines, ${planted} planted secrets (${fmt((100 * planted) / corpus.lines.length, 2)} %); JSON.parse + scan per line on both sides; one core`);
  log(table(rows));
  log(`speed ratio flowwarden / secretlint: ${fmt(fwWall / sl.wall, 1)}x wall, ${fmt(fwCpu / sl.cpu, 1)}x cpu   (targets: >= 100 MB/s and >= 15x)`);
  // Absolute MB/s depend on what else runs on the machine; the ratio (same run, same load) is steadier.
  log(`load average (1 min) ${fmt(load0, 2)} before, ${fmt(load1, 2)} after, on ${cpus().length} CPUs`);
  log('');
  log(
    table([
      ['planted format', 'planted', 'flowwarden', 'secretlint'],
      ...[...perFormat].sort().map(([f, e]) => [f, String(e.planted), String(e.fw), whole ? String(e.sl) : `${e.sl}/${e.slLinted}`]),
    ]),
  );
  return figures;
}

function round(n: number, d: number): number {
  const k = 10 ** d;
  return Math.round(n * k) / k;
}
function fmt(n: number, d: number): string {
  return n.toFixed(d);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

if (require.main === module) {
  const [mbArg, slArg] = process.argv.slice(2);
  const megabytes = mbArg ? Number(mbArg) : undefined;
  const secretlintMegabytes = slArg ? Number(slArg) : undefined;
  if ((megabytes !== undefined && !(megabytes > 0)) || (secretlintMegabytes !== undefined && !(secretlintMegabytes > 0))) {
    console.error(`usage: detectBench [MB] [secretlint MB]  (got "${process.argv.slice(2).join(' ')}")`);
    process.exit(2);
  }
  benchDetect({ ...(megabytes ? { megabytes } : {}), ...(secretlintMegabytes ? { secretlintMegabytes } : {}) }).then(
    (f) => console.log('\n' + JSON.stringify(f)),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
