/**
 * `flowwarden detect [--jsonl] [--fail-on SEVERITY] [FILE|-]` (DESIGN.md §9).
 * --jsonl: each input line {"id","text"} → one output line {"id","secrets":[{ruleId,start,end,severity}]},
 * in input order, streamed. Otherwise the whole input is one text and a table is printed.
 * No secret value is ever printed: the table shows a masked preview only.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { atLeast, SEVERITIES, type Severity } from '../core/finding';
import { maskedPreview } from '../core/fingerprint';
import { detectText, type SecretMatch } from '../core/secrets/engine';

interface DetectIO {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

const USAGE = 'usage: flowwarden detect [--jsonl] [--fail-on critical|high|medium|low|info] [FILE|-]';

interface DetectArgs {
  jsonl: boolean;
  failOn?: Severity;
  file?: string;
}

class DetectUsageError extends Error {}

/** A bad --jsonl input line: names the line number and the field. */
export class DetectInputError extends Error {
  constructor(
    readonly line: number,
    readonly field: string,
    problem: string,
  ) {
    super(`line ${line}: ${field === '' ? '' : `field "${field}" `}${problem}`);
    this.name = 'DetectInputError';
  }
}

function parseArgs(args: string[]): DetectArgs {
  const out: DetectArgs = { jsonl: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--jsonl') out.jsonl = true;
    else if (a === '--fail-on' || a.startsWith('--fail-on=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[++i];
      if (v === undefined || !(SEVERITIES as readonly string[]).includes(v)) {
        throw new DetectUsageError(`--fail-on: expected one of ${SEVERITIES.join(', ')}, got ${v === undefined ? 'nothing' : `"${v}"`}`);
      }
      out.failOn = v as Severity;
    } else if (a === '-' || !a.startsWith('-')) {
      if (out.file !== undefined) throw new DetectUsageError(`only one input may be given (got "${out.file}" and "${a}")`);
      out.file = a;
    } else throw new DetectUsageError(`unknown option "${a}"`);
  }
  return out;
}

async function write(stream: NodeJS.WritableStream, s: string): Promise<void> {
  if (!stream.write(s)) await once(stream, 'drain');
}

function openInput(file: string | undefined, io: DetectIO): NodeJS.ReadableStream {
  return file === undefined || file === '-' ? io.stdin : createReadStream(file, { encoding: 'utf8' });
}

function parseLine(raw: string, lineNo: number): { id: string; text: string } {
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch {
    throw new DetectInputError(lineNo, '', 'is not valid JSON (expected {"id": string, "text": string})');
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new DetectInputError(lineNo, '', 'must be a JSON object {"id": string, "text": string}');
  const rec = o as Record<string, unknown>;
  if (typeof rec['id'] !== 'string') throw new DetectInputError(lineNo, 'id', `must be a string, got ${rec['id'] === undefined ? 'nothing' : typeof rec['id']}`);
  if (typeof rec['text'] !== 'string') throw new DetectInputError(lineNo, 'text', `must be a string, got ${rec['text'] === undefined ? 'nothing' : typeof rec['text']}`);
  return { id: rec['id'], text: rec['text'] };
}

function lineCol(text: string, offset: number): string {
  let line = 1;
  let last = -1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    last = i;
  }
  return `${line}:${offset - last}`;
}

async function runJsonl(input: NodeJS.ReadableStream, io: DetectIO, failOn: Severity | undefined): Promise<number> {
  const rl = createInterface({ input, crlfDelay: Infinity });
  let lineNo = 0;
  let tripped = false;
  for await (const raw of rl) {
    lineNo++;
    if (raw.trim() === '') continue; // blank lines (e.g. a trailing newline) carry no record
    const { id, text } = parseLine(raw, lineNo);
    const secrets = detectText(text).map((m) => ({ ruleId: m.ruleId, start: m.start, end: m.end, severity: m.severity }));
    if (failOn && secrets.some((s) => atLeast(s.severity, failOn))) tripped = true;
    await write(io.stdout, JSON.stringify({ id, secrets }) + '\n');
  }
  return tripped ? 1 : 0;
}

async function readAll(input: NodeJS.ReadableStream): Promise<string> {
  const chunks: string[] = [];
  for await (const c of input) chunks.push(typeof c === 'string' ? c : Buffer.from(c as Uint8Array).toString('utf8'));
  return chunks.join('');
}

function renderTable(text: string, matches: SecretMatch[]): string {
  if (matches.length === 0) return 'no secrets found\n';
  const rows = matches.map((m) => [m.ruleId, m.severity, lineCol(text, m.start), maskedPreview(text.slice(m.start, m.end))]);
  const headers = ['rule', 'severity', 'line:col', 'preview'];
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]): string => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [fmt(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n') + `\n${matches.length} secret(s) found\n`;
}

export async function runDetect(args: string[], io: DetectIO): Promise<number> {
  let parsed: DetectArgs;
  try {
    parsed = parseArgs(args);
  } catch (e) {
    if (!(e instanceof DetectUsageError)) throw e;
    await write(io.stderr, `detect: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  try {
    // Check the file up front: stream errors surface late (after partial output) and less clearly.
    if (parsed.file !== undefined && parsed.file !== '-' && !(await stat(parsed.file)).isFile()) {
      await write(io.stderr, `detect: ${parsed.file} is not a file\n`);
      return 2;
    }
    const input = openInput(parsed.file, io);
    if (parsed.jsonl) return await runJsonl(input, io, parsed.failOn);
    const text = await readAll(input);
    const matches = detectText(text);
    await write(io.stdout, renderTable(text, matches));
    return parsed.failOn && matches.some((m) => atLeast(m.severity, parsed.failOn as Severity)) ? 1 : 0;
  } catch (e) {
    if (e instanceof DetectInputError) {
      await write(io.stderr, `detect: ${e.message}\n`);
      return 2;
    }
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'EACCES') {
      await write(io.stderr, `detect: cannot read ${parsed.file ?? 'stdin'}: ${code}\n`);
      return 2;
    }
    throw e;
  }
}
