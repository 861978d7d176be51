import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GLOBAL_MESSAGES, registerWebhook, RegistrationError, TABLE_MESSAGES } from '../../../scripts/register-webhook.js';

/**
 * A loopback stand-in for the parts of the Dataverse Web API the registration script uses, with
 * the entity and attribute names of the real service (serviceendpoints, sdkmessages,
 * sdkmessagefilters, sdkmessageprocessingsteps).
 */
interface Row extends Record<string, unknown> {}
interface FakeDataverse {
  url: string;
  requests: { method: string; path: string; body?: Row }[];
  endpoints: Row[];
  steps: Row[];
  failNext?: { method: string; entity: string; status: number };
  close(): Promise<void>;
}

const TOKEN = 'test-token-not-a-secret';
const SECRET = 'wh-secret-<&>"\'-0123456789';
const messages = new Map([...TABLE_MESSAGES, ...GLOBAL_MESSAGES].map((m) => [m, randomUUID()]));
/** contact is user-owned (all messages); cr5f2_invoice is organization-owned (no Assign/sharing). */
const filters: Row[] = [
  ...TABLE_MESSAGES.map((m) => ({ sdkmessagefilterid: randomUUID(), primaryobjecttypecode: 'contact', _sdkmessageid_value: messages.get(m) })),
  ...['Create', 'Update', 'Delete'].map((m) => ({ sdkmessagefilterid: randomUUID(), primaryobjecttypecode: 'cr5f2_invoice', _sdkmessageid_value: messages.get(m) })),
];

function filterRows(rows: Row[], filter: string | null): Row[] {
  if (!filter) return rows;
  const clauses = filter.split(' and ').map((c) => {
    const m = /^(\w+) eq (?:'((?:[^']|'')*)'|([0-9a-f-]{36}))$/.exec(c.trim());
    if (!m) throw new Error(`fake Dataverse cannot read filter clause ${c}`);
    return [m[1]!, m[2] !== undefined ? m[2].replace(/''/g, "'") : m[3]!] as const;
  });
  return rows.filter((r) => clauses.every(([k, v]) => String(r[k]) === v));
}

async function startFake(): Promise<FakeDataverse> {
  const fake = { requests: [], endpoints: [], steps: [] } as unknown as FakeDataverse;
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const u = new URL(req.url!, 'http://127.0.0.1');
      const body = raw ? (JSON.parse(raw) as Row) : undefined;
      fake.requests.push({ method: req.method!, path: u.pathname + u.search, body });
      const send = (status: number, json?: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(json === undefined ? '' : JSON.stringify(json));
      };
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { error: { code: '0x80040220', message: 'no token' } });
      const m = /^\/api\/data\/v9\.2\/(\w+)(?:\(([0-9a-f-]{36})\))?$/.exec(u.pathname);
      if (!m) return send(404, { error: { message: 'unknown path' } });
      const [, entity, id] = m;
      if (fake.failNext && fake.failNext.method === req.method && fake.failNext.entity === entity) {
        const { status } = fake.failNext;
        fake.failNext = undefined;
        return send(status, { error: { code: '0x80040216', message: 'An unexpected error occurred.' } });
      }
      const tables: Record<string, Row[]> = {
        serviceendpoints: fake.endpoints,
        sdkmessages: [...messages].map(([name, sdkmessageid]) => ({ name, sdkmessageid })),
        sdkmessagefilters: filters,
        sdkmessageprocessingsteps: fake.steps,
      };
      const rows = tables[entity!];
      if (!rows) return send(404, { error: { message: `no entity ${entity}` } });
      if (req.method === 'GET') return send(200, { value: filterRows(rows, u.searchParams.get('$filter')) });
      if (req.method === 'POST' && entity === 'serviceendpoints') {
        const row = { ...body, serviceendpointid: randomUUID() };
        fake.endpoints.push(row);
        return send(201, row);
      }
      if (req.method === 'PATCH' && entity === 'serviceendpoints') {
        const row = fake.endpoints.find((e) => e.serviceendpointid === id);
        if (!row) return send(404, { error: { message: 'no such endpoint' } });
        Object.assign(row, body);
        return send(204);
      }
      if (req.method === 'POST' && entity === 'sdkmessageprocessingsteps') {
        const handler = /\/serviceendpoints\(([0-9a-f-]{36})\)/.exec(String(body!['eventhandler_serviceendpoint@odata.bind']))?.[1];
        const row = { ...body, sdkmessageprocessingstepid: randomUUID(), _eventhandler_value: handler };
        fake.steps.push(row);
        return send(201, row);
      }
      return send(405, { error: { message: 'method not allowed' } });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () => new Promise<void>((r) => server.close(() => r()));
  return fake;
}

let fake: FakeDataverse;
beforeEach(async () => {
  fake = await startFake();
});
afterEach(async () => {
  await fake.close();
});

const base = () => ({
  dataverseUrl: fake.url,
  webhookUrl: 'https://flowwarden-abc.azurewebsites.net/api/webhooks/dataverse',
  secret: SECRET,
  tables: ['contact', 'cr5f2_invoice'],
  getToken: async () => TOKEN,
});

describe('scripts/register-webhook.js', () => {
  it('creates the HttpHeader service endpoint and async PostOperation steps on the monitored tables and role changes', async () => {
    const logs: string[] = [];
    const result = await registerWebhook({ ...base(), log: (l) => logs.push(l) });

    expect(fake.endpoints).toHaveLength(1);
    const ep = fake.endpoints[0]!;
    expect(ep).toMatchObject({ name: 'flowwarden', contract: 8, authtype: 5, messageformat: 2, url: base().webhookUrl });
    // The secret is XML-escaped inside the settings document Dataverse expects for HttpHeader auth.
    expect(ep.authvalue).toBe(
      '<settings><setting name="x-flowwarden-key" value="wh-secret-&lt;&amp;&gt;&quot;&apos;-0123456789" /></settings>',
    );
    expect(result.serviceEndpointId).toBe(ep.serviceendpointid);

    const names = fake.steps.map((s) => s.name).sort();
    expect(names).toEqual(
      [
        ...TABLE_MESSAGES.map((m) => `flowwarden: ${m} of contact`),
        ...['Create', 'Update', 'Delete'].map((m) => `flowwarden: ${m} of cr5f2_invoice`),
        'flowwarden: Associate',
        'flowwarden: Disassociate',
      ].sort(),
    );
    expect(result.skipped).toHaveLength(4);
    expect(result.skipped.every((s) => s.includes('cr5f2_invoice'))).toBe(true);
    for (const step of fake.steps) {
      expect(step).toMatchObject({ mode: 1, stage: 40, supporteddeployment: 0, asyncautodelete: true, _eventhandler_value: ep.serviceendpointid });
      const message = String(step.name).replace(/^flowwarden: (\w+).*$/, '$1');
      expect(step['sdkmessageid@odata.bind']).toBe(`/sdkmessages(${messages.get(message)})`);
      const table = /of (\w+)$/.exec(String(step.name))?.[1];
      if (table) {
        const filter = filters.find((f) => f.primaryobjecttypecode === table && f._sdkmessageid_value === messages.get(message))!;
        expect(step['sdkmessagefilterid@odata.bind']).toBe(`/sdkmessagefilters(${filter.sdkmessagefilterid})`);
      } else {
        expect(step['sdkmessagefilterid@odata.bind']).toBeUndefined();
      }
    }
    expect(logs.join('\n')).not.toContain('wh-secret');
  });

  it('is idempotent: a second run updates the endpoint and adds no step', async () => {
    await registerWebhook(base());
    const before = fake.steps.length;
    const result = await registerWebhook({ ...base(), webhookUrl: 'https://flowwarden-new.azurewebsites.net/api/webhooks/dataverse' });
    expect(fake.steps).toHaveLength(before);
    expect(result.created).toEqual([]);
    expect(result.existing).toHaveLength(before);
    expect(fake.endpoints).toHaveLength(1);
    expect(fake.endpoints[0]!.url).toBe('https://flowwarden-new.azurewebsites.net/api/webhooks/dataverse');
    expect(fake.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1);
  });

  it('changes nothing on a dry run', async () => {
    const result = await registerWebhook({ ...base(), dryRun: true });
    expect(fake.requests.every((r) => r.method === 'GET')).toBe(true);
    expect(result.created).toHaveLength(TABLE_MESSAGES.length + 3 + GLOBAL_MESSAGES.length);
  });

  it('names the table when it has no Create filter (a wrong logical name)', async () => {
    await expect(registerWebhook({ ...base(), tables: ['contatc'] })).rejects.toMatchObject({
      name: 'RegistrationError',
      field: 'tables',
      message: expect.stringContaining('contatc'),
    });
  });

  it('reports Web API failures with status and never the secret', async () => {
    fake.failNext = { method: 'POST', entity: 'serviceendpoints', status: 500 };
    const err = await registerWebhook(base()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistrationError);
    expect((err as RegistrationError).status).toBe(500);
    expect((err as Error).message).toContain('POST serviceendpoints: HTTP 500');
    expect((err as Error).message).not.toContain('wh-secret');
  });

  it('rejects bad input by field before calling Dataverse', async () => {
    await expect(registerWebhook({ ...base(), secret: 'short' })).rejects.toMatchObject({ field: 'secret' });
    await expect(registerWebhook({ ...base(), webhookUrl: 'http://example.com/hook' })).rejects.toMatchObject({ field: 'webhookUrl' });
    await expect(registerWebhook({ ...base(), tables: [] })).rejects.toMatchObject({ field: 'tables' });
    expect(fake.requests).toHaveLength(0);
  });
});
