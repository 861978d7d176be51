import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { runDetect } from '../../../src/cli/detect';

const GH = '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';
const PWD = 'Tr0ub4dor&3xyz';

async function run(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const code = await runDetect(args, { stdin: Readable.from([stdin]), stdout, stderr });
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'fw-detect-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('detect --jsonl', () => {
  it('answers one line per input line, in input order, with UTF-16 offsets and no values', async () => {
    const texts = [
      { id: 'a', text: `{"token":"${GH}"}` },
      { id: 'b', text: '{"name":"Contoso"}' },
      { id: 'c', text: `{"émoji":"🎉🎉","password":"${PWD}"}` },
    ];
    const { code, out, err } = await run(['--jsonl'], texts.map((t) => JSON.stringify(t)).join('\n') + '\n');
    expect(err).toBe('');
    expect(code).toBe(0);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as { id: string; secrets: Array<{ ruleId: string; start: number; end: number; severity: string }> });
    expect(lines.map((l) => l.id)).toEqual(['a', 'b', 'c']);
    expect(lines[0]!.secrets).toEqual([{ ruleId: 'secret.github-token', start: 10, end: 10 + GH.length, severity: 'high' }]);
    expect(lines[1]!.secrets).toEqual([]);
    const s = lines[2]!.secrets[0]!;
    expect(texts[2]!.text.slice(s.start, s.end)).toBe(PWD);
    expect(Object.keys(s).sort()).toEqual(['end', 'ruleId', 'severity', 'start']);
    expect(out).not.toContain(GH);
    expect(out).not.toContain(PWD);
  });

  it('reads a file argument', async () => {
    const f = join(dir, 'in.jsonl');
    writeFileSync(f, JSON.stringify({ id: 'x', text: GH }) + '\r\n');
    const { code, out } = await run(['--jsonl', f]);
    expect(code).toBe(0);
    expect(JSON.parse(out.trim())).toMatchObject({ id: 'x', secrets: [{ ruleId: 'secret.github-token', start: 0 }] });
  });

  it('stops at the first malformed line with exit 2, naming the line and the field', async () => {
    const input = [JSON.stringify({ id: 'ok', text: 'nothing here' }), JSON.stringify({ id: 'bad', text: 42 }), JSON.stringify({ id: 'late', text: GH })].join('\n');
    const { code, out, err } = await run(['--jsonl', '-'], input);
    expect(code).toBe(2);
    expect(err).toMatch(/line 2/);
    expect(err).toMatch(/"text"/);
    expect(out.trim().split('\n')).toHaveLength(1);
  });

  it('reports invalid JSON and a missing id', async () => {
    const bad = await run(['--jsonl'], '{"id": "a", "text": ');
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/line 1: .*not valid JSON/);
    const noId = await run(['--jsonl'], '{"text":"x"}');
    expect(noId.code).toBe(2);
    expect(noId.err).toMatch(/line 1: field "id"/);
  });

  it('--fail-on exits 1 when a secret at or above the severity is found, 0 otherwise', async () => {
    const input = JSON.stringify({ id: 'a', text: GH }) + '\n';
    expect((await run(['--jsonl', '--fail-on', 'high'], input)).code).toBe(1);
    expect((await run(['--jsonl', '--fail-on', 'critical'], input)).code).toBe(0);
    expect((await run(['--jsonl', '--fail-on=medium'], input)).code).toBe(1);
  });
});

describe('detect (text mode)', () => {
  it('prints a table with rule, severity, line:col and a masked preview, never the value', async () => {
    const text = `first line\nsecond ${GH}\n`;
    const { code, out } = await run([], text);
    expect(code).toBe(0);
    expect(out).toMatch(/rule\s+severity\s+line:col\s+preview/);
    expect(out).toMatch(/secret\.github-token\s+high\s+2:8\s+ghp_\*{8}\(40 chars\)/);
    expect(out).not.toContain(GH);
    expect(out).not.toContain(GH.slice(4, 12));
  });

  it('says so when nothing is found', async () => {
    const { code, out } = await run(['-'], 'nothing to see');
    expect(code).toBe(0);
    expect(out).toMatch(/no secrets found/);
  });

  it('--fail-on in text mode', async () => {
    expect((await run(['--fail-on', 'low'], GH)).code).toBe(1);
  });
});

describe('detect usage errors', () => {
  it('exit 2 on unknown options, a bad severity, two inputs or a missing file', async () => {
    for (const args of [['--nope'], ['--fail-on', 'severe'], ['--fail-on'], ['a.txt', 'b.txt'], [join(dir, 'missing.jsonl')]]) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.length).toBeGreaterThan(0);
    }
  });
});
