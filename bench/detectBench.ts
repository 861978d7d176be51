/**
 * `detect` benchmark: MB/s of the flowwarden engine on generated run-history JSONL (the
 * `detect --jsonl` path: JSON.parse each line + detectText), recall on planted secrets, and
 * secretlint's recommended preset side by side on the same data (one lintSource call per line,
 * profiler off).
 *
 * Fairness: by default secretlint lints every line of the corpus (no extrapolation), and the speed
 * ratio comes from an interleaved phase: the corpus is cut into ~1 MB chunks and each chunk is timed
 * with flowwarden, then with secretlint, so both see the same machine load. Both sides parse the
 * JSONL line. Wall-clock and process CPU-time MB/s are both reported, with the load average before
 * and after: on a shared machine CPU time is the steadier figure, wall clock the honest one.
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
  /** Timed flowwarden passes over the whole corpus; median and best are reported. Default 5. */
  iterations?: number;
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
  return s[Math.floor(s.length / 2)]!;
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

/** Line boundaries of consecutive chunks of about `chunkBytes` each, over the first `limitBytes`. */
function chunks(corpus: RunHistoryCorpus, chunkBytes: number, limitBytes: number): { from: number; to: number; bytes: number }[] {
  const out: { from: number; to: number; bytes: number }[] = [];
  let from = 0;
  let bytes = 0;
  let total = 0;
  for (let i = 0; i < corpus.lines.length && total < limitBytes; i++) {
    const b = Buffer.byteLength(corpus.lines[i]!) + 1;
    bytes += b;
    total += b;
    if (bytes >= chunkBytes || i === corpus.lines.length - 1 || total >= limitBytes) {
      out.push({ from, to: i + 1, bytes });
      from = i + 1;
      bytes = 0;
    }
  }
  return out;
}

export async function benchDetect(opts: DetectBenchOptions = {}): Promise<Record<string, number | string>> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const megabytes = opts.megabytes ?? 24;
  const iterations = opts.iterations ?? 5;
  const load0 = loadavg()[0]!;

  const tGen = performance.now();
  const corpus = generateRunHistory({ megabytes, seed: opts.seed ?? 20240611 });
  const genMs = performance.now() - tGen;
  const mb = corpus.bytes / 1e6;
  const slLimit = Math.min(corpus.bytes, (opts.secretlintMegabytes ?? Infinity) * 1e6);

  const lint = await loadSecretlint();
  // Warm-up so the timed parts measure optimized code, not the JIT.
  const warm = chunks(corpus, 2e6, 2e6)[0]!;
  detectLines(corpus.lines, warm.from, warm.to);
  const slWarm: Span[][] = [];
  await lintLines(lint, corpus.lines, 0, Math.min(50, corpus.lines.length), slWarm);

  // Interleaved phase: the ratio. Each chunk: flowwarden, then secretlint, under the same load.
  const fwFound: Span[][] = new Array(corpus.lines.length);
  const slFound: Span[][] = new Array(corpus.lines.length);
  const fwSide: Cost = { wallMs: 0, cpuMs: 0 };
  const slSide: Cost = { wallMs: 0, cpuMs: 0 };
  let slBytes = 0;
  let slLines = 0;
  for (const c of chunks(corpus, 1e6, slLimit)) {
    const f = await measure(() => detectLines(corpus.lines, c.from, c.to));
    const s = await measure(() => lintLines(lint, corpus.lines, c.from, c.to, slFound));
    fwSide.wallMs += f.wallMs;
    fwSide.cpuMs += f.cpuMs;
    slSide.wallMs += s.wallMs;
    slSide.cpuMs += s.cpuMs;
    slBytes += c.bytes;
    slLines += c.to - c.from;
  }
  const slMB = slBytes / 1e6;
  const pairFw = { wall: slMB / (fwSide.wallMs / 1000), cpu: slMB / (fwSide.cpuMs / 1000) };
  const pairSl = { wall: slMB / (slSide.wallMs / 1000), cpu: slMB / (slSide.cpuMs / 1000) };

  // Flowwarden alone: whole-corpus passes (the first keeps the matches for recall).
  const passes: Cost[] = [];
  let matchesTotal = 0;
  for (let it = 0; it < iterations; it++) {
    passes.push(await measure(() => (matchesTotal = detectLines(corpus.lines, 0, corpus.lines.length, it === 0 ? fwFound : undefined))));
  }
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
  const slScope = whole ? `all ${fmt(slMB, 2)} MB (${slLines} lines)` : `first ${fmt(slMB, 2)} MB (${slLines} lines), extrapolated`;
  const figures: Record<string, number | string> = {
    corpusMB: round(mb, 2),
    lines: corpus.lines.length,
    plantedLines: planted,
    generateMs: Math.round(genMs),
    flowwardenMBps: round(fwWall, 1),
    flowwardenMBpsBest: round(fwWallBest, 1),
    flowwardenCpuMBps: round(fwCpu, 1),
    flowwardenMsPerPass: round(median(passes.map((p) => p.wallMs)), 1),
    flowwardenRecall: round(fwRecalled / planted, 4),
    flowwardenMatches: matchesTotal,
    flowwardenNoisyLines: noisyLines,
    interleavedFlowwardenMBps: round(pairFw.wall, 1),
    interleavedFlowwardenCpuMBps: round(pairFw.cpu, 1),
    secretlintMB: round(slMB, 2),
    secretlintMBps: round(pairSl.wall, 2),
    secretlintCpuMBps: round(pairSl.cpu, 2),
    secretlintRecall: round(slRecalled / Math.max(1, slPlanted), 4),
    secretlintNoisyLines: slNoisyLines,
    ratio: round(pairFw.wall / pairSl.wall, 1),
    ratioCpu: round(pairFw.cpu / pairSl.cpu, 1),
    loadAverage1mBefore: round(load0, 2),
    loadAverage1m: round(load1, 2),
    cpus: cpus().length,
    secretlintNote: `secretlint linted the ${slScope}; ratio from interleaved ~1 MB chunks`,
  };

  const rows: string[][] = [
    ['', 'flowwarden detect', 'secretlint preset-recommend'],
    [`throughput, interleaved on ${fmt(slMB, 2)} MB (MB/s wall / cpu)`, `${fmt(pairFw.wall, 1)} / ${fmt(pairFw.cpu, 1)}`, `${fmt(pairSl.wall, 2)} / ${fmt(pairSl.cpu, 2)}${whole ? '' : ' (sample, extrapolated)'}`],
    [`throughput, ${iterations} passes over ${fmt(mb, 2)} MB (MB/s median / best wall, cpu)`, `${fmt(fwWall, 1)} / ${fmt(fwWallBest, 1)}, ${fmt(fwCpu, 1)}`, '-'],
    ['recall on planted lines', `${fwRecalled}/${planted} (${fmt((100 * fwRecalled) / planted, 1)} %)`, `${slRecalled}/${slPlanted} (${fmt((100 * slRecalled) / Math.max(1, slPlanted), 1)} %)`],
    ['lines with matches, not planted', String(noisyLines), String(slNoisyLines)],
  ];
  log(`detect benchmark: ${fmt(mb, 2)} MB, ${corpus.lines.length} JSONL lines, ${planted} planted secrets (${fmt((100 * planted) / corpus.lines.length, 2)} %); JSON.parse + scan per line on both sides; one core`);
  log(table(rows));
  log(`speed ratio flowwarden / secretlint (interleaved): ${fmt(pairFw.wall / pairSl.wall, 1)}x wall, ${fmt(pairFw.cpu / pairSl.cpu, 1)}x cpu   (targets: >= 100 MB/s and >= 15x)`);
  // Absolute MB/s depend on what else runs on the machine; the interleaved ratio is steadier.
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
