import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * Just enough of a Bicep reader for the infra checks on machines without the Bicep compiler: it
 * strips comments, and reads top-level statements (param, var, resource, module, output) with
 * their values as objects / arrays / strings / raw expressions. Anything it cannot read throws
 * with the file and offset, so a template it does not understand fails the tests instead of
 * passing them silently.
 */

export type BicepValue =
  | { kind: 'object'; entries: Map<string, BicepValue>; raw: string }
  | { kind: 'array'; items: BicepValue[]; raw: string }
  /** `[for x in y: body]` */
  | { kind: 'for'; body: BicepValue; raw: string }
  /** `if (cond) body` */
  | { kind: 'if'; condition: string; body: BicepValue; raw: string }
  /** A string literal; `text` is set when it has no interpolation. */
  | { kind: 'string'; text?: string; raw: string }
  | { kind: 'expr'; raw: string };

export interface BicepStatement {
  keyword: 'param' | 'var' | 'resource' | 'module' | 'output';
  name: string;
  /** resource: 'Type@version'; module: path; param/output: declared type. */
  target?: string;
  existing?: boolean;
  value?: BicepValue;
  decorators: string[];
}

export interface BicepFile {
  path: string;
  /** Path relative to the repo root, for messages. */
  rel: string;
  text: string;
  /** Text with comments blanked out (strings kept). */
  code: string;
  statements: BicepStatement[];
}

export class BicepReadError extends Error {
  constructor(file: string, offset: number, message: string) {
    super(`${file}@${offset}: ${message}`);
    this.name = 'BicepReadError';
  }
}

/** Skip a string literal starting at `i` (a `'`); returns the index after it. */
function skipString(src: string, i: number, file: string): number {
  if (src.startsWith("'''", i)) {
    const end = src.indexOf("'''", i + 3);
    if (end < 0) throw new BicepReadError(file, i, 'unterminated multi-line string');
    return end + 3;
  }
  let j = i + 1;
  while (j < src.length) {
    const c = src[j];
    if (c === '\\') j += 2;
    else if (c === "'") return j + 1;
    else if (c === '$' && src[j + 1] === '{') j = skipBalanced(src, j + 1, file);
    else if (c === '\n') throw new BicepReadError(file, i, 'unterminated string');
    else j++;
  }
  throw new BicepReadError(file, i, 'unterminated string');
}

const CLOSE: Record<string, string> = { '{': '}', '[': ']', '(': ')' };

/** From an opening bracket at `i`, return the index after its matching close (strings skipped). */
function skipBalanced(src: string, i: number, file: string): number {
  const stack = [CLOSE[src[i]!]];
  if (!stack[0]) throw new BicepReadError(file, i, `expected a bracket, found ${src[i]}`);
  let j = i + 1;
  while (j < src.length) {
    const c = src[j]!;
    if (c === "'") {
      j = skipString(src, j, file);
      continue;
    }
    if (CLOSE[c]) stack.push(CLOSE[c]);
    else if (c === '}' || c === ']' || c === ')') {
      if (stack.pop() !== c) throw new BicepReadError(file, j, `unbalanced ${c}`);
      if (stack.length === 0) return j + 1;
    }
    j++;
  }
  throw new BicepReadError(file, i, 'unclosed bracket');
}

/** Blank out // and /* *\/ comments, keeping offsets and strings intact. */
export function stripComments(src: string, file = '<text>'): string {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === "'") {
      const end = skipString(src, i, file);
      out += src.slice(i, end);
      i = end;
    } else if (c === '/' && src[i + 1] === '/') {
      const end = src.indexOf('\n', i);
      const stop = end < 0 ? src.length : end;
      out += ' '.repeat(stop - i);
      i = stop;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new BicepReadError(file, i, 'unterminated block comment');
      out += src.slice(i, end + 2).replace(/[^\n]/g, ' ');
      i = end + 2;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function skipSpace(src: string, i: number, newlines = true): number {
  while (i < src.length && (src[i] === ' ' || src[i] === '\t' || src[i] === '\r' || (newlines && src[i] === '\n'))) i++;
  return i;
}

/** Parse one value at `i`; returns it and the index after it. */
function parseValue(src: string, i: number, file: string): [BicepValue, number] {
  i = skipSpace(src, i);
  const c = src[i];
  if (c === '{') {
    const end = skipBalanced(src, i, file);
    return [{ kind: 'object', entries: parseEntries(src, i + 1, end - 1, file), raw: src.slice(i, end) }, end];
  }
  if (c === '[') {
    const end = skipBalanced(src, i, file);
    const inner = skipSpace(src, i + 1);
    if (src.startsWith('for ', inner) || src.startsWith('for(', inner)) {
      // `[for <x> in <expr>: body]`: the body follows the first ':' at depth 0.
      let j = inner;
      while (j < end && src[j] !== ':') {
        if (src[j] === "'") j = skipString(src, j, file);
        else if (CLOSE[src[j]!]) j = skipBalanced(src, j, file);
        else j++;
      }
      const [body] = parseValue(src, j + 1, file);
      return [{ kind: 'for', body, raw: src.slice(i, end) }, end];
    }
    return [{ kind: 'array', items: parseItems(src, i + 1, end - 1, file), raw: src.slice(i, end) }, end];
  }
  if (src.startsWith('if', i) && /^if\s*\(/.test(src.slice(i, i + 20))) {
    const open = src.indexOf('(', i);
    const close = skipBalanced(src, open, file);
    const [body, end] = parseValue(src, close, file);
    return [{ kind: 'if', condition: src.slice(open + 1, close - 1).trim(), body, raw: src.slice(i, end) }, end];
  }
  // A string literal, or any other expression up to a newline / comma / closer at depth 0.
  let j = i;
  while (j < src.length) {
    const d = src[j]!;
    if (d === "'") j = skipString(src, j, file);
    else if (CLOSE[d]) j = skipBalanced(src, j, file);
    else if (d === '\n' || d === ',' || d === '}' || d === ']' || d === ')') break;
    else j++;
  }
  const raw = src.slice(i, j).trim();
  if (!raw) throw new BicepReadError(file, i, 'expected a value');
  if (raw.startsWith("'") && skipString(raw, 0, file) === raw.length) {
    const body = raw.startsWith("'''") ? raw.slice(3, -3) : raw.slice(1, -1);
    const interpolated = !raw.startsWith("'''") && /(^|[^\\])\$\{/.test(body);
    return [{ kind: 'string', raw, text: interpolated ? undefined : body.replace(/\\(['\\$])/g, '$1') }, j];
  }
  return [{ kind: 'expr', raw }, j];
}

function parseEntries(src: string, from: number, to: number, file: string): Map<string, BicepValue> {
  const entries = new Map<string, BicepValue>();
  let i = from;
  for (;;) {
    while (i < to && /[\s,]/.test(src[i]!)) i++;
    if (i >= to) return entries;
    let key: string;
    if (src[i] === "'") {
      const end = skipString(src, i, file);
      key = src.slice(i + 1, end - 1);
      i = end;
    } else {
      const m = /^[A-Za-z_$][\w$-]*/.exec(src.slice(i, to));
      if (!m) throw new BicepReadError(file, i, `expected a property name, found ${JSON.stringify(src.slice(i, i + 20))}`);
      key = m[0];
      i += key.length;
    }
    i = skipSpace(src, i, false);
    if (src[i] !== ':') throw new BicepReadError(file, i, `expected ':' after property ${key}`);
    const [value, end] = parseValue(src, i + 1, file);
    if (entries.has(key)) throw new BicepReadError(file, i, `duplicate property ${key}`);
    entries.set(key, value);
    i = end;
  }
}

function parseItems(src: string, from: number, to: number, file: string): BicepValue[] {
  const items: BicepValue[] = [];
  let i = from;
  for (;;) {
    while (i < to && /[\s,]/.test(src[i]!)) i++;
    if (i >= to) return items;
    const [value, end] = parseValue(src, i, file);
    items.push(value);
    i = end;
  }
}

const STATEMENT = /^(param|var|resource|module|output)\s+([A-Za-z_]\w*)\s*/;

export function parseBicep(text: string, path: string, root: string): BicepFile {
  const rel = relative(root, path);
  const code = stripComments(text, rel);
  const statements: BicepStatement[] = [];
  let decorators: string[] = [];
  let i = 0;
  while (i < code.length) {
    i = skipSpace(code, i);
    if (i >= code.length) break;
    const rest = code.slice(i);
    if (code[i] === '@') {
      const m = /^@[\w.]+/.exec(rest)!;
      let end = i + m[0].length;
      if (code[end] === '(') end = skipBalanced(code, end, rel);
      decorators.push(code.slice(i, end));
      i = end;
      continue;
    }
    if (/^(targetScope|metadata|import)\b/.test(rest)) {
      // One-line statements the checks do not need.
      const end = code.indexOf('\n', i);
      i = end < 0 ? code.length : end;
      continue;
    }
    const m = STATEMENT.exec(rest);
    if (!m) throw new BicepReadError(rel, i, `unexpected text ${JSON.stringify(rest.slice(0, 40))}`);
    const keyword = m[1] as BicepStatement['keyword'];
    const stmt: BicepStatement = { keyword, name: m[2]!, decorators };
    decorators = [];
    i += m[0].length;
    if (keyword === 'resource' || keyword === 'module') {
      if (code[i] !== "'") throw new BicepReadError(rel, i, `expected the ${keyword} type/path`);
      const end = skipString(code, i, rel);
      stmt.target = code.slice(i + 1, end - 1);
      i = skipSpace(code, end, false);
      if (code.startsWith('existing', i)) {
        stmt.existing = true;
        i += 'existing'.length;
      }
    } else if (keyword === 'param' || keyword === 'output') {
      const t = /^[\w.]+(\[\])?/.exec(code.slice(i))!;
      stmt.target = t[0];
      i += t[0].length;
    }
    i = skipSpace(code, i, false);
    if (code[i] === '=') {
      const [value, end] = parseValue(code, i + 1, rel);
      stmt.value = value;
      i = end;
    } else if (keyword !== 'param') {
      throw new BicepReadError(rel, i, `expected '=' in ${keyword} ${stmt.name}`);
    }
    statements.push(stmt);
  }
  return { path, rel, text, code, statements };
}

/** Every *.bicep file under `dir`, parsed. */
export function readBicepTree(dir: string, root: string): BicepFile[] {
  const out: BicepFile[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...readBicepTree(p, root));
    else if (entry.name.endsWith('.bicep')) out.push(parseBicep(readFileSync(p, 'utf8'), p, root));
  }
  return out;
}

/** The object a resource/module is declared with (through `if` and `for`). */
export function bodyOf(value: BicepValue | undefined): Map<string, BicepValue> | undefined {
  if (!value) return undefined;
  if (value.kind === 'object') return value.entries;
  if (value.kind === 'if' || value.kind === 'for') return bodyOf(value.body);
  return undefined;
}

/** Follow a dotted path through nested objects. */
export function at(value: BicepValue | Map<string, BicepValue> | undefined, ...path: string[]): BicepValue | undefined {
  let cur: BicepValue | undefined = value instanceof Map ? { kind: 'object', entries: value, raw: '' } : value;
  for (const key of path) {
    const body = bodyOf(cur);
    cur = body?.get(key);
  }
  return cur;
}

/** The literal text of a string value, or undefined when it is not a plain string literal. */
export function literal(value: BicepValue | undefined): string | undefined {
  return value?.kind === 'string' ? value.text : undefined;
}
