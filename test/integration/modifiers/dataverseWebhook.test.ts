import { readFileSync } from 'node:fs';
import { startLocalHost, type LocalHost } from '../../../src/host/localHost';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { benchWebhook, buildRemoteExecutionContext, isLoopbackUrl, type ContextSpec } from '../../../bench/webhookBench';
import type { Policy } from '../../../src/core/policy';
import { handleDataverseWebhook, keyMatches, PROFILE_REFRESH_MS, PROFILE_TTL_MS, ProfileCache, profileCacheFor, WEBHOOK_SOURCE, type WebhookDeps, type WebhookRequest } from '../../../src/pipelines/dataverseWebhook';
import { createIdentityResolver } from '../../../src/pipelines/identityResolver';
import { pollAudit } from '../../../src/pipelines/pollAudit';
import { demoPolicy, ENV, IDS, ORG_HOST, ORG_ID, SAMPLES } from '../../unit/modifiers/helpers';
import { FakeDataverse, fixedClock, MemoryCheckpointStore, MemoryFindingStore, MemoryLogger, MemoryPoisonStore, MemoryProfileStore } from './memory';

const KEY = 'test-webhook-secret-0123456789';
const OLD_KEY = 'rotated-out-secret-but-still-valid';
const NOW = '2026-11-23T12:00:00.000Z';
const SAMPLE_DIR = path.join(SAMPLES, 'webhook');
const sample = (f: string): string => readFileSync(path.join(SAMPLE_DIR, f), 'utf8');

/** The demo policy plus the environments of the published samples (matched by organization id / host). */
function testPolicy(): Policy {
  const p = demoPolicy();
  p.environments.push(
    { id: 'docs-sample', dataverseUrl: 'https://orgname.crm.dynamics.com', organizationId: '4ef5b371-e89e-e711-8122-000d3aa2331c', adminScope: true },
    { id: 'fusebit-sample', dataverseUrl: 'https://org6eadd181.crm.dynamics.com', adminScope: true },
  );
  return p;
}

function fakeTenant(): FakeDataverse {
  const dv = new FakeDataverse();
  dv.users.set(IDS.invoiceSync, { systemuserid: IDS.invoiceSync, fullname: 'Invoice Sync', applicationid: 'a1b2c3d4-0001-4e5f-8a9b-000000000001' });
  dv.users.set(IDS.contactEnricher, { systemuserid: IDS.contactEnricher, fullname: 'Contact Enricher', applicationid: 'a1b2c3d4-0002-4e5f-8a9b-000000000002' });
  dv.users.set(IDS.alice, { systemuserid: IDS.alice, fullname: 'Alice Maker', domainname: 'alice@contoso.com' });
  dv.users.set(IDS.bob, { systemuserid: IDS.bob, fullname: 'Bob Person', domainname: 'bob@contoso.com' });
  return dv;
}

function makeDeps(over: Partial<WebhookDeps> = {}) {
  const policy = testPolicy();
  const dataverse = fakeTenant();
  const deps: WebhookDeps = {
    findings: new MemoryFindingStore(),
    profiles: new MemoryProfileStore(),
    poison: new MemoryPoisonStore(),
    resolver: createIdentityResolver(dataverse, policy),
    policy,
    webhookSecrets: [KEY, OLD_KEY],
    maxBytes: 256 * 1024,
    log: new MemoryLogger(),
    clock: fixedClock(NOW),
    ...over,
  };
  return { deps, dataverse, findings: deps.findings as MemoryFindingStore, poison: deps.poison as MemoryPoisonStore, log: deps.log as MemoryLogger, profiles: deps.profiles as MemoryProfileStore };
}

/** The local host `serve` runs (src/host/localHost.ts), with the webhook route bound to these deps. */
async function host(deps: WebhookDeps): Promise<{ url: string; server: LocalHost }> {
  const server = await startLocalHost({
    port: 0,
    log: deps.log,
    routes: [
      { method: 'POST', path: '/api/webhooks/dataverse', handle: (r) => handleDataverseWebhook(r, deps) },
      { method: 'GET', path: '/api/health', handle: async () => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"status":"ok"}' }) },
    ],
  });
  return { url: `${server.url}/api/webhooks/dataverse`, server };
}

const spec = (over: Partial<ContextSpec> = {}): ContextSpec => ({
  message: 'Update',
  table: 'cr5f2_invoice',
  recordId: 'b0000000-0000-4000-8000-000000000001',
  userId: IDS.bob,
  organizationId: ORG_ID,
  at: Date.parse('2026-11-23T11:59:58.000Z'),
  ...over,
});

const req = (body: WebhookRequest['body'], headers: Record<string, string> = {}, query: Record<string, string> = {}): WebhookRequest => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', 'x-flowwarden-key': KEY, 'x-ms-dynamics-organization': ORG_HOST, ...headers },
  query,
  body,
});

type Accepted = { accepted: boolean; findings: { id: string; ruleId: string; severity: string }[] };

describe('handleDataverseWebhook (handler directly)', () => {
  it('powerapps-docs sample: 202, findings durably written before the answer, parsed fields in evidence', async () => {
    const t = makeDeps();
    const r = await handleDataverseWebhook(req(sample('remoteexecutioncontext.contact-update.powerapps-docs.json'), { 'x-ms-dynamics-organization': 'orgname.crm.dynamics.com' }), t.deps);
    expect(r.status).toBe(202);
    const body = JSON.parse(r.body) as Accepted;
    expect(body.accepted).toBe(true);
    expect(body.findings.map((f) => f.ruleId).sort()).toEqual(['modifier.first-seen', 'modifier.not-in-policy']);
    for (const f of body.findings) {
      const stored = t.findings.items.get(f.id)!;
      expect(stored).toMatchObject({ environmentId: 'docs-sample', observedAt: '2017-09-26T07:04:08.000Z', severity: f.severity });
      expect(stored.evidence).toMatchObject({ table: 'contact', recordId: '6d81597f-0f9f-e711-8122-000d3aa2331c', identityId: '75c2dd85-e89e-e711-8122-000d3aa2331c', resolved: false, source: 'webhook', messageName: 'Update', operation: 'update', portalLink: 'https://orgname.crm.dynamics.com/main.aspx?etn=contact&id=6d81597f-0f9f-e711-8122-000d3aa2331c&pagetype=entityrecord' });
    }
    expect(t.profiles.items.size).toBe(1);
  });

  it('environment by OrganizationId when the header is absent', async () => {
    const t = makeDeps();
    const r = await handleDataverseWebhook({ ...req(sample('remoteexecutioncontext.contact-update.powerapps-docs.json')), headers: { 'content-type': 'application/json', 'x-flowwarden-key': KEY } }, t.deps);
    expect(r.status).toBe(202);
    expect(t.findings.all()[0]!.environmentId).toBe('docs-sample');
  });

  it('fusebit minimal event with the fusebit headers: accepted, nothing attributable', async () => {
    const t = makeDeps();
    const headers = JSON.parse(sample('fusebit-webhook-headers.json')) as Record<string, string>;
    const r = await handleDataverseWebhook(req(sample('fusebit-webhook-event.minimal.json'), headers), t.deps);
    expect(r.status).toBe(202);
    expect(JSON.parse(r.body)).toEqual({ accepted: true, findings: [] });
    expect(t.log.lines.some((l) => l.message === 'webhook accepted without attribution' && l.props?.environmentId === 'fusebit-sample')).toBe(true);
  });

  it('fusebit headers posted as a body: 400 naming MessageName, set aside without a sample, input not echoed', async () => {
    const t = makeDeps();
    const r = await handleDataverseWebhook(req(sample('fusebit-webhook-headers.json')), t.deps);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ field: 'MessageName' });
    expect(r.body).not.toContain('org6eadd181');
    expect(t.poison.entries).toHaveLength(1);
    expect(t.poison.entries[0]).toMatchObject({ source: WEBHOOK_SOURCE, environmentId: ENV, reason: expect.stringContaining('MessageName'), key: expect.stringMatching(/^sha256:/) });
    expect(t.poison.entries[0]!.sample).toBeUndefined();
  });

  it('authenticates first: 401 without reading the body, for a missing or wrong key', async () => {
    const t = makeDeps();
    let read = false;
    const body: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]() {
        read = true;
        throw new Error('body must not be read');
      },
    };
    expect((await handleDataverseWebhook({ ...req(body), headers: { 'content-type': 'application/json' } }, t.deps)).status).toBe(401);
    expect((await handleDataverseWebhook(req(body, { 'x-flowwarden-key': 'wrong-key-wrong-key' }), t.deps)).status).toBe(401);
    expect((await handleDataverseWebhook({ ...req(body, {}, { code: 'nope' }), headers: { 'content-type': 'application/json' } }, t.deps)).status).toBe(401);
    expect(read).toBe(false);
    expect(t.log.text()).not.toContain('wrong-key');
    // No secret configured = nobody gets in.
    expect((await handleDataverseWebhook(req('{}'), { ...t.deps, webhookSecrets: [] })).status).toBe(401);
  });

  it('accepts the key as the code query parameter (WebhookKey auth) and a rotated-out secret', async () => {
    const t = makeDeps();
    const body = JSON.stringify(buildRemoteExecutionContext(spec()));
    const viaCode = await handleDataverseWebhook({ ...req(body, {}, { code: KEY }), headers: { 'content-type': 'application/json', 'x-ms-dynamics-organization': ORG_HOST } }, t.deps);
    expect(viaCode.status).toBe(202);
    expect((await handleDataverseWebhook(req(body, { 'x-flowwarden-key': OLD_KEY }), t.deps)).status).toBe(202);
    expect(keyMatches(KEY, [KEY])).toBe(true);
    expect(keyMatches(KEY.slice(0, -1), [KEY])).toBe(false);
    expect(keyMatches(undefined, [KEY])).toBe(false);
  });

  it('415 for a non-JSON content type, 405 for GET, 413 over the cap (declared or streamed)', async () => {
    const t = makeDeps({ maxBytes: 1000 });
    expect((await handleDataverseWebhook(req('{}', { 'content-type': 'text/plain' }), t.deps)).status).toBe(415);
    expect((await handleDataverseWebhook({ ...req('{}'), method: 'GET' }, t.deps)).status).toBe(405);
    expect((await handleDataverseWebhook(req('{}', { 'content-length': '5000' }), t.deps)).status).toBe(413);
    let pulled = 0;
    async function* chunks(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < 100; i++) {
        pulled++;
        yield new Uint8Array(400);
      }
    }
    const r = await handleDataverseWebhook(req(chunks()), t.deps);
    expect(r.status).toBe(413);
    expect(pulled).toBe(3); // stopped reading once past the cap
  });

  it('400 naming the field for an organization no environment matches', async () => {
    const t = makeDeps();
    const body = JSON.stringify(buildRemoteExecutionContext(spec({ organizationId: '99999999-0000-4000-8000-000000000000' })));
    const r = await handleDataverseWebhook(req(body, { 'x-ms-dynamics-organization': 'elsewhere.crm.dynamics.com' }), t.deps);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ field: 'x-ms-dynamics-organization' });
    const noHeader = await handleDataverseWebhook({ ...req(body), headers: { 'content-type': 'application/json', 'x-flowwarden-key': KEY } }, t.deps);
    expect(JSON.parse(noHeader.body)).toMatchObject({ field: 'OrganizationId' });
  });

  it('each message variant is accepted and raises the expected rules', async () => {
    const t = makeDeps();
    const post = async (s: Partial<ContextSpec>) => JSON.parse((await handleDataverseWebhook(req(JSON.stringify(buildRemoteExecutionContext(spec(s)))), t.deps)).body) as Accepted;
    const rules = (a: Accepted) => a.findings.map((f) => f.ruleId).sort();
    expect(rules(await post({ message: 'Create' }))).toEqual(['modifier.first-seen', 'modifier.not-in-policy', 'modifier.person-on-automation-table']);
    expect(rules(await post({ message: 'Update', userId: IDS.contactEnricher }))).toEqual(['modifier.first-seen', 'modifier.not-in-policy', 'modifier.outside-lane']);
    expect(rules(await post({ message: 'Update', table: 'account', userId: IDS.alice, initiatingUserId: IDS.contactEnricher }))).toEqual(['modifier.first-seen', 'modifier.impersonation']);
    expect(rules(await post({ message: 'Delete', userId: IDS.invoiceSync }))).toEqual(['modifier.first-seen']);
    expect(rules(await post({ message: 'Assign', userId: IDS.invoiceSync, principal: { logicalName: 'systemuser', id: IDS.alice } }))).toEqual([]);
    expect(rules(await post({ message: 'GrantAccess', userId: IDS.bob, principal: { logicalName: 'systemuser', id: IDS.alice } }))).toEqual(['modifier.not-in-policy', 'modifier.person-on-automation-table']);
    const role = await post({ message: 'Associate', table: 'systemuser', recordId: IDS.bob, userId: IDS.alice, relationship: 'systemuserroles_association', related: [{ logicalName: 'role', id: 'd0000000-0000-4000-8000-0000000000d1', name: 'System Administrator' }] });
    expect(role.findings.length).toBeGreaterThan(0);
    expect(role.findings.every((f) => f.ruleId.startsWith('drift.'))).toBe(true);
  });

  it('the same event twice gives one finding; the same change via audit poll and webhook too', async () => {
    const t = makeDeps();
    const body = JSON.stringify(buildRemoteExecutionContext(spec()));
    const a = JSON.parse((await handleDataverseWebhook(req(body), t.deps)).body) as Accepted;
    const size = t.findings.items.size;
    const b = JSON.parse((await handleDataverseWebhook(req(body), t.deps)).body) as Accepted;
    expect(t.findings.items.size).toBe(size);
    // The redelivery is no longer first-seen; its other findings have the same ids.
    expect(b.findings.map((f) => f.id).every((id) => a.findings.some((x) => x.id === id))).toBe(true);

    // The audit row of the same change (createdon a few hundred ms apart, same second) dedupes.
    const dataverse = fakeTenant();
    dataverse.audits.set(ENV, [
      { auditid: 'a0000000-0000-4000-8000-0000000000aa', createdon: '2026-11-23T11:59:58.420Z', action: 2, operation: 2, objecttypecode: 'cr5f2_invoice', _objectid_value: 'b0000000-0000-4000-8000-000000000001', _userid_value: IDS.bob },
    ]);
    const r = await pollAudit({ dataverse, findings: t.findings, checkpoints: new MemoryCheckpointStore(), profiles: t.profiles, poison: t.poison, policy: t.deps.policy, log: t.log, clock: fixedClock('2026-11-23T12:05:00.000Z'), lookbackMinutes: 30, initialLookbackHours: 1 });
    expect(r.findings).toBeGreaterThan(0);
    expect(r.created).toBe(0);
  });

  it('identity lookups that fail do not reject the webhook: findings carry resolved:false', async () => {
    const t = makeDeps();
    t.dataverse.failingUsers.add(IDS.bob);
    const r = await handleDataverseWebhook(req(JSON.stringify(buildRemoteExecutionContext(spec()))), t.deps);
    expect(r.status).toBe(202);
    expect(t.findings.all().every((f) => f.evidence.resolved === false)).toBe(true);
  });

  it('a storage failure answers 503 with Retry-After (Dataverse retries), never for bad input', async () => {
    const t = makeDeps();
    t.findings.failNext = 1;
    const r = await handleDataverseWebhook(req(JSON.stringify(buildRemoteExecutionContext(spec()))), t.deps);
    expect(r.status).toBe(503);
    expect(r.headers?.['retry-after']).toBe('5');
    t.profiles.failReads = true;
    // A table whose profile is not cached yet: the read fails.
    expect((await handleDataverseWebhook(req(JSON.stringify(buildRemoteExecutionContext(spec({ table: 'contact' })))), t.deps)).status).toBe(503);
    // Poison store down + bad input: still 400.
    t.deps.poison.put = async () => {
      throw new Error('down');
    };
    expect((await handleDataverseWebhook(req('not json'), t.deps)).status).toBe(400);
  });
});

describe('over HTTP on loopback (the route serve exposes)', () => {
  let server: LocalHost;
  let url: string;
  const t = makeDeps();

  beforeAll(async () => {
    ({ server, url } = await host(t.deps));
  });
  afterAll(async () => {
    await server.stop();
  });

  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-flowwarden-key': KEY, 'x-ms-dynamics-organization': ORG_HOST, ...headers }, body });

  it('every published sample through the real HTTP path', async () => {
    const docs = await post(sample('remoteexecutioncontext.contact-update.powerapps-docs.json'), { 'x-ms-dynamics-organization': 'orgname.crm.dynamics.com' });
    expect(docs.status).toBe(202);
    const parsed = (await docs.json()) as Accepted;
    expect(parsed.findings.length).toBe(2);
    expect(t.findings.items.get(parsed.findings[0]!.id)?.evidence.recordId).toBe('6d81597f-0f9f-e711-8122-000d3aa2331c');

    const fusebit = await post(sample('fusebit-webhook-event.minimal.json'), JSON.parse(sample('fusebit-webhook-headers.json')) as Record<string, string>);
    expect(fusebit.status).toBe(202);
    expect(await fusebit.json()).toEqual({ accepted: true, findings: [] });

    const headersAsBody = await post(sample('fusebit-webhook-headers.json'));
    expect(headersAsBody.status).toBe(400);
    expect(((await headersAsBody.json()) as { field: string }).field).toBe('MessageName');
  });

  it('401 / 413 over HTTP, and the health route', async () => {
    expect((await post('{}', { 'x-flowwarden-key': 'nope' })).status).toBe(401);
    const big = await post(JSON.stringify({ pad: 'x'.repeat(300 * 1024) }));
    expect(big.status).toBe(413);
    expect((await fetch(url.replace('/webhooks/dataverse', '/health'))).status).toBe(200);
  });

  it('benchWebhook: bounded open-loop load on loopback, all accepted', async () => {
    const r = await benchWebhook({ url, key: KEY, rps: 50, seconds: 1 });
    expect(r.sent).toBe(50);
    expect(r.errors).toBe(0);
    expect(r.statusCounts).toEqual({ '202': 50 });
    expect(r.p99Ms).toBeGreaterThan(0);
    expect(r.p50Ms).toBeLessThanOrEqual(r.p99Ms);
  });

  it('benchWebhook refuses non-loopback URLs and unbounded runs', async () => {
    expect(isLoopbackUrl('http://127.0.0.1:7071/x')).toBe(true);
    expect(isLoopbackUrl('http://[::1]:7071/x')).toBe(true);
    expect(isLoopbackUrl('https://example.com/x')).toBe(false);
    expect(isLoopbackUrl('http://10.0.0.1/x')).toBe(false);
    await expect(benchWebhook({ url: 'https://example.com/api', key: KEY })).rejects.toThrow(/loopback/);
    await expect(benchWebhook({ url, key: KEY, rps: 100_000 })).rejects.toThrow(/rps/);
    await expect(benchWebhook({ url, key: KEY, seconds: 3600 })).rejects.toThrow(/seconds/);
  });
});

describe('ProfileCache (webhook hot path)', () => {
  it('reads a table profile once per TTL, writes new identities at once and known ones at most every refresh interval', async () => {
    const store = new MemoryProfileStore();
    let listCalls = 0;
    let recordCalls = 0;
    const list = store.listTable.bind(store);
    const rec = store.record.bind(store);
    store.listTable = async (e, t) => (listCalls++, list(e, t));
    store.record = async (x) => (recordCalls++, rec(x));
    const clock = fixedClock(NOW);
    const cache = new ProfileCache(store);
    expect(await cache.known(ENV, 'contact', clock)).toEqual([]);
    expect(await cache.learningStartedAt(ENV, clock)).toBeUndefined();
    await cache.known(ENV, 'contact', clock);
    expect(listCalls).toBe(1);

    await cache.record(ENV, 'contact', IDS.bob.toUpperCase(), NOW, clock);
    expect(recordCalls).toBe(1);
    expect(await cache.known(ENV, 'contact', clock)).toEqual([{ identityId: IDS.bob }]);
    expect(await cache.learningStartedAt(ENV, clock)).toBe(NOW);
    await cache.record(ENV, 'contact', IDS.bob, NOW, clock);
    expect(recordCalls).toBe(1); // coalesced
    clock.advance(PROFILE_REFRESH_MS);
    await cache.record(ENV, 'contact', IDS.bob, NOW, clock);
    expect(recordCalls).toBe(2);

    // Another writer (pollAudit) adds an identity: visible after the TTL.
    await store.record([{ environmentId: ENV, table: 'contact', identityId: IDS.alice, seenAt: NOW }]);
    expect((await cache.known(ENV, 'contact', clock)).map((e) => e.identityId)).toContain(IDS.alice);
    clock.advance(PROFILE_TTL_MS - 1);
    await cache.known(ENV, 'contact', clock);
    const calls = listCalls;
    clock.advance(1);
    await cache.known(ENV, 'contact', clock);
    expect(listCalls).toBe(calls + 1);
    // One cache per store instance.
    expect(profileCacheFor(store)).toBe(profileCacheFor(store));
    expect(profileCacheFor(new MemoryProfileStore())).not.toBe(profileCacheFor(store));
  });
});
