import { describe, expect, it } from 'vitest';
import { DRIFT_RULE } from '../../../src/core/drift/catalogue';
import { driftFindings } from '../../../src/core/drift/driftFindings';
import { DriftEventError, eventDriftFindings } from '../../../src/core/drift/events';
import type { Finding } from '../../../src/core/finding';
import type { AuditEvent, Identity } from '../../../src/core/records';
import { baseSnapshot, clone, demoPolicy, ENV, grant, ID, ROLE } from './fixtures';

const policy = demoPolicy();
const ctx = { policy, detectedAt: '2025-03-01T10:31:00.000Z' };
const admin: Identity = { id: '10000000-0000-4000-8000-0000000000aa', kind: 'person', resolved: true, upn: 'admin@contoso.com', name: 'Tenant Admin' };

function ev(over: Partial<AuditEvent>): AuditEvent {
  return {
    environmentId: ENV,
    source: 'audit',
    eventId: 'audit-1',
    table: 'systemuser',
    recordId: '',
    operation: 'other',
    user: admin,
    occurredAt: '2025-03-01T10:30:00.000Z',
    ...over,
  };
}
const app1: Identity = { id: ID.app1, kind: 'application-user', resolved: true, applicationId: 'a1b2c3d4-0001-4e5f-8a9b-000000000001', name: 'Invoice Sync' };
const app2: Identity = { id: ID.app2, kind: 'application-user', resolved: true, applicationId: 'a1b2c3d4-0002-4e5f-8a9b-000000000002', name: 'Contact Enricher' };
const app3: Identity = { id: ID.app3, kind: 'application-user', resolved: true, applicationId: 'a1b2c3d4-0003-4e5f-8a9b-000000000003', name: 'Reporting Reader' };
const svc: Identity = { id: ID.svc, kind: 'service-account', resolved: true, upn: 'svc-flowowner@contoso.com' };
const guest: Identity = { id: ID.guest, kind: 'person', resolved: true, upn: 'eve_fabrikam.com#EXT#@contoso.onmicrosoft.com' };
const alice: Identity = { id: ID.alice, kind: 'person', resolved: true, upn: 'alice@contoso.com' };
const bob: Identity = { id: ID.bob, kind: 'person', resolved: true, upn: 'bob@contoso.com' };

const key = (f: Finding) => `${f.ruleId} ${f.subject.type}:${f.subject.id}`;
/** Snapshot-path findings after applying `change` to the base tenant, diffed against the base. */
function snapshotAfter(change: (s: ReturnType<typeof baseSnapshot>) => void): Finding[] {
  const before = baseSnapshot();
  const after = clone(before);
  after.takenAt = '2025-03-01T11:00:00.000Z';
  change(after);
  return driftFindings(after, before, { policy, detectedAt: ctx.detectedAt });
}
const ids = (fs: Finding[]) => new Set(fs.map((f) => f.id));

describe('eventDriftFindings — same ids as the snapshot path', () => {
  it('role assigned to a declared app user (audit action 55) → drift.role-added, same id as the next snapshot', () => {
    const fromEvent = eventDriftFindings(ev({ actionCode: 55, operation: 'associate', targetPrincipalId: ID.app1.toUpperCase(), targetPrincipal: app1, roleId: ROLE.sales.roleId, roleName: 'Sales Manager' }), ctx);
    expect(fromEvent.map(key)).toEqual([`drift.role-added principal:${ID.app1}`]);
    const f = fromEvent[0]!;
    expect(f.severity).toBe('high');
    expect(f.observedAt).toBe('2025-03-01T10:30:00.000Z');
    expect(f.detail).toContain('by Tenant Admin (admin@contoso.com) at 2025-03-01T10:30:00.000Z');
    expect(f.evidence).toMatchObject({ changedBy: admin.id, changedByUpn: 'admin@contoso.com', source: 'audit', eventId: 'audit-1', change: 'added' });
    const snap = snapshotAfter((s) => s.principals.find((p) => p.id === ID.app1)!.roles.push(grant(ROLE.sales)));
    expect(ids(snap).has(f.id)).toBe(true);
  });

  it('System Administrator assigned to an app user (webhook Associate) → role-added + privileged-app-user, ids agree', () => {
    const fromEvent = eventDriftFindings(
      ev({ source: 'webhook', eventId: 'wh-1', operation: 'associate', messageName: 'Associate', relationship: 'systemuserroles_association', targetPrincipalId: ID.app1, targetPrincipal: app1, roleId: ROLE.sysadmin.roleId, roleName: 'System Administrator' }),
      ctx,
    );
    expect(fromEvent.map((f) => f.ruleId).sort()).toEqual([DRIFT_RULE.privilegedAppUser, DRIFT_RULE.roleAdded]);
    const snap = snapshotAfter((s) => s.principals.find((p) => p.id === ID.app1)!.roles.push(grant(ROLE.sysadmin)));
    for (const f of fromEvent) expect(ids(snap).has(f.id)).toBe(true);
  });

  it('data role assigned to the flow-owner account → owner-has-data-roles, ids agree; its baseline role is no finding', () => {
    const fromEvent = eventDriftFindings(ev({ actionCode: 55, targetPrincipalId: ID.svc, targetPrincipal: svc, roleId: ROLE.contact.roleId, roleName: 'Contact Writer' }), ctx);
    expect(fromEvent.map((f) => f.ruleId).sort()).toEqual([DRIFT_RULE.ownerHasDataRoles, DRIFT_RULE.roleAdded]);
    const snap = snapshotAfter((s) => s.principals.find((p) => p.id === ID.svc)!.roles.push(grant(ROLE.contact)));
    for (const f of fromEvent) expect(ids(snap).has(f.id)).toBe(true);
    expect(eventDriftFindings(ev({ actionCode: 55, targetPrincipalId: ID.svc, targetPrincipal: svc, roleName: 'Environment Maker' }), ctx)).toEqual([]);
  });

  it('baseline role removed (action 56) → drift.role-removed, same id as the snapshot', () => {
    const fromEvent = eventDriftFindings(ev({ actionCode: 56, targetPrincipalId: ID.app3, targetPrincipal: app3, roleId: ROLE.basic.roleId, roleName: 'basic user' }), ctx);
    expect(fromEvent.map(key)).toEqual([`drift.role-removed principal:${ID.app3}`]);
    const snap = snapshotAfter((s) => (s.principals.find((p) => p.id === ID.app3)!.roles = []));
    expect(ids(snap).has(fromEvent[0]!.id)).toBe(true);
    // Removing a role that is not in the baseline moves toward it: no finding on either path.
    expect(eventDriftFindings(ev({ actionCode: 56, targetPrincipal: app2, targetPrincipalId: ID.app2, roleName: 'System Administrator' }), ctx)).toEqual([]);
  });

  it('resolves role names through ctx.roleNames when the event carries only the role id (audit rows)', () => {
    const roleNames = new Map(Object.values(ROLE).map((r) => [r.roleId, r.roleName]));
    const e = ev({ actionCode: 55, targetPrincipalId: ID.app1, targetPrincipal: app1, roleId: ROLE.sysadmin.roleId.toUpperCase() });
    const resolved = eventDriftFindings(e, { ...ctx, roleNames });
    expect(resolved.map((f) => f.ruleId).sort()).toEqual([DRIFT_RULE.privilegedAppUser, DRIFT_RULE.roleAdded]);
    expect(resolved[0]!.title).toContain('System Administrator');
    // Unresolved: still the same role-added id (keyed by role id), classification left to the snapshot.
    const bare = eventDriftFindings(e, ctx);
    expect(bare.map((f) => f.ruleId)).toEqual([DRIFT_RULE.roleAdded]);
    expect(bare[0]!.id).toBe(resolved.find((f) => f.ruleId === DRIFT_RULE.roleAdded)!.id);
    expect(bare[0]!.title).toContain('name not resolved');
  });

  it('baseline role never held: the snapshot keys it by the catalogue id, as the removal event does', () => {
    const s = baseSnapshot();
    s.roles = Object.values(ROLE);
    s.principals.find((p) => p.id === ID.app3)!.roles = [];
    s.principals.find((p) => p.id === ID.svc)!.roles = [grant(ROLE.maker)]; // nobody else holds Basic User... except alice/bob
    const first = driftFindings(s, undefined, ctx).filter((f) => f.ruleId === DRIFT_RULE.roleRemoved && f.subject.id === ID.app3);
    const fromEvent = eventDriftFindings(ev({ actionCode: 56, targetPrincipalId: ID.app3, targetPrincipal: app3, roleId: ROLE.basic.roleId, roleName: 'Basic User' }), ctx);
    expect(first.map((f) => f.id)).toEqual(fromEvent.map((f) => f.id));
  });

  it('undeclared principal gains / loses a role → low uncovered change, ids agree', () => {
    const added = eventDriftFindings(ev({ operation: 'role-assign', targetPrincipalId: ID.bob, targetPrincipal: bob, roleName: 'Contact Writer', roleId: ROLE.contact.roleId }), ctx);
    expect(added.map((f) => `${f.ruleId} ${f.severity}`)).toEqual(['drift.role-added low']);
    expect(ids(snapshotAfter((s) => s.principals.find((p) => p.id === ID.bob)!.roles.push(grant(ROLE.contact)))).has(added[0]!.id)).toBe(true);
    const removed = eventDriftFindings(ev({ operation: 'role-remove', targetPrincipalId: ID.bob, targetPrincipal: bob, roleId: ROLE.basic.roleId }), ctx);
    expect(removed.map((f) => `${f.ruleId} ${f.severity}`)).toEqual(['drift.role-removed low']);
    expect(ids(snapshotAfter((s) => (s.principals.find((p) => p.id === ID.bob)!.roles = [grant(ROLE.sales, `team:${ID.team}`)]))).has(removed[0]!.id)).toBe(true);
  });

  it('team role assigned (action 53) → drift.role-added on the team, same id as the snapshot', () => {
    const fromEvent = eventDriftFindings(ev({ actionCode: 53, table: 'team', targetPrincipalId: ID.team, roleName: 'Contact Writer', roleId: ROLE.contact.roleId }), ctx);
    expect(fromEvent.map(key)).toEqual([`drift.role-added team:${ID.team}`]);
    const snap = snapshotAfter((s) => {
      for (const p of s.principals) if (p.roles.some((g) => g.via === `team:${ID.team}`)) p.roles.push(grant(ROLE.contact, `team:${ID.team}`));
    });
    expect(ids(snap).has(fromEvent[0]!.id)).toBe(true);
  });

  it('flow shared with a guest (GrantAccess on workflow) → coowner-added + shared-beyond-policy, ids agree', () => {
    const flowId = 'F0000000-0000-4000-8000-000000000001';
    const fromEvent = eventDriftFindings(ev({ source: 'webhook', table: 'workflow', recordId: flowId, operation: 'share', messageName: 'GrantAccess', targetPrincipalId: ID.guest, targetPrincipal: guest }), ctx);
    expect(fromEvent.map((f) => `${f.ruleId} ${f.severity}`).sort()).toEqual(['drift.coowner-added high', 'drift.shared-beyond-policy high']);
    const snap = snapshotAfter((s) => s.flows[0]!.permissions.push({ principalId: ID.guest, principalType: 'User', roleName: 'CanEdit', upn: guest.upn! }));
    for (const f of fromEvent) expect(ids(snap).has(f.id)).toBe(true);
  });

  it('allowed co-owner added (audit action 14) → low coowner-added, same id', () => {
    const flowId = 'f0000000-0000-4000-8000-000000000002';
    const fromEvent = eventDriftFindings(ev({ table: 'workflow', recordId: flowId, actionCode: 14, operation: 'share', targetPrincipalId: ID.alice, targetPrincipal: alice }), ctx);
    expect(fromEvent.map((f) => `${f.ruleId} ${f.severity}`)).toEqual(['drift.coowner-added low']);
    const snap = snapshotAfter((s) => s.flows[1]!.permissions.push({ principalId: ID.alice, principalType: 'User', roleName: 'Owner' }));
    expect(ids(snap).has(fromEvent[0]!.id)).toBe(true);
  });

  it('unshare (action 49) → unmanaged-change access-removed, same id', () => {
    const flowId = 'f0000000-0000-4000-8000-000000000003';
    const fromEvent = eventDriftFindings(ev({ table: 'workflow', recordId: flowId, actionCode: 49, operation: 'unshare', targetPrincipalId: ID.bob }), ctx);
    expect(fromEvent.map((f) => `${f.ruleId} ${f.severity}`)).toEqual(['drift.unmanaged-change low']);
    const snap = snapshotAfter((s) => (s.flows[2]!.permissions = s.flows[2]!.permissions.filter((p) => p.principalId !== ID.bob)));
    expect(ids(snap).has(fromEvent[0]!.id)).toBe(true);
  });

  it('flow assigned to a person (action 13) → flow-owner-changed, same id', () => {
    const flowId = 'f0000000-0000-4000-8000-000000000004';
    const fromEvent = eventDriftFindings(ev({ table: 'workflow', recordId: flowId, actionCode: 13, operation: 'assign', targetPrincipalId: ID.alice, targetPrincipal: alice }), ctx);
    expect(fromEvent.map((f) => `${f.ruleId} ${f.severity}`)).toEqual(['drift.flow-owner-changed high']);
    expect(fromEvent[0]!.evidence).toMatchObject({ to: ID.alice, allowed: false, changedBy: admin.id });
    const snap = snapshotAfter((s) => (s.flows[3]!.ownerId = ID.alice));
    expect(ids(snap).has(fromEvent[0]!.id)).toBe(true);
  });
});

describe('eventDriftFindings — other events and bad input', () => {
  it('ignores events that are not about permissions', () => {
    expect(eventDriftFindings(ev({ table: 'contact', recordId: 'x', operation: 'update', actionCode: 2 }), ctx)).toEqual([]);
    expect(eventDriftFindings(ev({ table: 'workflow', recordId: 'x', operation: 'update', actionCode: 2 }), ctx)).toEqual([]);
    expect(eventDriftFindings(ev({ operation: 'associate', relationship: 'teammembership_association', targetPrincipalId: ID.bob }), ctx)).toEqual([]);
  });

  it('names the missing field', () => {
    expect(() => eventDriftFindings(ev({ table: 'role', recordId: '', actionCode: 55 }), ctx)).toThrow(DriftEventError);
    expect(() => eventDriftFindings(ev({ table: 'role', recordId: '', actionCode: 55 }), ctx)).toThrow(/targetPrincipalId/);
    expect(() => eventDriftFindings(ev({ actionCode: 55, targetPrincipalId: ID.bob }), ctx)).toThrow(/roleId/);
    expect(() => eventDriftFindings(ev({ table: 'workflow', recordId: '', actionCode: 14, targetPrincipalId: ID.bob }), ctx)).toThrow(/recordId/);
  });

  it('uses the systemuser record as the target when the audit row is about the user, and the role record id as role', () => {
    const fs = eventDriftFindings(ev({ table: 'systemuser', recordId: ID.bob, actionCode: 55, roleId: ROLE.contact.roleId }), ctx);
    expect(fs.map(key)).toEqual([`drift.role-added principal:${ID.bob}`]);
    expect(fs[0]!.detail).toContain(`role ${ROLE.contact.roleId}`);
  });
});
