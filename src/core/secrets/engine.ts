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
import { enclosingUrl, forgetTextBytes, isPlaceholder, isRunContentLinkUrl, lendTextBytes, safeDecodeURIComponent, type ValidatorContext } from './validators';

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
 * each atom is indexed under rare character pairs ("anchors", see SCAN). ASCII text (the usual
 * JSON) is copied as bytes into a reused buffer, and a loop reads it two bytes at a time, one table
 * lookup per word (in WebAssembly where available, see WASM_SCAN); only words that anchor an atom,
 * with a matching neighbour, reach the full comparison in JavaScript. Other text is scanned by code
 * unit with the same tables. Where a keyword hit opens work, rules may refuse it cheaply first
 * (`FormatRule.atHit`).
 */
interface KeywordRules {
  /**
   * The keyword: lower case, or exactly as written when `exact`. A `=` in it also matches after
   * whitespace (`Password =`), as the rule patterns allow.
   */
  keyword: string;
  exact: boolean;
  /** Where the atom sits inside the keyword. */
  offset: number;
  rules: FormatRule[];
}

interface Atom {
  /** Lower case, or exactly as written when `exact`. */
  text: string;
  /** Char codes of `text`. */
  codes: number[];
  /**
   * Case-sensitive: every keyword behind it has upper-case letters and belongs to a rule whose pattern
   * is case-sensitive (`AKIA`, `+ASt`, `eyJ`, `Bearer`), so other spellings can never match. Rare
   * upper-case pairs make cheap anchors.
   */
  exact: boolean;
  /** A context-name stem (password, secret, token…): the engine looks for a `name = value` pair here. */
  stem: boolean;
  /** Format rules triggered here once their full keyword is confirmed. */
  keywords: KeywordRules[];
}

/** A keyword as the prefilter treats it. */
interface Word {
  text: string;
  exact: boolean;
}

function keywordOf(raw: string, rule: FormatRule): Word {
  const exact = /[A-Z]/.test(raw) && !rule.pattern.flags.includes('i');
  return { text: exact ? raw : raw.toLowerCase(), exact };
}

/** Where `inner` occurs in `outer` so that every occurrence of `outer` contains one of `inner`, or -1. */
function containedAt(outer: Word, inner: Word): number {
  if (inner.exact) return outer.exact ? outer.text.indexOf(inner.text) : -1;
  return outer.text.toLowerCase().indexOf(inner.text);
}

const ATOMS: Atom[] = (() => {
  const all = new Map<string, Word>();
  const add = (w: Word): void => void all.set(`${w.exact ? 'E' : 'I'}:${w.text}`, w);
  for (const s of CONTEXT_STEMS) add({ text: s.toLowerCase(), exact: false });
  for (const r of FORMAT_RULES) for (const k of r.keywords) add(keywordOf(k, r));
  const words = [...all.values()];
  const canonical = (w: Word): Word => {
    let best = w;
    for (const o of words) if (o !== w && o.text.length < best.text.length && containedAt(w, o) >= 0) best = o;
    return best;
  };
  const atoms = new Map<string, Atom>();
  const get = (w: Word): Atom => {
    const key = `${w.exact ? 'E' : 'I'}:${w.text}`;
    let a = atoms.get(key);
    if (!a) {
      a = { text: w.text, codes: [...w.text].map((c) => c.charCodeAt(0)), exact: w.exact, stem: false, keywords: [] };
      atoms.set(key, a);
    }
    return a;
  };
  for (const s of CONTEXT_STEMS) get(canonical(all.get(`I:${s.toLowerCase()}`)!)).stem = true;
  for (const r of FORMAT_RULES) {
    for (const raw of r.keywords) {
      const kw = all.get(`${keywordOf(raw, r).exact ? 'E' : 'I'}:${keywordOf(raw, r).text}`)!;
      const c = canonical(kw);
      const a = get(c);
      const offset = containedAt(kw, c);
      // keywordAt lets whitespace precede `=`, which must therefore come after the atom.
      if (kw.text.slice(0, offset).includes('=')) throw new Error(`secret engine: keyword "${raw}" has "=" before its atom "${a.text}"`);
      let kr = a.keywords.find((x) => x.keyword === kw.text && x.exact === kw.exact && x.offset === offset);
      if (!kr) a.keywords.push((kr = { keyword: kw.text, exact: kw.exact, offset, rules: [] }));
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
/** The same without folding, for exact-case atoms. */
const SAME = new Uint8Array(256);
for (let c = 0; c < 128; c++) SAME[c] = c;

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
/** How many table hits one full comparison costs, for choosing anchors. */
const CONFIRM_WEIGHT = 100;

const SCAN = (() => {
  interface Word {
    /** First / second character (as in the atom's codes: lower case unless exact); -1 = any. */
    x: number;
    y: number;
    /** Atom start minus the word's offset. */
    delta: number;
  }
  const id = (w: Word): string => `${w.x},${w.y}`;
  const used = new Map<string, number>();
  // Two costs per word: the hot loop stops on it (nothing more when another atom already indexed
  // it, so a few rounds let atoms share words), and JavaScript compares the atom in full when the
  // neighbour filter passes, as often as the word and its neighbour occur together (weighted: a
  // full comparison costs far more than a table hit).
  const cost = (w: Word, a: number[]): number => {
    const j = -w.delta;
    const neighbour = j + 2 < a.length ? a[j + 2]! : a[j - 1]!;
    return (used.get(id(w)) ? 0 : pairShare(w.x, w.y)) + CONFIRM_WEIGHT * pairShare(w.x, w.y) * charShare(neighbour);
  };
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
        const c = cost(opt[0], atom.codes) + cost(opt[1], atom.codes);
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
      const variants = (c: number): number[] => (c < 0 ? any : ATOMS[ai]!.exact ? [c] : caseVariants(c));
      for (const x of variants(w.x)) {
        for (const y of variants(w.y)) {
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
      const variants = (c: number): number[] => (ATOMS[atom]!.exact ? [c] : caseVariants(c));
      if (j + 2 < a.length) for (const c of variants(a[j + 2]!)) nextOk[(lid << 8) | c] = 1;
      else for (const c of variants(a[j - 1]!)) prevOk[(lid << 8) | c] = 1;
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
  const atomFold: Uint8Array[] = [];
  const codes: number[] = [];
  ATOMS.forEach((a, i) => {
    atomStart[i] = codes.length;
    atomLen[i] = a.codes.length;
    atomFold[i] = a.exact ? SAME : FOLD;
    codes.push(...a.codes);
  });
  return {
    atomFold,
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
  /** The text's bytes when it was scanned as ASCII (valid until the next scan). */
  bytes?: Uint8Array;
  /** False when an atom found at a later word starts before one already reported. */
  sorted: boolean;
}

function pushHit(h: Hits, at: number, atom: Atom): void {
  const k = h.at.length;
  if (k > 0 && at < h.at[k - 1]!) h.sorted = false;
  h.at.push(at);
  h.atom.push(atom);
}

/**
 * The hot loop over word-aligned pairs, in WebAssembly when the runtime has it (several times the
 * speed of the same loop in JavaScript), with the neighbour filter:
 * `scan(words, textOff, tableOff, outOff, nextBase, prevBase)` writes the index i of every word whose
 * table byte t is set and whose next byte passes nextBase[t * 256 + b[2i + 2]] or previous byte
 * prevBase[t * 256 + b[2i - 1]], and returns how many. It reads two words (4 bytes) per step, so it
 * may look at one word past `words` (the caller pads with zeros). A few hundred hand-assembled
 * bytes: one exported memory, one function, no imports.
 */
const WASM_SCAN = (() => {
  // params: 0 words, 1 textOff, 2 tableOff, 3 outOff, 4 nextBase, 5 prevBase; locals: 6 i, 7 k, 8 t, 9 p, 10 x
  const get = (l: number) => [0x20, l];
  const i32 = (v: number) => [0x41, ...sleb(v)];
  // For the word at byte address `p` with index `i` (both as instruction lists) and t in local 8:
  // if nextBase[(t << 8) + b[p + 2]] | prevBase[(t << 8) + b[p - 1]] then out[k++] = i.
  const check = (i: number[], p: number[]) => [
    ...get(4), ...get(8), ...i32(8), 0x74, 0x6a, ...p, 0x2d, 0x00, 0x02, 0x6a, 0x2d, 0x00, 0x00,
    ...get(5), ...get(8), ...i32(8), 0x74, 0x6a, ...p, ...i32(1), 0x6b, 0x2d, 0x00, 0x00, 0x6a, 0x2d, 0x00, 0x00,
    0x72, 0x04, 0x40, // or; if
    ...get(3), ...get(7), ...i32(2), 0x74, 0x6a, ...i, 0x36, 0x02, 0x00, // out[k] = i
    ...get(7), ...i32(1), 0x6a, 0x21, 0x07, // k++
    0x0b,
  ];
  // t = table[half of x]; if t: check
  const word = (half: number[], i: number[], p: number[]) => [...get(2), ...get(10), ...half, 0x6a, 0x2d, 0x00, 0x00, 0x22, 0x08, 0x04, 0x40, ...check(i, p), 0x0b];
  const body = [
    0x01, 0x05, 0x7f, // 5 i32 locals
    0x02, 0x40, 0x03, 0x40, // block, loop
    ...get(6), ...get(0), 0x4f, 0x0d, 0x01, // if i >= words: break
    ...get(1), ...get(6), ...i32(1), 0x74, 0x6a, 0x22, 0x09, // p = textOff + 2i
    0x28, 0x02, 0x00, 0x21, 0x0a, // x = load32(p)
    ...word([...i32(0xffff), 0x71], get(6), get(9)), // low half: word i
    ...word([...i32(16), 0x76], [...get(6), ...i32(1), 0x6a], [...get(9), ...i32(2), 0x6a]), // high half: word i + 1
    ...get(6), ...i32(2), 0x6a, 0x21, 0x06, 0x0c, 0x00, // i += 2, continue
    0x0b, 0x0b, // end loop, end block
    ...get(7), 0x0b, // return k
  ];
  const section = (id: number, content: number[]): number[] => [id, ...uleb(content.length), ...content];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    ...section(0x01, [0x01, 0x60, 0x06, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f]), // type 0: (i32 x6) -> i32
    ...section(0x03, [0x01, 0x00]), // function 0 has type 0
    ...section(0x05, [0x01, 0x00, 0x01]), // memory: min 1 page
    ...section(0x07, [0x02, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00, 0x04, 0x73, 0x63, 0x61, 0x6e, 0x00, 0x00]), // export "mem", "scan"
    ...section(0x0a, [0x01, ...uleb(body.length), ...body]), // code
  ]);
})();

function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function sleb(v: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** The part of the WebAssembly JS API used here (the project's lib settings do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: Record<string, unknown> };
};

/** Where the text bytes live and how the word loop runs over them. */
interface WordLoop {
  /**
   * Copies ASCII `text` in as bytes followed by zero bytes (the last words and the neighbour filter
   * read a few bytes past the text; 0 is in no atom); returns the bytes, index 0 = first character.
   */
  load(text: string): Uint8Array;
  /**
   * Finds the words, among the first `m` of the loaded text, whose pair is an anchor and whose
   * neighbour passes the filter; their indexes are `out()[0 .. count)`. Returns the count.
   */
  find(m: number): number;
  /** The index array `find` fills (valid until the next `load`). */
  out(): Int32Array;
}

const TABLE_BYTES = 1 << 16;

function wasmWordLoop(): WordLoop | undefined {
  if (typeof WebAssembly !== 'object') return undefined; // e.g. node --jitless has no WebAssembly
  const instance = new WebAssembly.Instance(new WebAssembly.Module(WASM_SCAN));
  const memory = instance.exports['mem'] as WasmMemory;
  const scan = instance.exports['scan'] as (words: number, textOff: number, tableOff: number, outOff: number, nextBase: number, prevBase: number) => number;
  // Layout: word table (little-endian words, as wasm reads them), neighbour rows, 8 zero bytes (the
  // "previous byte" of the first word), the text, the output.
  const table = new Uint8Array(TABLE_BYTES);
  for (let word = 0; word < TABLE_BYTES; word++) table[word] = SCAN.wordId[wordOf(word & 255, word >> 8)]!;
  const nextOff = TABLE_BYTES;
  const prevOff = nextOff + SCAN.nextOk.length;
  const textOff = (prevOff + SCAN.prevOk.length + 8 + 7) & ~7;
  let capacity = 0;
  let outOff = 0;
  let text = new Uint8Array(0);
  const ensure = (n: number): void => {
    if (n + 4 <= capacity) return;
    capacity = (Math.max(n + 4, capacity * 2, 1 << 16) + 7) & ~7;
    outOff = textOff + capacity;
    const need = outOff + 4 * (capacity / 2 + 1);
    const pages = Math.ceil(need / 65536) - memory.buffer.byteLength / 65536;
    if (pages > 0) memory.grow(pages);
    const mem = new Uint8Array(memory.buffer);
    mem.set(table, 0);
    mem.set(SCAN.nextOk, nextOff);
    mem.set(SCAN.prevOk, prevOff);
    mem.fill(0, prevOff + SCAN.prevOk.length, textOff);
    text = new Uint8Array(memory.buffer, textOff, capacity);
    writer = Buffer.from(memory.buffer, textOff, capacity);
    out = new Int32Array(memory.buffer, outOff, capacity / 2 + 1);
  };
  let out = new Int32Array(0);
  let writer = Buffer.alloc(0);
  ensure(0);
  return {
    load(s) {
      const n = s.length;
      ensure(n);
      writer.write(s, 0, n, 'latin1');
      text.fill(0, n, n + 4);
      return text;
    },
    find(m) {
      // Rows are indexed by t = list id + 1, hence the bases one row (256 bytes) before the tables.
      return scan(m, textOff, 0, outOff, nextOff - 256, prevOff - 256);
    },
    out: () => out,
  };
}

/** The same loop in JavaScript over a Uint16Array (platform byte order, as SCAN.wordId is built). */
function jsWordLoop(): WordLoop {
  let text = new Uint8Array(1 << 16);
  let words = new Uint16Array(text.buffer);
  let out = new Int32Array(1 << 15);
  let writer = Buffer.from(text.buffer);
  return {
    load(s) {
      const n = s.length;
      if (text.length < n + 2) {
        text = new Uint8Array((Math.max(n + 2, text.length * 2) + 1) & ~1);
        words = new Uint16Array(text.buffer);
        out = new Int32Array(text.length / 2 + 1);
        writer = Buffer.from(text.buffer);
      }
      writer.write(s, 0, n, 'latin1');
      text[n] = 0;
      text[n + 1] = 0;
      return text;
    },
    find(m) {
      const { wordId, nextOk, prevOk } = SCAN;
      const w = words;
      const b = text;
      let k = 0;
      for (let i = 0; i < m; i++) {
        const t = wordId[w[i]!]!;
        if (t === 0) continue;
        const row = (t - 1) << 8;
        if (nextOk[row | b[2 * i + 2]!] !== 0 || prevOk[row | (i > 0 ? b[2 * i - 1]! : 0)] !== 0) out[k++] = i;
      }
      return k;
    },
    out: () => out,
  };
}

/** Texts longer than this (UTF-16 units) are scanned in a buffer of their own, freed afterwards. */
const LARGE_TEXT = 1 << 22;

const WASM_LOOP = wasmWordLoop();
let WORD_LOOP: WordLoop = WASM_LOOP ?? jsWordLoop();

/**
 * Test seam: run the keyword loop in JavaScript (what runtimes without WebAssembly use) or back in
 * WebAssembly, so both are tested. Returns the loop now in use.
 */
export function useKeywordLoopForTests(kind: 'wasm' | 'js'): 'wasm' | 'js' {
  WORD_LOOP = kind === 'wasm' && WASM_LOOP ? WASM_LOOP : jsWordLoop();
  return WORD_LOOP === WASM_LOOP ? 'wasm' : 'js';
}

/** Every atom occurrence in `text`, sorted by position (occurrences may overlap). Case-insensitive for ASCII letters. */
function scanKeywords(text: string): Hits {
  const h: Hits = { at: [], atom: [], sorted: true };
  const n = text.length;
  if (n < 3) return h;
  // Pure ASCII (UTF-8 length equals UTF-16 length): scan bytes. Anything else: scan char codes.
  if (Buffer.byteLength(text, 'utf8') === n) {
    // WebAssembly memory never shrinks: a rare huge text gets a throw-away buffer instead.
    const loop = n > LARGE_TEXT ? jsWordLoop() : WORD_LOOP;
    const b = loop.load(text);
    const k = loop.find((n + 1) >> 1);
    confirmWords(b, n, loop.out(), k, h);
    h.bytes = b;
  } else {
    scanChars(text, n, h);
  }
  if (!h.sorted) {
    const order = h.at.map((_, i) => i).sort((x, y) => h.at[x]! - h.at[y]! || x - y);
    return { at: order.map((i) => h.at[i]!), atom: order.map((i) => h.atom[i]!), sorted: true, ...(h.bytes ? { bytes: h.bytes } : {}) };
  }
  return h;
}

/** Compares the atoms listed for each found word (`cand[0 .. count)`: word indexes) against the text bytes `b`. */
function confirmWords(b: Uint8Array, n: number, cand: Int32Array, count: number, h: Hits): void {
  const { wordId, entryStart, entryAtom, entryDelta, atomStart, atomLen, atomCodes, atomFold } = SCAN;
  for (let j = 0; j < count; j++) {
    const i = cand[j]!;
    const id = wordId[wordOf(b[2 * i]!, b[2 * i + 1]!)]! - 1;
    for (let e = entryStart[id]!; e < entryStart[id + 1]!; e++) {
      const ai = entryAtom[e]!;
      const s = 2 * i + entryDelta[e]!;
      const len = atomLen[ai]!;
      if (s < 0 || s + len > n) continue;
      const cs = atomStart[ai]!;
      const fold = atomFold[ai]!;
      let q = 0;
      while (q < len && fold[b[s + q]!] === atomCodes[cs + q]) q++;
      if (q === len) pushHit(h, s, ATOMS[ai]!);
    }
  }
}

/** The same search over UTF-16 code units (text with non-ASCII characters). */
function scanChars(text: string, n: number, h: Hits): void {
  const { wordId, entryStart, entryAtom, entryDelta, atomStart, atomLen, atomCodes, atomFold } = SCAN;
  // Non-ASCII reads as 0 (in no atom): a word may still anchor an atom through its other half.
  const ascii = (c: number): number => (c < 128 ? c : 0);
  for (let p = 0; p < n; p += 2) {
    const c0 = ascii(text.charCodeAt(p));
    const c1 = p + 1 < n ? ascii(text.charCodeAt(p + 1)) : 0;
    const id = wordId[wordOf(c0, c1)]! - 1;
    if (id < 0) continue;
    for (let e = entryStart[id]!; e < entryStart[id + 1]!; e++) {
      const ai = entryAtom[e]!;
      const s = p + entryDelta[e]!;
      const len = atomLen[ai]!;
      if (s < 0 || s + len > n) continue;
      const cs = atomStart[ai]!;
      const fold = atomFold[ai]!;
      let q = 0;
      while (q < len && fold[ascii(text.charCodeAt(s + q))] === atomCodes[cs + q]) q++;
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

/** The full keyword around an atom hit at `at` (case-insensitive unless exact; whitespace may precede a `=`). */
function keywordAt(text: string, at: number, kr: KeywordRules): boolean {
  const kw = kr.keyword;
  let i = at - kr.offset;
  if (i < 0) return false;
  for (let j = 0; j < kw.length; j++) {
    const k = kw.charCodeAt(j);
    if (k === 61 /* = */) while (i < text.length && isSpace(text.charCodeAt(i))) i++;
    if (i >= text.length) return false;
    let c = text.charCodeAt(i++);
    if (!kr.exact && c >= 65 && c <= 90) c += 32;
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
  // URL lookups by the rules may walk the scanned bytes instead of the string (until we return).
  if (found.bytes) lendTextBytes(text, found.bytes);
  try {
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
  } finally {
    if (found.bytes) forgetTextBytes();
  }
  return out;
}

const NONE_DISABLED: ReadonlySet<string> = new Set();

/**
 * Secrets in `text`: sorted by start, non-overlapping (the most specific rule wins), offsets in UTF-16
 * code units covering only the secret value.
 */
export function detectText(text: string, options?: DetectOptions): SecretMatch[] {
  if (typeof text !== 'string') throw new TypeError('detectText: text must be a string');
  const disabled = options?.disabledRules?.length ? new Set(options.disabledRules) : NONE_DISABLED;
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
