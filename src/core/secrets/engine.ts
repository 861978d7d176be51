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
 * each atom is indexed under its least common character pair ("anchor"), so most positions cost
 * one table lookup and only anchor hits compare the whole atom. ASCII text (the usual JSON) is
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
    if (a.text.length < 2) throw new Error(`secret engine: keyword "${a.text}" is shorter than 2 characters`);
    if (a.codes.some((c) => c >= 128)) throw new Error(`secret engine: keyword "${a.text}" is not ASCII`);
  }
  return [...atoms.values()];
})();

/**
 * How common a character is in run-history JSON and prose (higher = more common). Only used to pick
 * each atom's anchor; a poor guess costs speed, never a missed keyword.
 */
function commonness(c: number): number {
  const ch = String.fromCharCode(c);
  if ('etaoinsrhldcu "'.includes(ch)) return 10;
  if (/[0-9:,]/.test(ch)) return 8;
  if ('mfpgwybvk./-_=\\'.includes(ch)) return 4;
  return 1;
}
const COMMON_PAIRS = new Set(
  'th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io le ve co me de hi ri ro ic ne ea ra ce li ch ll be ma si om ur ca el ta la ns ge ly ei os no pe do su pa ec ac ot di ol tr sh ss ee od ap pp ai cc ab ba da ta "v \\"'.split(' '),
);

/** Cost of scanning for the pair at `o` (what the hot loop sees), then of the character after it. */
function anchorCost(codes: number[], o: number, withThird: boolean): number {
  const a = codes[o]!;
  const b = codes[o + 1]!;
  let pair = commonness(a) * commonness(b);
  if (COMMON_PAIRS.has(String.fromCharCode(a, b))) pair *= 4;
  return pair * 16 + (withThird ? commonness(codes[o + 2]!) : 0);
}

/** Folds ASCII upper case to lower case; other ASCII maps to itself, bytes ≥ 128 to 0. */
const FOLD = new Uint8Array(256);
for (let c = 0; c < 256; c++) FOLD[c] = c >= 65 && c <= 90 ? c + 32 : c < 128 ? c : 0;

function caseVariants(c: number): number[] {
  return c >= 97 && c <= 122 ? [c, c - 32] : [c];
}

/**
 * Anchor tables. Each atom is indexed under its least common three characters (two for a 2-char atom):
 * PAIR_ID[(c0 << 8) | c1] names the anchor pair (1-based, 0 = none), THIRD[(id - 1) << 8 | c2] says
 * whether the next character can continue an anchor of that pair, and ENTRY_* list the atoms
 * (with the anchor's offset inside them) to compare in full. Flat typed arrays keep the hot loops cheap.
 */
const SCAN = (() => {
  const pairIds = new Map<number, number>();
  const third: number[][] = [];
  const entries: { atom: number; offset: number }[][] = [];
  ATOMS.forEach((atom, ai) => {
    const len = atom.codes.length >= 3 ? 3 : 2;
    let best = 0;
    let bestCost = Infinity;
    for (let o = 0; o + len <= atom.codes.length; o++) {
      const cost = anchorCost(atom.codes, o, len === 3);
      if (cost < bestCost) {
        bestCost = cost;
        best = o;
      }
    }
    const key = (atom.codes[best]! << 8) | atom.codes[best + 1]!;
    let id = pairIds.get(key);
    if (id === undefined) {
      id = pairIds.size;
      pairIds.set(key, id);
      third.push(new Array<number>(256).fill(0));
      entries.push([]);
    }
    const t = third[id]!;
    if (len === 2) t.fill(1);
    else for (const c of caseVariants(atom.codes[best + 2]!)) t[c] = 1;
    entries[id]!.push({ atom: ai, offset: best });
  });
  if (pairIds.size > 254) throw new Error('secret engine: too many keyword anchors');
  const pairId = new Uint8Array(1 << 16);
  for (const [key, id] of pairIds) {
    for (const x of caseVariants(key >> 8)) for (const y of caseVariants(key & 255)) pairId[(x << 8) | y] = id + 1;
  }
  const thirdOk = new Uint8Array(pairIds.size * 256);
  third.forEach((t, id) => thirdOk.set(t, id * 256));
  const entryStart = new Int32Array(pairIds.size + 1);
  const flat = entries.flat();
  let k = 0;
  entries.forEach((list, id) => {
    entryStart[id] = k;
    k += list.length;
  });
  entryStart[pairIds.size] = k;
  const atomStart = new Int32Array(ATOMS.length);
  const atomLen = new Int32Array(ATOMS.length);
  const codes: number[] = [];
  ATOMS.forEach((a, i) => {
    atomStart[i] = codes.length;
    atomLen[i] = a.codes.length;
    codes.push(...a.codes);
  });
  return {
    pairId,
    thirdOk,
    entryStart,
    entryAtom: Int32Array.from(flat.map((e) => e.atom)),
    entryOffset: Int32Array.from(flat.map((e) => e.offset)),
    atomStart,
    atomLen,
    atomCodes: Uint8Array.from(codes),
  };
})();

interface Hits {
  at: number[];
  atom: Atom[];
  /** False when an atom anchored late in its text was reported after one starting later. */
  sorted: boolean;
}

function pushHit(h: Hits, at: number, atom: Atom): void {
  const k = h.at.length;
  if (k > 0 && at < h.at[k - 1]!) h.sorted = false;
  h.at.push(at);
  h.atom.push(atom);
}

let scratch = Buffer.allocUnsafe(1 << 16);
let candidates = new Int32Array(1024);

/** Every atom occurrence in `text`, sorted by position (occurrences may overlap). Case-insensitive for ASCII letters. */
function scanKeywords(text: string): Hits {
  const h: Hits = { at: [], atom: [], sorted: true };
  const n = text.length;
  if (n < 2) return h;
  // Pure ASCII (UTF-8 length equals UTF-16 length): scan bytes. Anything else: scan char codes.
  if (Buffer.byteLength(text, 'utf8') === n) {
    if (scratch.length < n + 1) scratch = Buffer.allocUnsafe(Math.max(n + 1, scratch.length * 2));
    scratch.write(text, 0, n, 'latin1');
    scratch[n] = 0; // the third-character check may read one past the end
    scanBytes(scratch, n, h);
  } else {
    scanChars(text, n, h);
  }
  if (!h.sorted) {
    const order = h.at.map((_, i) => i).sort((x, y) => h.at[x]! - h.at[y]! || x - y);
    return { at: order.map((i) => h.at[i]!), atom: order.map((i) => h.atom[i]!), sorted: true };
  }
  return h;
}

function scanBytes(b: Buffer, n: number, h: Hits): void {
  // Hot loop first (positions of anchor pairs only), confirmation after, so the hot loop stays small.
  const pairId = SCAN.pairId;
  let cand = candidates;
  let k = 0;
  let prev = b[0]!;
  for (let i = 1; i < n; i++) {
    const cur = b[i]!;
    if (pairId[(prev << 8) | cur] !== 0) {
      if (k === cand.length) {
        const grown = new Int32Array(k * 2);
        grown.set(cand);
        cand = candidates = grown;
      }
      cand[k++] = i - 1;
    }
    prev = cur;
  }
  const { thirdOk, entryStart, entryAtom, entryOffset, atomStart, atomLen, atomCodes } = SCAN;
  for (let j = 0; j < k; j++) {
    const p = cand[j]!;
    const id = pairId[(b[p]! << 8) | b[p + 1]!]! - 1;
    if (thirdOk[(id << 8) | b[p + 2]!] === 0) continue;
    for (let e = entryStart[id]!; e < entryStart[id + 1]!; e++) {
      const ai = entryAtom[e]!;
      const s = p - entryOffset[e]!;
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
  const { pairId, thirdOk, entryStart, entryAtom, entryOffset, atomStart, atomLen, atomCodes } = SCAN;
  const fold = (c: number): number => (c < 256 ? FOLD[c]! : 0);
  for (let p = 0; p + 1 < n; p++) {
    const c0 = text.charCodeAt(p);
    const c1 = text.charCodeAt(p + 1);
    if (c0 >= 256 || c1 >= 256) continue;
    const id = pairId[(c0 << 8) | c1]! - 1;
    if (id < 0) continue;
    const c2 = p + 2 < n ? text.charCodeAt(p + 2) : 0;
    if (thirdOk[(id << 8) | (c2 < 256 ? c2 : 0)] === 0) continue;
    for (let e = entryStart[id]!; e < entryStart[id + 1]!; e++) {
      const ai = entryAtom[e]!;
      const s = p - entryOffset[e]!;
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
