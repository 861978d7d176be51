import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DRIFT_RULE, DRIFT_RULES_CATALOGUE } from '../../../src/core/drift/catalogue';
import { driftFindings, recordFindingsObservedAt } from '../../../src/core/drift/driftFindings';
import type { Finding } from '../../../src/core/finding';
import type { PermissionSnapshot } from '../../../src/core/records';
import { baseSnapshot, clone, demoPolicy, ENV, grant, ID, ROLE } from './fixtures';

const policy = demoPolicy();
const ctx = { policy, detectedAt: '2025-03-01T10:05:00.000Z' };
const summary = (fs: Finding[]) => fs.map((f) => `${f.ruleId} ${f.subject.type}:${f.subject.id} ${f.severity}`).sort();
const find = (fs: Finding[], ruleId: string, subjectId: string) => fs.filter((f) => f.ruleId === ruleId && f.subject.id === subjectId.toLowerCase());

/** The tenant after `advance()`: every change the issue lists, made by hand on the literal snapshot. */
function advanced(prev: PermissionSnapshot): PermissionSnapshot {
  const s = clone(prev);
  s.takenAt = '2025-03-01T11:00:00.000Z';
  for (const p of s.principals) {
    p.findingsObservedAt = undefined;
    if (p.id === ID.app1) p.roles.push(grant(ROLE.sales)); // app user gains a role
    if (p.id === ID.alice) p.roles.push(grant(ROLE.sales)); // alice declared without roles → uncovered
    if (p.id === ID.app3) p.roles = []; // Reporting Reader loses its baseline Basic User
  }
  for (const f of s.flows) {
    f.findingsObservedAt = undefined;
    if (f.flowId.endsWith('0001')) f.permissions.push({ principalId: ID.guest, principalType: 'User', roleName: 'Owner', upn: 'eve_fabrikam.com#EXT#@contoso.onmicrosoft.com' });
    if (f.flowId.endsWith('0004')) {
      f.ownerId = ID.alice; // owner changes to a person
      f.permissions = [{ principalId: ID.alice, principalType: 'User', roleName: 'Owner' }];
    }
    if (f.flowId.endsWith('0003')) f.permissions = f.permissions.filter((p) => p.principalId !== ID.bob); // bob unshared
  }
  s.connections.push({
    connectionId: 'conn-new',
    connectorName: 'shared_keyvault',
    createdBy: { id: ID.app1, kind: 'application-user' },
    sharedWith: [],
    connectionReferences: [],
    usedByFlows: [],
  });
  return s;
}

describe('driftFindings — first run (no previous snapshot)', () => {
  const first = driftFindings(baseSnapshot(), undefined, ctx);

  it('reports the baseline violations of the sample tenant and nothing else', () => {
    expect(summary(first)).toEqual(
      [
        `drift.role-added principal:${ID.svc} high`, // Sales Manager through the team
        `drift.owner-has-data-roles principal:${ID.svc} high`,
        `drift.single-identity-everything principal:${ID.svc} high`,
        `drift.role-added principal:${ID.app2} high`, // System Administrator not in baseline
        `drift.privileged-app-user principal:${ID.app2} critical`,
        `drift.coowner-added flow:f0000000-0000-4000-8000-000000000003 high`, // bob
        `drift.shared-beyond-policy flow:f0000000-0000-4000-8000-000000000003 high`, // everyone
        `drift.flow-owner-changed flow:f0000000-0000-4000-8000-000000000005 high`, // owned by bob
        `drift.connection-owned-by-person connection:conn-alice high`,
        `drift.shared-beyond-policy connection:conn-shared medium`,
      ].sort(),
    );
  });

  it('is not "everything changed": no low-severity change findings without a previous snapshot', () => {
    expect(first.filter((f) => f.severity === 'low')).toEqual([]);
    expect(first.filter((f) => f.ruleId === DRIFT_RULE.unmanagedChange)).toEqual([]);
  });

  it('says what, where and how to fix, and keeps ids stable and lower-cased', () => {
    const [admin] = find(first, DRIFT_RULE.privilegedAppUser, ID.app2);
    expect(admin!.title).toContain('System Administrator');
    expect(admin!.detail).toContain('a1b2c3d4-0002-4e5f-8a9b-000000000002');
    expect(admin!.detail).toContain('Fix: ');
    expect(admin!.evidence).toMatchObject({ roleName: 'System Administrator', change: 'baseline', via: 'direct' });
    const [data] = find(first, DRIFT_RULE.ownerHasDataRoles, ID.svc);
    expect(data!.detail).toContain(`through team ${ID.team}`);
    expect(data!.evidence.roleName).toBe('Sales Manager');
    // Declared "Basic User" is a reviewed baseline role of svc-flowowner: not reported as a data role.
    expect(first.some((f) => f.ruleId === DRIFT_RULE.ownerHasDataRoles && f.evidence.roleName === 'Basic User')).toBe(false);
    for (const f of first) {
      expect(f.kind).toBe('permission-drift');
      expect(f.environmentId).toBe(ENV);
      expect(f.observedAt).toBe('2025-03-01T10:00:00.000Z');
      expect(f.id).toMatch(/^[0-9a-f]{32}$/);
      expect(DRIFT_RULES_CATALOGUE.some((r) => r.id === f.ruleId)).toBe(true);
    }
    expect(new Set(first.map((f) => f.id)).size).toBe(first.length);
  });

  it('flags guests, run-only users and too many co-owners when the policy forbids them', () => {
    const s = baseSnapshot();
    s.flows[0]!.permissions.push(
      { principalId: ID.guest, principalType: 'Guest', roleName: 'CanView' },
      { principalId: ID.bob, principalType: 'User', roleName: 'Owner' },
      { principalId: ID.app1, principalType: 'User', roleName: 'Owner' },
    );
    const strict = { ...policy, flows: { ...policy.flows, allowRunOnlyUsers: false, maxCoOwners: 2 } };
    const fs = driftFindings(s, undefined, { ...ctx, policy: strict });
    const shared = find(fs, DRIFT_RULE.sharedBeyondPolicy, 'f0000000-0000-4000-8000-000000000001').map((f) => f.evidence);
    expect(shared.map((e) => e.principalId ?? `co-owners=${e.coOwners}`).sort()).toEqual([ID.guest, ID.guest, 'co-owners=3'].sort());
    expect(fs.filter((f) => f.ruleId === DRIFT_RULE.sharedBeyondPolicy && f.title.includes('run-only'))).toHaveLength(1);
  });

  it('treats an unresolved connection creator as not a service identity, and honours connections.allowedOwners', () => {
    const s = baseSnapshot();
    s.connections[0]!.createdBy = { id: 'abcdef00-0000-4000-8000-000000000099', kind: 'unknown' };
    const fs = find(driftFindings(s, undefined, ctx), DRIFT_RULE.connectionOwnedByPerson, 'conn-svc');
    expect(fs).toHaveLength(1);
    expect(fs[0]!.title).toContain('unknown kind');
    const allowing = { ...policy, connections: { ...policy.connections, allowedOwners: ['upn:alice@contoso.com'] } };
    expect(find(driftFindings(baseSnapshot(), undefined, { ...ctx, policy: allowing }), DRIFT_RULE.connectionOwnedByPerson, 'conn-alice')).toEqual([]);
  });

  it('rejects a previous snapshot of another environment, naming the field', () => {
    const other = { ...baseSnapshot(), environmentId: 'other' };
    expect(() => driftFindings(baseSnapshot(), other, ctx)).toThrow(/previous\.environmentId/);
  });
});

describe('driftFindings — re-run and changes', () => {
  it('re-running with no change gives the same ids and the same observedAt (no new finding)', () => {
    const s1 = baseSnapshot();
    const f1 = driftFindings(s1, undefined, ctx);
    recordFindingsObservedAt(s1, f1);
    // Next day, nothing changed: observedAt must stay (the findings table partitions by its day).
    const s2 = { ...clone(s1), takenAt: '2025-03-02T10:00:00.000Z' };
    const f2 = driftFindings(s2, s1, { ...ctx, detectedAt: '2025-03-02T10:05:00.000Z' });
    expect(f2.map((f) => f.id).sort()).toEqual(f1.map((f) => f.id).sort());
    const obs = new Map(f1.map((f) => [f.id, f.observedAt]));
    for (const f of f2) expect(f.observedAt).toBe(obs.get(f.id));
  });

  it('reports every change after advance(), with from/to, and only once', () => {
    const s1 = baseSnapshot();
    const f1 = driftFindings(s1, undefined, ctx);
    recordFindingsObservedAt(s1, f1);
    const s2 = advanced(s1);
    const f2 = driftFindings(s2, s1, ctx);
    const known = new Set(f1.map((f) => f.id));
    const fresh = f2.filter((f) => !known.has(f.id));
    expect(summary(fresh)).toEqual(
      [
        `drift.role-added principal:${ID.app1} high`,
        `drift.role-added principal:${ID.alice} low`, // undeclared roles → uncovered change
        `drift.role-removed principal:${ID.app3} medium`,
        `drift.coowner-added flow:f0000000-0000-4000-8000-000000000001 high`, // guest co-owner
        `drift.shared-beyond-policy flow:f0000000-0000-4000-8000-000000000001 high`, // guest
        `drift.flow-owner-changed flow:f0000000-0000-4000-8000-000000000004 high`,
        `drift.unmanaged-change flow:f0000000-0000-4000-8000-000000000003 low`, // bob lost access
        `drift.unmanaged-change connection:conn-new low`,
      ].sort(),
    );
    const owner = find(fresh, DRIFT_RULE.flowOwnerChanged, 'f0000000-0000-4000-8000-000000000004')[0]!;
    expect(owner.evidence).toMatchObject({ change: 'changed', from: ID.svc, to: ID.alice, allowed: false });
    expect(owner.detail).toContain('from Flow Owner (svc-flowowner@contoso.com) to Alice Maker (alice@contoso.com)');
    const added = find(fresh, DRIFT_RULE.roleAdded, ID.app1)[0]!;
    expect(added.detail).toContain('Roles went from ["Invoice Writer"] to ["Invoice Writer", "Sales Manager"]');
    expect(added.observedAt).toBe(s2.takenAt);
    // The bob co-owner finding is gone (bob was unshared); the rest of the baseline persists with old observedAt.
    expect(f2.some((f) => f.ruleId === DRIFT_RULE.coownerAdded && f.evidence.principalId === ID.bob)).toBe(false);

    recordFindingsObservedAt(s2, f2);
    const s3 = { ...clone(s2), takenAt: '2025-03-01T12:00:00.000Z' };
    const f3 = driftFindings(s3, s2, ctx);
    const seen = new Set([...f1, ...f2].map((f) => f.id));
    expect(f3.filter((f) => !seen.has(f.id))).toEqual([]);
    expect(f3.filter((f) => f.severity === 'low')).toEqual([]);
  });

  it('reports a team that gains a role on the team, and its undeclared members at low severity', () => {
    const s1 = baseSnapshot();
    const s2 = clone(s1);
    s2.takenAt = '2025-03-01T11:00:00.000Z';
    for (const p of s2.principals) if (p.id === ID.bob || p.id === ID.svc) p.roles.push(grant(ROLE.contact, `team:${ID.team}`));
    const fs = driftFindings(s2, s1, ctx);
    const team = find(fs, DRIFT_RULE.roleAdded, ID.team);
    expect(team).toHaveLength(1);
    expect(team[0]!.severity).toBe('medium');
    expect(find(fs, DRIFT_RULE.roleAdded, ID.bob)[0]!.severity).toBe('low');
    expect(find(fs, DRIFT_RULE.roleAdded, ID.svc).map((f) => f.evidence.roleName).sort()).toEqual(['Contact Writer', 'Sales Manager']);
  });

  it('reports a co-owner the policy allows only when it is new, at low severity', () => {
    const s1 = baseSnapshot();
    s1.flows[1]!.permissions = [{ principalId: ID.svc, principalType: 'User', roleName: 'Owner' }];
    const s2 = clone(s1);
    s2.flows[1]!.permissions.push({ principalId: ID.alice, principalType: 'User', roleName: 'Owner' });
    const fs = find(driftFindings(s2, s1, ctx), DRIFT_RULE.coownerAdded, 'f0000000-0000-4000-8000-000000000002');
    expect(fs.map((f) => f.severity)).toEqual(['low']);
    expect(find(driftFindings(s2, undefined, ctx), DRIFT_RULE.coownerAdded, 'f0000000-0000-4000-8000-000000000002')).toEqual([]);
  });

  it('property: diffing a snapshot against itself gives exactly the first-run findings', () => {
    const roles = Object.values(ROLE);
    const arb = fc.record({
      grants: fc.array(fc.tuple(fc.constantFrom(...Object.values(ID).filter((x) => x !== ID.team)), fc.constantFrom(...roles), fc.boolean()), { maxLength: 20 }),
      owners: fc.array(fc.constantFrom(ID.svc, ID.bob, ID.alice, ID.app1), { minLength: 0, maxLength: 6 }),
      shares: fc.array(fc.tuple(fc.nat(5), fc.constantFrom(ID.bob, ID.alice, ID.guest, 'everyone'), fc.constantFrom('Owner', 'CanEdit', 'CanView')), { maxLength: 8 }),
    });
    fc.assert(
      fc.property(arb, ({ grants, owners, shares }) => {
        const s = baseSnapshot();
        for (const p of s.principals) p.roles = [];
        for (const [pid, role, viaTeam] of grants) s.principals.find((p) => p.id === pid)!.roles.push(grant(role, viaTeam ? `team:${ID.team}` : 'direct'));
        s.flows = owners.map((o, i) => ({ flowId: `f-${i}`, ownerId: o, permissions: [{ principalId: o, principalType: 'User', roleName: 'Owner' }], connectionReferences: [] }));
        for (const [i, pid, role] of shares) {
          const f = s.flows[i % Math.max(1, s.flows.length)];
          if (f) f.permissions.push({ principalId: pid, principalType: pid === 'everyone' ? 'Tenant' : 'User', roleName: role });
        }
        const first = driftFindings(s, undefined, ctx).map((f) => f.id).sort();
        const again = driftFindings(clone(s), s, ctx).map((f) => f.id).sort();
        expect(again).toEqual(first);
      }),
      { numRuns: 200 },
    );
  });
});
