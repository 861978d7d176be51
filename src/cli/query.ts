import type { LogsQueryClient, QueryTimeInterval } from '@azure/monitor-query-logs';
import { isRestError } from '@azure/core-rest-pipeline';

/**
 * `flowwarden query "<KQL>" [--timespan P1D] [--json]`: run KQL against the findings workspace with
 * @azure/monitor-query-logs (the successor of the deprecated @azure/monitor-query) and print a table.
 */

export interface QueryIo {
  out(line: string): void;
  err(line: string): void;
}

export interface QueryDeps {
  /** A LogsQueryClient (its `endpoint` option points at the workspace query API). */
  client: Pick<LogsQueryClient, 'queryWorkspace'>;
  /** FLOWWARDEN_LOGS_WORKSPACE_ID. */
  workspaceId?: string;
}

const USAGE = 'usage: flowwarden query "<KQL>" [--timespan <ISO 8601 duration, default P1D>] [--json]';

/** Returns the exit code: 0 ok, 1 the service rejected the query, 2 bad usage/config. */
export async function runQuery(args: string[], io: QueryIo, deps: QueryDeps): Promise<number> {
  let kql: string | undefined;
  let duration = 'P1D';
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--json') json = true;
    else if (a === '--timespan') {
      const v = args[++i];
      if (!v || !/^P(?!$)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$/.test(v)) {
        io.err(`--timespan: expected an ISO 8601 duration such as PT1H, P1D or P7D, got ${JSON.stringify(v ?? '')}`);
        return 2;
      }
      duration = v;
    } else if (a.startsWith('--')) {
      io.err(`unknown option ${a}\n${USAGE}`);
      return 2;
    } else if (kql === undefined) kql = a;
    else {
      io.err(`unexpected argument ${JSON.stringify(a)} (quote the KQL as one argument)\n${USAGE}`);
      return 2;
    }
  }
  if (!kql?.trim()) {
    io.err(USAGE);
    return 2;
  }
  if (!deps.workspaceId) {
    io.err('FLOWWARDEN_LOGS_WORKSPACE_ID: required for `query` (the Log Analytics workspace id)');
    return 2;
  }
  const timespan: QueryTimeInterval = { duration };
  let result;
  try {
    result = await deps.client.queryWorkspace(deps.workspaceId, kql, timespan);
  } catch (e) {
    if (isRestError(e)) {
      const details = e.details as { error?: { message?: string; innererror?: { message?: string } } } | undefined;
      const inner = details?.error?.innererror?.message ?? details?.error?.message ?? e.message;
      io.err(`query failed: HTTP ${e.statusCode ?? '?'} ${e.code ?? ''}: ${inner}`.replace(/\s+:/, ':'));
      return 1;
    }
    throw e;
  }
  const tables = result.status === 'Success' ? result.tables : result.status === 'PartialFailure' ? result.partialTables : [];
  if (result.status !== 'Success') io.err(`query ${result.status === 'PartialFailure' ? 'partially failed' : 'failed'}: ${'partialError' in result ? String(result.partialError?.message ?? '') : ''}`);
  if (json) {
    io.out(JSON.stringify(tables.map((t) => ({ name: t.name, columns: t.columnDescriptors.map((c) => c.name), rows: t.rows })), null, 2));
  } else {
    for (const t of tables) for (const line of formatTable(t.columnDescriptors.map((c) => c.name ?? ''), t.rows)) io.out(line);
  }
  return result.status === 'Success' ? 0 : 1;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (v instanceof Date) return v.toISOString();
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v).replace(/\s+/g, ' ');
}

/** Fixed-width text table; long cells are cut at 60 characters. */
export function formatTable(columns: string[], rows: unknown[][]): string[] {
  const body = rows.map((r) => columns.map((_, i) => {
    const s = cell(r[i]);
    return s.length > 60 ? s.slice(0, 59) + '…' : s;
  }));
  const widths = columns.map((c, i) => Math.max(c.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...body.map(line), `(${rows.length} row${rows.length === 1 ? '' : 's'})`];
}
