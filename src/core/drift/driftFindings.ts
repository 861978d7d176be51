import { findingId, type Finding, type FindingSubject } from '../finding';
import type { Policy } from '../policy';
import type {
  ConnectionSnapshot,
  FlowPermission,
  FlowPermissionSnapshot,
  PermissionSnapshot,
  PrincipalSnapshot,
  RoleGrant,
} from '../records';
import { DRIFT_RULE } from './catalogue';
import { whoText, FindingBag, listText, type DriftDraft } from './draft';
import { connectionSubject, flowSubject, KEY, normId, principalSubject, roleKey, teamSubject } from './keys';
import {
  connectionOwnerAllowed,
  coOwnerAllowed,
  declaresRole,
  effectiveKind,
  identityFor,
  isCoOwnerLevel,
  isEveryone,
  isGuest,
  isPrivilegedRole,
  isRunOnly,
  mayOwnFlows,
  unreviewedDataRole,
} from './policyView';

export interface DriftContext {
  policy: Policy;
  detectedAt: string;
}

/** A role held by a principal, all the paths it comes through merged. */
interface HeldRole {
  key: string;
  roleId: string;
  roleName: string;
  via: string[];
}

function heldRoles(p: PrincipalSnapshot): Map<string, HeldRole> {
  const out = new Map<string, HeldRole>();
  for (const g of p.roles) {
    const key = roleKey(g);
    const h = out.get(key);
    if (h) {
      if (!h.via.includes(g.via)) h.via.push(g.via);
    } else out.set(key, { key, roleId: normId(g.roleId), roleName: g.roleName, via: [g.via] });
  }
  return out;
}

const viaText = (via: string[]): string =>
  via.map((v) => (v === 'direct' ? 'assigned directly' : v.startsWith('team:') ? `through team ${v.slice(5)}` : v)).join(' and ');

const roleNames = (m: Map<string, HeldRole>): string[] => [...m.values()].map((r) => r.roleName).sort();

/** team id → roles the team carries, derived from members' grants (teams without members do not matter). */
function teamRoles(s: PermissionSnapshot): Map<string, Map<string, RoleGrant>> {
  const out = new Map<string, Map<string, RoleGrant>>();
  for (const p of s.principals) {
    for (const g of p.roles) {
      if (!g.via.startsWith('team:')) continue;
      const team = normId(g.via.slice(5));
      const roles = out.get(team) ?? new Map<string, RoleGrant>();
      roles.set(roleKey(g), g);
      out.set(team, roles);
    }
  }
  return out;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const byId = <T>(xs: T[], id: (x: T) => string): Map<string, T> => new Map(xs.map((x) => [normId(id(x)), x]));

/**
 * Permission drift of one snapshot against the policy (baseline violations, every run, stable ids) and
 * against the previous snapshot (changes, reported once). With no previous snapshot only baseline
 * violations are reported. Re-running on an unchanged tenant gives the same ids and observedAt values
 * (observedAt is carried through `findingsObservedAt` of the previous snapshot's entities).
 */
export function driftFindings(current: PermissionSnapshot, previous: PermissionSnapshot | undefined, ctx: DriftContext): Finding[] {
  const { policy } = ctx;
  const env = current.environmentId;
  if (previous && previous.environmentId !== current.environmentId) {
    throw new Error(`previous.environmentId: "${previous.environmentId}" is not the current snapshot's "${current.environmentId}"`);
  }
  const bag = new FindingBag(ctx.detectedAt);
  const principals = byId(current.principals, (p) => p.id);
  const prevPrincipals = previous ? byId(previous.principals, (p) => p.id) : undefined;
  const prevFlows = previous ? byId(previous.flows, (f) => f.flowId) : undefined;
  const prevConnections = previous ? byId(previous.connections, (c) => c.connectionId) : undefined;
  const sinceText = previous ? ` (previous snapshot ${previous.takenAt})` : '';

  /** Emit with the observedAt first recorded for this finding on the subject's previous entity, if any. */
  const emit = (d: Omit<DriftDraft, 'environmentId' | 'observedAt'>, prevEntity: { findingsObservedAt?: Record<string, string> } | undefined) => {
    const id = findingId({ kind: 'permission-drift', environmentId: env, subject: d.subject, ruleId: d.ruleId, evidenceKey: d.evidenceKey });
    const observedAt = prevEntity?.findingsObservedAt?.[id] ?? current.takenAt;
    bag.add({ ...d, environmentId: env, observedAt });
  };

  // Role name → ids (catalogue first, then grants seen), to key a baseline role nobody holds by its id as
  // the event path does. takePermissionSnapshot always fills the catalogue, which keeps this stable.
  const idsByName = new Map<string, Set<string>>();
  const learn = (roleId: string, roleName: string) => {
    const n = roleName.trim().toLowerCase();
    idsByName.set(n, (idsByName.get(n) ?? new Set()).add(normId(roleId)));
  };
  for (const r of current.roles ?? []) learn(r.roleId, r.roleName);
  for (const s of [current, previous]) for (const p of s?.principals ?? []) for (const g of p.roles) learn(g.roleId, g.roleName);
  const baselineRoleKey = (want: string): string => {
    const ids = idsByName.get(want.trim().toLowerCase());
    if (ids?.size === 1) return roleKey({ roleId: [...ids][0]! });
    if (GUID.test(want.trim())) return roleKey({ roleId: want });
    return roleKey({ roleName: want });
  };

  // ---------- principals: roles ----------
  for (const p of current.principals) {
    const who = { id: p.id, applicationId: p.applicationId, upn: p.upn };
    const declared = identityFor(policy, who);
    const kind = effectiveKind(policy, who, p.kind);
    const subject = principalSubject(p);
    const prev = prevPrincipals?.get(normId(p.id));
    const held = heldRoles(p);
    const prevHeld = prev ? heldRoles(prev) : undefined;
    const base = { principalId: normId(p.id), principalKind: kind, upn: p.upn, applicationId: p.applicationId };
    const fromTo = prevHeld ? ` Roles went from [${listText(roleNames(prevHeld))}] to [${listText(roleNames(held))}]${sinceText}.` : '';

    if (declared?.roles) {
      for (const r of held.values()) {
        if (declaresRole(declared, r)) continue;
        const isNew = prevHeld ? !prevHeld.has(r.key) : false;
        emit(
          {
            ruleId: DRIFT_RULE.roleAdded,
            severity: 'high',
            subject,
            evidenceKey: r.key,
            title: `${whoText(p)} holds role "${r.roleName}", which its baseline does not list`,
            what:
              `${whoText(p)} (${kind}) holds the security role "${r.roleName}" (${viaText(r.via)}); its baseline roles are [${listText(declared.roles)}].` +
              (isNew ? ` The role was added since the previous snapshot.${fromTo}` : prevHeld ? ' It already held the role at the previous snapshot.' : ''),
            evidence: { ...base, change: isNew ? 'added' : 'baseline', roleName: r.roleName, roleId: r.roleId, via: r.via.join(','), baselineRoles: declared.roles.join(',') },
          },
          prev,
        );
      }
      for (const want of declared.roles) {
        if ([...held.values()].some((r) => declaresRole({ ...declared, roles: [want] }, r))) continue;
        const wasHeld = prevHeld ? [...prevHeld.values()].some((r) => declaresRole({ ...declared, roles: [want] }, r)) : false;
        emit(
          {
            ruleId: DRIFT_RULE.roleRemoved,
            severity: 'medium',
            subject,
            evidenceKey: baselineRoleKey(want),
            title: `${whoText(p)} no longer holds baseline role "${want}"`,
            what:
              `${whoText(p)} (${kind}) does not hold the role "${want}" that its baseline lists; it holds [${listText(roleNames(held))}].` +
              (wasHeld ? ` The role was removed since the previous snapshot.${fromTo}` : ''),
            evidence: { ...base, change: wasHeld ? 'removed' : 'baseline', roleName: want, baselineRoles: declared.roles.join(',') },
          },
          prev,
        );
      }
    } else if (previous) {
      // No baseline for this identity: report changes since the previous snapshot at low severity.
      for (const r of held.values()) {
        if (prevHeld?.has(r.key)) continue;
        emit(
          {
            ruleId: DRIFT_RULE.roleAdded,
            severity: 'low',
            subject,
            evidenceKey: r.key,
            title: `${whoText(p)} gained role "${r.roleName}" (no baseline covers this identity)`,
            what:
              `${whoText(p)} (${kind}) gained the security role "${r.roleName}" (${viaText(r.via)}) since the previous snapshot; the policy declares no roles for it (uncovered change).` +
              (prevHeld ? fromTo : ` The principal was not in the previous snapshot${sinceText}.`),
            evidence: { ...base, change: 'added', roleName: r.roleName, roleId: r.roleId, via: r.via.join(','), uncovered: true },
          },
          prev,
        );
      }
      for (const r of prevHeld?.values() ?? []) {
        if (held.has(r.key)) continue;
        emit(
          {
            ruleId: DRIFT_RULE.roleRemoved,
            severity: 'low',
            subject,
            evidenceKey: r.key,
            title: `${whoText(p)} lost role "${r.roleName}" (no baseline covers this identity)`,
            what: `${whoText(p)} (${kind}) no longer holds the security role "${r.roleName}"; the policy declares no roles for it (uncovered change).${fromTo}`,
            evidence: { ...base, change: 'removed', roleName: r.roleName, roleId: r.roleId, uncovered: true },
          },
          prev,
        );
      }
    }

    // ---------- principals: role classes ----------
    for (const r of held.values()) {
      const isNew = prevHeld ? !prevHeld.has(r.key) : false;
      if (declared?.dataAccess === 'none' && unreviewedDataRole(policy, declared, r)) {
        emit(
          {
            ruleId: DRIFT_RULE.ownerHasDataRoles,
            severity: 'high',
            subject,
            evidenceKey: r.key,
            title: `Flow-owner account ${whoText(p)} holds data role "${r.roleName}"`,
            what:
              `${whoText(p)} is declared with dataAccess: none but holds "${r.roleName}" (${viaText(r.via)}), a role that grants data access (not in roles.nonDataRoles).` +
              (isNew ? ` Added since the previous snapshot.${fromTo}` : ''),
            evidence: { ...base, change: isNew ? 'added' : 'baseline', roleName: r.roleName, roleId: r.roleId, via: r.via.join(',') },
          },
          prev,
        );
      }
      if (kind === 'application-user' && isPrivilegedRole(policy, r) && !declaresRole(declared, r)) {
        emit(
          {
            ruleId: DRIFT_RULE.privilegedAppUser,
            severity: 'critical',
            subject,
            evidenceKey: r.key,
            title: `Application user ${whoText(p)} holds "${r.roleName}"`,
            what:
              `The application user ${whoText(p)}${p.applicationId ? ` (application id ${p.applicationId})` : ''} holds the privileged role "${r.roleName}" (${viaText(r.via)}).` +
              (isNew ? ` Added since the previous snapshot.${fromTo}` : ''),
            evidence: { ...base, change: isNew ? 'added' : 'baseline', roleName: r.roleName, roleId: r.roleId, via: r.via.join(',') },
          },
          prev,
        );
      }
    }
  }

  // ---------- teams: role changes since the previous snapshot (the event path reports the same) ----------
  if (previous) {
    const cur = teamRoles(current);
    const old = teamRoles(previous);
    for (const team of new Set([...cur.keys(), ...old.keys()])) {
      const now = cur.get(team) ?? new Map<string, RoleGrant>();
      const before = old.get(team) ?? new Map<string, RoleGrant>();
      // A team that only appears/disappears because its members changed is not a role change on the team.
      if (!cur.has(team) || !old.has(team)) continue;
      for (const [key, g] of now) {
        if (before.has(key)) continue;
        emit(
          {
            ruleId: DRIFT_RULE.roleAdded,
            severity: 'medium',
            subject: teamSubject(team),
            evidenceKey: key,
            title: `Team ${team} was given role "${g.roleName}"`,
            what: `The team ${team} carries the security role "${g.roleName}" since the previous snapshot; every member inherits it. Team roles went from [${listText([...before.values()].map((x) => x.roleName).sort())}] to [${listText([...now.values()].map((x) => x.roleName).sort())}]${sinceText}.`,
            evidence: { teamId: team, change: 'added', roleName: g.roleName, roleId: normId(g.roleId) },
          },
          undefined,
        );
      }
      for (const [key, g] of before) {
        if (now.has(key)) continue;
        emit(
          {
            ruleId: DRIFT_RULE.roleRemoved,
            severity: 'low',
            subject: teamSubject(team),
            evidenceKey: key,
            title: `Team ${team} lost role "${g.roleName}"`,
            what: `The team ${team} no longer carries the security role "${g.roleName}"${sinceText}.`,
            evidence: { teamId: team, change: 'removed', roleName: g.roleName, roleId: normId(g.roleId) },
          },
          undefined,
        );
      }
    }
  }

  // ---------- flows ----------
  const principalWho = (id: string, perm?: FlowPermission) => {
    const p = principals.get(normId(id));
    return {
      who: { id, applicationId: p?.applicationId, upn: p?.upn ?? perm?.upn, objectId: perm?.objectId },
      label: p ? whoText(p) : perm?.upn ?? id,
      principal: p,
    };
  };

  for (const f of current.flows) {
    const subject = flowSubject(f.flowId, f.displayName);
    const prev = prevFlows?.get(normId(f.flowId));
    const flowLabel = f.displayName ? `"${f.displayName}"` : f.flowId;
    const flowBase = { flowId: normId(f.flowId), flowName: f.displayName };
    checkFlowOwner(f, prev, subject, flowLabel, flowBase);
    checkFlowSharing(f, prev, subject, flowLabel, flowBase);
  }

  function checkFlowOwner(f: FlowPermissionSnapshot, prev: FlowPermissionSnapshot | undefined, subject: FindingSubject, flowLabel: string, flowBase: object) {
    if (!f.ownerId) return;
    const owner = principalWho(f.ownerId);
    const allowed = mayOwnFlows(policy, owner.who);
    const prevOwner = prev?.ownerId ? normId(prev.ownerId) : undefined;
    const changed = prevOwner !== undefined && prevOwner !== normId(f.ownerId);
    if (allowed && !changed) return;
    const fromText = changed ? `from ${principalWho(prevOwner).label} to ${owner.label}` : '';
    emit(
      {
        ruleId: DRIFT_RULE.flowOwnerChanged,
        severity: allowed ? 'medium' : 'high',
        subject,
        evidenceKey: KEY.owner(f.ownerId),
        title: allowed ? `Flow ${flowLabel} changed owner ${fromText}` : `Flow ${flowLabel} is owned by ${owner.label}, not an allowed owner`,
        what:
          (changed ? `The owner of flow ${flowLabel} changed ${fromText}${sinceText}. ` : `Flow ${flowLabel} is owned by ${owner.label}. `) +
          (allowed ? 'The new owner is allowed by the policy.' : 'The owner is neither in flows.allowedOwners nor declared with mayOwnFlows: true.'),
        evidence: { ...flowBase, change: changed ? 'changed' : 'baseline', from: changed ? prevOwner : undefined, to: normId(f.ownerId), ownerUpn: owner.who.upn, allowed },
      },
      prev,
    );
  }

  function checkFlowSharing(f: FlowPermissionSnapshot, prev: FlowPermissionSnapshot | undefined, subject: FindingSubject, flowLabel: string, flowBase: object) {
    const owner = f.ownerId ? normId(f.ownerId) : undefined;
    // A principal can hold several permission entries (e.g. Owner and CanView): group them.
    const group = (ps: FlowPermission[]) => {
      const m = new Map<string, FlowPermission[]>();
      for (const p of ps) m.set(normId(p.principalId), [...(m.get(normId(p.principalId)) ?? []), p]);
      return m;
    };
    const prevPerms = group(prev?.permissions ?? []);
    const curPerms = group(f.permissions);
    const prevOwner = prev?.ownerId ? normId(prev.ownerId) : undefined;
    const coOwners = new Set<string>();
    const { flows } = policy;

    for (const perm of f.permissions) {
      const pid = normId(perm.principalId);
      const { who, label } = principalWho(pid, perm);
      const before = prevPerms.get(pid);
      const beforeText = before ? before.map((b) => b.roleName).join('+') : 'no access';
      const isNew = prev !== undefined && before === undefined;
      const newText = isNew ? ` Added since the previous snapshot${sinceText}.` : '';
      const ev = { ...flowBase, principalId: pid, principalType: perm.principalType, permission: perm.roleName, upn: who.upn, from: prev ? beforeText : undefined, to: perm.roleName };

      if (isEveryone(perm)) {
        if (!flows.allowSharingWithEveryone) {
          emit(
            {
              ruleId: DRIFT_RULE.sharedBeyondPolicy,
              severity: 'high',
              subject,
              evidenceKey: KEY.everyone(),
              title: `Flow ${flowLabel} is shared with Everyone`,
              what: `Flow ${flowLabel} is shared with everyone in the tenant (${perm.roleName}); flows.allowSharingWithEveryone is false.${newText}`,
              evidence: { ...ev, change: isNew ? 'added' : 'baseline' },
            },
            prev,
          );
        }
        continue;
      }
      if (isGuest({ principalType: perm.principalType, upn: who.upn }) && !flows.allowSharingWithGuests) {
        emit(
          {
            ruleId: DRIFT_RULE.sharedBeyondPolicy,
            severity: 'high',
            subject,
            evidenceKey: KEY.guest(pid),
            title: `Flow ${flowLabel} is shared with guest ${label}`,
            what: `Flow ${flowLabel} is shared with the guest ${label} (${perm.roleName}); flows.allowSharingWithGuests is false.${newText}`,
            evidence: { ...ev, change: isNew ? 'added' : 'baseline' },
          },
          prev,
        );
      }
      if (pid === owner) continue;
      if (isCoOwnerLevel(perm)) {
        coOwners.add(pid);
        const allowed = coOwnerAllowed(policy, who);
        const becameCoOwner = prev !== undefined && !(before ?? []).some(isCoOwnerLevel);
        if (!allowed || becameCoOwner) {
          emit(
            {
              ruleId: DRIFT_RULE.coownerAdded,
              severity: allowed ? 'low' : 'high',
              subject,
              evidenceKey: KEY.coowner(pid),
              title: allowed ? `${label} became co-owner of flow ${flowLabel}` : `${label} is a co-owner of flow ${flowLabel}, not allowed by the policy`,
              what:
                `${label} has ${perm.roleName} on flow ${flowLabel}` +
                (becameCoOwner ? ` (was ${beforeText} at the previous snapshot)` : '') +
                (allowed ? '; the policy allows this co-owner.' : '; it is not in flows.allowedCoOwners and not an allowed owner.'),
              evidence: { ...ev, change: becameCoOwner ? 'added' : 'baseline', allowed },
            },
            prev,
          );
        }
      } else if (isRunOnly(perm)) {
        if (!flows.allowRunOnlyUsers) {
          emit(
            {
              ruleId: DRIFT_RULE.sharedBeyondPolicy,
              severity: 'medium',
              subject,
              evidenceKey: KEY.runOnly(pid),
              title: `Flow ${flowLabel} has run-only user ${label}`,
              what: `${label} is a run-only user (${perm.roleName}) of flow ${flowLabel}; flows.allowRunOnlyUsers is false.${newText}`,
              evidence: { ...ev, change: isNew ? 'added' : 'baseline' },
            },
            prev,
          );
        } else if (isNew) {
          emit(
            {
              ruleId: DRIFT_RULE.unmanagedChange,
              severity: 'low',
              subject,
              evidenceKey: KEY.accessAdded(pid),
              title: `${label} became a run-only user of flow ${flowLabel}`,
              what: `${label} was given ${perm.roleName} on flow ${flowLabel}${sinceText}; run-only users are allowed, recorded so nothing changes silently.`,
              evidence: { ...ev, change: 'added' },
            },
            prev,
          );
        }
      }
    }

    if (coOwners.size > flows.maxCoOwners) {
      emit(
        {
          ruleId: DRIFT_RULE.sharedBeyondPolicy,
          severity: 'medium',
          subject,
          evidenceKey: KEY.maxCoOwners(),
          title: `Flow ${flowLabel} has ${coOwners.size} co-owners (policy maximum ${flows.maxCoOwners})`,
          what: `Flow ${flowLabel} has ${coOwners.size} co-owners besides its owner (${[...coOwners].map((c) => principalWho(c).label).join(', ')}); flows.maxCoOwners is ${flows.maxCoOwners}.`,
          evidence: { ...flowBase, coOwners: coOwners.size, maxCoOwners: flows.maxCoOwners },
        },
        prev,
      );
    }

    if (prev) {
      for (const [pid, beforeList] of prevPerms) {
        // The previous owner losing access is part of the owner change (drift.flow-owner-changed).
        if (curPerms.has(pid) || pid === owner || pid === prevOwner) continue;
        const before = { ...beforeList[0]!, roleName: beforeList.map((b) => b.roleName).join('+') };
        const label = principalWho(pid, before).label;
        emit(
          {
            ruleId: DRIFT_RULE.unmanagedChange,
            severity: 'low',
            subject,
            evidenceKey: KEY.accessRemoved(pid),
            title: `${label} lost access to flow ${flowLabel}`,
            what: `${label} had ${before.roleName} on flow ${flowLabel} at the previous snapshot${sinceText} and has no access now.`,
            evidence: { ...flowBase, principalId: pid, change: 'removed', from: before.roleName, to: 'none' },
          },
          prev,
        );
      }
      const prevConns = new Set((prev.connectionLinks ?? []).map((l) => l.connectionId).filter((x): x is string => !!x).map(normId));
      for (const link of f.connectionLinks ?? []) {
        if (!link.connectionId || prevConns.has(normId(link.connectionId))) continue;
        if (!prev.connectionLinks) continue;
        emit(
          {
            ruleId: DRIFT_RULE.unmanagedChange,
            severity: 'low',
            subject,
            evidenceKey: KEY.flowConnection(link.connectionId),
            title: `Flow ${flowLabel} now uses connection ${link.connectionId}`,
            what: `Connection reference ${link.reference} of flow ${flowLabel} now points at connection ${link.connectionId}${link.ownerId ? ` owned by ${principalWho(link.ownerId).label}` : ''}, which the flow did not use at the previous snapshot${sinceText}.`,
            evidence: { ...flowBase, change: 'added', reference: link.reference, connectionId: link.connectionId, ownerId: link.ownerId },
          },
          prev,
        );
      }
    }
  }

  // ---------- connections ----------
  for (const c of current.connections) checkConnection(c, prevConnections?.get(normId(c.connectionId)));

  function checkConnection(c: ConnectionSnapshot, prev: ConnectionSnapshot | undefined) {
    const subject = connectionSubject(c.connectionId, c.displayName ?? c.connectorName);
    const label = c.displayName ? `"${c.displayName}" (${c.connectorName})` : `${c.connectionId} (${c.connectorName})`;
    const creator = principalWho(c.createdBy.id);
    const who = { ...creator.who, upn: creator.who.upn ?? c.createdBy.upn };
    const creatorLabel = creator.principal ? creator.label : c.createdBy.name ?? c.createdBy.upn ?? c.createdBy.id;
    const kind = effectiveKind(policy, who, creator.principal?.kind ?? c.createdBy.kind);
    const base = { connectionId: normId(c.connectionId), connectorName: c.connectorName, createdBy: normId(c.createdBy.id), createdByKind: kind, createdByUpn: who.upn, usedByFlows: c.usedByFlows.join(',') };
    const ownerOk = connectionOwnerAllowed(policy, who, kind);
    const ownerChanged = prev !== undefined && normId(prev.createdBy.id) !== normId(c.createdBy.id);

    if (c.usedByFlows.length > 0 && !ownerOk) {
      emit(
        {
          ruleId: DRIFT_RULE.connectionOwnedByPerson,
          severity: 'high',
          subject,
          evidenceKey: KEY.connectionOwner(c.createdBy.id),
          title: `Connection ${label} used by ${c.usedByFlows.length} flow(s) belongs to ${kind === 'person' ? 'a person' : 'an identity of unknown kind'}: ${creatorLabel}`,
          what:
            `The connection ${label} was created by ${creatorLabel} (${kind}); connections.ownerKinds allows [${policy.connections.ownerKinds.join(', ')}]. ` +
            `It is used by flow(s) ${c.usedByFlows.join(', ')} through connection reference(s) ${c.connectionReferences.join(', ') || '(direct)'}.` +
            (ownerChanged ? ` The owner changed from ${principalWho(prev!.createdBy.id).label} since the previous snapshot.` : prev === undefined && previous ? ' The connection is new since the previous snapshot.' : ''),
          evidence: { ...base, change: ownerChanged ? 'changed' : prev === undefined && previous ? 'added' : 'baseline' },
        },
        prev,
      );
    } else if (previous && (prev === undefined || ownerChanged)) {
      emit(
        {
          ruleId: DRIFT_RULE.unmanagedChange,
          severity: 'low',
          subject,
          evidenceKey: prev === undefined ? KEY.connectionAdded() : KEY.connectionOwner(c.createdBy.id),
          title: prev === undefined ? `New connection ${label} by ${creatorLabel}` : `Connection ${label} now belongs to ${creatorLabel}`,
          what:
            prev === undefined
              ? `The connection ${label} created by ${creatorLabel} (${kind}) appeared since the previous snapshot${sinceText}.`
              : `The connection ${label} changed owner from ${principalWho(prev.createdBy.id).label} to ${creatorLabel}${sinceText}.`,
          evidence: { ...base, change: prev === undefined ? 'added' : 'changed', from: prev ? normId(prev.createdBy.id) : undefined },
        },
        prev,
      );
    }

    const creatorId = normId(c.createdBy.id);
    const prevShares = new Map((prev?.sharedWith ?? []).map((s) => [normId(s.principalId), s]));
    const curShares = new Set(c.sharedWith.map((s) => normId(s.principalId)));
    for (const s of c.sharedWith) {
      const pid = normId(s.principalId);
      if (pid === creatorId) continue;
      const isNew = prev !== undefined && !prevShares.has(pid);
      const slabel = isEveryone(s) ? 'everyone in the tenant' : principalWho(pid, s).label;
      if (!policy.connections.allowSharing) {
        emit(
          {
            ruleId: DRIFT_RULE.sharedBeyondPolicy,
            severity: c.usedByFlows.length > 0 ? 'high' : 'medium',
            subject,
            evidenceKey: KEY.connectionShare(pid),
            title: `Connection ${label} is shared with ${slabel}`,
            what: `The connection ${label} (created by ${creatorLabel}) is shared with ${slabel} (${s.roleName}); connections.allowSharing is false.${isNew ? ` Shared since the previous snapshot${sinceText}.` : ''}`,
            evidence: { ...base, principalId: pid, principalType: s.principalType, permission: s.roleName, change: isNew ? 'added' : 'baseline' },
          },
          prev,
        );
      } else if (isNew) {
        emit(
          {
            ruleId: DRIFT_RULE.unmanagedChange,
            severity: 'low',
            subject,
            evidenceKey: KEY.accessAdded(pid),
            title: `Connection ${label} was shared with ${slabel}`,
            what: `The connection ${label} was shared with ${slabel} (${s.roleName})${sinceText}; sharing is allowed, recorded so nothing changes silently.`,
            evidence: { ...base, principalId: pid, permission: s.roleName, change: 'added' },
          },
          prev,
        );
      }
    }
    for (const [pid, s] of prevShares) {
      if (curShares.has(pid) || pid === creatorId) continue;
      emit(
        {
          ruleId: DRIFT_RULE.unmanagedChange,
          severity: 'low',
          subject,
          evidenceKey: KEY.connectionShareRemoved(pid),
          title: `Connection ${label} is no longer shared with ${principalWho(pid, s).label}`,
          what: `The connection ${label} was shared with ${principalWho(pid, s).label} (${s.roleName}) at the previous snapshot${sinceText} and is not now.`,
          evidence: { ...base, principalId: pid, change: 'removed', from: s.roleName, to: 'none' },
        },
        prev,
      );
    }
  }

  // ---------- one identity runs everything ----------
  const totalFlows = current.flows.length;
  if (totalFlows >= policy.flows.singleIdentityMinFlows) {
    const owned = new Map<string, number>();
    for (const f of current.flows) if (f.ownerId) owned.set(normId(f.ownerId), (owned.get(normId(f.ownerId)) ?? 0) + 1);
    for (const [ownerId, n] of owned) {
      const share = n / totalFlows;
      if (share < policy.flows.singleIdentityShare) continue;
      const p = principals.get(ownerId);
      if (!p) continue;
      const declared = identityFor(policy, { id: p.id, applicationId: p.applicationId, upn: p.upn });
      const dataRoles = [...heldRoles(p).values()].filter((r) => unreviewedDataRole(policy, declared, r));
      if (dataRoles.length === 0) continue;
      const names = dataRoles.map((r) => r.roleName).sort();
      emit(
        {
          ruleId: DRIFT_RULE.singleIdentityEverything,
          severity: 'high',
          subject: principalSubject(p),
          evidenceKey: KEY.singleIdentity(),
          title: `${whoText(p)} owns ${n} of ${totalFlows} flows and holds data roles`,
          what: `${whoText(p)} owns ${n} of the ${totalFlows} flows (${Math.round(share * 100)}%, threshold ${Math.round(policy.flows.singleIdentityShare * 100)}%) and holds the data role(s) [${listText(names)}]: one account runs the automation and holds the data rights.`,
          evidence: { principalId: ownerId, upn: p.upn, flowsOwned: n, flowsTotal: totalFlows, dataRoles: names.join(',') },
        },
        prevPrincipals?.get(ownerId),
      );
    }
  }

  return bag.list();
}

/**
 * Record on each entity of `snapshot` the observedAt of the findings about it, so the next run keeps the
 * same observedAt for conditions that persist (call before saving the snapshot). Returns the snapshot.
 */
export function recordFindingsObservedAt(snapshot: PermissionSnapshot, findings: Finding[]): PermissionSnapshot {
  const bySubject = new Map<string, Record<string, string>>();
  for (const f of findings) {
    if (f.environmentId !== snapshot.environmentId || f.kind !== 'permission-drift') continue;
    const k = `${f.subject.type}\u0000${f.subject.id}`;
    const m = bySubject.get(k) ?? {};
    m[f.id] = f.observedAt;
    bySubject.set(k, m);
  }
  const take = (type: string, id: string) => bySubject.get(`${type}\u0000${normId(id)}`);
  for (const p of snapshot.principals) setOrDelete(p, take('principal', p.id));
  for (const f of snapshot.flows) setOrDelete(f, take('flow', f.flowId));
  for (const c of snapshot.connections) setOrDelete(c, take('connection', c.connectionId));
  return snapshot;
}

function setOrDelete(e: { findingsObservedAt?: Record<string, string> }, m: Record<string, string> | undefined): void {
  if (m) e.findingsObservedAt = m;
  else delete e.findingsObservedAt;
}
