import type { Finding } from '../finding';
import type { Policy } from '../policy';
import type { AuditEvent, Identity } from '../records';
import { DRIFT_RULE } from './catalogue';
import { whoText, FindingBag, type DriftDraft } from './draft';
import { flowSubject, KEY, normId, principalSubject, roleKey, teamSubject } from './keys';
import { coOwnerAllowed, declaresRole, identityFor, isGuest, isPrivilegedRole, mayOwnFlows, unreviewedDataRole } from './policyView';

/** A drift-relevant audit/webhook event is missing what the rule needs. Names the field. */
export class DriftEventError extends Error {
  constructor(
    readonly field: string,
    readonly eventId: string,
    message: string,
  ) {
    super(`event ${eventId}: ${field}: ${message}`);
    this.name = 'DriftEventError';
  }
}

type Classified =
  | { type: 'role'; added: boolean; team: boolean }
  | { type: 'share'; change: 'share' | 'modify-share' | 'unshare' }
  | { type: 'assign' }
  | undefined;

const ROLE_RELATIONSHIPS = new Set(['systemuserroles_association', 'teamroles_association']);

// Audit action codes (Dataverse `audit.action`): 13 Assign, 14 Share, 48 ModifyShare, 49 Unshare,
// 53 AssignRoleToTeam, 54 RemoveRoleFromTeam, 55 AssignRoleToUser, 56 RemoveRoleFromUser.
function classify(e: AuditEvent): Classified {
  const op = e.operation;
  const code = e.actionCode;
  const msg = (e.messageName ?? '').toLowerCase();
  const rel = (e.relationship ?? '').toLowerCase();
  const table = e.table.toLowerCase();

  const roleByCode = code !== undefined && code >= 53 && code <= 56;
  const roleByOp = op === 'role-assign' || op === 'role-remove';
  const roleByRel = (op === 'associate' || op === 'disassociate' || msg === 'associate' || msg === 'disassociate') && ROLE_RELATIONSHIPS.has(rel);
  if (roleByCode || roleByOp || roleByRel) {
    const added = roleByCode ? code === 53 || code === 55 : roleByOp ? op === 'role-assign' : op === 'associate' || (op !== 'disassociate' && msg === 'associate');
    const team = code === 53 || code === 54 || e.targetPrincipalType === 'team' || rel === 'teamroles_association' || (!e.targetPrincipalType && table === 'team' && !roleByCode);
    return { type: 'role', added, team };
  }
  if (table !== 'workflow') return undefined;
  if (op === 'share' || code === 14 || msg === 'grantaccess') return { type: 'share', change: 'share' };
  if (op === 'modify-share' || code === 48 || msg === 'modifyaccess') return { type: 'share', change: 'modify-share' };
  if (op === 'unshare' || code === 49 || msg === 'revokeaccess') return { type: 'share', change: 'unshare' };
  if (op === 'assign' || code === 13 || msg === 'assign') return { type: 'assign' };
  return undefined;
}

/** The principal the event is about: targetPrincipalId, or the record itself for systemuser/team rows. */
function targetId(e: AuditEvent): string {
  if (e.targetPrincipalId) return normId(e.targetPrincipalId);
  const table = e.table.toLowerCase();
  if ((table === 'systemuser' || table === 'team') && e.recordId) return normId(e.recordId);
  throw new DriftEventError('targetPrincipalId', e.eventId, 'a role/share/assign event needs the principal that gained or lost access');
}

const actorText = (e: AuditEvent): string => {
  const u = `${whoText(e.user)}${e.user.resolved ? '' : ' (unresolved)'}`;
  const calling = e.callingUser && normId(e.callingUser.id) !== normId(e.user.id) ? ` (call made by ${whoText(e.callingUser)})` : '';
  return `by ${u}${calling} at ${e.occurredAt}`;
};

/**
 * Drift findings for one audit or webhook event: role assign/remove (users and teams), share / modify-share /
 * unshare and assign (owner change) of workflow records. Same rule ids, subjects and evidence keys as
 * `driftFindings` for the same change, so the snapshot that follows writes the same finding ids (no-op).
 * Events that are not about permissions give []. Missing target principal or role → DriftEventError.
 */
export function eventDriftFindings(
  event: AuditEvent,
  ctx: {
    policy: Policy;
    detectedAt: string;
    /** Role id → name (DataverseSource.listRoles), for events that carry only the role id. */
    roleNames?: ReadonlyMap<string, string>;
  },
): Finding[] {
  const c = classify(event);
  if (!c) return [];
  const { policy } = ctx;
  const bag = new FindingBag(ctx.detectedAt);
  const env = event.environmentId;
  const target = targetId(event);
  const tp: Identity | undefined = event.targetPrincipal;
  const who = { id: target, applicationId: tp?.applicationId, upn: tp?.upn };
  const actor = actorText(event);
  const base = {
    source: event.source,
    eventId: event.eventId,
    changedBy: normId(event.user.id),
    changedByUpn: event.user.upn,
    changedByApplicationId: event.user.applicationId,
    callingUser: event.callingUser ? normId(event.callingUser.id) : undefined,
    changedAt: event.occurredAt,
  };
  const emit = (d: Omit<DriftDraft, 'environmentId' | 'observedAt'>) => bag.add({ ...d, environmentId: env, observedAt: event.occurredAt });

  if (c.type === 'role') {
    let roleId = event.roleId;
    if (!roleId && !event.roleName && event.table.toLowerCase() === 'role') roleId = event.recordId;
    if (!roleId && !event.roleName) throw new DriftEventError('roleId', event.eventId, 'a role event needs roleId or roleName');
    const roleName = event.roleName ?? (roleId ? ctx.roleNames?.get(normId(roleId)) ?? ctx.roleNames?.get(roleId) : undefined);
    const role = { roleId, roleName };
    const key = roleKey(role);
    // Without a name, policy role lists (names) cannot match: the role counts as not in the baseline.
    const roleText = roleName ?? `role ${roleId} (name not resolved)`;
    const ev = { ...base, roleName, roleId: roleId ? normId(roleId) : undefined, change: c.added ? 'added' : 'removed' };

    if (c.team) {
      emit({
        ruleId: c.added ? DRIFT_RULE.roleAdded : DRIFT_RULE.roleRemoved,
        severity: c.added ? 'medium' : 'low',
        subject: teamSubject(target, tp?.name),
        evidenceKey: key,
        title: c.added ? `Team ${tp?.name ?? target} was given role "${roleText}"` : `Team ${tp?.name ?? target} lost role "${roleText}"`,
        what: c.added
          ? `The security role "${roleText}" was assigned to team ${tp?.name ?? target} ${actor}; every member inherits it.`
          : `The security role "${roleText}" was removed from team ${tp?.name ?? target} ${actor}.`,
        evidence: { ...ev, teamId: target },
      });
      return bag.list();
    }

    const declared = identityFor(policy, who);
    const kind = declared?.kind ?? tp?.kind ?? 'unknown';
    const subject = principalSubject({ id: target, name: tp?.name ?? declared?.name, upn: tp?.upn });
    const label = whoText({ id: target, name: tp?.name ?? declared?.name, upn: tp?.upn });
    const pev = { ...ev, principalId: target, principalKind: kind, upn: tp?.upn, applicationId: tp?.applicationId };

    if (c.added) {
      if (declared?.roles) {
        if (!declaresRole(declared, role)) {
          emit({
            ruleId: DRIFT_RULE.roleAdded,
            severity: 'high',
            subject,
            evidenceKey: key,
            title: `${label} holds role "${roleText}", which its baseline does not list`,
            what: `The security role "${roleText}" was assigned to ${label} (${kind}) ${actor}; its baseline roles are [${declared.roles.join(', ')}].`,
            evidence: { ...pev, baselineRoles: declared.roles.join(',') },
          });
        }
      } else {
        emit({
          ruleId: DRIFT_RULE.roleAdded,
          severity: 'low',
          subject,
          evidenceKey: key,
          title: `${label} gained role "${roleText}" (no baseline covers this identity)`,
          what: `The security role "${roleText}" was assigned to ${label} (${kind}) ${actor}; the policy declares no roles for it (uncovered change).`,
          evidence: { ...pev, uncovered: true },
        });
      }
      // Data/privileged classes are by name: without one, leave them to the next snapshot rather than guess.
      if (roleName && declared?.dataAccess === 'none' && unreviewedDataRole(policy, declared, role)) {
        emit({
          ruleId: DRIFT_RULE.ownerHasDataRoles,
          severity: 'high',
          subject,
          evidenceKey: key,
          title: `Flow-owner account ${label} holds data role "${roleText}"`,
          what: `The role "${roleText}", which grants data access (not in roles.nonDataRoles), was assigned ${actor} to ${label}, declared with dataAccess: none.`,
          evidence: pev,
        });
      }
      if (roleName && kind === 'application-user' && isPrivilegedRole(policy, role) && !declaresRole(declared, role)) {
        emit({
          ruleId: DRIFT_RULE.privilegedAppUser,
          severity: 'critical',
          subject,
          evidenceKey: key,
          title: `Application user ${label} holds "${roleText}"`,
          what: `The privileged role "${roleText}" was assigned to the application user ${label}${tp?.applicationId ? ` (application id ${tp.applicationId})` : ''} ${actor}.`,
          evidence: pev,
        });
      }
    } else if (declared?.roles) {
      if (declaresRole(declared, role)) {
        emit({
          ruleId: DRIFT_RULE.roleRemoved,
          severity: 'medium',
          subject,
          evidenceKey: key,
          title: `${label} no longer holds baseline role "${roleText}"`,
          what: `The baseline role "${roleText}" was removed from ${label} (${kind}) ${actor}.`,
          evidence: { ...pev, baselineRoles: declared.roles.join(',') },
        });
      }
    } else {
      emit({
        ruleId: DRIFT_RULE.roleRemoved,
        severity: 'low',
        subject,
        evidenceKey: key,
        title: `${label} lost role "${roleText}" (no baseline covers this identity)`,
        what: `The security role "${roleText}" was removed from ${label} (${kind}) ${actor}; the policy declares no roles for it (uncovered change).`,
        evidence: { ...pev, uncovered: true },
      });
    }
    return bag.list();
  }

  // Workflow (flow) record events.
  if (!event.recordId) throw new DriftEventError('recordId', event.eventId, 'a workflow share/assign event needs the workflow id');
  const subject = flowSubject(event.recordId);
  const flowLabel = event.recordId;
  const label = whoText({ id: target, name: tp?.name, upn: tp?.upn });
  const fev = { ...base, flowId: normId(event.recordId), principalId: target, upn: tp?.upn };

  if (c.type === 'assign') {
    const allowed = mayOwnFlows(policy, who);
    emit({
      ruleId: DRIFT_RULE.flowOwnerChanged,
      severity: allowed ? 'medium' : 'high',
      subject,
      evidenceKey: KEY.owner(target),
      title: allowed ? `Flow ${flowLabel} was assigned to ${label}` : `Flow ${flowLabel} was assigned to ${label}, not an allowed owner`,
      what:
        `Flow ${flowLabel} was assigned to ${label} ${actor}. ` +
        (allowed ? 'The new owner is allowed by the policy.' : 'The new owner is neither in flows.allowedOwners nor declared with mayOwnFlows: true.'),
      evidence: { ...fev, change: 'changed', to: target, allowed },
    });
    return bag.list();
  }

  if (c.change === 'unshare') {
    emit({
      ruleId: DRIFT_RULE.unmanagedChange,
      severity: 'low',
      subject,
      evidenceKey: KEY.accessRemoved(target),
      title: `${label} lost access to flow ${flowLabel}`,
      what: `Access of ${label} to flow ${flowLabel} was revoked ${actor}.`,
      evidence: { ...fev, change: 'removed', to: 'none' },
    });
    return bag.list();
  }

  // Share / modify-share: a Dataverse share of a solution flow gives co-owner level access.
  if (isGuest({ upn: tp?.upn }) && !policy.flows.allowSharingWithGuests) {
    emit({
      ruleId: DRIFT_RULE.sharedBeyondPolicy,
      severity: 'high',
      subject,
      evidenceKey: KEY.guest(target),
      title: `Flow ${flowLabel} was shared with guest ${label}`,
      what: `Flow ${flowLabel} was shared with the guest ${label} ${actor}; flows.allowSharingWithGuests is false.`,
      evidence: { ...fev, change: 'added' },
    });
  }
  const allowed = coOwnerAllowed(policy, who);
  emit({
    ruleId: DRIFT_RULE.coownerAdded,
    severity: allowed ? 'low' : 'high',
    subject,
    evidenceKey: KEY.coowner(target),
    title: allowed ? `${label} became co-owner of flow ${flowLabel}` : `${label} is a co-owner of flow ${flowLabel}, not allowed by the policy`,
    what:
      `Flow ${flowLabel} was ${c.change === 'share' ? 'shared with' : 'given modified access for'} ${label} ${actor}` +
      (allowed ? '; the policy allows this co-owner.' : '; it is not in flows.allowedCoOwners and not an allowed owner.'),
    evidence: { ...fev, change: 'added', allowed },
  });
  return bag.list();
}
