import { createHash } from 'node:crypto';
import type { AuditEvent, AuditOperation, Identity } from '../core/records';

/**
 * Parsing of the Dataverse webhook body (a RemoteExecutionContext serialized by the .NET
 * DataContractJsonSerializer) and its `x-ms-dynamics-*` headers. Pure: no I/O.
 *
 * The format: collections are `[{ "key": k, "value": v }]` arrays; dates are `"/Date(ms±hhmm)/"`
 * (ms are UTC, the offset only says which zone the server used); typed values carry a `__type` tag
 * like `"Entity:http://schemas.microsoft.com/xrm/2011/Contracts"`. When the message exceeds 256 KB,
 * Dataverse strips ParentContext, InputParameters and the entity images and sets
 * `x-ms-dynamics-msg-size-exceeded`: we parse what is left and mark it.
 */

/** Malformed or non-context body. `field` names where; `message` never contains input values. */
export class WebhookPayloadError extends Error {
  constructor(
    readonly field: string,
    readonly detail: string,
  ) {
    super(`${field}: ${detail}`);
    this.name = 'WebhookPayloadError';
  }
}

export interface WebhookEntity {
  type: 'Entity';
  logicalName: string;
  id?: string;
  attributes: Record<string, WebhookValue>;
  formattedValues: Record<string, string>;
}
export interface WebhookEntityReference {
  type: 'EntityReference';
  logicalName: string;
  id?: string;
  name?: string;
}
export type WebhookValue =
  | null
  | string
  | number
  | boolean
  | WebhookValue[]
  | WebhookEntity
  | WebhookEntityReference
  | { type: 'OptionSetValue'; value: number }
  | { type: 'Money'; value: number }
  | { type: 'Date'; iso: string }
  | { type: 'EntityCollection'; entityName?: string; entities: WebhookEntity[] }
  | { type: 'Object'; typeName?: string; fields: Record<string, WebhookValue> };

export interface WebhookHeaders {
  /** `x-ms-dynamics-organization`: the organization host, e.g. contoso.crm4.dynamics.com. */
  organization?: string;
  entityName?: string;
  requestName?: string;
  /** `x-ms-dynamics-msg-size-exceeded` present: the body was stripped of images and parameters. */
  sizeExceeded: boolean;
  correlationRequestId?: string;
}

export interface ParsedWebhook {
  messageName: string;
  primaryEntityName: string;
  primaryEntityId?: string;
  secondaryEntityName?: string;
  /** The user the operation is performed for (attribution; impersonated user when impersonating). */
  userId?: string;
  /** The user that made the call. */
  initiatingUserId?: string;
  initiatingUserApplicationId?: string;
  initiatingUserAadObjectId?: string;
  userAadObjectId?: string;
  businessUnitId?: string;
  organizationId?: string;
  organizationName?: string;
  requestId?: string;
  correlationId?: string;
  operationId?: string;
  /** ISO 8601 (UTC) of OperationCreatedOn. */
  operationCreatedOn?: string;
  stage?: number;
  mode?: number;
  depth?: number;
  inputParameters: Record<string, WebhookValue>;
  outputParameters: Record<string, WebhookValue>;
  preEntityImages: Record<string, WebhookEntity>;
  postEntityImages: Record<string, WebhookEntity>;
  /** InputParameters.Target when it is an Entity or EntityReference. */
  target?: WebhookEntity | WebhookEntityReference;
  /** Attributes set on the Target entity (Create/Update), minus the platform's own modifiedon/by. */
  changedAttributes: string[];
  hasParentContext: boolean;
  /** The body was stripped because it exceeded 256 KB (header), or images/parameters are absent for that reason. */
  sizeExceeded: boolean;
  headers: WebhookHeaders;
}

/** Deeper than this is not a RemoteExecutionContext (real ones nest < 20 levels); it bounds recursion. */
export const MAX_WEBHOOK_DEPTH = 64;

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const EMPTY_GUID = '00000000-0000-0000-0000-000000000000';
const DATE_RE = /^\/Date\((-?\d{1,15})([+-]\d{4})?\)\/$/;

export function parseWebhookHeaders(headers: Record<string, string | undefined>): WebhookHeaders {
  const get = (name: string): string | undefined => {
    const v = headers[name] ?? findHeader(headers, name);
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const exceeded = get('x-ms-dynamics-msg-size-exceeded');
  const h: WebhookHeaders = { sizeExceeded: exceeded !== undefined && !/^(false|0)$/i.test(exceeded) };
  const org = get('x-ms-dynamics-organization');
  if (org) h.organization = org;
  const entity = get('x-ms-dynamics-entity-name');
  if (entity) h.entityName = entity;
  const request = get('x-ms-dynamics-request-name');
  if (request) h.requestName = request;
  const corr = get('x-ms-correlation-request-id');
  if (corr) h.correlationRequestId = corr;
  return h;
}

function findHeader(headers: Record<string, string | undefined>, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** Parse a `/Date(ms±hhmm)/` string to ISO 8601 UTC, or undefined when it is not one. */
export function parseWcfDate(s: string): string | undefined {
  const m = DATE_RE.exec(s);
  if (!m) return undefined;
  const d = new Date(Number(m[1]));
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/**
 * Parse a webhook body. Throws WebhookPayloadError (and nothing else) for anything that is not a
 * RemoteExecutionContext: not JSON, not an object, MessageName/PrimaryEntityName missing, ids that
 * are not GUIDs, malformed key/value collections, nesting deeper than MAX_WEBHOOK_DEPTH.
 */
export function parseRemoteExecutionContext(body: string, headers: Record<string, string | undefined>): ParsedWebhook {
  const hdrs = parseWebhookHeaders(headers);
  if (typeof body !== 'string' || body.trim() === '') throw new WebhookPayloadError('(body)', 'empty body');
  let raw: unknown;
  try {
    raw = JSON.parse(stripBom(body));
  } catch {
    // JSON.parse messages quote the input: never pass them on.
    throw new WebhookPayloadError('(body)', 'not valid JSON');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new WebhookPayloadError('(body)', 'expected a JSON object (RemoteExecutionContext)');
  }
  const ctx = raw as Record<string, unknown>;
  const messageName = reqString(ctx, 'MessageName');
  const primaryEntityName = reqString(ctx, 'PrimaryEntityName');

  const inputParameters = kvMap(ctx.InputParameters, 'InputParameters', 1);
  const outputParameters = kvMap(ctx.OutputParameters, 'OutputParameters', 1);
  const preEntityImages = imageMap(ctx.PreEntityImages, 'PreEntityImages');
  const postEntityImages = imageMap(ctx.PostEntityImages, 'PostEntityImages');
  if (ctx.ParentContext !== undefined && ctx.ParentContext !== null && (typeof ctx.ParentContext !== 'object' || Array.isArray(ctx.ParentContext))) {
    throw new WebhookPayloadError('ParentContext', 'expected an object or null');
  }
  // The parent context is not used for detection, but it must not hide a bomb: check its depth.
  if (ctx.ParentContext) checkDepth(ctx.ParentContext, 'ParentContext', 1);
  if (ctx.SharedVariables !== undefined) kvMap(ctx.SharedVariables, 'SharedVariables', 1);

  const t = inputParameters.Target;
  const target = isEntity(t) || isEntityRef(t) ? t : undefined;

  const parsed: ParsedWebhook = {
    messageName,
    primaryEntityName,
    inputParameters,
    outputParameters,
    preEntityImages,
    postEntityImages,
    changedAttributes: target && target.type === 'Entity' ? changed(target) : [],
    hasParentContext: !!ctx.ParentContext,
    sizeExceeded: hdrs.sizeExceeded,
    headers: hdrs,
  };
  if (target) parsed.target = target;
  setGuid(parsed, 'primaryEntityId', ctx, 'PrimaryEntityId');
  setGuid(parsed, 'userId', ctx, 'UserId');
  setGuid(parsed, 'initiatingUserId', ctx, 'InitiatingUserId');
  setGuid(parsed, 'initiatingUserApplicationId', ctx, 'InitiatingUserApplicationId');
  setGuid(parsed, 'initiatingUserAadObjectId', ctx, 'InitiatingUserAzureActiveDirectoryObjectId');
  setGuid(parsed, 'userAadObjectId', ctx, 'UserAzureActiveDirectoryObjectId');
  setGuid(parsed, 'businessUnitId', ctx, 'BusinessUnitId');
  setGuid(parsed, 'organizationId', ctx, 'OrganizationId');
  setGuid(parsed, 'requestId', ctx, 'RequestId');
  setGuid(parsed, 'correlationId', ctx, 'CorrelationId');
  setGuid(parsed, 'operationId', ctx, 'OperationId');
  const orgName = optString(ctx, 'OrganizationName');
  if (orgName) parsed.organizationName = orgName;
  const secondary = optString(ctx, 'SecondaryEntityName');
  if (secondary) parsed.secondaryEntityName = secondary;
  const created = optString(ctx, 'OperationCreatedOn');
  if (created !== undefined) {
    const iso = parseWcfDate(created) ?? isoOrUndefined(created);
    if (!iso) throw new WebhookPayloadError('OperationCreatedOn', 'expected a /Date(ms)/ value');
    parsed.operationCreatedOn = iso;
  }
  for (const [k, f] of [
    ['stage', 'Stage'],
    ['mode', 'Mode'],
    ['depth', 'Depth'],
  ] as const) {
    const v = ctx[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new WebhookPayloadError(f, 'expected a number');
    parsed[k] = v;
  }
  return parsed;
}

function stripBom(s: string): string {
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}

function isoOrUndefined(s: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T/.test(s)) return undefined;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}

function reqString(o: Record<string, unknown>, field: string): string {
  const v = o[field];
  if (v === undefined || v === null) throw new WebhookPayloadError(field, 'missing: not a Dataverse RemoteExecutionContext');
  if (typeof v !== 'string' || v.trim() === '') throw new WebhookPayloadError(field, 'expected a non-empty string');
  if (v.length > 256) throw new WebhookPayloadError(field, 'longer than 256 characters');
  return v;
}

function optString(o: Record<string, unknown>, field: string): string | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new WebhookPayloadError(field, 'expected a string');
  if (v.length > 256) throw new WebhookPayloadError(field, 'longer than 256 characters');
  return v;
}

type GuidKey =
  | 'primaryEntityId'
  | 'userId'
  | 'initiatingUserId'
  | 'initiatingUserApplicationId'
  | 'initiatingUserAadObjectId'
  | 'userAadObjectId'
  | 'businessUnitId'
  | 'organizationId'
  | 'requestId'
  | 'correlationId'
  | 'operationId';

/** Optional GUID field; the empty GUID means "not set" (e.g. PrimaryEntityId before a create). */
function setGuid(target: ParsedWebhook, key: GuidKey, o: Record<string, unknown>, field: string): void {
  const v = optString(o, field);
  if (v === undefined || v === '') return;
  if (!GUID.test(v)) throw new WebhookPayloadError(field, 'expected a GUID');
  const g = v.toLowerCase();
  if (g !== EMPTY_GUID) target[key] = g;
}

function kvMap(v: unknown, field: string, depth: number): Record<string, WebhookValue> {
  const out: Record<string, WebhookValue> = Object.create(null) as Record<string, WebhookValue>;
  if (v === undefined || v === null) return out;
  if (!Array.isArray(v)) throw new WebhookPayloadError(field, 'expected an array of {key, value}');
  v.forEach((item: unknown, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new WebhookPayloadError(`${field}[${i}]`, 'expected {key, value}');
    const kv = item as Record<string, unknown>;
    if (typeof kv.key !== 'string') throw new WebhookPayloadError(`${field}[${i}].key`, 'expected a string');
    out[kv.key] = convert(kv.value, `${field}[${i}].value`, depth + 1);
  });
  return out;
}

function imageMap(v: unknown, field: string): Record<string, WebhookEntity> {
  const values = kvMap(v, field, 1);
  const out: Record<string, WebhookEntity> = Object.create(null) as Record<string, WebhookEntity>;
  for (const [k, val] of Object.entries(values)) {
    if (val === null) continue;
    if (!isEntity(val)) throw new WebhookPayloadError(`${field}.${k}`, 'expected an Entity');
    out[k] = val;
  }
  return out;
}

function typeTag(o: Record<string, unknown>): string | undefined {
  const t = o.__type;
  return typeof t === 'string' ? t.split(':')[0] : undefined;
}

function convert(v: unknown, path: string, depth: number): WebhookValue {
  if (depth > MAX_WEBHOOK_DEPTH) throw new WebhookPayloadError(path, `nested deeper than ${MAX_WEBHOOK_DEPTH} levels`);
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') {
    const iso = v.startsWith('/Date(') ? parseWcfDate(v) : undefined;
    return iso ? { type: 'Date', iso } : v;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map((x, i) => convert(x, `${path}[${i}]`, depth + 1));
  if (typeof v !== 'object') return null;
  const o = v as Record<string, unknown>;
  const tag = typeTag(o);
  if (tag === 'Entity' || (tag === undefined && Array.isArray(o.Attributes) && typeof o.LogicalName === 'string')) {
    return entity(o, path, depth);
  }
  if (tag === 'EntityReference' || (tag === undefined && typeof o.LogicalName === 'string' && typeof o.Id === 'string' && !('Attributes' in o))) {
    return entityRef(o, path);
  }
  if (tag === 'OptionSetValue' || tag === 'Money') {
    if (typeof o.Value !== 'number') throw new WebhookPayloadError(`${path}.Value`, 'expected a number');
    return { type: tag, value: o.Value };
  }
  if (tag === 'EntityCollection') {
    const ents = o.Entities;
    if (ents !== undefined && ents !== null && !Array.isArray(ents)) throw new WebhookPayloadError(`${path}.Entities`, 'expected an array');
    const entities = (ents ?? []).map((e: unknown, i: number) => {
      const c = convert(e, `${path}.Entities[${i}]`, depth + 1);
      if (!isEntity(c)) throw new WebhookPayloadError(`${path}.Entities[${i}]`, 'expected an Entity');
      return c;
    });
    const r: { type: 'EntityCollection'; entityName?: string; entities: WebhookEntity[] } = { type: 'EntityCollection', entities };
    if (typeof o.EntityName === 'string') r.entityName = o.EntityName;
    return r;
  }
  const fields: Record<string, WebhookValue> = Object.create(null) as Record<string, WebhookValue>;
  for (const [k, val] of Object.entries(o)) {
    if (k === '__type') continue;
    fields[k] = convert(val, `${path}.${k}`, depth + 1);
  }
  const r: { type: 'Object'; typeName?: string; fields: Record<string, WebhookValue> } = { type: 'Object', fields };
  if (tag) r.typeName = tag;
  return r;
}

function entity(o: Record<string, unknown>, path: string, depth: number): WebhookEntity {
  if (typeof o.LogicalName !== 'string') throw new WebhookPayloadError(`${path}.LogicalName`, 'expected a string');
  const e: WebhookEntity = {
    type: 'Entity',
    logicalName: o.LogicalName,
    attributes: kvMap(o.Attributes, `${path}.Attributes`, depth + 1),
    formattedValues: {},
  };
  const id = optGuidAt(o, 'Id', path);
  if (id) e.id = id;
  const fv = kvMap(o.FormattedValues, `${path}.FormattedValues`, depth + 1);
  for (const [k, val] of Object.entries(fv)) if (typeof val === 'string') e.formattedValues[k] = val;
  // RelatedEntities / KeyAttributes are not used for detection, but still bound their depth.
  if (o.RelatedEntities !== undefined) checkDepth(o.RelatedEntities, `${path}.RelatedEntities`, depth + 1);
  if (o.KeyAttributes !== undefined) checkDepth(o.KeyAttributes, `${path}.KeyAttributes`, depth + 1);
  return e;
}

function entityRef(o: Record<string, unknown>, path: string): WebhookEntityReference {
  if (typeof o.LogicalName !== 'string') throw new WebhookPayloadError(`${path}.LogicalName`, 'expected a string');
  const r: WebhookEntityReference = { type: 'EntityReference', logicalName: o.LogicalName };
  const id = optGuidAt(o, 'Id', path);
  if (id) r.id = id;
  if (typeof o.Name === 'string') r.name = o.Name;
  return r;
}

function optGuidAt(o: Record<string, unknown>, field: string, path: string): string | undefined {
  const v = o[field];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' || !GUID.test(v)) throw new WebhookPayloadError(`${path}.${field}`, 'expected a GUID');
  const g = v.toLowerCase();
  return g === EMPTY_GUID ? undefined : g;
}

/** Iterative depth check of a subtree we do not convert (no recursion, so no stack overflow). */
function checkDepth(v: unknown, path: string, depth: number): void {
  const stack: [unknown, number][] = [[v, depth]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    if (d > MAX_WEBHOOK_DEPTH) throw new WebhookPayloadError(path, `nested deeper than ${MAX_WEBHOOK_DEPTH} levels`);
    for (const c of Array.isArray(x) ? x : Object.values(x as object)) if (c !== null && typeof c === 'object') stack.push([c, d + 1]);
  }
}

export function isEntity(v: WebhookValue | undefined): v is WebhookEntity {
  return !!v && typeof v === 'object' && !Array.isArray(v) && (v as { type?: string }).type === 'Entity';
}
export function isEntityRef(v: WebhookValue | undefined): v is WebhookEntityReference {
  return !!v && typeof v === 'object' && !Array.isArray(v) && (v as { type?: string }).type === 'EntityReference';
}

const PLATFORM_ATTRIBUTES = new Set(['modifiedon', 'modifiedby', 'modifiedonbehalfby', 'createdon', 'createdby', 'createdonbehalfby', 'versionnumber']);

function changed(target: WebhookEntity): string[] {
  const pk = `${target.logicalName}id`;
  return Object.keys(target.attributes).filter((k) => !PLATFORM_ATTRIBUTES.has(k) && k !== pk);
}

// ---------------- to AuditEvent ----------------

const MESSAGE_OPERATIONS: Record<string, AuditOperation> = {
  create: 'create',
  update: 'update',
  upsert: 'update',
  delete: 'delete',
  assign: 'assign',
  grantaccess: 'share',
  modifyaccess: 'modify-share',
  revokeaccess: 'unshare',
  associate: 'associate',
  disassociate: 'disassociate',
  setstate: 'update',
  setstatedynamicentity: 'update',
  merge: 'update',
};

const ROLE_RELATIONSHIPS = new Set(['systemuserroles_association', 'teamroles_association']);

/** InputParameters.Relationship.SchemaName of an Associate/Disassociate, lower-cased. */
export function relationshipName(parsed: ParsedWebhook): string | undefined {
  const rel = parsed.inputParameters.Relationship;
  const schema = rel && typeof rel === 'object' && !Array.isArray(rel) && rel.type === 'Object' ? rel.fields.SchemaName : undefined;
  return typeof schema === 'string' && schema ? schema.toLowerCase() : undefined;
}

export function webhookOperation(parsed: ParsedWebhook): AuditOperation {
  const op = MESSAGE_OPERATIONS[parsed.messageName.toLowerCase()] ?? 'other';
  if (op === 'associate' || op === 'disassociate') {
    const schema = relationshipName(parsed);
    if (schema && ROLE_RELATIONSHIPS.has(schema)) return op === 'associate' ? 'role-assign' : 'role-remove';
  }
  return op;
}

function refsIn(v: WebhookValue | undefined): WebhookEntityReference[] {
  if (!v) return [];
  if (isEntityRef(v)) return [v];
  if (Array.isArray(v)) return v.filter(isEntityRef);
  // EntityReferenceCollection may arrive as a tagged object wrapping the array.
  if (typeof v === 'object' && v.type === 'Object') return Object.values(v.fields).flatMap((x) => refsIn(x));
  return [];
}

/** The record the event is about, and its table. */
export function webhookRecord(parsed: ParsedWebhook): { table: string; recordId?: string } {
  const primary = parsed.primaryEntityName.toLowerCase();
  const table = primary && primary !== 'none' ? primary : (parsed.target?.logicalName.toLowerCase() ?? primary);
  let recordId = parsed.primaryEntityId ?? parsed.target?.id;
  if (!recordId) {
    const out = parsed.outputParameters.id;
    if (typeof out === 'string' && GUID.test(out) && out !== EMPTY_GUID) recordId = out.toLowerCase();
  }
  return recordId ? { table, recordId } : { table };
}

/** Stable id of one webhook delivery of one change: Dataverse retries reuse the same context ids. */
export function webhookEventId(parsed: ParsedWebhook): string {
  const { table, recordId } = webhookRecord(parsed);
  const h = createHash('sha256');
  for (const p of [parsed.correlationId, parsed.requestId, parsed.operationId, parsed.messageName, table, recordId, parsed.userId, parsed.operationCreatedOn]) {
    h.update(p ?? '');
    h.update('\u0000');
  }
  return 'wh-' + h.digest('hex').slice(0, 32);
}

/**
 * Normalize a parsed webhook into an AuditEvent. `resolve` gives the identity of a systemuser id (the
 * handler resolves first). Returns undefined when the context names no user or no record (e.g. trimmed
 * test events): nothing can be attributed. `receivedAt` is used only when OperationCreatedOn is absent.
 *
 * occurredAt is OperationCreatedOn, not the Target's `modifiedon` attribute: the latter is serialized
 * without its time zone and can be hours off (the published sample shows exactly that).
 */
export function webhookToEvent(
  parsed: ParsedWebhook,
  environmentId: string,
  resolve: (systemUserId: string) => Identity,
  receivedAt: string,
): AuditEvent | undefined {
  if (!parsed.userId) return undefined;
  const { table, recordId } = webhookRecord(parsed);
  if (!recordId) return undefined;
  const operation = webhookOperation(parsed);
  const user = resolve(parsed.userId);
  const event: AuditEvent = {
    environmentId,
    source: 'webhook',
    eventId: webhookEventId(parsed),
    table,
    recordId,
    operation,
    messageName: parsed.messageName,
    user,
    occurredAt: parsed.operationCreatedOn ?? receivedAt,
  };
  if (parsed.initiatingUserId && parsed.initiatingUserId !== parsed.userId) {
    const calling = resolve(parsed.initiatingUserId);
    event.callingUser = !calling.applicationId && parsed.initiatingUserApplicationId ? { ...calling, applicationId: parsed.initiatingUserApplicationId } : calling;
  }
  if (parsed.changedAttributes.length) event.changedAttributes = parsed.changedAttributes;
  const ip = parsed.inputParameters;
  const setPrincipal = (ref: WebhookEntityReference | undefined): void => {
    if (!ref?.id) return;
    event.targetPrincipalId = ref.id;
    const type = ref.logicalName.toLowerCase();
    if (type === 'systemuser' || type === 'team') event.targetPrincipalType = type;
  };
  const relationship = relationshipName(parsed);
  if (relationship) event.relationship = relationship;
  if (operation === 'share' || operation === 'modify-share') {
    const pa = ip.PrincipalAccess;
    setPrincipal(refsIn(pa && typeof pa === 'object' && !Array.isArray(pa) && pa.type === 'Object' ? pa.fields.Principal : undefined)[0]);
  } else if (operation === 'unshare') {
    setPrincipal(refsIn(ip.Revokee)[0]);
  } else if (operation === 'assign') {
    setPrincipal(refsIn(ip.Assignee)[0]);
  } else if (operation === 'role-assign' || operation === 'role-remove') {
    event.targetPrincipalId = recordId;
    if (table === 'systemuser' || table === 'team') event.targetPrincipalType = table;
    const role = refsIn(ip.RelatedEntities).find((r) => r.logicalName.toLowerCase() === 'role');
    if (role?.id) event.roleId = role.id;
    if (role?.name) event.roleName = role.name;
  }
  return event;
}
