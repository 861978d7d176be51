import { parseArgs } from 'node:util';
import { SEVERITIES, type Severity } from '../core/finding';
import { loadConfig } from '../config';
import { TableFindingStore } from '../sinks/findingsTable';
import { storageCredential } from '../credentials';
import { TableService } from '../sinks/tableService';
import { EXIT, parseDuration, table, UsageError, type CliIO } from './io';
import type { StoredFinding } from '../ports';

/** `findings [--since 24h] [--kind K] [--severity S] [--environment ID] [--json]`: read findings back from Table Storage. */
export async function runFindings(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      since: { type: 'string', default: '24h' },
      kind: { type: 'string' },
      severity: { type: 'string' },
      environment: { type: 'string' },
      json: { type: 'boolean', default: false },
      'fail-on': { type: 'string' },
    },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const severity = values.severity as Severity | undefined;
  if (severity && !SEVERITIES.includes(severity)) throw new UsageError(`--severity: expected one of ${SEVERITIES.join(', ')}`);
  const failOn = values['fail-on'] as Severity | undefined;
  if (failOn && !SEVERITIES.includes(failOn)) throw new UsageError(`--fail-on: expected one of ${SEVERITIES.join(', ')}`);
  const since = new Date(Date.now() - parseDuration('--since', values.since!)).toISOString();
  const config = loadConfig();
  const tables = new TableService({
    ...(config.storage.connectionString ? { connectionString: config.storage.connectionString } : {}),
    ...(config.storage.tableUrl ? { tableUrl: config.storage.tableUrl, credential: storageCredential(config) } : {}),
  });
  const store = new TableFindingStore(tables);
  const items = await store.queryAll({
    since,
    ...(values.kind ? { kind: values.kind } : {}),
    ...(severity ? { severity } : {}),
    ...(values.environment ? { environmentId: values.environment } : {}),
  });
  items.sort(byImportance);
  printFindings(items, values.json!, io);
  return failOn && items.some((f) => SEVERITIES.indexOf(f.severity) <= SEVERITIES.indexOf(failOn)) ? EXIT.findings : EXIT.ok;
}

export function byImportance(a: { severity: Severity; observedAt: string }, b: { severity: Severity; observedAt: string }): number {
  return SEVERITIES.indexOf(a.severity) - SEVERITIES.indexOf(b.severity) || b.observedAt.localeCompare(a.observedAt);
}

export function printFindings(items: (StoredFinding | import('../core/finding').Finding)[], json: boolean, io: CliIO): void {
  if (json) {
    io.stdout.write(JSON.stringify(items, null, 2) + '\n');
    return;
  }
  if (items.length === 0) {
    io.stdout.write('no findings\n');
    return;
  }
  io.stdout.write(
    table(
      ['severity', 'kind', 'rule', 'subject', 'observed', 'title'],
      items.map((f) => [f.severity, f.kind, f.ruleId, f.subject.name ?? f.subject.id, f.observedAt.slice(0, 16).replace('T', ' '), f.title]),
      70,
    ),
  );
}
