import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { EmailMessage, EmailSender, EmailSendOptions, RequestOptions } from '../ports';

/**
 * An EmailSender that writes each message as an RFC 5322 .eml file (multipart/alternative, text + HTML)
 * to a folder: the demo's and local runs' outbox. The file name comes from the message's dedupe key,
 * so sending the same alert again overwrites its file instead of adding a duplicate.
 */
export class OutboxEmailSender implements EmailSender {
  constructor(
    private readonly dir: string,
    private readonly from = 'flowwarden@flowwarden.local',
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /** The path a message with this dedupe key is written to. */
  fileFor(key: string): string {
    return path.join(this.dir, `${safeName(key)}.eml`);
  }

  async send(msg: EmailMessage, options: EmailSendOptions = {}): Promise<{ operationId: string; status: string }> {
    const key = options.dedupeKey ?? 'msg-' + createHash('sha256').update(msg.to.join(',')).update('\u0000').update(msg.subject).update('\u0000').update(msg.text).digest('hex').slice(0, 24);
    await fs.mkdir(this.dir, { recursive: true });
    const file = this.fileFor(key);
    const tmp = `${file}.${process.pid}.tmp`;
    // Write then rename: a crash never leaves a half-written .eml behind.
    const operationId = options.operationId ?? `outbox:${safeName(key)}`;
    await fs.writeFile(tmp, toEml(msg, { from: this.from, date: this.clock(), messageId: `${safeName(key)}@flowwarden.local`, operationId }), 'utf8');
    await fs.rename(tmp, file);
    return { operationId, status: 'Succeeded' };
  }

  /** Succeeded when an .eml in the folder carries this operation id (X-Flowwarden-Operation-Id). */
  async getStatus(operationId: string, _options?: RequestOptions): Promise<{ status: string }> {
    const m = /^outbox:(.+)$/.exec(operationId);
    if (m) return (await exists(this.fileFor(m[1]!))) ? { status: 'Succeeded' } : { status: 'NotFound' };
    let names: string[];
    try {
      names = (await fs.readdir(this.dir)).filter((n) => n.endsWith('.eml'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'NotFound' };
      throw e;
    }
    const needle = `X-Flowwarden-Operation-Id: ${operationId}\r\n`;
    for (const n of names) {
      const head = (await fs.readFile(path.join(this.dir, n), 'utf8')).split('\r\n\r\n', 1)[0]! + '\r\n';
      if (head.includes(needle)) return { status: 'Succeeded' };
    }
    return { status: 'NotFound' };
  }
}

/** Sends through every configured sender (ACS and the outbox); the first one's result is the result. */
export class CompositeEmailSender implements EmailSender {
  constructor(private readonly senders: EmailSender[]) {
    if (!senders.length) throw new Error('CompositeEmailSender: at least one sender is required');
  }

  async send(msg: EmailMessage, options?: EmailSendOptions): Promise<{ operationId: string; status: string }> {
    const [first, ...rest] = this.senders;
    const result = await first!.send(msg, options);
    for (const s of rest) await s.send(msg, options);
    return result;
  }

  async getStatus(operationId: string, options?: RequestOptions): Promise<{ status: string }> {
    const first = this.senders[0]!;
    if (first.getStatus) return first.getStatus(operationId, options);
    return { status: 'NotFound' };
  }
}

function safeName(key: string): string {
  return key.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 120);
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 5322 date-time in UTC, e.g. `Thu, 02 Jan 2025 03:04:05 +0000`. */
export function rfc5322Date(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getUTCDay()]}, ${p(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/**
 * A header value: CR/LF never pass through; non-ASCII becomes RFC 2047 encoded-words; long values are
 * folded (RFC 5322 §2.2.3) so no line exceeds 78 characters.
 */
function headerValue(s: string, nameLength = 0): string {
  // eslint-disable-next-line no-control-regex
  const clean = s.replace(/[\r\n\u0000-\u001f]+/g, ' ');
  // eslint-disable-next-line no-control-regex
  const words = /^[\x20-\x7e]*$/.test(clean) ? clean.split(' ') : encodedWords(clean);
  const lines: string[] = [];
  let cur = '';
  let budget = 78 - nameLength - 2;
  for (const w of words) {
    if (cur && cur.length + 1 + w.length > budget) {
      lines.push(cur);
      cur = w;
      budget = 77;
    } else cur = cur ? `${cur} ${w}` : w;
  }
  lines.push(cur);
  return lines.join('\r\n ');
}

/** UTF-8 base64 encoded-words of at most 39 bytes each (whole characters only). */
function encodedWords(s: string): string[] {
  const out: string[] = [];
  let chunk = '';
  for (const ch of s) {
    if (Buffer.byteLength(chunk + ch, 'utf8') > 39) {
      out.push(`=?UTF-8?B?${Buffer.from(chunk, 'utf8').toString('base64')}?=`);
      chunk = '';
    }
    chunk += ch;
  }
  if (chunk) out.push(`=?UTF-8?B?${Buffer.from(chunk, 'utf8').toString('base64')}?=`);
  return out;
}

function address(a: string): string {
  if (!/^[^\s<>@,;"]+@[^\s<>@,;"]+$/.test(a)) throw new Error(`outbox: invalid email address in to/from: ${JSON.stringify(a.slice(0, 80))}`);
  return a;
}

/** Quoted-printable (RFC 2045 §6.7) over UTF-8, CRLF line ends, soft breaks at 76 columns. */
export function quotedPrintable(text: string): string {
  const out: string[] = [];
  for (const line of text.replace(/\r\n?/g, '\n').split('\n')) {
    const bytes = Buffer.from(line, 'utf8');
    let cur = '';
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      const last = i === bytes.length - 1;
      let enc: string;
      if ((b === 0x20 || b === 0x09) && last) enc = '=' + b.toString(16).toUpperCase().padStart(2, '0');
      else if ((b >= 33 && b <= 126 && b !== 61) || b === 0x20 || b === 0x09) enc = String.fromCharCode(b);
      else enc = '=' + b.toString(16).toUpperCase().padStart(2, '0');
      if (cur.length + enc.length > 75) {
        out.push(cur + '=');
        cur = '';
      }
      cur += enc;
    }
    out.push(cur);
  }
  return out.join('\r\n');
}

/** Decode quoted-printable back to text (tests and tooling read the outbox with it). */
export function decodeQuotedPrintable(qp: string): string {
  const joined = qp.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const c = joined[i]!;
    if (c === '=' && /^[0-9A-F]{2}$/i.test(joined.slice(i + 1, i + 3))) {
      bytes.push(parseInt(joined.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(c, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8').replace(/\r\n/g, '\n');
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

export function toEml(msg: EmailMessage, meta: { from: string; date: Date; messageId: string; operationId?: string }): string {
  const boundary = `fw-${createHash('sha256').update(meta.messageId).digest('hex').slice(0, 24)}`;
  const lines = [
    `From: ${address(meta.from)}`,
    `To: ${headerValue(msg.to.map(address).join(', '), 'To'.length)}`,
    `Subject: ${headerValue(msg.subject, 'Subject'.length)}`,
    `Date: ${rfc5322Date(meta.date)}`,
    `Message-ID: <${meta.messageId}>`,
    'MIME-Version: 1.0',
    'Auto-Submitted: auto-generated',
    ...(meta.operationId ? [`X-Flowwarden-Operation-Id: ${headerValue(meta.operationId)}`] : []),
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    quotedPrintable(msg.text),
    `--${boundary}`,
    'Content-Type: text/html; charset=utf-8',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    quotedPrintable(msg.html),
    `--${boundary}--`,
    '',
  ];
  return lines.join('\r\n');
}
