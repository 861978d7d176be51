import { parseArgs } from 'node:util';
import { SEVERITIES, type Severity } from '../core/finding';
import { appFromEnv } from './appFromEnv';
import { printFindings, byImportance } from './findings';
import { EXIT, UsageError, type CliIO } from './io';
import { runDeliveryOnce, runDetectionsOnce, type StepResult } from './runOnce';
import { serveApp } from './serve';

/** `scan [--once] [--fail-on S] [--json]`: the pipelines against the configured environment(s). */
export async function runScan(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { once: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, 'fail-on': { type: 'string' } },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const failOn = values['fail-on'] as Severity | undefined;
  if (failOn && !SEVERITIES.includes(failOn)) throw new UsageError(`--fail-on: expected one of ${SEVERITIES.join(', ')}`);
  const app = await appFromEnv();
  if (!values.once) {
    const host = await serveApp(app, { port: 0 });
    io.stderr.write(`flowwarden scan: running on the configured schedules (webhook and health on ${host.url}). Ctrl+C stops.\n`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    await host.stop();
    return EXIT.ok;
  }
  const started = app.clock.now().toISOString();
  const results: StepResult[] = [];
  await runDetectionsOnce(app, results);
  await runDeliveryOnce(app, results);
  for (const r of results) io.stderr.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.step}: ${r.ok ? r.summary : r.error}\n`);
  const found = (await app.findingStore.queryAll({})).filter((f) => f.detectedAt >= started).sort(byImportance);
  printFindings(found, values.json!, io);
  if (results.some((r) => !r.ok)) return EXIT.usage;
  return failOn && found.some((f) => SEVERITIES.indexOf(f.severity) <= SEVERITIES.indexOf(failOn)) ? EXIT.findings : EXIT.ok;
}
