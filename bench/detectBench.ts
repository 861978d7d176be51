/**
 * `detect` benchmark: MB/s of the flowwarden engine on generated run-history JSONL (the
 * `detect --jsonl` path: JSON.parse each line + detectText), recall on planted secrets, and
 * secretlint's recommended preset side by side on the same data (one lintSource call per line,
 * profiler off). secretlint is timed on a sample and its MB/s extrapolated; the output says so.
 *
 * Run alone: ./node_modules/.bin/tsc -p tsconfig.build.json && ./node_modules/.bin/node dist/bench/detectBench.js [MB]
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { detectText } from '../src/core/secrets/engine';
import { generateRunHistory, type PlantedLine, type RunHistoryCorpus } from './gen/runHistory';

export interface DetectBenchOptions {
  /** Size of the generated corpus in MB (10^6 bytes); default 24. */
  megabytes?: number;
  /** Size of the secretlint timing sample in MB; default 1. */
  secretlintMegabytes?: number;
  /** Timed passes of the engine over the corpus; the median is reported. Default 3. */
  iterations?: number;
  seed?: number;
  /** Where the table goes; default console.log. */
  log?: (line: string) => void;
}

interface LineResult {
  matches: { start: number; end: number; ruleId: string }[];
}

function overlaps(p: PlantedLine, m: { start: number; end: number }): boolean {
  return m.start < p.end && m.end > p.start;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** One pass of the `detect --jsonl` path over lines [from, to). */
function detectPass(lines: string[], from: number, to: number, keep: LineResult[] | undefined): number {
  let found = 0;
  for (let i = from; i < to; i++) {
    const rec = JSON.parse(lines[i]!) as { id: string; text: string };
    const ms = detectText(rec.text);
    found += ms.length;
    if (keep) keep[i] = { matches: ms.map((m) => ({ start: m.start, end: m.end, ruleId: m.ruleId })) };
  }
  return found;
}

type LintSource = (typeof import('@secretlint/core'))['lintSource'];

async function loadSecretlint(): Promise<{ lint: (text: string, i: number) => Promise<{ start: number; end: number }[]> }> {
  // ESM-only packages: dynamic import from this CommonJS module.
  const [{ lintSource }, preset, { secretLintProfiler }] = await Promise.all([
    import('@secretlint/core') as Promise<{ lintSource: LintSource }>,
    import('@secretlint/secretlint-rule-preset-recommend'),
    import('@secretlint/profiler'),
  ]);
  secretLintProfiler.setEnabled(false);
  const config = { rules: [{ id: '@secretlint/secretlint-rule-preset-recommend', rule: preset.creator }] };
  return {
    lint: async (text, i) => {
      const res = await lintSource({
        source: { content: text, filePath: `/bench/line-${i}.json`, ext: '.json', contentType: 'text' },
        options: { config, noPhysicFilePath: true },
      });
      return res.messages.map((m) => ({ start: m.range[0], end: m.range[1] }));
    },
  };
}

function linesUntil(corpus: RunHistoryCorpus, megabytes: number): { count: number; bytes: number } {
  let bytes = 0;
  let count = 0;
  while (count < corpus.lines.length && bytes < megabytes * 1e6) bytes += Buffer.byteLength(corpus.lines[count++]!) + 1;
  return { count, bytes };
}

export async function benchDetect(opts: DetectBenchOptions = {}): Promise<Record<string, number | string>> {
  const log = opts.log ?? ((l: string) => console.log(l));
  const megabytes = opts.megabytes ?? 24;
  const iterations = opts.iterations ?? 3;
  const slMb = opts.secretlintMegabytes ?? 1;

  const tGen = performance.now();
  const corpus = generateRunHistory({ megabytes, seed: opts.seed ?? 20240611 });
  const genMs = performance.now() - tGen;
  const mb = corpus.bytes / 1e6;

  // Warm-up so the timed passes measure optimized code, not the JIT.
  const warm = linesUntil(corpus, Math.min(2, megabytes / 4));
  detectPass(corpus.lines, 0, warm.count, undefined);

  const results: LineResult[] = new Array(corpus.lines.length);
  const times: number[] = [];
  let matchesTotal = 0;
  for (let it = 0; it < iterations; it++) {
    const t0 = performance.now();
    matchesTotal = detectPass(corpus.lines, 0, corpus.lines.length, it === 0 ? results : undefined);
    times.push(performance.now() - t0);
  }
  const fwMs = median(times);
  const fwMbps = mb / (fwMs / 1000);

  // Recall: a planted line counts when any match overlaps the planted span.
  const perFormat = new Map<string, { planted: number; fw: number; sl: number }>();
  let fwRecalled = 0;
  for (const [i, p] of corpus.planted) {
    const e = perFormat.get(p.format) ?? { planted: 0, fw: 0, sl: 0 };
    e.planted++;
    if (results[i]!.matches.some((m) => overlaps(p, m))) {
      e.fw++;
      fwRecalled++;
    }
    perFormat.set(p.format, e);
  }
  let noisyLines = 0;
  for (let i = 0; i < results.length; i++) if (!corpus.planted.has(i) && results[i]!.matches.length > 0) noisyLines++;

  // secretlint: timed on the first `slMb` MB, recall on every planted line (untimed).
  const sl = await loadSecretlint();
  const sample = linesUntil(corpus, slMb);
  const texts = corpus.lines.map((l) => (JSON.parse(l) as { text: string }).text);
  await sl.lint(texts[0]!, -1);
  const tSl = performance.now();
  for (let i = 0; i < sample.count; i++) await sl.lint(texts[i]!, i);
  const slMs = performance.now() - tSl;
  const slMbps = sample.bytes / 1e6 / (slMs / 1000);
  let slRecalled = 0;
  for (const [i, p] of corpus.planted) {
    const ms = await sl.lint(texts[i]!, i);
    if (ms.some((m) => overlaps(p, m))) {
      slRecalled++;
      perFormat.get(p.format)!.sl++;
    }
  }

  const planted = corpus.planted.size;
  const figures: Record<string, number | string> = {
    corpusMB: round(mb, 2),
    lines: corpus.lines.length,
    plantedLines: planted,
    generateMs: Math.round(genMs),
    flowwardenMBps: round(fwMbps, 1),
    flowwardenMsPerPass: round(fwMs, 1),
    flowwardenRecall: round(fwRecalled / planted, 4),
    flowwardenMatches: matchesTotal,
    flowwardenNoisyLines: noisyLines,
    secretlintSampleMB: round(sample.bytes / 1e6, 2),
    secretlintMBps: round(slMbps, 2),
    secretlintRecall: round(slRecalled / planted, 4),
    ratio: round(fwMbps / slMbps, 1),
    loadAverage1m: round(loadavg()[0]!, 2),
    cpus: cpus().length,
    secretlintNote: `secretlint timed on the first ${round(sample.bytes / 1e6, 2)} MB (${sample.count} lines) and extrapolated`,
  };

  const rows: [string, string, string][] = [
    ['', 'flowwarden detect', 'secretlint preset-recommend'],
    ['throughput (MB/s, one core)', fmt(fwMbps, 1), `${fmt(slMbps, 2)} (sample ${fmt(sample.bytes / 1e6, 2)} MB, extrapolated)`],
    ['recall on planted lines', `${fwRecalled}/${planted} (${fmt((100 * fwRecalled) / planted, 1)} %)`, `${slRecalled}/${planted} (${fmt((100 * slRecalled) / planted, 1)} %)`],
    ['lines with matches, not planted', String(noisyLines), '-'],
  ];
  log(`detect benchmark: ${fmt(mb, 2)} MB, ${corpus.lines.length} JSONL lines, ${planted} planted secrets (${fmt((100 * planted) / corpus.lines.length, 2)} %), median of ${iterations} passes (JSON.parse + detectText per line)`);
  log(table(rows));
  log(`speed ratio flowwarden / secretlint: ${fmt(fwMbps / slMbps, 1)}x   (targets: >= 100 MB/s and >= 15x)`);
  // Absolute MB/s depend on what else runs on the machine; the ratio is measured in the same run and is steadier.
  log(`load average (1 min) ${fmt(loadavg()[0]!, 2)} on ${cpus().length} CPUs`);
  log('');
  log(table([['planted format', 'planted', 'flowwarden', 'secretlint'], ...[...perFormat].sort().map(([f, e]): [string, string, string, string] => [f, String(e.planted), String(e.fw), String(e.sl)])]));
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
  const arg = process.argv[2];
  const megabytes = arg ? Number(arg) : undefined;
  if (megabytes !== undefined && !(megabytes > 0)) {
    console.error(`usage: detectBench [MB]  (got "${arg}")`);
    process.exit(2);
  }
  benchDetect(megabytes ? { megabytes } : {}).then(
    (f) => console.log('\n' + JSON.stringify(f)),
    (e: unknown) => {
      console.error(e);
      process.exit(1);
    },
  );
}
