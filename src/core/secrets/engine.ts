/**
 * Secret detector engine (pure). Two entry points:
 * - `detectText(text)`: raw text (run-history JSON as text, definitions, files). Format rules run in
 *   windows around keyword hits; context rules run on `name <sep> value` pairs found around
 *   sensitive name stems (JSON, escaped JSON inside strings, form bodies, headers, connection strings).
 * - `scanValue(tree)`: parsed JSON. Walks the tree, applies `detectText` to string leaves plus the
 *   key path (headers.Authorization, body.client_secret, authentication.password), the Key Vault
 *   GetSecret output shape, HTTP `authentication` objects and JSON encoded inside strings.
 * Results never carry a secret except `SecretHit.value`, which exists only for the caller's fingerprint.
 */
import type { Severity } from '../finding';
import {
  CONTEXT_RULES,
  CONTEXT_STEMS,
  FORMAT_RULES,
  contextRuleFor,
  type Confidence,
  type ContextRule,
  type FormatRule,
} from './rules';
import { enclosingUrl, isPlaceholder, isRunContentLinkUrl, safeDecodeURIComponent, type ValidatorContext } from './validators';

export type { Confidence } from './rules';

export interface SecretMatch {
  ruleId: string;
  /** UTF-16 offsets into the scanned text covering the secret value (not the key name). */
  start: number;
  end: number;
  severity: Severity;
  confidence?: Confidence;
}

export interface SecretHit extends SecretMatch {
  /** JSON path of the string holding the secret, e.g. `$.headers.Authorization`; `(json)` marks JSON parsed from inside a string. */
  path: string;
  /** The secret text, for fingerprinting by the caller ONLY. Never log it, never store it. */
  value: string;
}

export interface DetectOptions {
  /** Rule ids to skip (policy `secrets.disabledRules`). */
  disabledRules?: string[];
}

interface Candidate extends SecretMatch {
  priority: number;
}

// ------------------------------------------------------------------ prefilter (built once)

/**
 * One pass over the text finds every keyword of every rule and every context-name stem. Keywords are
 * reduced to "atoms" so no atom contains another (a rule keyed on `password=` is found through the
 * `pass` atom, then its full keyword is checked at that place): every keyword is seen, none hides
 * behind another.
 *
 * The pass is hand-written, not one regex alternation (which tries ~90 branches at every position):
 * each atom is indexed under rare character pairs ("anchors", see SCAN), so most positions cost half
 * a table lookup and only anchor hits compare the whole atom. ASCII text (the usual JSON) is
 * copied into a reused byte buffer first, which V8 reads about twice as fast as `charCodeAt`.
 */
interface KeywordRules {
  /** Lower-case keyword; a `=` in it also matches after whitespace (`Password =`), as the rule patterns allow. */
  keyword: string;
  /** Where the atom sits inside the keyword. */
  offset: number;
  rules: FormatRule[];
}

interface Atom {
  text: string;
  /** Lower-case char codes of `text`. */
  codes: number[];
  /** A context-name stem (password, secret, token…): the engine looks for a `name = value` pair here. */
  stem: boolean;
  /** Format rules triggered here once their full keyword is confirmed. */
  keywords: KeywordRules[];
}

const ATOMS: Atom[] = (() => {
  const words = new Set<string>(CONTEXT_STEMS.map((s) => s.toLowerCase()));
  for (const r of FORMAT_RULES) for (const k of r.keywords) words.add(k.toLowerCase());
  const all = [...words];
  const canonical = (w: string): string => {
    let best = w;
    for (const o of all) if (o !== w && w.includes(o) && o.length < best.length) best = o;
    return best;
  };
  const atoms = new Map<string, Atom>();
  const get = (t: string): Atom => {
    let a = atoms.get(t);
    if (!a) {
      a = { text: t, codes: [...t].map((c) => c.charCodeAt(0)), stem: false, keywords: [] };
      atoms.set(t, a);
    }
    return a;
  };
  for (const s of CONTEXT_STEMS) get(canonical(s.toLowerCase())).stem = true;
  for (const r of FORMAT_RULES) {
    for (const raw of r.keywords) {
      const keyword = raw.toLowerCase();
      const a = get(canonical(keyword));
      const offset = keyword.indexOf(a.text);
      // keywordAt lets whitespace precede `=`, which must therefore come after the atom.
      if (keyword.slice(0, offset).includes('=')) throw new Error(`secret engine: keyword "${raw}" has "=" before its atom "${a.text}"`);
      let kr = a.keywords.find((x) => x.keyword === keyword && x.offset === offset);
      if (!kr) a.keywords.push((kr = { keyword, offset, rules: [] }));
      if (!kr.rules.includes(r)) kr.rules.push(r);
    }
  }
  for (const a of atoms.values()) {
    // The word scan sees pairs at even offsets only; a trigram always has one of its two pairs there.
    if (a.text.length < 3) throw new Error(`secret engine: keyword "${a.text}" is shorter than 3 characters`);
    if (a.codes.some((c) => c >= 128)) throw new Error(`secret engine: keyword "${a.text}" is not ASCII`);
  }
  return [...atoms.values()];
})();

/**
 * Rough share of a character in run-history JSON and prose. Only used to pick each atom's anchors; a
 * poor guess costs speed, never a missed keyword.
 */
function charShare(c: number): number {
  const ch = String.fromCharCode(c);
  if ('e"'.includes(ch)) return 0.07;
  if ('taoinsr '.includes(ch)) return 0.05;
  if ('hldcu:,'.includes(ch)) return 0.03;
  if (/[0-9]/.test(ch) || 'mfpgwybvk'.includes(ch)) return 0.015;
  if ('./-_\\{}'.includes(ch)) return 0.01;
  return 0.002;
}
/** Frequent English / JSON pairs: their share is several times the product of their characters'. */
const COMMON_PAIRS = new Set(
  'th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io le ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur ca el ta la ns ge ly ei os no pe do su pa ec ac ot di ol tr sh ss ee od ap pp ai cc ab ba da us am ut ho "v \\" ": ", ,"'.split(' '),
);

/** Estimated share of text positions holding the pair (x, y); -1 stands for any character. */
function pairShare(x: number, y: number): number {
  if (x < 0) return charShare(y);
  if (y < 0) return charShare(x);
  const share = charShare(x) * charShare(y);
  return COMMON_PAIRS.has(String.fromCharCode(x, y)) ? share * 4 : share;
}

/** Folds ASCII upper case to lower case; other ASCII maps to itself, bytes ≥ 128 to 0. */
const FOLD = new Uint8Array(256);
for (let c = 0; c < 256; c++) FOLD[c] = c >= 65 && c <= 90 ? c + 32 : c < 128 ? c : 0;

function caseVariants(c: number): number[] {
  return c >= 97 && c <= 122 ? [c, c - 32] : [c];
}

/** Little-endian platforms read byte 2k as the low half of word k. */
const LITTLE_ENDIAN = new Uint16Array(Uint8Array.of(1, 2).buffer)[0] === 0x0201;
/** The 16-bit word two adjacent bytes (x at an even offset, then y) read as. */
function wordOf(x: number, y: number): number {
  return LITTLE_ENDIAN ? x | (y << 8) : (x << 8) | y;
}

/**
 * Anchor tables. The hot loop reads the text two bytes at a time (one 16-bit word at each even
 * offset), so it only sees the pairs starting at even offsets. Each atom is indexed under a rare pair
 * `a[o]a[o+1]` for occurrences where that pair is word-aligned, and under a neighbouring pair
 * (`a[o+1]a[o+2]` or `a[o-1]a[o]`, with "any character" past the atom's ends) for the other parity:
 * every occurrence is seen at exactly one word. wordId[word] names the list of atoms a word can
 * belong to (1-based, 0 = none); entries give each atom's start relative to the word.
 */
const SCAN = (() => {
  interface Word {
    /** First / second character (lower case); -1 = any. */
    x: number;
    y: number;
    /** Atom start minus the word's offset. */
    delta: number;
  }
  const id = (w: Word): string => `${w.x},${w.y}`;
  const used = new Map<string, number>();
  // A word already indexed costs the hot loop nothing more, so a few rounds let atoms share words.
  const cost = (w: Word): number => (used.get(id(w)) ? 0 : pairShare(w.x, w.y));
  const options = (a: number[]): [Word, Word][] => {
    const out: [Word, Word][] = [];
    for (let o = 0; o + 1 < a.length; o++) {
      const aligned: Word = { x: a[o]!, y: a[o + 1]!, delta: -o };
      out.push([aligned, { x: a[o + 1]!, y: o + 2 < a.length ? a[o + 2]! : -1, delta: -o - 1 }]);
      out.push([aligned, { x: o > 0 ? a[o - 1]! : -1, y: a[o]!, delta: -o + 1 }]);
    }
    return out;
  };
  const choice: [Word, Word][] = [];
  const use = (pair: [Word, Word], d: number): void => {
    for (const w of pair) used.set(id(w), (used.get(id(w)) ?? 0) + d);
  };
  for (let round = 0; round < 4; round++) {
    ATOMS.forEach((atom, ai) => {
      if (choice[ai]) use(choice[ai], -1);
      let best: [Word, Word] | undefined;
      let bestCost = Infinity;
      for (const opt of options(atom.codes)) {
        const c = cost(opt[0]) + cost(opt[1]);
        if (c < bestCost) {
          bestCost = c;
          best = opt;
        }
      }
      choice[ai] = best!;
      use(best!, 1);
    });
  }
  // Expand to concrete 16-bit words (both cases of letters, every character for "any").
  const byWord = new Map<number, { atom: number; delta: number }[]>();
  const any = Array.from({ length: 128 }, (_, c) => c);
  ATOMS.forEach((_, ai) => {
    for (const w of choice[ai]!) {
      for (const x of w.x < 0 ? any : caseVariants(w.x)) {
        for (const y of w.y < 0 ? any : caseVariants(w.y)) {
          const word = wordOf(x, y);
          const list = byWord.get(word) ?? [];
          list.push({ atom: ai, delta: w.delta });
          byWord.set(word, list);
        }
      }
    }
  });
  // Words with the same atom list share one id.
  const listIds = new Map<string, number>();
  const lists: { atom: number; delta: number }[][] = [];
  const wordId = new Uint8Array(1 << 16);
  for (const [word, list] of byWord) {
    const k = list.map((e) => `${e.atom}:${e.delta}`).join(' ');
    let lid = listIds.get(k);
    if (lid === undefined) {
      lid = lists.length;
      listIds.set(k, lid);
      lists.push(list);
    }
    if (lid > 254) throw new Error('secret engine: too many keyword anchor lists');
    wordId[word] = lid + 1;
  }
  // Neighbour filter per list: the character after the word (nextOk) or before it (prevOk) must be the
  // one some listed atom has there. Cheap, and it turns away most hits on common pairs.
  const nextOk = new Uint8Array(lists.length * 256);
  const prevOk = new Uint8Array(lists.length * 256);
  lists.forEach((list, lid) => {
    for (const { atom, delta } of list) {
      const a = ATOMS[atom]!.codes;
      const j = -delta; // index in the atom of the word's first character
      if (j + 2 < a.length) for (const c of caseVariants(a[j + 2]!)) nextOk[(lid << 8) | c] = 1;
      else for (const c of caseVariants(a[j - 1]!)) prevOk[(lid << 8) | c] = 1;
    }
  });
  const entryStart = new Int32Array(lists.length + 1);
  const flat = lists.flat();
  let n = 0;
  lists.forEach((list, i) => {
    entryStart[i] = n;
    n += list.length;
  });
  entryStart[lists.length] = n;
  const atomStart = new Int32Array(ATOMS.length);
  const atomLen = new Int32Array(ATOMS.length);
  const codes: number[] = [];
  ATOMS.forEach((a, i) => {
    atomStart[i] = codes.length;
    atomLen[i] = a.codes.length;
    codes.push(...a.codes);
  });
  return {
    wordId,
    nextOk,
    prevOk,
    entryStart,
    entryAtom: Int32Array.from(flat.map((e) => e.atom)),
    entryDelta: Int32Array.from(flat.map((e) => e.delta)),
    atomStart,
    atomLen,
    atomCodes: Uint8Array.from(codes),
  };
})();

interface Hits {
  at: number[];
  atom: Atom[];
  /** False when an atom found at a later word starts before one already reported. */
  sorted: boolean;
}

function pushHit(h: Hits, at: number, atom: Atom): void {
  const k = h.at.length;
  if (k > 0 && at < h.at[k - 1]!) h.sorted = false;
  h.at.push(at);
  h.atom.push(atom);
}

/** Reused text buffer: bytes and the same memory as 16-bit words (its own ArrayBuffer, so aligned). */
let bytes = new Uint8Array(1 << 16);
let words = new Uint16Array(bytes.buffer);
let bytesView = Buffer.from(bytes.buffer);
let candidates = new Int32Array(1024);

/** Every atom occurrence in `text`, sorted by position (occurrences may overlap). Case-insensitive for ASCII letters. */
function scanKeywords(text: string): Hits {
  const h: Hits = { at: [], atom: [], sorted: true };
  const n = text.length;
  if (n < 3) return h;
  // Pure ASCII (UTF-8 length equals UTF-16 length): scan bytes. Anything else: scan char codes.
  if (Buffer.byteLength(text, 'utf8') === n) {
    if (bytes.length < n + 2) {
      bytes = new Uint8Array((Math.max(n + 2, bytes.length * 2) + 1) & ~1);
      words = new Uint16Array(bytes.buffer);
      bytesView = Buffer.from(bytes.buffer);
    }
    bytesView.write(text, 0, n, 'latin1');
    // The last word and the neighbour filter read up to two bytes past the text; 0 is in no atom.
    bytes[n] = 0;
    bytes[n + 1] = 0;
    scanBytes(n, h);
  } else {
    scanChars(text, n, h);
  }
  if (!h.sorted) {
    const order = h.at.map((_, i) => i).sort((x, y) => h.at[x]! - h.at[y]! || x - y);
    return { at: order.map((i) => h.at[i]!), atom: order.map((i) => h.atom[i]!), sorted: true };
  }
  return h;
}

function scanBytes(n: number, h: Hits): void {
  // Hot loop first (word indexes of anchor pairs only), confirmation after, so the hot loop stays small.
  const wordId = SCAN.wordId;
  const w = words;
  const m = (n + 1) >> 1;
  let cand = candidates;
  let k = 0;
  for (let i = 0; i < m; i++) {
    if (wordId[w[i]!] !== 0) {
      if (k === cand.length) {
        const grown = new Int32Array(k * 2);
        grown.set(cand);
        cand = candidates = grown;
      }
      cand[k++] = i;
    }
  }
  const b = bytes;
  const { nextOk, prevOk, entryStart, entryAtom, entryDelta, atomStart, atomLen, atomCodes } = SCAN;
  for (let j = 0; j < k; j++) {
    const i = cand[j]!;
    const id = wordId[w[i]!]! - 1;
    if (nextOk[(id << 8) | b[2 * i + 2]!] === 0 && prevOk[(id << 8) | (i > 0 ? b[2 * i - 1]! : 0)] === 0) continue;
    for (let e = entryStart[id]!; e < entryStart[id + 1]!; e++) {
      const ai = entryAtom[e]!;
      const s = 2 * i + entryDelta[e]!;
      const len = atomLen[ai]!;
      if (s < 0 || s + len > n) continue;
      const cs = atomStart[ai]!;
      let q = 0;
      while (q < len && FOLD[b[s + q]!] === atomCodes[cs + q]) q++;
      if (q === len) pushHit(h, s, ATOMS[ai]!);
    }
  }
}

/** The same search over UTF-16 code units (text with non-ASCII characters). */
function scanChars(text: string, n: number, h: Hits): void {
  const { wordId, entryStart, entryAtom, entryDelta, atomStart, atomLen, atomCodes } = SCAN;
  const fold = (c: number): number => (c < 128 ? FOLD[c]! : 0);
  for (let p = 0; p < n; p += 2) {
    // Non-ASCII reads as 0 (in no atom): a word may still anchor an atom through its other half.
    const c0 = fold(text.charCodeAt(p)) === 0 ? 0 : text.charCodeAt(p);
    const c1 = p + 1 < n && fold(text.charCodeAt(p + 1)) !== 0 ? text.charCodeAt(p + 1) : 0;
    const id = wordId[wordOf(c0, c1)]! - 1;
    if (id < 0) continue;
    for (let e = entryStart[id]!; e < entryStart[id + 1]!; e++) {
      const ai = entryAtom[e]!;
      const s = p + entryDelta[e]!;
      const len = atomLen[ai]!;
      if (s < 0 || s + len > n) continue;
      const cs = atomStart[ai]!;
      let q = 0;
      while (q < len && fold(text.charCodeAt(s + q)) === atomCodes[cs + q]) q++;
      if (q === len) pushHit(h, s, ATOMS[ai]!);
    }
  }
}

/** JS `\s` (what the rule patterns mean by whitespace). */
function isSpace(c: number): boolean {
  return (
    c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
  );
}

/** The full keyword around an atom hit at `at` (case-insensitive; whitespace may precede a `=`). */
function keywordAt(text: string, at: number, kr: KeywordRules): boolean {
  const kw = kr.keyword;
  let i = at - kr.offset;
  if (i < 0) return false;
  for (let j = 0; j < kw.length; j++) {
    const k = kw.charCodeAt(j);
    if (k === 61 /* = */) while (i < text.length && isSpace(text.charCodeAt(i))) i++;
    if (i >= text.length) return false;
    let c = text.charCodeAt(i++);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== k) return false;
  }
  return true;
}

/** How far before / after a keyword hit a rule's match can start / end. */
function windowOf(rule: FormatRule): { before: number; after: number } {
  return rule.window ?? { before: rule.maxLength, after: rule.maxLength };
}

// ------------------------------------------------------------------ format rules

function runFormatRule(rule: FormatRule, text: string, from: number, to: number, out: Candidate[]): void {
  // Slice with one character of margin so 1-char look-behind/ahead see the real neighbours.
  const a = Math.max(0, from - 1);
  const b = Math.min(text.length, to + 1);
  const slice = a === 0 && b === text.length ? text : text.slice(a, b);
  const re = rule.pattern;
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(slice)) !== null) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    let s = m.index;
    let e = m.index + m[0].length;
    if (rule.secretGroup !== undefined) {
      const groups = Array.isArray(rule.secretGroup) ? rule.secretGroup : [rule.secretGroup];
      const idx = m.indices;
      let found = false;
      for (const g of groups) {
        const span = idx?.[g];
        if (span) {
          s = span[0];
          e = span[1];
          found = true;
          break;
        }
      }
      if (!found) continue;
    }
    const absStart = a + s;
    const absEnd = a + e;
    // Matches in the margin belong to a neighbouring window (or lack their real neighbour).
    if ((a > 0 && a + m.index < from) || (b < text.length && a + m.index + m[0].length > to)) continue;
    const value = text.slice(absStart, absEnd);
    const ctx: ValidatorContext = { text, start: absStart, end: absEnd };
    if (!rule.validators.every((v) => v.test(value, ctx))) continue;
    out.push({ ruleId: rule.id, start: absStart, end: absEnd, severity: rule.severity, confidence: rule.confidence, priority: rule.priority });
  }
}

function scanFormats(text: string, hits: Map<FormatRule, number[]>, out: Candidate[]): void {
  for (const [rule, list] of hits) {
    const { before, after } = windowOf(rule);
    // positions arrive in text order from the prefilter scan
    let ws = -1;
    let we = -1;
    for (const p of list) {
      const s = Math.max(0, p - before);
      const e = Math.min(text.length, p + after + 32);
      if (ws >= 0 && s <= we) {
        we = Math.max(we, e);
      } else {
        if (ws >= 0) runFormatRule(rule, text, ws, we, out);
        ws = s;
        we = e;
      }
    }
    if (ws >= 0) runFormatRule(rule, text, ws, we, out);
  }
}

// ------------------------------------------------------------------ context rules in text

function isNameChar(c: number): boolean {
  return (
    (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 /* _ */ || c === 45 /* - */ || c === 46 /* . */ || c === 36 /* $ */
  );
}

/** Evaluates one `name = value` pair; pushes a candidate for the secret span inside the value. */
function evaluatePair(
  rule: ContextRule,
  value: string,
  valueStart: number,
  text: string,
  out: Candidate[],
  decode: boolean,
): void {
  let s = 0;
  let e = value.length;
  if (rule.shape === 'authorization') {
    if (isPlaceholder(value)) return;
    const m = /^([A-Za-z][A-Za-z0-9_-]*)\s+(\S[\s\S]*)$/.exec(value);
    if (m) {
      const scheme = (m[1] ?? '').toLowerCase();
      // Bearer/Basic/SharedAccessSignature have their own format rules (JWT, opaque, basic, SAS).
      if (scheme === 'bearer' || scheme === 'basic' || scheme === 'sharedaccesssignature') return;
      if (/=/.test(m[2] ?? '') && /[;&,]/.test(m[2] ?? '')) return; // parameterised schemes (HMAC, SharedKey…) are rule-specific
      s = value.length - (m[2] ?? '').length;
    }
  }
  const raw = value.slice(s, e).replace(/\s+$/, '');
  e = s + raw.length;
  const v = decode ? safeDecodeURIComponent(raw) : raw;
  const ctx: ValidatorContext = { text, start: valueStart + s, end: valueStart + e };
  if (rule.shape === 'signature' && isRunContentLinkUrl(enclosingUrl(text, valueStart))) return;
  if (!rule.validators.every((val) => val.test(v, ctx))) return;
  out.push({
    ruleId: rule.id,
    start: valueStart + s,
    end: valueStart + e,
    severity: rule.severity,
    confidence: rule.confidence,
    priority: rule.priority,
  });
}

function scanContexts(text: string, stems: number[], disabled: ReadonlySet<string>, out: Candidate[]): void {
  let lastNameStart = -1;
  for (const p of stems) {
    let ns = p;
    while (ns > 0 && isNameChar(text.charCodeAt(ns - 1))) ns--;
    if (ns === lastNameStart) continue; // two stems in one name (passwordKey): one look is enough
    lastNameStart = ns;
    let ne = p + 1;
    while (ne < text.length && isNameChar(text.charCodeAt(ne))) ne++;
    scanPairAt(text, ns, ne, disabled, out);
  }
}

function scanPairAt(text: string, ns: number, ne: number, disabled: ReadonlySet<string>, out: Candidate[]): void {
  const n = text.length;
  let j = ne;
  // closing quote of a quoted key: " or \" or '
  let keyQuoted = false;
  if (text.charCodeAt(j) === 92 /* \ */ && text.charCodeAt(j + 1) === 34) {
    j += 2;
    keyQuoted = true;
  } else if (text.charCodeAt(j) === 34 || text.charCodeAt(j) === 39) {
    j += 1;
    keyQuoted = true;
  }
  while (j < n && (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9)) j++;
  const sep = text.charCodeAt(j);
  if (sep !== 58 /* : */ && sep !== 61 /* = */) return;
  if (sep === 58 && text.charCodeAt(j + 1) === 47 /* :/ → URL scheme */) return;
  if (sep === 61 && text.charCodeAt(j + 1) === 61) return;
  j++;
  while (j < n && (text.charCodeAt(j) === 32 || text.charCodeAt(j) === 9)) j++;
  const before = ns > 0 ? text.charCodeAt(ns - 1) : 0;
  const inQuery = sep === 61 && !keyQuoted && (before === 63 /* ? */ || before === 38 /* & */);
  const name = text.slice(ns, ne);
  // URL query `sig=` belongs to the URL format rules (they know trigger URLs and content links).
  const rule = contextRuleFor(name, inQuery, disabled);
  if (!rule) return;
  if (inQuery && rule.shape === 'signature') return;

  let vs: number;
  let ve: number;
  const c = text.charCodeAt(j);
  if (c === 92 && text.charCodeAt(j + 1) === 34) {
    // escaped JSON inside a string: \"value\"
    vs = j + 2;
    ve = text.indexOf('\\"', vs);
    if (ve < 0) return;
  } else if (c === 34) {
    vs = j + 1;
    ve = vs;
    while (ve < n) {
      const d = text.charCodeAt(ve);
      if (d === 92) {
        ve += 2;
        continue;
      }
      if (d === 34) break;
      ve++;
    }
    if (ve >= n) return;
  } else if (c === 39) {
    vs = j + 1;
    ve = text.indexOf("'", vs);
    if (ve < 0) return;
  } else {
    if (c === 123 /* { */ || c === 91 /* [ */) return;
    vs = j;
    ve = vs;
    const auth = rule.shape === 'authorization';
    while (ve < n) {
      const d = text.charCodeAt(ve);
      // unquoted values end at delimiters; an Authorization value keeps its `scheme SP credential`
      if (d === 34 || d === 39 || d === 60 || d === 62 || d === 59 || d === 10 || d === 13 || d === 92) break;
      if (!auth && (d === 32 || d === 9 || d === 38 || d === 44 || d === 41 || d === 93 || d === 125)) break;
      ve++;
    }
  }
  if (ve - vs > 20000 || ve <= vs) return;
  evaluatePair(rule, text.slice(vs, ve), vs, text, out, inQuery || (!keyQuoted && sep === 61));
}

// ------------------------------------------------------------------ overlap resolution

/** Sorted by start, non-overlapping; within overlapping clusters the higher priority (then longer) wins. */
function resolve(cands: Candidate[]): SecretMatch[] {
  if (cands.length === 0) return [];
  cands.sort((x, y) => x.start - y.start || y.end - x.end);
  const result: SecretMatch[] = [];
  let cluster: Candidate[] = [];
  let clusterEnd = -1;
  const flush = (): void => {
    if (cluster.length === 0) return;
    const ranked = [...cluster].sort((x, y) => y.priority - x.priority || y.end - y.start - (x.end - x.start) || x.start - y.start);
    const kept: Candidate[] = [];
    for (const c of ranked) {
      if (kept.every((k) => c.end <= k.start || c.start >= k.end)) kept.push(c);
    }
    kept.sort((x, y) => x.start - y.start);
    for (const k of kept) {
      const m: SecretMatch = { ruleId: k.ruleId, start: k.start, end: k.end, severity: k.severity };
      if (k.confidence) m.confidence = k.confidence;
      result.push(m);
    }
    cluster = [];
  };
  for (const c of cands) {
    if (c.start >= clusterEnd) {
      flush();
      clusterEnd = c.end;
    } else {
      clusterEnd = Math.max(clusterEnd, c.end);
    }
    cluster.push(c);
  }
  flush();
  return result;
}

function detectCandidates(text: string, disabled: ReadonlySet<string>): Candidate[] {
  const out: Candidate[] = [];
  if (text.length < 6) return out;
  const found = scanKeywords(text);
  if (found.at.length === 0) return out;
  // Per rule, keyword positions in text order; rules in order of their first hit.
  const hits = new Map<FormatRule, number[]>();
  const stems: number[] = [];
  for (let i = 0; i < found.at.length; i++) {
    const at = found.at[i]!;
    const atom = found.atom[i]!;
    if (atom.stem) stems.push(at);
    for (const kr of atom.keywords) {
      if (!keywordAt(text, at, kr)) continue;
      for (const r of kr.rules) {
        if (disabled.has(r.id) || (r.atHit !== undefined && !r.atHit(text, at))) continue;
        const list = hits.get(r);
        if (!list) hits.set(r, [at]);
        else if (list[list.length - 1] !== at) list.push(at);
      }
    }
  }
  if (hits.size > 0) scanFormats(text, hits, out);
  if (stems.length > 0) scanContexts(text, stems, disabled, out);
  return out;
}

/**
 * Secrets in `text`: sorted by start, non-overlapping (the most specific rule wins), offsets in UTF-16
 * code units covering only the secret value.
 */
export function detectText(text: string, options?: DetectOptions): SecretMatch[] {
  if (typeof text !== 'string') throw new TypeError('detectText: text must be a string');
  const disabled = new Set(options?.disabledRules ?? []);
  return resolve(detectCandidates(text, disabled));
}

// ------------------------------------------------------------------ scanValue (parsed JSON)

const KV_RULE = FORMAT_RULES.find((r) => r.id === 'secret.keyvault-secret-value');
const AUTH_RULE = FORMAT_RULES.find((r) => r.id === 'secret.http-authentication-value');

function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}['${key.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}']`;
}

interface LeafFlags {
  /** The string is the `value` of a Key Vault GetSecret output. */
  keyVaultValue?: boolean;
  /** The string is a credential field of an HTTP action `authentication` object. */
  authValue?: boolean;
  /** The string is a run-history content link URI (inputsLink/outputsLink): platform link, not a finding. */
  contentLink?: boolean;
}

const BINARY_CONTENT = /^(?:image|audio|video|font)\/|^application\/(?:pdf|zip|octet-stream|x-zip|vnd\.|msword|gzip|x-7z|x-tar)/i;
const MAX_DEPTH = 64;

function isKeyVaultSecretBundle(o: Record<string, unknown>): boolean {
  return (
    typeof o['value'] === 'string' &&
    typeof o['version'] === 'string' &&
    /^[0-9a-f]{32}$/i.test(o['version']) &&
    ('name' in o || 'contentType' in o || 'isEnabled' in o || 'createdTime' in o)
  );
}

function scanLeaf(s: string, path: string, key: string | undefined, flags: LeafFlags, disabled: ReadonlySet<string>, out: SecretHit[], depth: number): void {
  if (flags.contentLink || s.length < 6) return;
  const t = s.trimStart();
  if ((t.startsWith('{') || t.startsWith('[')) && depth < MAX_DEPTH) {
    try {
      const parsed: unknown = JSON.parse(s);
      if (parsed !== null && typeof parsed === 'object') {
        walk(parsed, `${path}(json)`, undefined, {}, disabled, out, depth + 1);
        return;
      }
    } catch {
      // not JSON after all: scan it as text below
    }
  }
  const cands = detectCandidates(s, disabled);
  if (key !== undefined) {
    const rule = contextRuleFor(key, false, disabled);
    if (rule) evaluatePair(rule, s, 0, s, cands, false);
  }
  if (flags.keyVaultValue && KV_RULE && !disabled.has(KV_RULE.id) && !isPlaceholder(s)) {
    cands.push({ ruleId: KV_RULE.id, start: 0, end: s.length, severity: KV_RULE.severity, confidence: KV_RULE.confidence, priority: KV_RULE.priority });
  }
  if (flags.authValue && AUTH_RULE && !disabled.has(AUTH_RULE.id) && s.length >= 8 && !isPlaceholder(s)) {
    cands.push({ ruleId: AUTH_RULE.id, start: 0, end: s.length, severity: AUTH_RULE.severity, confidence: AUTH_RULE.confidence, priority: AUTH_RULE.priority });
  }
  for (const m of resolve(cands)) out.push({ ...m, path, value: s.slice(m.start, m.end) });
}

function walk(node: unknown, path: string, key: string | undefined, flags: LeafFlags, disabled: ReadonlySet<string>, out: SecretHit[], depth: number): void {
  if (depth > MAX_DEPTH) return;
  if (typeof node === 'string') {
    scanLeaf(node, path, key, flags, disabled, out, depth);
    return;
  }
  if (Array.isArray(node)) {
    node.forEach((item, i) => walk(item, childPath(path, i), key, {}, disabled, out, depth + 1));
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const o = node as Record<string, unknown>;
  const kv = isKeyVaultSecretBundle(o);
  const binaryContent = typeof o['$content-type'] === 'string' && BINARY_CONTENT.test(o['$content-type']);
  for (const [k, v] of Object.entries(o)) {
    const f: LeafFlags = {};
    if (kv && k === 'value') f.keyVaultValue = true;
    if (key === 'authentication' && (k === 'value' || k === 'pfx')) f.authValue = true;
    if ((key === 'inputsLink' || key === 'outputsLink') && k === 'uri') f.contentLink = true;
    if (binaryContent && k === '$content') continue; // base64 file content (images, PDFs…)
    walk(v, childPath(path, k), k, f, disabled, out, depth + 1);
  }
}

/**
 * Secrets in a parsed JSON value (run inputs/outputs, flow definitions). Each hit names the JSON path
 * of the string that holds it; `start`/`end` index into that string.
 */
export function scanValue(value: unknown, options?: DetectOptions): SecretHit[] {
  const disabled = new Set(options?.disabledRules ?? []);
  const out: SecretHit[] = [];
  walk(value, '$', undefined, {}, disabled, out, 0);
  return out;
}

/** Every rule id the engine can emit (format + context rules). */
export function engineRuleIds(): string[] {
  return [...FORMAT_RULES.map((r) => r.id), ...CONTEXT_RULES.map((r) => r.id)];
}
