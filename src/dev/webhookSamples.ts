/**
 * RemoteExecutionContext bodies as a Dataverse service endpoint (contract Webhook) posts them, for the
 * demo, the webhook benchmark and tests. DataContract JSON: `{key,value}` arrays, `__type` tags,
 * `/Date(ms)/`; shapes follow the published Update sample, other messages carry their documented
 * InputParameters (Target, Assignee, PrincipalAccess, Revokee, Relationship, RelatedEntities).
 */
import { randomUUID } from 'node:crypto';


const XRM = 'http://schemas.microsoft.com/xrm/2011/Contracts';
const wcfDate = (ms: number): string => `/Date(${ms})/`;
const kv = (key: string, value: unknown): { key: string; value: unknown } => ({ key, value });
const ref = (logicalName: string, id: string, name: string | null = null): Record<string, unknown> => ({
  __type: `EntityReference:${XRM}`,
  Id: id,
  KeyAttributes: [],
  LogicalName: logicalName,
  Name: name,
  RowVersion: null,
});
const entity = (logicalName: string, id: string, attributes: { key: string; value: unknown }[]): Record<string, unknown> => ({
  __type: `Entity:${XRM}`,
  Attributes: attributes,
  EntityState: null,
  FormattedValues: [],
  Id: id,
  KeyAttributes: [],
  LogicalName: logicalName,
  RelatedEntities: [],
  RowVersion: null,
});

export interface ContextSpec {
  message: 'Create' | 'Update' | 'Delete' | 'Assign' | 'GrantAccess' | 'ModifyAccess' | 'RevokeAccess' | 'Associate' | 'Disassociate' | 'SetState';
  table: string;
  recordId: string;
  userId: string;
  initiatingUserId?: string;
  organizationId: string;
  organizationName?: string;
  /** Milliseconds since epoch; default now. */
  at?: number;
  /** Attributes set on the Target (Create/Update). */
  attributes?: Record<string, unknown>;
  /** Assignee / share principal / role-holder counterpart. */
  principal?: { logicalName: 'systemuser' | 'team'; id: string };
  /** Associate/Disassociate: relationship schema name and the related records. */
  relationship?: string;
  related?: { logicalName: string; id: string; name?: string }[];
  /** Include a ParentContext (sync plug-in chains do). */
  parent?: boolean;
}

/**
 * A RemoteExecutionContext as Dataverse posts it (DataContract JSON: {key,value} arrays, `__type`
 * tags, `/Date(ms)/`). Shapes follow the published Update sample; other messages carry their
 * documented InputParameters (Target, Assignee, PrincipalAccess, Revokee, Relationship, RelatedEntities).
 */
export function buildRemoteExecutionContext(spec: ContextSpec): Record<string, unknown> {
  const at = spec.at ?? Date.now();
  const input: { key: string; value: unknown }[] = [];
  const attrs = Object.entries(spec.attributes ?? {}).map(([k, v]) => kv(k, v));
  switch (spec.message) {
    case 'Create':
    case 'Update':
      input.push(
        kv(
          'Target',
          entity(spec.table, spec.recordId, [
            ...attrs,
            kv(`${spec.table}id`, spec.recordId),
            kv('modifiedon', wcfDate(at)),
            kv('modifiedby', ref('systemuser', spec.userId)),
            kv('modifiedonbehalfby', spec.initiatingUserId && spec.initiatingUserId !== spec.userId ? ref('systemuser', spec.initiatingUserId) : null),
          ]),
        ),
      );
      if (spec.message === 'Update') input.push(kv('SuppressDuplicateDetection', false));
      break;
    case 'Delete':
    case 'SetState':
      input.push(kv('Target', ref(spec.table, spec.recordId)));
      if (spec.message === 'SetState') {
        input.push(kv('State', { __type: `OptionSetValue:${XRM}`, Value: 1 }), kv('Status', { __type: `OptionSetValue:${XRM}`, Value: 2 }));
      }
      break;
    case 'Assign':
      input.push(kv('Target', ref(spec.table, spec.recordId)), kv('Assignee', ref(spec.principal?.logicalName ?? 'systemuser', spec.principal?.id ?? spec.userId)));
      break;
    case 'GrantAccess':
    case 'ModifyAccess':
      input.push(
        kv('Target', ref(spec.table, spec.recordId)),
        kv('PrincipalAccess', {
          __type: 'PrincipalAccess:http://schemas.microsoft.com/crm/2011/Contracts',
          AccessMask: 3,
          Principal: ref(spec.principal?.logicalName ?? 'systemuser', spec.principal?.id ?? spec.userId),
        }),
      );
      break;
    case 'RevokeAccess':
      input.push(kv('Target', ref(spec.table, spec.recordId)), kv('Revokee', ref(spec.principal?.logicalName ?? 'systemuser', spec.principal?.id ?? spec.userId)));
      break;
    case 'Associate':
    case 'Disassociate':
      input.push(
        kv('Target', ref(spec.table, spec.recordId)),
        kv('Relationship', { __type: `Relationship:${XRM}`, PrimaryEntityRole: null, SchemaName: spec.relationship ?? 'contact_customer_accounts' }),
        kv('RelatedEntities', (spec.related ?? []).map((r) => ref(r.logicalName, r.id, r.name ?? null))),
      );
      break;
  }
  const base = {
    BusinessUnitId: '0c4bd5f1-9a3e-4a63-9b0e-6a3b7f1f2d10',
    CorrelationId: randomUUID(),
    Depth: 1,
    InitiatingUserId: spec.initiatingUserId ?? spec.userId,
    InputParameters: input,
    IsExecutingOffline: false,
    IsInTransaction: false,
    IsOfflinePlayback: false,
    IsolationMode: 1,
    MessageName: spec.message,
    Mode: 1,
    OperationCreatedOn: wcfDate(at),
    OperationId: randomUUID(),
    OrganizationId: spec.organizationId,
    OrganizationName: spec.organizationName ?? 'contoso',
    OutputParameters: spec.message === 'Create' ? [kv('id', spec.recordId)] : [],
    OwningExtension: { Id: randomUUID(), KeyAttributes: [], LogicalName: 'sdkmessageprocessingstep', Name: null, RowVersion: null },
    PostEntityImages: [],
    PreEntityImages: [],
    PrimaryEntityId: spec.recordId,
    PrimaryEntityName: spec.message === 'Associate' || spec.message === 'Disassociate' ? 'none' : spec.table,
    RequestId: null,
    SecondaryEntityName: 'none',
    SharedVariables: [],
    Stage: 40,
    UserId: spec.userId,
  };
  return spec.parent ? { ...base, ParentContext: { ...base, Stage: 30, ParentContext: null } } : base;
}

export type WebhookSampleOptions = Omit<ContextSpec, 'at'> & {
  at: Date;
  /** Fixed CorrelationId/OperationId, for reproducible bodies (Dataverse reuses them on a retry). */
  correlationId?: string;
};

/** A serialized RemoteExecutionContext body. */
export function remoteExecutionContext(o: WebhookSampleOptions): string {
  const { correlationId, at, ...spec } = o;
  const ctx = buildRemoteExecutionContext({ ...spec, at: at.getTime() });
  if (correlationId) {
    ctx['CorrelationId'] = correlationId;
    ctx['OperationId'] = correlationId.replace(/^.{8}/, 'aaaaaaaa');
  }
  return JSON.stringify(ctx);
}

/** The headers Dataverse adds to a webhook call. */
export function dynamicsHeaders(o: { organizationHost: string; table: string; message: string }): Record<string, string> {
  return {
    'content-type': 'application/json',
    'x-ms-dynamics-organization': o.organizationHost,
    'x-ms-dynamics-entity-name': o.table,
    'x-ms-dynamics-request-name': o.message,
  };
}
