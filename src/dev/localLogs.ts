import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { FINDINGS_COLUMNS, FINDINGS_STREAM, FINDINGS_TABLE } from '../sinks/logAnalytics';

/**
 * Local stand-ins for Azure Monitor, so the real SDK clients run over HTTP without an Azure account.
 *
 * Logs Ingestion API (what LogsIngestionClient sends):
 *   POST /dataCollectionRules/{dcrId}/streams/{stream}?api-version=2023-01-01
 *   Authorization: Bearer …, Content-Encoding: gzip, body: JSON array of rows.
 *   Checks the DCR id, the stream, every column name and type; 204 on success, errors in the service's
 *   shape {"error":{"code","message"}}.
 *
 * Log Analytics query API (what LogsQueryClient sends):
 *   POST [/v1]/workspaces/{workspaceId}/query  body {query, timespan?} → {tables:[{name, columns, rows}]}
 *   over the ingested rows. The KQL subset (anything else is a 400 BadArgumentError):
 *     FlowWardenFindings_CL
 *     | where <Col> (==|!=|=~|>=|<=|>|<|contains|has) <'text'|"text"|number|ago(30m|24h|7d)|datetime(…)> [and …]
 *     | summarize [Name =] count() [by Col, …]
 *     | order by Col [asc|desc]  (or sort by)
 *     | take N  (or limit N)
 *     | project Col, …
 *
 * Bearer tokens over plain http are refused by the SDK: clients address these endpoints as
 * https://127.0.0.1:PORT and add loopbackHttpPolicy (src/sinks/logAnalytics.ts).
 */

export type LogRow = Record<string, unknown>;

export interface LogsRequestRecord {
  method: string;
  path: string;
  apiVersion: string | null;
  contentEncoding?: string;
  status: number;
  /** Decompressed body text (tests grep it). */
  body: string;
}

export interface LocalLogs {
  /** Ingestion endpoint as clients should use it (https scheme, see above). */
  ingestionEndpoint: string;
  /** Query endpoint (…/v1) for LogsQueryClient's `endpoint` option. */
  queryEndpoint: string;
  dcrId: string;
  workspaceId: string;
  rows: LogRow[];
  requests: LogsRequestRecord[];
  /** Answer the next `count` ingestion requests with this status (e.g. 503, 429). */
  failIngestion(count: number, status?: number): void;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = Object.fromEntries(FINDINGS_COLUMNS.map((c) => [c.name, c.type]));
const MAX_BODY = 1024 * 1024;

class KqlError extends Error {}

export async function startLocalLogs(options: { dcrId?: string; workspaceId?: string } = {}): Promise<LocalLogs> {
  const dcrId = options.dcrId ?? 'dcr-00000000000000000000000000000000';
  const workspaceId = options.workspaceId ?? '00000000-0000-4000-8000-000000000001';
  const rows: LogRow[] = [];
  const requests: LogsRequestRecord[] = [];
  let failures = { count: 0, status: 503 };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const enc = req.headers['content-encoding'];
      let raw = Buffer.concat(chunks);
      let body = '';
      const reply = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
        requests.push({ method: req.method ?? '', path: url.pathname, apiVersion: url.searchParams.get('api-version'), contentEncoding: typeof enc === 'string' ? enc : undefined, status, body });
        res.writeHead(status, payload === undefined ? headers : { 'content-type': 'application/json', ...headers });
        res.end(payload === undefined ? undefined : JSON.stringify(payload));
      };
      const fail = (status: number, code: string, message: string) => reply(status, { error: { code, message } });
      try {
        if (enc === 'gzip') raw = gunzipSync(raw);
        body = raw.toString('utf8');
      } catch {
        return fail(400, 'InvalidContentEncoding', 'The body is not valid gzip.');
      }
      if (!/^Bearer \S+/.test(req.headers.authorization ?? '')) return fail(401, 'InvalidAuthenticationToken', 'A bearer token is required.');

      const ingest = /^\/dataCollectionRules\/([^/]+)\/streams\/([^/]+)$/.exec(url.pathname);
      if (req.method === 'POST' && ingest) {
        if (url.searchParams.get('api-version') !== '2023-01-01') return fail(400, 'InvalidApiVersion', 'api-version must be 2023-01-01.');
        if (decodeURIComponent(ingest[1]!) !== dcrId) return fail(404, 'NotFound', 'Data collection rule not found.');
        if (decodeURIComponent(ingest[2]!) !== FINDINGS_STREAM) return fail(400, 'InvalidStream', `Stream ${decodeURIComponent(ingest[2]!)} is not declared in the data collection rule.`);
        if (raw.length > MAX_BODY) return fail(413, 'ContentLengthLimitExceeded', 'Payload larger than 1 MB.');
        if (failures.count > 0) {
          failures.count--;
          return fail(failures.status, failures.status === 429 ? 'TooManyRequests' : 'ServiceUnavailable', 'Injected failure.');
        }
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          return fail(400, 'InvalidPayload', 'The body is not valid JSON.');
        }
        if (!Array.isArray(parsed)) return fail(400, 'InvalidPayload', 'The body must be a JSON array of rows.');
        for (const [i, row] of parsed.entries()) {
          const problem = checkRow(row);
          if (problem) return fail(400, 'InvalidPayload', `Row ${i}: ${problem}`);
        }
        rows.push(...(parsed as LogRow[]));
        return reply(204);
      }

      const query = /^(?:\/v1)?\/workspaces\/([^/]+)\/query$/.exec(url.pathname);
      if (req.method === 'POST' && query) {
        if (decodeURIComponent(query[1]!) !== workspaceId) return fail(404, 'WorkspaceNotFoundError', 'Workspace not found.');
        let q: { query?: unknown; timespan?: unknown };
        try {
          q = JSON.parse(body) as typeof q;
        } catch {
          return fail(400, 'BadArgumentError', 'The request body is not valid JSON.');
        }
        if (typeof q.query !== 'string') return fail(400, 'BadArgumentError', 'Missing "query".');
        try {
          const table = runKql(q.query, inTimespan(rows, typeof q.timespan === 'string' ? q.timespan : undefined));
          return reply(200, { tables: [{ name: 'PrimaryResult', ...table }] });
        } catch (e) {
          if (e instanceof KqlError) return reply(400, { error: { code: 'BadArgumentError', message: 'The request had some invalid properties', innererror: { code: 'SyntaxError', message: e.message } } });
          throw e;
        }
      }
      return fail(404, 'NotFound', `No route for ${req.method} ${url.pathname}.`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    ingestionEndpoint: `https://127.0.0.1:${port}`,
    queryEndpoint: `https://127.0.0.1:${port}/v1`,
    dcrId,
    workspaceId,
    rows,
    requests,
    failIngestion(count, status = 503) {
      failures = { count, status };
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}

function checkRow(row: unknown): string | undefined {
  if (!row || typeof row !== 'object' || Array.isArray(row)) return 'not an object';
  for (const [k, v] of Object.entries(row)) {
    const type = TYPES[k];
    if (!type) return `unknown column ${k}`;
    if (v === null) continue;
    if (type === 'string' && typeof v !== 'string') return `${k}: expected string`;
    if (type === 'datetime' && (typeof v !== 'string' || Number.isNaN(Date.parse(v)))) return `${k}: expected an ISO 8601 datetime`;
    if (type === 'dynamic' && typeof v !== 'object') return `${k}: expected an object`;
  }
  if (!('TimeGenerated' in row)) return 'TimeGenerated is required';
  return undefined;
}

/** ISO 8601 duration (PT24H, P1D) or interval (start/end, start/duration). */
function inTimespan(rows: LogRow[], timespan: string | undefined): LogRow[] {
  if (!timespan) return rows;
  const [a, b] = timespan.split('/');
  let start: number;
  let end = Date.now();
  if (b === undefined) start = end - durationMs(a!);
  else {
    start = Date.parse(a!);
    end = b.startsWith('P') ? start + durationMs(b) : Date.parse(b);
  }
  return rows.filter((r) => {
    const t = Date.parse(String(r['TimeGenerated']));
    return t >= start && t <= end;
  });
}

function durationMs(d: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(d);
  if (!m) throw new KqlError(`Unsupported timespan ${d}`);
  return ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 60_000 + Number(m[4] ?? 0) * 1000;
}

// ---------------------------------------------------------------- the KQL subset

type Column = { name: string; type: string };

function splitPipes(q: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let quote: string | undefined;
  for (const ch of q) {
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '|') {
      parts.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (quote) throw new KqlError('Unterminated string literal');
  parts.push(cur.trim());
  return parts;
}

function literal(s: string, now: number): unknown {
  const t = s.trim();
  let m = /^'(.*)'$/s.exec(t) ?? /^"(.*)"$/s.exec(t);
  if (m) return m[1];
  if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
  m = /^ago\((\d+)([smhd])\)$/.exec(t);
  if (m) return new Date(now - Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd']).toISOString();
  m = /^datetime\(([^)]+)\)$/.exec(t);
  if (m && !Number.isNaN(Date.parse(m[1]!))) return new Date(m[1]!).toISOString();
  throw new KqlError(`Unsupported literal: ${t}`);
}

function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const da = typeof a === 'string' ? Date.parse(a) : NaN;
  const db = typeof b === 'string' ? Date.parse(b) : NaN;
  if (!Number.isNaN(da) && !Number.isNaN(db) && /^\d{4}-/.test(String(a)) && /^\d{4}-/.test(String(b))) return da - db;
  return String(a ?? '').localeCompare(String(b ?? ''));
}

function runKql(query: string, input: LogRow[]): { columns: Column[]; rows: unknown[][] } {
  const stages = splitPipes(query.replace(/\/\/[^\n]*/g, ''));
  if (stages[0] !== FINDINGS_TABLE) throw new KqlError(`Only the table ${FINDINGS_TABLE} is available here, got "${stages[0]}"`);
  const now = Date.now();
  let columns: Column[] = FINDINGS_COLUMNS.map((c) => ({ name: c.name, type: c.type }));
  let rows: LogRow[] = input.map((r) => ({ ...r }));
  const known = (c: string) => {
    if (!columns.some((x) => x.name === c)) throw new KqlError(`Failed to resolve column '${c}'`);
  };
  for (const stage of stages.slice(1)) {
    let m: RegExpExecArray | null;
    if ((m = /^where\s+(.+)$/is.exec(stage))) {
      const conds = m[1]!.split(/\s+and\s+/i).map((c) => {
        const cm = /^([A-Za-z_][A-Za-z0-9_]*)\s*(==|!=|=~|>=|<=|>|<|contains|has)\s*(.+)$/is.exec(c.trim());
        if (!cm) throw new KqlError(`Unsupported where condition: ${c.trim()}`);
        known(cm[1]!);
        return { col: cm[1]!, op: cm[2]!.toLowerCase(), value: literal(cm[3]!, now) };
      });
      rows = rows.filter((r) =>
        conds.every(({ col, op, value }) => {
          const v = r[col];
          switch (op) {
            case '==': return compare(v, value) === 0 && String(v) === String(value);
            case '!=': return String(v) !== String(value);
            case '=~': return String(v).toLowerCase() === String(value).toLowerCase();
            case 'contains': return String(v).toLowerCase().includes(String(value).toLowerCase());
            case 'has': return new RegExp(`\\b${String(value).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'i').test(String(v));
            case '>=': return compare(v, value) >= 0;
            case '<=': return compare(v, value) <= 0;
            case '>': return compare(v, value) > 0;
            default: return compare(v, value) < 0;
          }
        }),
      );
    } else if ((m = /^summarize\s+(?:([A-Za-z_][A-Za-z0-9_]*)\s*=\s*)?count\(\)(?:\s+by\s+(.+))?$/is.exec(stage))) {
      const name = m[1] ?? 'count_';
      const by = m[2] ? m[2].split(',').map((s) => s.trim()) : [];
      by.forEach(known);
      const groups = new Map<string, LogRow>();
      for (const r of rows) {
        const key = JSON.stringify(by.map((c) => r[c]));
        const g = groups.get(key) ?? Object.fromEntries([...by.map((c) => [c, r[c]]), [name, 0]]);
        (g[name] as number)++;
        groups.set(key, g);
      }
      if (!by.length && !groups.size) groups.set('[]', { [name]: 0 });
      rows = [...groups.values()];
      columns = [...by.map((c) => columns.find((x) => x.name === c)!), { name, type: 'long' }];
    } else if ((m = /^(?:order|sort)\s+by\s+([A-Za-z_][A-Za-z0-9_]*)(?:\s+(asc|desc))?$/i.exec(stage))) {
      known(m[1]!);
      const col = m[1]!;
      const dir = (m[2] ?? 'desc').toLowerCase() === 'asc' ? 1 : -1;
      rows = [...rows].sort((a, b) => dir * compare(a[col], b[col]));
    } else if ((m = /^(?:take|limit)\s+(\d+)$/i.exec(stage))) {
      rows = rows.slice(0, Number(m[1]));
    } else if ((m = /^project\s+(.+)$/is.exec(stage))) {
      const cols = m[1]!.split(',').map((s) => s.trim());
      cols.forEach(known);
      columns = cols.map((c) => columns.find((x) => x.name === c)!);
    } else {
      throw new KqlError(`Unsupported operator in "${stage.slice(0, 60)}" (local endpoint subset: where, summarize count() by, order by, take, project)`);
    }
  }
  return {
    columns,
    rows: rows.map((r) => columns.map((c) => (c.type === 'dynamic' ? JSON.stringify(r[c.name] ?? null) : (r[c.name] ?? null)))),
  };
}
