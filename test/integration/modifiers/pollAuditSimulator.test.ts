import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USERS } from '../../../src/dev/simulator/ids';
import { startSimulator, type SimulatorHandle } from '../../../src/dev/simulator/server';
import { createIdentityResolver } from '../../../src/pipelines/identityResolver';
import { AUDIT_SOURCE, pollAudit, type PollAuditDeps } from '../../../src/pipelines/pollAudit';
import { ConnectionsFixture } from '../sources/fixture';
import { demoPolicy } from '../../unit/modifiers/helpers';
import { MemoryCheckpointStore, MemoryFindingStore, MemoryLogger, MemoryPoisonStore, MemoryProfileStore } from './memory';

/** pollAudit against the tenant simulator through the real DataverseClient (OData paging over HTTP). */
describe('pollAudit on the sample tenant (simulator + DataverseClient)', () => {
  let sim: SimulatorHandle;
  let fx: ConnectionsFixture;
  const start = new Date();

  beforeAll(async () => {
    sim = await startSimulator({ now: () => start });
    fx = new ConnectionsFixture(sim);
  });
  afterAll(async () => {
    await sim.stop();
  });

  function deps(): PollAuditDeps {
    const policy = demoPolicy();
    expect(policy.environments[0]!.id).toBe(sim.environmentId);
    return {
      dataverse: fx.dataverse,
      findings: new MemoryFindingStore(),
      checkpoints: new MemoryCheckpointStore(),
      profiles: new MemoryProfileStore(),
      poison: new MemoryPoisonStore(),
      policy,
      log: new MemoryLogger(),
      clock: { now: () => new Date(start.getTime() + 60_000) },
      lookbackMinutes: 30,
      initialLookbackHours: 24,
    };
  }

  it('raises every modifier rule, resolves identities, pages, and closes the window', async () => {
    const d = deps();
    const r = await pollAudit(d, { pageSize: 4 });
    expect(r.environments[0]).toMatchObject({ status: 'ok' });
    expect(r.environments[0]!.pages).toBeGreaterThan(1);
    expect(r.poisoned).toBe(0);
    const all = (d.findings as MemoryFindingStore).all();
    const rules = new Set(all.map((f) => f.ruleId));
    for (const rule of ['modifier.not-in-policy', 'modifier.person-on-automation-table', 'modifier.outside-lane', 'modifier.first-seen', 'modifier.impersonation']) expect(rules).toContain(rule);

    const bob = all.find((f) => f.ruleId === 'modifier.person-on-automation-table' && f.evidence.identityId === USERS.bob.systemuserid)!;
    expect(bob.evidence).toMatchObject({ identityKind: 'person', resolved: true, table: 'cr5f2_invoice', changedAttributes: 'cr5f2_amount' });
    const lane = all.find((f) => f.ruleId === 'modifier.outside-lane')!;
    expect(lane.evidence).toMatchObject({ identityId: USERS.contactEnricher.systemuserid, applicationId: USERS.contactEnricher.appId, identityKind: 'application-user' });
    const imp = all.filter((f) => f.ruleId === 'modifier.impersonation');
    expect(imp.map((f) => f.severity).sort()).toEqual(['high', 'medium']); // account forbids it, contact is silent
    // Role and share rows of the story reach the drift rules.
    expect(all.some((f) => f.kind === 'permission-drift')).toBe(true);

    const cp = await d.checkpoints.get(AUDIT_SOURCE, sim.environmentId);
    expect(cp?.cursor).toBeUndefined();
    expect(cp?.watermark).toBe(new Date(start.getTime() + 60_000).toISOString());

    // A second poll re-reads the look-back window: nothing new.
    const again = await pollAudit({ ...d, clock: { now: () => new Date(start.getTime() + 6 * 60_000) } });
    expect(again.created).toBe(0);
  });

  it('identities are looked up once per run (cache)', async () => {
    const d = deps();
    const resolver = createIdentityResolver(fx.dataverse, d.policy);
    await pollAudit({ ...d, resolver });
    const before = sim.stats().requests['dataverse.systemusers'] ?? 0;
    expect(before).toBeGreaterThan(0);
    await pollAudit({ ...d, resolver, checkpoints: new MemoryCheckpointStore() });
    expect(sim.stats().requests['dataverse.systemusers'] ?? 0).toBe(before);
    expect(resolver.size).toBeGreaterThan(3);
  });
});
