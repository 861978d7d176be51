/**
 * Value checks shared by the format and context rule tables. Pure string functions, no I/O.
 * Each validator is a named predicate so a rule row can list them as data.
 */

/** Where a candidate sits; validators that look at the surroundings (content links, URLs) use it. */
export interface ValidatorContext {
  /** The whole text being scanned. */
  text: string;
  /** Span of the candidate secret in `text`. */
  start: number;
  end: number;
}

export interface Validator {
  name: string;
  test(value: string, ctx: ValidatorContext): boolean;
}

export function validator(name: string, test: (value: string, ctx: ValidatorContext) => boolean): Validator {
  return { name, test };
}

// ------------------------------------------------------------------ measures

/** Per-code-unit counts, reset after each call; `order` keeps first occurrences (the summation order). */
const ENTROPY_COUNTS = new Int32Array(65536);
const ENTROPY_ORDER: number[] = [];

/** Shannon entropy in bits per character (code point). */
export function shannonEntropy(s: string): number {
  if (s.length === 0) return 0;
  const counts = ENTROPY_COUNTS;
  const order = ENTROPY_ORDER;
  order.length = 0;
  let surrogate = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) surrogate = true;
    if (counts[c] === 0) order.push(c);
    counts[c] = (counts[c] as number) + 1;
  }
  let h = 0;
  // Sum in first-occurrence order, as a Map over the characters would, so results are bit-identical.
  for (const c of order) {
    const p = counts[c]! / s.length;
    h -= p * Math.log2(p);
    counts[c] = 0;
  }
  return surrogate ? shannonEntropyCodePoints(s) : h;
}

/** Text with surrogate pairs: count code points, as `for…of` iterates them. */
function shannonEntropyCodePoints(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) {
    const p = c / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

export const GUID_RE = /^\{?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}?$/;

/** Percent-decoding that never throws (a stray % stays as is). */
export function safeDecodeURIComponent(s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Decodes standard or URL-safe base64 (padding optional); undefined when `s` is not base64. */
export function decodeBase64(s: string): Buffer | undefined {
  if (s.length < 4 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(s)) return undefined;
  const unpadded = s.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) return undefined;
  return Buffer.from(unpadded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** True when the bytes are readable text (printable ASCII / whitespace), e.g. base64 of a sentence. */
export function isPrintableText(b: Buffer): boolean {
  if (b.length === 0) return false;
  for (const c of b) {
    if (!(c === 9 || c === 10 || c === 13 || (c >= 32 && c < 127))) return false;
  }
  return true;
}

// ------------------------------------------------------------------ placeholder discipline

const PLACEHOLDER_WORDS = new Set([
  'password', 'passwd', 'secret', 'token', 'apikey', 'api_key', 'api-key', 'key', 'value', 'string', 'changeme',
  'change_me', 'changeit', 'example', 'sample', 'dummy', 'fake', 'test', 'testing', 'placeholder', 'todo', 'none',
  'null', 'nil', 'undefined', 'true', 'false', 'redacted', 'hidden', 'masked', 'removed', 'n/a', 'na', 'tbd',
  'secure', 'securestring', 'unknown', 'pass', 'pwd', 'user', 'username', 'admin:admin', 'default', 'empty', 'notset', 'not_set', 'not-set', 'xxx', 'sensitive',
]);

/**
 * Placeholders, masked values and workflow expressions: none of them is a usable credential.
 * `${x}`, `{x}`, `<x>`, `[x]`, `%X%`, `$X`, `@{…}`, `@parameters(…)`, `***`, `REDACTED`, `YOUR_API_KEY`, runs of x…
 */
export function isPlaceholder(raw: string): boolean {
  const s = raw.trim();
  if (s.length === 0) return true;
  if (PLACEHOLDER_WORDS.has(s.toLowerCase())) return true;
  // Masking: only mask characters, or a run of them inside.
  if (/^[*•#.·_\-\s]+$/.test(s)) return true;
  if (/\*{3,}|#{4,}|•{3,}|\.{3,}|…/.test(s)) return true;
  if (/redacted|\bmasked\b|\[hidden\]|\[removed\]|<removed>|\bsecure ?string\b/i.test(s)) return true;
  // Workflow expressions (Logic Apps / Power Automate) and template syntaxes.
  if (/@\{|@[A-Za-z_][A-Za-z0-9_]*\(|\$\{|\{\{|\}\}|<%|%>|\$\(/.test(s)) return true;
  if (/^%[A-Za-z_][A-Za-z0-9_]*%$/.test(s)) return true;
  if (/^\$[A-Za-z_][A-Za-z0-9_]*$/.test(s)) return true;
  if (/^(?:process\.env|os\.environ|env|secrets|vars|variables|parameters|settings|config)[.[]/i.test(s)) return true;
  // Wrapped names: {your-key}, <token>, [Shared Access key goes here], (secret)
  if (/^[<{[(].{0,80}[>}\])]$/.test(s) && /[A-Za-z]/.test(s)) return true;
  if (/^(?:your|my|enter|insert|replace|put|add|paste|some)[-_ ]/i.test(s)) return true;
  if (/goes[-_ ]here|[-_ ]here$|^here[-_ ]/i.test(s)) return true;
  // YOUR_API_KEY, SECRET_VALUE, API-KEY-HERE
  if (/^[A-Z0-9]+(?:[-_][A-Z0-9]+)+$/.test(s) && /YOUR|KEY|PASSWORD|TOKEN|SECRET|HERE|XXX|CHANGE|EXAMPLE|PLACEHOLDER|INSERT|VALUE|NAME/.test(s)) return true;
  // Conventional filler: runs of x, or one character repeated for the whole value.
  if (/x{6,}|X{6,}/.test(s)) return true;
  if (s.length >= 6 && /^(.)\1+$/.test(s)) return true;
  // Documented examples (AWS …EXAMPLE, emulator keys) and descriptive filler (storageaccountkeybase64encoded).
  if (/EXAMPLE/.test(s) || DOCUMENTED_KEYS.has(s)) return true;
  if (/^[a-z0-9_-]+$/.test(s) && (s.match(FILLER_WORDS) ?? []).length >= 2) return true;
  return false;
}

const FILLER_WORDS = /account|storage|secret|password|token|example|sample|base64|encoded|your|key|value|here|placeholder|dummy|fake|test/g;

/** Well-known public keys that are documented and not secret (emulators). */
export const DOCUMENTED_KEYS = new Set([
  // Azurite / Azure Storage Emulator account key for devstoreaccount1 (documented by Microsoft).
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==',
  // Azure Cosmos DB emulator key (documented by Microsoft).
  'C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==',
]);

/** Code-like text that names a secret rather than holding one: `get_secret()`, `request.headers[…]`, `a.b.c`. */
export function looksLikeCode(s: string): boolean {
  if (/^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*\s*[([]/.test(s)) return true;
  if (/^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*){1,}$/.test(s) && !/\d/.test(s.replace(/\.\w*$/, ''))) return true;
  return false;
}

/** File names and paths are not secrets (`s_rsa1024_priv.pem`, `/etc/ssl/key.pem`). */
export function looksLikeFileName(s: string): boolean {
  return /^[\w./\\-]+\.(?:pem|key|pfx|p12|crt|cer|der|txt|json|ya?ml|xml|cfg|conf|config|ini|env|properties|jks|ppk|pub)$/i.test(s);
}

// ------------------------------------------------------------------ reusable validators

export const notPlaceholder = validator('not-placeholder', (v) => !isPlaceholder(v));
export const notDocumentedKey = validator('not-documented-key', (v) => !DOCUMENTED_KEYS.has(v));
export const minLength = (n: number): Validator => validator(`min-length:${n}`, (v) => v.length >= n);
export const entropyAtLeast = (bits: number): Validator =>
  validator(`entropy>=${bits}`, (v) => shannonEntropy(v) >= bits);

/** A base64 / base64url HMAC-SHA256 signature (32 bytes) after URL decoding: SAS and Logic Apps `sig`. */
export function isSignature32(raw: string): boolean {
  const v = safeDecodeURIComponent(raw);
  // HMAC-SHA256 is 43/44 base64 chars; some issuers pad or wrap differently, so allow a band around it.
  if (!/^[A-Za-z0-9+/_-]{40,90}={0,2}$/.test(v)) return false;
  return shannonEntropy(v) >= 3.5 && !isPlaceholder(v);
}

/** Basic credentials: base64 of `user:password` with printable text and a non-empty secret part. */
export function isBasicCredential(raw: string): boolean {
  const b = decodeBase64(raw);
  if (!b || !isPrintableText(b)) return false;
  const s = b.toString('latin1');
  const i = s.indexOf(':');
  if (i < 0) return false;
  const pass = s.slice(i + 1);
  return pass.length >= 3 && !isPlaceholder(pass);
}

/** JWT header decodes to JSON with an `alg`, and the token is signed (non-empty third part). */
export function isSignedJwt(raw: string): boolean {
  const parts = raw.split('.');
  if (parts.length !== 3 || !parts[2]) return false;
  const h = decodeBase64(parts[0] ?? '');
  if (!h) return false;
  try {
    const header = JSON.parse(h.toString('utf8')) as { alg?: unknown };
    return typeof header.alg === 'string' && header.alg.toLowerCase() !== 'none';
  } catch {
    return false;
  }
}

/**
 * The run-history platform's own content links (`inputsLink` / `outputsLink`): a Logic Apps URL
 * whose path goes through `/runs/<id>/…/contents/`. Its `sig` only reads that one run's content.
 */
export function isRunContentLinkUrl(url: string): boolean {
  // Several rules ask about the same URL in a row (one memo: the last answer).
  if (url === lastLinkUrl) return lastLinkAnswer;
  lastLinkUrl = url;
  lastLinkAnswer = /\/runs\/[^/?#\s"']+\/(?:[^?#\s"']*\/)?contents\//i.test(url);
  return lastLinkAnswer;
}
let lastLinkUrl: string | undefined;
let lastLinkAnswer = false;

const URL_DELIMITER = /["'<>\\\x00-\x20]/g;

/** The same delimiters as a byte table. */
const URL_DELIMITER_BYTE = new Uint8Array(256);
for (let c = 0; c <= 32; c++) URL_DELIMITER_BYTE[c] = 1;
for (const c of [34, 39, 60, 62, 92]) URL_DELIMITER_BYTE[c] = 1;

/**
 * The ASCII bytes of the text the engine is scanning right now (one `detectText` call), when it has
 * them: URL lookups then walk bytes, several times faster than `charCodeAt` or native searches here.
 */
const textBytes: { text: string | undefined; bytes: Uint8Array } = { text: undefined, bytes: new Uint8Array(0) };

/** The engine lends the bytes of `text` (Latin-1 = UTF-16 units, ASCII only) until `forgetTextBytes`. */
export function lendTextBytes(text: string, bytes: Uint8Array): void {
  textBytes.text = text;
  textBytes.bytes = bytes;
}

export function forgetTextBytes(): void {
  textBytes.text = undefined;
  textBytes.bytes = new Uint8Array(0);
}

/** Characters URL userinfo cannot hold: ASCII whitespace and " # ' / < > ? \\ (as bytes). */
const USERINFO_STOP = new Uint8Array(256);
for (const c of [9, 10, 11, 12, 13, 32, 34, 35, 39, 47, 60, 62, 63, 92]) USERINFO_STOP[c] = 1;
/** The same as a sticky regex (any whitespace stops it, as the URL rule's own pattern would). */
const USERINFO_AT = /[^\s"#'/<>?\\@]{0,385}@/y;

/**
 * Whether `@` follows `from` within 386 characters, before a character URL userinfo cannot hold: the
 * cheap test that a `scheme://` may carry `user:password@`.
 */
export function userinfoAtFollows(text: string, from: number): boolean {
  if (textBytes.text === text) {
    const b = textBytes.bytes;
    const end = Math.min(text.length, from + 386);
    for (let i = from; i < end; i++) {
      const c = b[i]!;
      if (c === 64) return true;
      if (USERINFO_STOP[c] !== 0) return false;
    }
    return false;
  }
  USERINFO_AT.lastIndex = from;
  return USERINFO_AT.test(text);
}

function enclosingUrlInBytes(text: string, b: Uint8Array, at: number): string {
  const lo = Math.max(0, at - 2048);
  const hi = Math.min(text.length, at + 2048);
  let i = at;
  while (i > lo && URL_DELIMITER_BYTE[b[i - 1]!] === 0) i--;
  let j = at;
  while (j < hi && URL_DELIMITER_BYTE[b[j]!] === 0) j++;
  return rememberUrl(text, i, j, lo, hi);
}

/** Last enclosingUrl span, reused while a later position falls inside it (same text object). */
const urlMemo = { text: undefined as string | undefined, start: 0, end: 0, url: '' };

/**
 * The URL that contains position `at` in `text` (from the scheme back to a delimiter), or ''.
 * Used by the URL rules to look at the path around a `sig=`.
 */
export function enclosingUrl(text: string, at: number): string {
  if (urlMemo.text === text && at >= urlMemo.start && at <= urlMemo.end) return urlMemo.url;
  if (textBytes.text === text) return enclosingUrlInBytes(text, textBytes.bytes, at);
  // Delimiters: quote, whitespace / control, < > or backslash (JSON escape). Native searches, not a
  // character loop: start after the last delimiter before `at` (looking back at most 2048), end at
  // the first one from `at` (looking ahead at most 2048).
  const lo = Math.max(0, at - 2048);
  const hi = Math.min(text.length, at + 2048);
  let i = lo;
  if (at > 0) {
    const quote = text.lastIndexOf('"', at - 1);
    if (quote >= lo) i = quote + 1;
  } else {
    i = 0;
  }
  // test() instead of exec(): no match object; lastIndex lands just past the delimiter found.
  URL_DELIMITER.lastIndex = i;
  let found = URL_DELIMITER.test(text);
  while (found && URL_DELIMITER.lastIndex - 1 < at) {
    i = URL_DELIMITER.lastIndex;
    found = URL_DELIMITER.test(text);
  }
  let j = hi;
  if (found && URL_DELIMITER.lastIndex - 1 < hi) j = URL_DELIMITER.lastIndex - 1;
  return rememberUrl(text, i, j, lo, hi);
}

function rememberUrl(text: string, i: number, j: number, lo: number, hi: number): string {
  const url = text.slice(i, j);
  // Only a span bounded by delimiters (or the text's ends), and short enough that the 2048 limit
  // cannot cut it from any position inside, is the answer for every position inside it.
  const bounded = (i === 0 || i > lo) && (j === text.length || j < hi) && j - i <= 2048;
  if (bounded) {
    urlMemo.text = text;
    urlMemo.start = i;
    urlMemo.end = j;
    urlMemo.url = url;
  }
  return url;
}

/** True when the JSON key just before the URL containing `at` is inputsLink/outputsLink (…`"uri":"`). */
export function insideContentLinkObject(text: string, at: number): boolean {
  const url = enclosingUrl(text, at);
  const urlStart = text.lastIndexOf(url, at);
  const before = text.slice(Math.max(0, urlStart - 80), Math.max(0, urlStart));
  return /"(?:inputs|outputs)Link"\s*:\s*\{\s*"uri"\s*:\s*\\?"?$/i.test(before);
}
