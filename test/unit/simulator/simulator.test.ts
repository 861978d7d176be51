import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FaultInjector } from '../../../src/dev/simulator/faults';
import { generateTenant } from '../../../src/dev/simulator/generatedTenant';
import { runIndexFromName, runName } from '../../../src/dev/simulator/ids';
import { applyOrderBy, matches, parseFilter } from '../../../src/dev/simulator/odata';
import { createSampleTenant } from '../../../src/dev/simulator/sampleTenant';
import { FLOWWARDEN_VERSION } from '../../../src/sources/httpPipeline';
import { actionInfoFrom } from '../../../src/sources/flowApi';

const FORMAT_RE: Record<string, RegExp> = {
  jwt: /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/,
  'github-pat': /^ghp_[A-Za-z0-9]{36}$/,
  'aws-access-key-id': /^AKIA[A-Z2-7]{16}$/,
  'slack-bot-token': /^xoxb-\d{11}-\d{13}-[A-Za-z0-9]{24}$/,
  'stripe-secret-key': /^sk_live_[A-Za-z0-9]{32}$/,
  'sendgrid-api-key': /^SG\.[A-Za-z0-9]{22}\.[A-Za-z0-9]{43}$/,
  'azure-storage-connection-string': /^DefaultEndpointsProtocol=https;AccountName=\w+;AccountKey=[A-Za-z0-9+/]{86}==;EndpointSuffix=core\.windows\.net$/,
  'azure-functions-key': /\?code=[\w-]{54}==$/,
};

const get = (o: unknown, path: string) => path.split('.').reduce<unknown>((x, k) => (x as Record<string, unknown> | undefined)?.[k], o);

describe('generated tenant', () => {
  const opts = { flows: 4, runs: 5, actions: 6, secretRate: 0.3, seed: 99, anchor: new Date('2025-01-01T12:00:00Z') };

  it('is deterministic from the seed', () => {
    const a = generateTenant(opts);
    const b = generateTenant(opts);
    const f = a.flows[2]!;
    expect(a.flows.map((x) => x.id)).toEqual(b.flows.map((x) => x.id));
    expect(a.run(f, 3)).toEqual(b.run(b.flows[2]!, 3));
    const name = a.runActions(f, 1)[2]!.name;
    expect(a.content(f, 1, name, 'outputs')).toEqual(b.content(b.flows[2]!, 1, name, 'outputs'));
    expect([...a.plantedSecrets()]).toEqual([...b.plantedSecrets()]);
    expect(generateTenant({ ...opts, seed: 100 }).flows[0]!.id).not.toBe(a.flows[0]!.id);
  });

  it('indexes exactly the planted secrets, in their format, never on secured sides', () => {
    const t = generateTenant(opts);
    const planted = [...t.plantedSecrets()];
    expect(planted.length).toBeGreaterThan(0);
    const key = (f: number, r: number, a: string, d: string) => `${f}/${r}/${a}/${d}`;
    const index = new Map(planted.map((p) => [key(p.flowIndex, p.runIndex, p.actionName, p.direction), p]));
    let sides = 0;
    for (const flow of t.flows)
      for (let r = 0; r < opts.runs; r++) {
        expect(t.run(flow, r).name).toBe(planted.find((p) => p.flowIndex === flow.index && p.runIndex === r)?.runId ?? t.run(flow, r).name);
        for (const a of t.runActions(flow, r))
          for (const d of ['inputs', 'outputs'] as const) {
            sides++;
            const p = index.get(key(flow.index, r, a.name, d));
            const content = t.content(flow, r, a.name, d);
            const secured = d === 'inputs' ? a.secureInputs : a.secureOutputs;
            if (secured) expect(p).toBeUndefined();
            if (p) {
              expect(get(content, p.path)).toMatch(FORMAT_RE[p.format]!);
            } else {
              const text = JSON.stringify(content);
              for (const re of [/ghp_/, /AKIA/, /xoxb-/, /sk_live_/, /SG\./, /AccountKey=/, /\?code=/, /Bearer /]) expect(text).not.toMatch(re);
            }
          }
      }
    expect(sides).toBe(opts.flows * opts.runs * opts.actions * 2);
    // Roughly secretRate of the unsecured sides.
    expect(planted.length / sides).toBeGreaterThan(0.1);
    expect(planted.length / sides).toBeLessThan(0.45);
  });

  it('computes content on demand for a large tenant (nothing precomputed per action)', () => {
    const t = generateTenant({ flows: 100, runs: 100, actions: 10, secretRate: 0.01, seed: 1 });
    const f = t.flows[77]!;
    expect(t.runIndex(f, t.run(f, 93).name)).toBe(93);
    expect(t.runActions(f, 93)).toHaveLength(10);
    expect(t.content(f, 93, t.runActions(f, 93)[9]!.name, 'inputs')).toBeTypeOf('object');
    expect(t.content(f, 100, t.runActions(f, 0)[0]!.name, 'inputs')).toBeUndefined();
  });

  it('rejects bad options with the field name', () => {
    expect(() => generateTenant({ ...opts, flows: 0 })).toThrow(/flows/);
    expect(() => generateTenant({ ...opts, secretRate: 2 })).toThrow(/secretRate/);
  });
});

describe('sample tenant', () => {
  it('secures every side of the nightly enrichment flow and dates runs within hours of the anchor', () => {
    const anchor = new Date('2025-01-01T12:00:00Z');
    const t = createSampleTenant(anchor);
    const nightly = t.flows.find((f) => f.displayName === 'Nightly contact enrichment')!;
    for (let r = 0; r < nightly.runCount; r++) for (const a of t.runActions(nightly, r)) expect([a.secureInputs, a.secureOutputs]).toEqual([true, true]);
    for (const f of t.flows)
      for (let r = 0; r < f.runCount; r++) {
        const age = anchor.getTime() - Date.parse(t.run(f, r).startTime);
        expect(age).toBeGreaterThan(0);
        expect(age).toBeLessThan(6 * 3_600_000);
      }
    expect(new Set(t.flows.flatMap((f) => Array.from({ length: f.runCount }, (_, r) => t.run(f, r).status)))).toEqual(new Set(['Succeeded', 'Failed']));
  });
});

describe('run names', () => {
  it('look like the Flow API and resolve back to their index', () => {
    const n = runName(5, 3, 42);
    expect(n).toMatch(/^\d{29}CU\d+$/);
    expect(runIndexFromName(n)).toBe(42);
    expect(runIndexFromName('nope')).toBeUndefined();
  });
});

describe('OData subset', () => {
  const rows = [
    { createdon: '2025-01-01T10:00:00Z', action: 2, name: "O'Brien" },
    { createdon: '2025-01-01T09:00:00Z', action: 1, name: 'x' },
    { createdon: '2025-01-01T11:00:00Z', action: 2, name: null },
  ];
  it('filters date windows and numbers, orders asc/desc', () => {
    const c = parseFilter('createdon ge 2025-01-01T09:30:00Z and createdon lt 2025-01-01T11:00:00Z');
    expect(rows.filter((r) => matches(r, c))).toEqual([rows[0]]);
    expect(rows.filter((r) => matches(r, parseFilter('action eq 2')))).toHaveLength(2);
    expect(rows.filter((r) => matches(r, parseFilter("name eq 'O''Brien'")))).toEqual([rows[0]]);
    expect(rows.filter((r) => matches(r, parseFilter('name eq null')))).toEqual([rows[2]]);
    expect(applyOrderBy(rows, 'createdon asc').map((r) => r.action)).toEqual([1, 2, 2]);
    expect(applyOrderBy(rows, 'createdon desc')[0]).toBe(rows[2]);
  });
  it('rejects what it does not understand', () => {
    expect(() => parseFilter('contains(name, x)')).toThrow(/\$filter/);
    expect(() => applyOrderBy(rows, 'createdon sideways')).toThrow(/\$orderby/);
  });
});

describe('fault injector', () => {
  it('injects at the configured rates from a seed', () => {
    const f = new FaultInjector({ rate429: 0.3, rate503: 0.1, seed: 3 });
    const draws = Array.from({ length: 5000 }, () => f.draw());
    const share = (k: string) => draws.filter((d) => d === k).length / draws.length;
    expect(share('429')).toBeGreaterThan(0.27);
    expect(share('429')).toBeLessThan(0.33);
    expect(share('503')).toBeGreaterThan(0.08);
    expect(share('503')).toBeLessThan(0.12);
    expect(f.injected['429'] + f.injected['503']).toBe(draws.filter(Boolean).length);
    const g = new FaultInjector({ rate429: 0.3, rate503: 0.1, seed: 3 });
    expect(Array.from({ length: 5000 }, () => g.draw())).toEqual(draws);
  });
  it('renders Retry-After as seconds or an HTTP-date no earlier than asked', () => {
    const f = new FaultInjector({ retryAfterSeconds: 2, retryAfterForm: 'alternate' });
    const now = new Date('2025-01-01T12:00:00.400Z');
    expect(f.retryAfterHeader(now)).toBe('2');
    const date = f.retryAfterHeader(now);
    expect(Date.parse(date) - now.getTime()).toBeGreaterThanOrEqual(2000);
    expect(() => new FaultInjector({ rateReset: -1 })).toThrow(/rateReset/);
  });
});

describe('adapters (pure parts)', () => {
  it('version constant follows package.json', () => {
    expect(FLOWWARDEN_VERSION).toBe((JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version);
  });
  it('reads action types and connector operations from nested definitions', () => {
    const info = actionInfoFrom(
      {
        actions: {
          Scope: { type: 'Scope', actions: { Get_secret: { type: 'OpenApiConnection', inputs: { host: { connectionName: 'shared_keyvault', operationId: 'GetSecret' } } } } },
          Condition: { type: 'If', actions: {}, else: { actions: { Send: { type: 'OpenApiConnection', inputs: { host: { connectionReferenceName: 'kv2', operationId: 'SendEmailV2' } } } } } },
          Switch: { type: 'Switch', cases: { A: { actions: { Http_A: { type: 'Http' } } } }, default: { actions: { Compose: { type: 'Compose' } } } },
        },
      },
      [{ name: 'kv2', apiName: 'shared_office365' }],
    );
    expect(info.get('Get_secret')).toEqual({ type: 'OpenApiConnection', operationId: 'GetSecret', apiName: 'shared_keyvault' });
    expect(info.get('Send')?.apiName).toBe('shared_office365');
    expect(info.get('Http_A')?.type).toBe('Http');
    expect(info.get('Compose')?.type).toBe('Compose');
  });
});
