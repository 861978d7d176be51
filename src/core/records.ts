/**
 * Normalized records that sources produce and detectors consume. Pure data, no SDK types.
 */

// ---------- Flow runs (secret exposure) ----------

export interface ContentLink {
  /** Signed URL (SAS, `sig=`). Never log it, never put it in a finding. */
  uri: string;
  contentSize?: number;
  contentHash?: { algorithm: string; value: string };
}

export interface FlowRef {
  environmentId: string;
  flowId: string;
  displayName?: string;
}

export interface RunRef extends FlowRef {
  runId: string;
  status: string;
  startTime?: string;
  endTime?: string;
}

export interface RunAction {
  name: string;
  /** Action type from the definition when known (Http, OpenApiConnection, Compose…). */
  type?: string;
  status?: string;
  startTime?: string;
  endTime?: string;
  inputsLink?: ContentLink;
  outputsLink?: ContentLink;
  /** Connector operation and connector from the definition, e.g. GetSecret / shared_keyvault. */
  operationId?: string;
  apiName?: string;
  /** The run history marks this side secured (secureData): no link, nothing to fetch. */
  inputsSecured?: boolean;
  outputsSecured?: boolean;
}

/** The content behind one action's inputs or outputs link, parsed (JSON) or raw text. */
export interface RunActionContent {
  environmentId: string;
  flowId: string;
  flowName?: string;
  runId: string;
  actionName: string;
  actionType?: string;
  /** Connector operation when known, e.g. `GetSecret` of `shared_keyvault`. */
  operationId?: string;
  apiName?: string;
  direction: 'inputs' | 'outputs';
  content: unknown;
  observedAt: string;
}

// ---------- Dataverse changes (unexpected modifier, event-driven drift) ----------

/** One raw row of Dataverse `audits` (Web API), fields as the service names them. */
export interface AuditRow {
  auditid: string;
  createdon: string;
  action: number;
  operation: number;
  objecttypecode: string;
  _objectid_value?: string | null;
  _userid_value?: string | null;
  _callinguserid_value?: string | null;
  attributemask?: string | null;
  changedata?: string | null;
  [k: string]: unknown;
}

export type IdentityKind = 'application-user' | 'service-account' | 'person' | 'unknown';

/** A Dataverse systemuser as resolved by the source. `resolved: false` when the lookup failed. */
export interface Identity {
  id: string;
  kind: IdentityKind;
  resolved: boolean;
  applicationId?: string;
  upn?: string;
  name?: string;
}

export const AUDIT_OPERATIONS = [
  'create',
  'update',
  'delete',
  'assign',
  'share',
  'unshare',
  'modify-share',
  'associate',
  'disassociate',
  'role-assign',
  'role-remove',
  'other',
] as const;
export type AuditOperation = (typeof AUDIT_OPERATIONS)[number];

export interface AuditEvent {
  environmentId: string;
  source: 'audit' | 'webhook';
  /** auditid for polled rows; for webhooks a stable id built from the context (correlation id + message + record). */
  eventId: string;
  table: string;
  recordId: string;
  operation: AuditOperation;
  /** Dataverse audit `action` code (1 create, 2 update, 3 delete, 13 assign, 14 share …) when known. */
  actionCode?: number;
  messageName?: string;
  /** The identity the change is attributed to (audit `_userid_value`, webhook `UserId`). */
  user: Identity;
  /** The identity that made the call when different (audit `_callinguserid_value`, webhook `InitiatingUserId`). */
  callingUser?: Identity;
  occurredAt: string;
  changedAttributes?: string[];
  /** For share/role events: the principal that gained or lost access and the role/privilege. */
  targetPrincipalId?: string;
  /** The target principal resolved (kind, application id, UPN) when the source could look it up. */
  targetPrincipal?: Identity;
  /** 'systemuser' or 'team' when known (audit actions 53/54 are team role changes, 55/56 user ones). */
  targetPrincipalType?: 'systemuser' | 'team';
  /** Relationship of an associate/disassociate, e.g. `systemuserroles_association`, `teamroles_association`. */
  relationship?: string;
  roleId?: string;
  roleName?: string;
}

// ---------- Permissions (drift) ----------

export interface RoleGrant {
  roleId: string;
  roleName: string;
  /** 'direct' or 'team:<teamid>' */
  via: string;
}

export interface PrincipalSnapshot {
  id: string;
  kind: IdentityKind;
  applicationId?: string;
  upn?: string;
  name?: string;
  disabled?: boolean;
  roles: RoleGrant[];
  /**
   * Drift finding id → observedAt of its first report, carried from snapshot to snapshot so a condition that
   * persists keeps one observedAt (the findings table partitions by its day; a new day must not re-create it).
   */
  findingsObservedAt?: Record<string, string>;
}

export interface FlowPermission {
  principalId: string;
  /** 'User' | 'Group' | 'Tenant' (everyone) | 'Guest' … as the Flow API reports it */
  principalType: string;
  /** 'Owner' (owner/co-owner) | 'CanView' (run-only) … */
  roleName: string;
  upn?: string;
  /** Entra object id as the Flow API reported it, when `principalId` was mapped to a systemuser/team id. */
  objectId?: string;
}

export interface FlowPermissionSnapshot {
  flowId: string;
  displayName?: string;
  /** The creator/primary owner identity (Flow API `creator.objectId` / Dataverse `_ownerid_value`). */
  ownerId?: string;
  permissions: FlowPermission[];
  connectionReferences: string[];
  /** The exact map flow → connection reference → connection → owner identity (systemuser id when mapped). */
  connectionLinks?: { reference: string; apiName?: string; connectionId?: string; ownerId?: string }[];
  /**
   * Drift finding id → observedAt of its first report, carried from snapshot to snapshot so a condition that
   * persists keeps one observedAt (the findings table partitions by its day; a new day must not re-create it).
   */
  findingsObservedAt?: Record<string, string>;
}

export interface ConnectionSnapshot {
  connectionId: string;
  connectorName: string;
  displayName?: string;
  /** Identity that created/owns the connection. */
  createdBy: { id: string; kind: IdentityKind; upn?: string; name?: string };
  sharedWith: FlowPermission[];
  /** Connection reference logical names that point at it. */
  connectionReferences: string[];
  /** Flows that use it through a connection reference. */
  usedByFlows: string[];
  /**
   * Drift finding id → observedAt of its first report, carried from snapshot to snapshot so a condition that
   * persists keeps one observedAt (the findings table partitions by its day; a new day must not re-create it).
   */
  findingsObservedAt?: Record<string, string>;
}

export interface PermissionSnapshot {
  environmentId: string;
  takenAt: string;
  principals: PrincipalSnapshot[];
  flows: FlowPermissionSnapshot[];
  connections: ConnectionSnapshot[];
  /** Role catalogue (id → name) when the snapshot was taken; lets drift key a baseline role nobody holds by its id. */
  roles?: { roleId: string; roleName: string }[];
}
