import { makeFinding, type EvidenceValue, type Finding, type Severity } from '../finding';
import { refMatches, type Policy, type PolicyIdentity, type PolicyTable } from '../policy';
import type { AuditEvent, AuditOperation, Identity, IdentityKind } from '../records';
import { MODIFIER_RULES } from './catalogue';
import { classifyIdentity, identityLabel, refLabel } from './identity';

/** Operations that change a record; role grants and 'other' actions are left to the drift rules. */
export const MODIFYING_OPERATIONS: ReadonlySet<AuditOperation> = new Set([
  'create',
  'update',
  'delete',
  'assign',
  'share',
  'unshare',
  'modify-share',
  'associate',
  'disassociate',
]);

export interface ModifierContext {
  policy: Policy;
  /** Identities already seen modifying this event's table (the learned profile; ProfileStore.listTable). */
  profile: ReadonlyArray<{ identityId: string }>;
  /** When learning started for the environment; undefined = nothing learned yet (window open). */
  learningStartedAt?: string;
  detectedAt: string;
}

const DAY_MS = 86_400_000;

/**
 * Evidence key shared by every modifier finding of one change.
 *
 * It is built from (table, record, identity, operation, occurredAt to the second) rather than the
 * event id, because the same change reaches us twice with different ids: once as an audit row
 * (auditid) and once as a webhook (correlation/operation ids). Both paths then produce the same
 * finding id, and FindingStore.upsertMany makes the second write a no-op. A re-read audit row or a
 * webhook retried by Dataverse dedupes the same way.
 */
export function modifierEvidenceKey(event: AuditEvent): string {
  return [event.table, event.recordId.toLowerCase(), event.user.id.toLowerCase(), event.operation, event.occurredAt.slice(0, 19)].join('|');
}

/** Deep link to the record in the model-driven app. */
export function recordPortalLink(dataverseUrl: string, table: string, recordId: string): string {
  return `${dataverseUrl.replace(/\/+$/, '')}/main.aspx?etn=${encodeURIComponent(table)}&id=${encodeURIComponent(recordId)}&pagetype=entityrecord`;
}

/** Is the learning window still open (first-seen is informational)? */
export function isLearning(policy: Policy, learningStartedAt: string | undefined, now: string): boolean {
  if (!learningStartedAt) return true;
  const started = Date.parse(learningStartedAt);
  if (Number.isNaN(started)) return true;
  return Date.parse(now) - started < policy.modifiers.learningDays * DAY_MS;
}

const VERB: Record<AuditOperation, string> = {
  create: 'created',
  update: 'updated',
  delete: 'deleted',
  assign: 'assigned',
  share: 'shared',
  unshare: 'unshared',
  'modify-share': 'changed the sharing of',
  associate: 'associated',
  disassociate: 'disassociated',
  'role-assign': 'assigned a role on',
  'role-remove': 'removed a role on',
  other: 'changed',
};

/**
 * Unexpected-modifier rules for one event. One event can raise several rules; ids are stable (see
 * modifierEvidenceKey). Unresolved identities are still evaluated with what is known (raw id, policy
 * refs by systemuser id) and the findings say `resolved: false`.
 */
export function modifierFindings(event: AuditEvent, ctx: ModifierContext): Finding[] {
  if (!MODIFYING_OPERATIONS.has(event.operation)) return [];
  const { policy } = ctx;
  const table = event.table.toLowerCase();
  const tablePolicy: PolicyTable | undefined = policy.tables[table];
  if (tablePolicy?.operations && !tablePolicy.operations.includes(event.operation as (typeof tablePolicy.operations)[number])) return [];

  const who = classifyIdentity(event.user, policy);
  const caller = event.callingUser && event.callingUser.id.toLowerCase() !== event.user.id.toLowerCase() ? classifyIdentity(event.callingUser, policy) : undefined;
  const env = policy.environments.find((e) => e.id === event.environmentId);
  const link = env ? recordPortalLink(env.dataverseUrl, table, event.recordId) : undefined;
  const expected = (tablePolicy?.allowedModifiers ?? []).map((r) => refLabel(policy, r));
  const allowedHere = (tablePolicy?.allowedModifiers ?? []).some((r) => refMatches(r, event.user));

  const out: Finding[] = [];
  const emit = (ruleId: string, severity: Severity, title: string, reason: string, extra: Record<string, EvidenceValue> = {}, keySuffix = ''): void => {
    const rule = MODIFIER_RULES.get(ruleId);
    if (!rule) throw new Error(`modifier rule ${ruleId} is missing from the catalogue`);
    const evidence: Record<string, EvidenceValue> = {
      ...baseEvidence(event, who.identity, who.kind, who.declared, link, expected),
      ...extra,
    };
    out.push(
      makeFinding(
        {
          kind: 'unexpected-modifier',
          ruleId,
          severity,
          environmentId: event.environmentId,
          subject: { type: 'record', id: `${table}:${event.recordId.toLowerCase()}`, name: `${table} ${event.recordId.toLowerCase()}` },
          observedAt: event.occurredAt,
          title,
          detail: [reason, describeChange(event, who.identity, who.kind, who.declared, link, expected), `Why it matters: ${rule.why}`, `How to fix: ${rule.fix}`].join('\n'),
          evidence,
          evidenceKey: modifierEvidenceKey(event) + keySuffix,
        },
        ctx.detectedAt,
      ),
    );
  };

  const name = identityLabel(who.identity, who.declared);
  const unresolvedNote = who.identity.resolved ? '' : ' (identity unresolved)';
  const verb = VERB[event.operation];

  // modifier.not-in-policy: only for tables that declare a list (an empty list declares nothing).
  if (tablePolicy && tablePolicy.allowedModifiers.length > 0 && !allowedHere) {
    emit(
      'modifier.not-in-policy',
      'high',
      `${name}${unresolvedNote} ${verb} a ${table} record but is not an allowed modifier of ${table}`,
      `${name} is not in tables.${table}.allowedModifiers (expected: ${expected.join(', ')}).`,
    );
  }

  // modifier.column-not-in-policy: one finding per protected column changed by someone not listed for it.
  if (tablePolicy?.columns && event.changedAttributes?.length) {
    for (const column of event.changedAttributes) {
      const refs = tablePolicy.columns[column] ?? tablePolicy.columns[column.toLowerCase()];
      if (!refs || refs.some((r) => refMatches(r, event.user))) continue;
      const allowed = refs.map((r) => refLabel(policy, r));
      emit(
        'modifier.column-not-in-policy',
        'high',
        `${name}${unresolvedNote} changed ${table}.${column}, which only ${allowed.join(', ') || 'nobody'} may change`,
        `${name} is not in tables.${table}.columns.${column} (allowed: ${allowed.join(', ') || 'none'}).`,
        { column, columnAllowed: allowed.join(', ') },
        `|${column}`,
      );
    }
  }

  // modifier.person-on-automation-table
  if (tablePolicy && tablePolicy.allowPeople === false && who.kind === 'person') {
    emit(
      'modifier.person-on-automation-table',
      'high',
      `Person ${name} ${verb} a ${table} record; only automations may write ${table}`,
      `tables.${table}.allowPeople is false and ${name} is a person.`,
    );
  }

  // modifier.outside-lane
  const lane = laneOf(policy, who.identity, who.declared, who.kind);
  if (lane && lane.length > 0 && !lane.includes(table) && !allowedHere) {
    emit(
      'modifier.outside-lane',
      'high',
      `${name} ${verb} a ${table} record outside its lane (${lane.join(', ')})`,
      `${name} is declared for ${lane.join(', ')}, not ${table}.`,
      { lane: lane.join(',') },
    );
  }

  // modifier.first-seen
  const seen = ctx.profile.some((p) => p.identityId.toLowerCase() === event.user.id.toLowerCase());
  if (!seen) {
    const learning = isLearning(policy, ctx.learningStartedAt, ctx.detectedAt);
    const severity: Severity = learning ? policy.modifiers.learningSeverity : allowedHere ? 'low' : 'medium';
    emit(
      'modifier.first-seen',
      severity,
      `${name}${unresolvedNote} modified ${table} for the first time`,
      `${name} has not been seen modifying ${table} before${learning ? ' (learning window still open)' : ''}.`,
      { learning },
    );
  }

  // modifier.impersonation
  if (caller && tablePolicy?.allowImpersonation !== true && caller.declared?.mayImpersonate !== true) {
    const callerName = identityLabel(caller.identity, caller.declared);
    emit(
      'modifier.impersonation',
      tablePolicy?.allowImpersonation === false ? 'high' : 'medium',
      `${callerName} ${verb} a ${table} record on behalf of ${name}`,
      `The calling user ${callerName} differs from the user ${name} the change is attributed to, and the policy does not allow impersonation here.`,
      {
        callingUserId: caller.identity.id.toLowerCase(),
        callingUserName: callerName,
        callingUserKind: caller.kind,
        callingUserResolved: caller.identity.resolved,
        ...(caller.identity.applicationId ? { callingUserApplicationId: caller.identity.applicationId } : {}),
        ...(caller.identity.upn ? { callingUserUpn: caller.identity.upn } : {}),
      },
    );
  }
  return out;
}

/** Tables an identity works on: its declared lane, else (application users) the tables that list it. */
function laneOf(policy: Policy, identity: Identity, declared: PolicyIdentity | undefined, kind: IdentityKind): string[] | undefined {
  if (declared?.lane) return declared.lane.map((t) => t.toLowerCase());
  if (kind !== 'application-user') return undefined;
  const tables = Object.entries(policy.tables)
    .filter(([, t]) => t.allowedModifiers.some((r) => refMatches(r, identity)))
    .map(([name]) => name);
  return tables.length ? tables : undefined;
}

function baseEvidence(
  event: AuditEvent,
  identity: Identity,
  kind: IdentityKind,
  declared: PolicyIdentity | undefined,
  link: string | undefined,
  expected: string[],
): Record<string, EvidenceValue> {
  const e: Record<string, EvidenceValue> = {
    table: event.table.toLowerCase(),
    recordId: event.recordId.toLowerCase(),
    operation: event.operation,
    occurredAt: event.occurredAt,
    source: event.source,
    eventId: event.eventId,
    identityId: identity.id.toLowerCase(),
    identityName: identityLabel(identity, declared),
    identityKind: kind,
    resolved: identity.resolved,
    expected: expected.join(', '),
  };
  if (link) e.portalLink = link;
  if (identity.applicationId) e.applicationId = identity.applicationId;
  if (identity.upn) e.upn = identity.upn;
  if (declared) e.policyRef = declared.ref;
  if (event.actionCode !== undefined) e.actionCode = event.actionCode;
  if (event.messageName) e.messageName = event.messageName;
  if (event.changedAttributes?.length) e.changedAttributes = event.changedAttributes.slice(0, 50).join(',');
  return e;
}

function describeChange(
  event: AuditEvent,
  identity: Identity,
  kind: IdentityKind,
  declared: PolicyIdentity | undefined,
  link: string | undefined,
  expected: string[],
): string {
  const who = [
    identityLabel(identity, declared),
    `kind ${kind}`,
    identity.applicationId ? `application id ${identity.applicationId}` : undefined,
    identity.upn ? `upn ${identity.upn}` : undefined,
    `systemuser ${identity.id}`,
    identity.resolved ? undefined : 'unresolved: the lookup failed and is retried on a later run',
  ]
    .filter(Boolean)
    .join(', ');
  return [
    `Record: ${event.table} ${event.recordId}${link ? ` (${link})` : ''}.`,
    `Action: ${event.messageName ?? event.operation} (${event.operation}) at ${event.occurredAt}, seen via ${event.source}.`,
    `Identity: ${who}.`,
    `Expected: ${expected.length ? expected.join(', ') : 'no allowed modifiers declared for this table'}.`,
  ].join('\n');
}
