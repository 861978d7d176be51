import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DRIFT_RULE, DRIFT_RULES_CATALOGUE } from '../../../src/core/drift/catalogue';
import { eventDriftFindings } from '../../../src/core/drift/events';
import type { Finding } from '../../../src/core/finding';
import { parsePolicy, type Policy } from '../../../src/core/policy';
import type { AuditEvent, PermissionSnapshot } from '../../../src/core/records';
import { GUEST_MALLORY, ROLES, USERS } from '../../../src/dev/simulator/ids';
import { SAMPLE_FLOW_IDS } from '../../../src/dev/simulator/sampleTenant';
import { startSimulator, type SimulatorHandle } from '../../../src/dev/simulator/server';
import { loadRoleNames, snapshotPermissions, takePermissionSnapshot, type SnapshotPermissionsDeps } from '../../../src/pipelines/snapshotPermissions';
import type { Clock, FindingQuery, FindingStore, Logger, SnapshotStore, StoredFinding } from '../../../src/ports';
import { ConnectionsFixture } from '../sources/fixture';

/** In-memory twins of the two stores this pipeline writes. Snapshots round-trip through JSON like the table. */
class MemorySnapshotStore implements SnapshotStore {
  readonly saved = new Map<string, string>();
  saves = 0;
  failSave = false;
  async load(environmentId: string): Promise<PermissionSnapshot | undefined> {
    const s = this.saved.get(environmentId);
    if (!s) return undefined;
    const snap = JSON.parse(s) as PermissionSnapshot;
    delete snap.roles; // the table store keeps principals/flows/connections only
    return snap;
  }
  async save(snapshot: PermissionSnapshot): Promise<void> {
    if (this.failSave) throw new Error('simulated crash before the snapshot was saved');
    this.saves++;
    this.saved.set(snapshot.environmentId, JSON.stringify(snapshot));
  }
}

class MemoryFindingStore implements FindingStore {
  readonly items = new Map<string, StoredFinding>();
  /** Partition like the table (environment + day of observedAt): a moving observedAt would re-create rows. */
  readonly rows = new Set<string>();
  async upsertMany(findings: Finding[]): Promise<{ created: string[] }> {
    const created: string[] = [];
    for (const f of findings) {
      const row = `${f.environmentId}_${f.observedAt.slice(0, 10)}/${f.id}`;
      if (this.rows.has(row)) continue;
      this.rows.add(row);
      if (!this.items.has(f.id)) this.items.set(f.id, { ...f, state: 'open' });
      created.push(f.id);
    }
    return { created };
  }
  async query(q: FindingQuery): Promise<{ items: StoredFinding[] }> {
    return { items: [...this.items.values()].filter((f) => !q.kind || f.kind === q.kind) };
  }
  async get(id: string): Promise<StoredFinding | undefined> {
    return this.items.get(id);
  }
}

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

let sim: SimulatorHandle;
let fx: ConnectionsFixture;
let policy: Policy;
let now = new Date('2025-03-01T10:00:00.000Z');
const clock: Clock = { now: () => now };

beforeAll(async () => {
  sim = await startSimulator();
  fx = new ConnectionsFixture(sim);
  const file = join(__dirname, '../../../policy/demo.policy.yaml');
  policy = parsePolicy(readFileSync(file, 'utf8'), file);
});
afterAll(async () => {
  await sim.stop();
});

function deps(snapshots: SnapshotStore, findings: FindingStore): SnapshotPermissionsDeps {
  return { dataverse: fx.dataverse, flowApi: fx.flowApi, connections: fx.connections, policy, clock, snapshots, findings, log: silent };
}
const rules = (fs: Finding[]) => new Set(fs.map((f) => f.ruleId));
const env = () => sim.environmentId;

describe('takePermissionSnapshot against the simulator (real clients)', () => {
  it('builds principals with direct and team roles, flows with mapped permissions, and the flow → reference → connection → owner map', async () => {
    const s = await takePermissionSnapshot({ dataverse: fx.dataverse, flowApi: fx.flowApi, connections: fx.connections, policy, clock }, env(), { concurrency: 3 });
    expect(s.environmentId).toBe(env());
    const svc = s.principals.find((p) => p.id === USERS.svcFlowOwner.systemuserid)!;
    expect(svc.kind).toBe('service-account'); // policy-declared kind wins over "person"
    expect(svc.upn).toBe('svc-flowowner@contoso.com');
    expect(svc.roles.map((r) => r.roleName).sort()).toEqual(['Basic User', 'Environment Maker', 'Invoice Writer']);
    const alice = s.principals.find((p) => p.id === USERS.alice.systemuserid)!;
    expect(alice.roles).toContainEqual({ roleId: ROLES.environmentMaker.roleid, roleName: 'Environment Maker', via: 'team:7ea00001-0000-4000-8000-000000000001' });
    expect(s.principals.find((p) => p.id === USERS.invoiceSync.systemuserid)).toMatchObject({ kind: 'application-user', applicationId: USERS.invoiceSync.appId });

    const sync = s.flows.find((f) => f.flowId === SAMPLE_FLOW_IDS.syncInvoices)!;
    expect(sync.ownerId).toBe(USERS.svcFlowOwner.systemuserid);
    // Flow API object ids → systemuser ids, object id kept.
    expect(sync.permissions).toContainEqual(expect.objectContaining({ principalId: USERS.alice.systemuserid, objectId: USERS.alice.aad, roleName: 'Owner', upn: 'alice@contoso.com' }));
    const notify = s.flows.find((f) => f.flowId === SAMPLE_FLOW_IDS.notifySales)!;
    expect(notify.ownerId).toBe(USERS.alice.systemuserid);
    const link = notify.connectionLinks![0]!;
    expect(link).toMatchObject({ reference: 'cr5f2_sharedoffice365_5c1d4', apiName: 'shared_office365', ownerId: USERS.alice.systemuserid });
    const conn = s.connections.find((c) => c.connectionId === link.connectionId)!;
    expect(conn.createdBy).toMatchObject({ id: USERS.alice.systemuserid, kind: 'person' });
    expect(conn.usedByFlows).toEqual([SAMPLE_FLOW_IDS.notifySales]);
    expect(conn.connectionReferences).toContain('cr5f2_sharedoffice365_5c1d4');
    expect(conn.sharedWith.map((p) => p.principalId)).toEqual([USERS.bob.systemuserid]);
    // The guest never got a systemuser: kept as its Entra object id.
    const order = s.flows.find((f) => f.flowId === SAMPLE_FLOW_IDS.orderIntake)!;
    expect(order.permissions.map((p) => p.principalId)).toContain(GUEST_MALLORY.aad);
    expect(s.roles?.length).toBe(Object.keys(ROLES).length);
  });
});

describe('loadRoleNames', () => {
  it('maps role ids to names for the event path, which then names the role an audit row only identifies', async () => {
    const roleNames = await loadRoleNames(fx.dataverse, env());
    expect(roleNames.get(ROLES.salesManager.roleid)).toBe('Sales Manager');
    const e: AuditEvent = {
      environmentId: env(),
      source: 'audit',
      eventId: 'a9',
      table: 'systemuser',
      recordId: USERS.contactEnricher.systemuserid,
      operation: 'role-assign',
      actionCode: 55,
      user: { id: USERS.bob.systemuserid, kind: 'person', resolved: true },
      occurredAt: '2025-03-01T10:00:00.000Z',
      targetPrincipalId: USERS.contactEnricher.systemuserid,
      targetPrincipal: { id: USERS.contactEnricher.systemuserid, kind: 'application-user', resolved: true, applicationId: USERS.contactEnricher.appId },
      roleId: ROLES.systemCustomizer.roleid,
    };
    const fs = eventDriftFindings(e, { policy, detectedAt: e.occurredAt, roleNames });
    expect(fs.map((f) => f.ruleId).sort()).toEqual([DRIFT_RULE.privilegedAppUser, DRIFT_RULE.roleAdded]);
    expect(fs.every((f) => f.title.includes('System Customizer'))).toBe(true);
  });
});

describe('snapshotPermissions on the sample tenant', () => {
  let snapshots: MemorySnapshotStore;
  let findings: MemoryFindingStore;
  beforeEach(() => {
    snapshots = new MemorySnapshotStore();
    findings = new MemoryFindingStore();
    now = new Date('2025-03-01T10:00:00.000Z');
  });

  it('first run: baseline violations only; rerun: nothing new; after advance(): every change, once; events give the same ids', async () => {
    // The story moves once (advance); run this test on a simulator of its own so other tests keep epoch 0.
    const own = await startSimulator();
    const ownFx = new ConnectionsFixture(own);
    const d: SnapshotPermissionsDeps = { ...deps(snapshots, findings), dataverse: ownFx.dataverse, flowApi: ownFx.flowApi, connections: ownFx.connections };
    try {
      const r1 = await snapshotPermissions(d);
      expect(r1.errors).toEqual([]);
      expect(r1.environments[0]).toMatchObject({ environmentId: env(), firstRun: true, principals: 7, flows: 5 });
      const first = [...findings.items.values()];
      expect(first.filter((f) => f.severity === 'low')).toEqual([]);
      expect([...rules(first)].sort()).toEqual(
        [DRIFT_RULE.roleAdded, DRIFT_RULE.ownerHasDataRoles, DRIFT_RULE.privilegedAppUser, DRIFT_RULE.flowOwnerChanged, DRIFT_RULE.connectionOwnedByPerson, DRIFT_RULE.sharedBeyondPolicy, DRIFT_RULE.singleIdentityEverything].sort(),
      );
      const admins = first.filter((f) => f.ruleId === DRIFT_RULE.privilegedAppUser).map((f) => `${f.subject.id} ${f.evidence.roleName}`).sort();
      expect(admins).toEqual([`${USERS.reportingReader.systemuserid} System Administrator`, `${USERS.legacyIntegration.systemuserid} System Customizer`].sort());

      // Re-run, next day, nothing changed: no new finding, no new table row.
      now = new Date('2025-03-02T10:00:00.000Z');
      const r2 = await snapshotPermissions(d);
      expect(r2.environments[0]!.created).toEqual([]);
      expect(r2.environments[0]!.findings).toBe(first.length);

      // The story moves: an app user gains a role, a co-owner is added, shared with everyone, owner changes.
      own.advance();
      now = new Date('2025-03-02T11:00:00.000Z');
      const r3 = await snapshotPermissions(d);
      const fresh = r3.environments[0]!.created.map((id) => findings.items.get(id)!);
      const got = fresh.map((f) => `${f.ruleId} ${f.subject.type}:${f.subject.id} ${f.severity}`).sort();
      expect(got).toEqual(
        [
          `drift.role-added principal:${USERS.invoiceSync.systemuserid} high`,
          `drift.coowner-added flow:${SAMPLE_FLOW_IDS.syncInvoices} high`,
          `drift.shared-beyond-policy flow:${SAMPLE_FLOW_IDS.syncInvoices} high`,
          `drift.flow-owner-changed flow:${SAMPLE_FLOW_IDS.nightlyEnrichment} high`,
        ].sort(),
      );
      const owner = fresh.find((f) => f.ruleId === DRIFT_RULE.flowOwnerChanged)!;
      expect(owner.evidence).toMatchObject({ from: USERS.svcFlowOwner.systemuserid, to: USERS.alice.systemuserid, change: 'changed' });
      expect(owner.detail).toMatch(/changed from Flow Owner \(service\).* to Alice Maker/);
      // The run after the change: quiet again.
      now = new Date('2025-03-02T12:00:00.000Z');
      expect((await snapshotPermissions(d)).environments[0]!.created).toEqual([]);

      // The event path (audit rows the simulator wrote on advance) gives the ids the snapshot wrote.
      const roleEvent: AuditEvent = {
        environmentId: env(),
        source: 'audit',
        eventId: 'a1',
        table: 'systemuser',
        recordId: USERS.invoiceSync.systemuserid,
        operation: 'role-assign',
        actionCode: 55,
        user: { id: USERS.bob.systemuserid, kind: 'person', resolved: true, upn: 'bob@contoso.com' },
        occurredAt: now.toISOString(),
        targetPrincipalId: USERS.invoiceSync.systemuserid,
        targetPrincipal: { id: USERS.invoiceSync.systemuserid, kind: 'application-user', resolved: true, applicationId: USERS.invoiceSync.appId },
        roleId: ROLES.salesManager.roleid,
      };
      const shareEvent: AuditEvent = { ...roleEvent, eventId: 'a2', table: 'workflow', recordId: SAMPLE_FLOW_IDS.syncInvoices, operation: 'share', actionCode: 14, targetPrincipalId: USERS.bob.systemuserid, targetPrincipal: { id: USERS.bob.systemuserid, kind: 'person', resolved: true, upn: 'bob@contoso.com' } };
      const assignEvent: AuditEvent = { ...roleEvent, eventId: 'a3', table: 'workflow', recordId: SAMPLE_FLOW_IDS.nightlyEnrichment, operation: 'assign', actionCode: 13, targetPrincipalId: USERS.alice.systemuserid, targetPrincipal: { id: USERS.alice.systemuserid, kind: 'person', resolved: true, upn: 'alice@contoso.com' } };
      for (const e of [roleEvent, shareEvent, assignEvent]) {
        const fs = eventDriftFindings(e, { policy, detectedAt: now.toISOString() });
        expect(fs.length).toBeGreaterThan(0);
        for (const f of fs) expect(findings.items.has(f.id), `${e.eventId} ${f.ruleId}`).toBe(true);
      }
      for (const f of findings.items.values()) {
        expect(DRIFT_RULES_CATALOGUE.some((r) => r.id === f.ruleId)).toBe(true);
        expect(f.detail).toContain('Fix: ');
      }
    } finally {
      await own.stop();
    }
  });

  it('writes findings before the snapshot: a crash before save re-diffs and loses no change', async () => {
    const d = deps(snapshots, findings);
    await snapshotPermissions(d);
    const saved = snapshots.saved.get(env())!;
    const seeded = JSON.parse(saved) as PermissionSnapshot;
    // Pretend the previous snapshot lacked a co-owner, then crash before saving the new one.
    seeded.flows.find((f) => f.flowId === SAMPLE_FLOW_IDS.syncInvoices)!.permissions = seeded.flows.find((f) => f.flowId === SAMPLE_FLOW_IDS.syncInvoices)!.permissions.filter((p) => p.principalId !== USERS.alice.systemuserid);
    snapshots.saved.set(env(), JSON.stringify(seeded));
    snapshots.failSave = true;
    const crashed = await snapshotPermissions(d);
    expect(crashed.errors.map((e) => e.message)).toEqual(['simulated crash before the snapshot was saved']);
    const coowner = [...findings.items.values()].filter((f) => f.ruleId === DRIFT_RULE.coownerAdded && f.subject.id === SAMPLE_FLOW_IDS.syncInvoices);
    expect(coowner).toHaveLength(1); // written before the crash
    snapshots.failSave = false;
    const again = await snapshotPermissions(d);
    expect(again.errors).toEqual([]);
    expect(again.environments[0]!.created).toEqual([]); // the re-diff re-writes the same ids
  });

  it('reports a failing source per environment and keeps the previous snapshot', async () => {
    const broken = { ...deps(snapshots, findings), policy: { ...policy, environments: [...policy.environments, { ...policy.environments[0]!, id: 'no-such-env' }] } };
    const r = await snapshotPermissions(broken);
    expect(r.environments.map((e) => e.environmentId)).toEqual([env()]);
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]!.environmentId).toBe('no-such-env');
    expect(snapshots.saved.has('no-such-env')).toBe(false);
  });
});
