import { describe, expect, it } from 'vitest';
import type { Policy } from '../../../src/core/policy';
import type { AuditRow } from '../../../src/ports';
import { createIdentityResolver } from '../../../src/pipelines/identityResolver';
import { AUDIT_SOURCE, pollAudit, type PollAuditDeps } from '../../../src/pipelines/pollAudit';
import { demoPolicy, ENV, IDS } from '../../unit/modifiers/helpers';
import { FakeDataverse, fixedClock, MemoryCheckpointStore, MemoryFindingStore, MemoryLogger, MemoryPoisonStore, MemoryProfileStore } from './memory';

const NOW = '2026-11-23T12:00:00.000Z';
const ROLE = 'd0000000-0000-4000-8000-0000000000d1';

function tenant(): FakeDataverse {
  const dv = new FakeDataverse();
  const apps: [string, string, string][] = [
    [IDS.invoiceSync, 'a1b2c3d4-0001-4e5f-8a9b-000000000001', 'Invoice Sync'],
    [IDS.contactEnricher, 'a1b2c3d4-0002-4e5f-8a9b-000000000002', 'Contact Enricher'],
    [IDS.unknownApp, 'a1b2c3d4-0009-4e5f-8a9b-000000000009', 'Mystery App'],
  ];
  for (const [id, app, name] of apps) dv.users.set(id, { systemuserid: id, fullname: name, applicationid: app, domainname: `${app}@contoso.onmicrosoft.com` });
  dv.users.set(IDS.alice, { systemuserid: IDS.alice, fullname: 'Alice Maker', domainname: 'alice@contoso.com' });
  dv.users.set(IDS.bob, { systemuserid: IDS.bob, fullname: 'Bob Person', domainname: 'bob@contoso.com' });
  return dv;
}

let n = 0;
const row = (createdon: string, over: Partial<AuditRow>): AuditRow => ({
  auditid: `a0000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
  createdon,
  action: 2,
  operation: 2,
  objecttypecode: 'cr5f2_invoice',
  _objectid_value: `b0000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
  _userid_value: IDS.invoiceSync,
  _callinguserid_value: null,
  ...over,
});

/** The sample tenant's audit history: one row per rule plus normal traffic, a bad row and an unknown code. */
function sampleAudits(): AuditRow[] {
  n = 0; // same ids on every call: two setups describe the same tenant
  return [
    row('2026-11-23T08:00:00Z', {}), // normal: Invoice Sync on invoices
    row('2026-11-23T08:05:00Z', { _userid_value: IDS.bob }), // person on automation table + not in policy
    row('2026-11-23T08:10:00Z', { _userid_value: IDS.contactEnricher }), // outside lane + not in policy
    row('2026-11-23T08:15:00Z', { objecttypecode: 'contact', _userid_value: IDS.unknownApp }), // not in policy, first seen
    row('2026-11-23T08:20:00Z', { objecttypecode: 'account', _userid_value: IDS.alice, _callinguserid_value: IDS.contactEnricher }), // impersonation
    row('2026-11-23T08:25:00Z', { action: 55, objecttypecode: 'systemuser', _objectid_value: IDS.bob, _userid_value: IDS.alice, changedata: `role,${ROLE}` }), // drift
    row('2026-11-23T08:30:00Z', { _userid_value: 'not-a-guid' }), // poison
    row('2026-11-23T08:35:00Z', { action: 4242, operation: 2 }), // unknown action code
  ];
}

function setup(policy: Policy = demoPolicy()) {
  const dataverse = tenant();
  dataverse.audits.set(ENV, sampleAudits());
  const clock = fixedClock(NOW);
  const deps: PollAuditDeps = {
    dataverse,
    findings: new MemoryFindingStore(),
    checkpoints: new MemoryCheckpointStore(),
    profiles: new MemoryProfileStore(),
    poison: new MemoryPoisonStore(),
    policy,
    log: new MemoryLogger(),
    clock,
    lookbackMinutes: 30,
    initialLookbackHours: 24,
  };
  return { deps, dataverse, clock, findings: deps.findings as MemoryFindingStore, checkpoints: deps.checkpoints as MemoryCheckpointStore, profiles: deps.profiles as MemoryProfileStore, poison: deps.poison as MemoryPoisonStore, log: deps.log as MemoryLogger };
}

describe('pollAudit', () => {
  it('first run on the sample tenant: every modifier rule, drift for role events, poison, unknown codes, checkpoint', async () => {
    const t = setup();
    const r = await pollAudit(t.deps, { pageSize: 3 });
    expect(r.rows).toBe(8);
    expect(r.poisoned).toBe(1);
    expect(r.unknownActions).toEqual({ 'action:4242': 1 });
    expect(r.environments).toMatchObject([{ environmentId: ENV, status: 'ok', pages: 3, since: '2026-11-22T12:00:00.000Z', until: NOW }]);
    const rules = new Set(t.findings.all().map((f) => f.ruleId));
    for (const rule of ['modifier.not-in-policy', 'modifier.person-on-automation-table', 'modifier.outside-lane', 'modifier.first-seen', 'modifier.impersonation']) expect(rules).toContain(rule);
    expect(t.findings.all().some((f) => f.kind === 'permission-drift')).toBe(true);
    expect(r.created).toBe(t.findings.items.size);

    const bob = t.findings.all().find((f) => f.ruleId === 'modifier.person-on-automation-table')!;
    expect(bob.evidence).toMatchObject({ identityName: 'Bob Person', identityKind: 'person', upn: 'bob@contoso.com', resolved: true, source: 'audit', actionCode: 2 });
    expect(bob.observedAt).toBe('2026-11-23T08:05:00.000Z');

    expect(t.poison.entries).toHaveLength(1);
    expect(t.poison.entries[0]).toMatchObject({ source: AUDIT_SOURCE, environmentId: ENV, reason: expect.stringContaining('_userid_value') });
    expect(t.poison.entries[0]!.sample).toBeUndefined();

    const cp = await t.checkpoints.get(AUDIT_SOURCE, ENV);
    expect(cp).toMatchObject({ watermark: NOW, lastSuccess: NOW, consecutiveFailures: 0 });
    expect(cp?.cursor).toBeUndefined();
    // Per page the cursor was stored before the window closed.
    expect(t.checkpoints.puts.filter((p) => p.cursor).length).toBe(2);
    expect(t.profiles.items.size).toBeGreaterThan(0);
    // one first-seen per (table, identity) in the run
    const firstSeen = t.findings.all().filter((f) => f.ruleId === 'modifier.first-seen').map((f) => `${f.evidence.table}/${f.evidence.identityId}`);
    expect(new Set(firstSeen).size).toBe(firstSeen.length);
  });

  it('the next poll re-reads the look-back window without duplicates and advances the watermark', async () => {
    const t = setup();
    await pollAudit(t.deps);
    const before = t.findings.items.size;
    t.clock.advance(5 * 60_000);
    // A late row inside the look-back window and a new one.
    t.dataverse.audits.get(ENV)!.push(row('2026-11-23T11:50:00Z', { _userid_value: IDS.bob, _objectid_value: 'b0000000-0000-4000-8000-0000000000f1' }));
    const r = await pollAudit(t.deps);
    expect(t.dataverse.listCalls.at(-1)).toMatchObject({ since: '2026-11-23T11:30:00.000Z', until: '2026-11-23T12:05:00.000Z' });
    expect(r.created).toBe(2); // not-in-policy + person-on-automation for the new row; bob is no longer first-seen
    expect(t.findings.items.size).toBe(before + 2);
    expect((await t.checkpoints.get(AUDIT_SOURCE, ENV))?.watermark).toBe('2026-11-23T12:05:00.000Z');
    // Same window again: nothing new.
    t.clock.advance(60_000);
    expect((await pollAudit(t.deps)).created).toBe(0);
  });

  it('a crash mid-window resumes from the last durable page, without loss or duplicates', async () => {
    const t = setup();
    const store = t.findings;
    let calls = 0;
    const real = store.upsertMany.bind(store);
    store.upsertMany = async (f) => {
      if (++calls === 2) throw new Error('storage down');
      return real(f);
    };
    await expect(pollAudit(t.deps, { pageSize: 3 })).rejects.toThrow('storage down');
    const cp = await t.checkpoints.get(AUDIT_SOURCE, ENV);
    expect(cp?.cursor).toContain('skip=3');
    expect(cp).toMatchObject({ windowEnd: NOW, consecutiveFailures: 1, lastError: 'Error: storage down' });
    expect(cp?.lastSuccess).toBeUndefined();

    store.upsertMany = real;
    t.clock.advance(5 * 60_000);
    const r = await pollAudit(t.deps, { pageSize: 3 });
    expect(t.dataverse.listCalls.at(-1)?.resume).toContain('skip=3');
    expect(r.environments[0]).toMatchObject({ status: 'ok', until: NOW });
    const after = await t.checkpoints.get(AUDIT_SOURCE, ENV);
    expect(after).toMatchObject({ watermark: NOW, consecutiveFailures: 0 });
    expect(after?.cursor).toBeUndefined();
    expect(after?.lastError).toBeUndefined();

    // Same findings as an uninterrupted run.
    const clean = setup();
    await pollAudit(clean.deps, { pageSize: 3 });
    expect([...t.findings.items.keys()].sort()).toEqual([...clean.findings.items.keys()].sort());
  });

  it('another instance holding the checkpoint: this one stops quietly for that environment', async () => {
    const t = setup();
    const real = t.checkpoints.put.bind(t.checkpoints);
    let puts = 0;
    t.checkpoints.put = async (cp) => {
      // The other instance writes between our claim and our first page.
      if (++puts === 2) await real({ ...(await t.checkpoints.get(AUDIT_SOURCE, ENV))!, lastAttempt: 'other' });
      return real(cp);
    };
    const r = await pollAudit(t.deps, { pageSize: 3 });
    expect(r.environments[0]!.status).toBe('concurrent');
    expect((await t.checkpoints.get(AUDIT_SOURCE, ENV))?.lastAttempt).toBe('other');
  });

  it('one failing environment does not stop the others; the error is rethrown after them', async () => {
    const policy = demoPolicy();
    policy.environments.push({ id: 'env-broken', dataverseUrl: 'https://broken.crm.dynamics.com', adminScope: true });
    const t = setup(policy);
    t.dataverse.failingEnvironments.add('env-broken');
    // Broken environment first, so the healthy one runs after the failure.
    policy.environments.reverse();
    await expect(pollAudit(t.deps)).rejects.toThrow('env-broken unavailable');
    expect((await t.checkpoints.get(AUDIT_SOURCE, ENV))?.watermark).toBe(NOW);
    expect(await t.checkpoints.get(AUDIT_SOURCE, 'env-broken')).toMatchObject({ consecutiveFailures: 1, lastError: expect.stringContaining('unavailable') });
    expect(t.findings.items.size).toBeGreaterThan(0);
  });

  it('unresolvable identities still raise findings (resolved:false), and are retried on the next run', async () => {
    const t = setup();
    t.dataverse.failingUsers.add(IDS.bob);
    const resolver = createIdentityResolver(t.dataverse, t.deps.policy);
    await pollAudit({ ...t.deps, resolver });
    const unresolved = t.findings.all().filter((f) => f.evidence.identityId === IDS.bob);
    expect(unresolved.length).toBeGreaterThan(0);
    for (const f of unresolved) expect(f.evidence.resolved).toBe(false);
    t.dataverse.failingUsers.clear();
    expect((await resolver.resolve(ENV, IDS.bob)).resolved).toBe(true);
  });

  it('a clock that jumps backwards never moves the watermark back', async () => {
    const t = setup();
    await pollAudit(t.deps);
    t.clock.set('2026-11-23T10:00:00.000Z');
    await pollAudit(t.deps);
    expect((await t.checkpoints.get(AUDIT_SOURCE, ENV))?.watermark).toBe(NOW);
  });

  it('honours environmentIds and an aborted signal', async () => {
    const t = setup();
    const r = await pollAudit(t.deps, { environmentIds: ['nope'] });
    expect(r.environments).toEqual([]);
    const ac = new AbortController();
    ac.abort();
    await expect(pollAudit(t.deps, { abortSignal: ac.signal })).rejects.toThrow();
  });
});
