import type { AuditEvent, AuditOperation, AuditRow, Identity } from '../records';

export type { AuditRow };

/**
 * Dataverse audit `action` choice (audit.action) → name and normalized operation.
 * Codes as published for the audit table's "Event" choice (Create 1 … User Access Audit Stopped 113).
 * Role changes: 53–56 are the legacy role events; newer environments audit role changes as
 * Associate/Disassociate (33/34) on systemuser/team with the roles relationship — see `auditRowToEvent`.
 */
export const AUDIT_ACTIONS: Readonly<Record<number, { name: string; operation: AuditOperation }>> = {
  0: { name: 'Unknown', operation: 'other' },
  1: { name: 'Create', operation: 'create' },
  2: { name: 'Update', operation: 'update' },
  3: { name: 'Delete', operation: 'delete' },
  // State changes write statecode/statuscode: an update of the record.
  4: { name: 'Activate', operation: 'update' },
  5: { name: 'Deactivate', operation: 'update' },
  11: { name: 'Cascade', operation: 'other' },
  12: { name: 'Merge', operation: 'update' },
  13: { name: 'Assign', operation: 'assign' },
  14: { name: 'Share', operation: 'share' },
  15: { name: 'Retrieve', operation: 'other' },
  16: { name: 'Close', operation: 'update' },
  17: { name: 'Cancel', operation: 'update' },
  18: { name: 'Complete', operation: 'update' },
  20: { name: 'Resolve', operation: 'update' },
  21: { name: 'Reopen', operation: 'update' },
  22: { name: 'Fulfill', operation: 'update' },
  23: { name: 'Paid', operation: 'update' },
  24: { name: 'Qualify', operation: 'update' },
  25: { name: 'Disqualify', operation: 'update' },
  26: { name: 'Submit', operation: 'update' },
  27: { name: 'Reject', operation: 'update' },
  28: { name: 'Approve', operation: 'update' },
  29: { name: 'Invoice', operation: 'update' },
  30: { name: 'Hold', operation: 'update' },
  31: { name: 'Add Member', operation: 'associate' },
  32: { name: 'Remove Member', operation: 'disassociate' },
  33: { name: 'Associate Entities', operation: 'associate' },
  34: { name: 'Disassociate Entities', operation: 'disassociate' },
  35: { name: 'Add Members', operation: 'associate' },
  36: { name: 'Remove Members', operation: 'disassociate' },
  37: { name: 'Add Item', operation: 'associate' },
  38: { name: 'Remove Item', operation: 'disassociate' },
  39: { name: 'Add Substitute', operation: 'associate' },
  40: { name: 'Remove Substitute', operation: 'disassociate' },
  41: { name: 'Set State', operation: 'update' },
  42: { name: 'Renew', operation: 'update' },
  43: { name: 'Revise', operation: 'update' },
  44: { name: 'Win', operation: 'update' },
  45: { name: 'Lose', operation: 'update' },
  46: { name: 'Internal Processing', operation: 'other' },
  47: { name: 'Reschedule', operation: 'update' },
  48: { name: 'Modify Share', operation: 'modify-share' },
  49: { name: 'Unshare', operation: 'unshare' },
  50: { name: 'Book', operation: 'update' },
  51: { name: 'Generate Quote From Opportunity', operation: 'other' },
  52: { name: 'Add To Queue', operation: 'other' },
  53: { name: 'Assign Role To Team', operation: 'role-assign' },
  54: { name: 'Remove Role From Team', operation: 'role-remove' },
  55: { name: 'Assign Role To User', operation: 'role-assign' },
  56: { name: 'Remove Role From User', operation: 'role-remove' },
  57: { name: 'Add Privileges to Role', operation: 'other' },
  58: { name: 'Remove Privileges From Role', operation: 'other' },
  59: { name: 'Replace Privileges In Role', operation: 'other' },
  60: { name: 'Import Mappings', operation: 'other' },
  61: { name: 'Clone', operation: 'other' },
  62: { name: 'Send Direct Email', operation: 'other' },
  63: { name: 'Enabled for organization', operation: 'other' },
  64: { name: 'User Access via Web', operation: 'other' },
  65: { name: 'User Access via Web Services', operation: 'other' },
  100: { name: 'Delete Entity', operation: 'other' },
  101: { name: 'Delete Attribute', operation: 'other' },
  102: { name: 'Audit Change at Entity Level', operation: 'other' },
  103: { name: 'Audit Change at Attribute Level', operation: 'other' },
  104: { name: 'Audit Change at Org Level', operation: 'other' },
  105: { name: 'Entity Audit Started', operation: 'other' },
  106: { name: 'Attribute Audit Started', operation: 'other' },
  107: { name: 'Audit Enabled', operation: 'other' },
  108: { name: 'Entity Audit Stopped', operation: 'other' },
  109: { name: 'Attribute Audit Stopped', operation: 'other' },
  110: { name: 'Audit Disabled', operation: 'other' },
  111: { name: 'Audit Log Deletion', operation: 'other' },
  112: { name: 'User Access Audit Started', operation: 'other' },
  113: { name: 'User Access Audit Stopped', operation: 'other' },
};

/** audit.operation choice: the coarse kind of change, used when `action` is unknown. */
export const AUDIT_OPERATION_CODES: Readonly<Record<number, AuditOperation>> = {
  1: 'create',
  2: 'update',
  3: 'delete',
  4: 'other', // Access
  5: 'update', // Upsert
};

export interface MappedAuditAction {
  operation: AuditOperation;
  /** Display name of the action when the code is known. */
  actionName?: string;
  /** False when neither code is in the tables above: callers count these (never an error). */
  known: boolean;
}

/** Map audit `action` (preferred) and `operation` codes to an AuditOperation. Never throws. */
export function mapAuditAction(action: number | undefined | null, operation?: number | null): MappedAuditAction {
  const a = typeof action === 'number' ? AUDIT_ACTIONS[action] : undefined;
  if (a) return { operation: a.operation, actionName: a.name, known: true };
  const op = typeof operation === 'number' ? AUDIT_OPERATION_CODES[operation] : undefined;
  if (op) return { operation: op, known: false };
  return { operation: 'other', known: false };
}

/** Counter of codes that mapped to nothing known, keyed `action:<code>`; pure helper for pipelines. */
export function countUnknownAction(counts: Record<string, number>, action: unknown): void {
  const k = `action:${typeof action === 'number' ? action : String(action)}`;
  counts[k] = (counts[k] ?? 0) + 1;
}

/** A row that cannot become an AuditEvent; `field` names the offending column. */
export class AuditRowError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'AuditRowError';
  }
}

const GUID_RE = /[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/g;
const GUID_EXACT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const ROLE_RELATIONSHIPS = /systemuserroles_association|teamroles_association|\brole\b/i;

function guidsIn(text: string | null | undefined): string[] {
  if (!text) return [];
  return [...text.matchAll(GUID_RE)].map((m) => m[0].toLowerCase());
}

function str(row: AuditRow, field: string): string | undefined {
  const v = row[field];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/**
 * Normalize one raw `audits` row. `resolve` returns the identity for a systemuser id (the pipeline
 * resolves the page's ids first, so this stays pure and synchronous). Throws AuditRowError for rows
 * that cannot be attributed (no id, no time, no table, no user); unknown action codes are not errors.
 *
 * Targets of share/role events come from `changedata`, whose layout Microsoft does not document:
 * the GUIDs in it other than the record itself are taken as the principal (share) or role (role events).
 */
export function auditRowToEvent(
  row: AuditRow,
  env: { id: string } | string,
  resolve: (systemUserId: string) => Identity,
): AuditEvent {
  const environmentId = typeof env === 'string' ? env : env.id;
  if (row === null || typeof row !== 'object') throw new AuditRowError('(row)', 'expected an object');
  const auditId = str(row, 'auditid');
  if (!auditId) throw new AuditRowError('auditid', 'missing');
  const createdon = str(row, 'createdon');
  const t = createdon ? Date.parse(createdon) : NaN;
  if (!createdon || Number.isNaN(t)) throw new AuditRowError('createdon', 'missing or not a date');
  const table = str(row, 'objecttypecode') ?? str(row, '_objectid_value@Microsoft.Dynamics.CRM.lookuplogicalname');
  if (!table) throw new AuditRowError('objecttypecode', 'missing');
  const userId = str(row, '_userid_value');
  if (!userId || !GUID_EXACT.test(userId)) throw new AuditRowError('_userid_value', 'missing or not a GUID');
  const recordId = (str(row, '_objectid_value') ?? '').toLowerCase();
  if (!recordId) throw new AuditRowError('_objectid_value', 'missing');
  if (row.action !== undefined && row.action !== null && typeof row.action !== 'number') {
    throw new AuditRowError('action', 'expected a number');
  }

  const mapped = mapAuditAction(row.action, row.operation);
  let operation = mapped.operation;
  const lowerTable = table.toLowerCase();
  const others = guidsIn(row.changedata).filter((g) => g !== recordId);

  // Newer environments audit role grants as Associate/Disassociate on systemuser/team.
  if ((operation === 'associate' || operation === 'disassociate') && (lowerTable === 'systemuser' || lowerTable === 'team') && ROLE_RELATIONSHIPS.test(row.changedata ?? '')) {
    operation = operation === 'associate' ? 'role-assign' : 'role-remove';
  }

  const user = withFallbackName(resolve(userId.toLowerCase()), str(row, '_userid_value@OData.Community.Display.V1.FormattedValue'));
  const callingId = str(row, '_callinguserid_value');
  const event: AuditEvent = {
    environmentId,
    source: 'audit',
    eventId: auditId.toLowerCase(),
    table: lowerTable,
    recordId,
    operation,
    actionCode: typeof row.action === 'number' ? row.action : undefined,
    messageName: mapped.actionName,
    user,
    occurredAt: new Date(t).toISOString(),
  };
  if (callingId && GUID_EXACT.test(callingId) && callingId.toLowerCase() !== user.id.toLowerCase()) {
    event.callingUser = withFallbackName(resolve(callingId.toLowerCase()), str(row, '_callinguserid_value@OData.Community.Display.V1.FormattedValue'));
  }
  const cd = parseChangeData(row.changedata);
  if (cd.changed.length) event.changedAttributes = cd.changed.map((c) => c.logicalName);
  const relationship = cd.relationship ?? /\b(systemuserroles_association|teamroles_association)\b/i.exec(row.changedata ?? '')?.[1];
  if (relationship) event.relationship = relationship.toLowerCase();
  const principalType = (logicalName: string | undefined): 'systemuser' | 'team' | undefined => {
    const l = logicalName?.toLowerCase();
    return l === 'systemuser' || l === 'team' ? l : undefined;
  };
  if (operation === 'share' || operation === 'unshare' || operation === 'modify-share') {
    const target = cd.targets.find((x) => principalType(x.logicalName)) ?? cd.targets[0];
    const id = target?.id ?? others[0];
    if (id) event.targetPrincipalId = id;
    const type = principalType(target?.logicalName) ?? principalType(/\b(systemuser|team)\b/i.exec(row.changedata ?? '')?.[1]);
    if (type) event.targetPrincipalType = type;
  } else if (operation === 'assign') {
    // The new owner: ownerid's new value ("<guid>" or "systemuser,<guid>"), else the first other GUID.
    const owner = cd.changed.find((c) => c.logicalName.toLowerCase() === 'ownerid');
    const id = guidsIn(owner?.newValue)[0] ?? (owner ? undefined : others[0]);
    if (id) event.targetPrincipalId = id;
    const type = principalType(/\b(systemuser|team)\b/i.exec(owner?.newValue ?? '')?.[1]);
    if (type) event.targetPrincipalType = type;
  } else if (operation === 'role-assign' || operation === 'role-remove') {
    event.targetPrincipalId = recordId;
    // 53/54 are team role events, 55/56 user ones; associate/disassociate say it by the table.
    const code = typeof row.action === 'number' ? row.action : 0;
    event.targetPrincipalType = code === 53 || code === 54 || lowerTable === 'team' ? 'team' : 'systemuser';
    const role = cd.targets.find((x) => x.logicalName?.toLowerCase() === 'role')?.id ?? others[0];
    if (role) event.roleId = role;
  }
  return stripUndefined(event);
}

interface ChangeData {
  changed: { logicalName: string; newValue?: string }[];
  relationship?: string;
  targets: { logicalName?: string; id: string }[];
}

/**
 * `changedata`: for attribute changes Dataverse writes `{"changedAttributes":[{logicalName, oldValue,
 * newValue}]}`; for relationship/share rows the layout is not documented (the local simulator writes
 * `{relationshipName, targetRecords:[{logicalName,id}]}`). Anything else is read for GUIDs only. Never throws.
 */
function parseChangeData(text: string | null | undefined): ChangeData {
  const out: ChangeData = { changed: [], targets: [] };
  if (!text || text[0] !== '{' || text.length > 1_000_000) return out;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return out;
  }
  if (!raw || typeof raw !== 'object') return out;
  const o = raw as Record<string, unknown>;
  if (Array.isArray(o.changedAttributes)) {
    for (const c of o.changedAttributes as unknown[]) {
      if (!c || typeof c !== 'object') continue;
      const a = c as Record<string, unknown>;
      if (typeof a.logicalName !== 'string') continue;
      out.changed.push(typeof a.newValue === 'string' ? { logicalName: a.logicalName, newValue: a.newValue } : { logicalName: a.logicalName });
    }
  }
  if (typeof o.relationshipName === 'string') out.relationship = o.relationshipName;
  if (Array.isArray(o.targetRecords)) {
    for (const t of o.targetRecords as unknown[]) {
      if (!t || typeof t !== 'object') continue;
      const r = t as Record<string, unknown>;
      if (typeof r.id !== 'string' || !GUID_EXACT.test(r.id)) continue;
      out.targets.push(typeof r.logicalName === 'string' ? { logicalName: r.logicalName, id: r.id.toLowerCase() } : { id: r.id.toLowerCase() });
    }
  }
  return out;
}

function withFallbackName(id: Identity, formatted: string | undefined): Identity {
  return !id.name && formatted ? { ...id, name: formatted } : id;
}

function stripUndefined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}
