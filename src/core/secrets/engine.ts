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
 * One regex over the text finds every keyword of every rule and every context-name stem in a single
 * native pass. Keywords are reduced to "atoms" so no atom contains another (a rule keyed on
 * `password=` is triggered by the `pass` atom): alternation then never hides a keyword.
 */
interface Atom {
  text: string;
  rules: FormatRule[];
  stem: boolean;
}

const ATOMS: Map<string, Atom> = (() => {
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
    if (!a) atoms.set(t, (a = { text: t, rules: [], stem: false }));
    return a;
  };
  for (const s of CONTEXT_STEMS) get(canonical(s.toLowerCase())).stem = true;
  for (const r of FORMAT_RULES) {
    for (const k of r.keywords) {
      const a = get(canonical(k.toLowerCase()));
      if (!a.rules.includes(r)) a.rules.push(r);
    }
  }
  return atoms;
})();

/** Alternation as a trie (`a(?:cdb|pim)|b(?:asic|earer)`): the regex engine dispatches on one char instead of trying every word. */
function trieSource(words: string[]): string {
  const esc = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  const build = (ws: string[]): string => {
    const groups = new Map<string, string[]>();
    let end = false;
    for (const w of ws) {
      if (w === '') {
        end = true;
        continue;
      }
      const c = w[0] as string;
      const g = groups.get(c);
      if (g) g.push(w.slice(1));
      else groups.set(c, [w.slice(1)]);
    }
    const alts = [...groups.entries()].map(([c, rest]) => esc(c) + build(rest));
    if (alts.length === 0) return '';
    const body = alts.length === 1 ? (alts[0] as string) : `(?:${alts.join('|')})`;
    return end ? `(?:${body})?` : body;
  };
  return build(words);
}

const PREFILTER = new RegExp(trieSource([...ATOMS.keys()]), 'gi');

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
  const hits = new Map<FormatRule, number[]>();
  const stems: number[] = [];
  const re = PREFILTER;
  re.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    const atom = ATOMS.get(m[0].toLowerCase());
    if (atom) {
      if (atom.stem) stems.push(m.index);
      for (const r of atom.rules) {
        if (disabled.has(r.id)) continue;
        const list = hits.get(r);
        if (list) list.push(m.index);
        else hits.set(r, [m.index]);
      }
    }
    re.lastIndex = m.index + 1; // atoms may overlap at their edges; never skip one
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
