/**
 * RemoteExecutionContext bodies as a Dataverse service endpoint (contract Webhook) posts them, for the
 * demo and the webhook benchmark. Shape follows the published sample (powerapps-docs, "Contact update"):
 * `{key,value}` arrays, `__type`-tagged values, `/Date(ms)/` dates, UserId vs InitiatingUserId.
 */
const ENTITY = 'Entity:http://schemas.microsoft.com/xrm/2011/Contracts';
const REF = 'EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts';

export interface WebhookSampleOptions {
  message: 'Create' | 'Update' | 'Delete' | 'Associate' | 'Disassociate';
  table: string;
  recordId: string;
  userId: string;
  initiatingUserId?: string;
  organizationId: string;
  organizationName?: string;
  at: Date;
  attributes?: Record<string, string | number | boolean | null>;
  /** Associate/Disassociate: relationship schema name and the related records. */
  relationship?: string;
  related?: { logicalName: string; id: string; name?: string }[];
  correlationId: string;
}

function ref(logicalName: string, id: string, name: string | null = null) {
  return { __type: REF, Id: id, KeyAttributes: [], LogicalName: logicalName, Name: name, RowVersion: null };
}

export function remoteExecutionContext(o: WebhookSampleOptions): string {
  const date = `/Date(${o.at.getTime()})/`;
  const inputs: { key: string; value: unknown }[] = [];
  if (o.message === 'Create' || o.message === 'Update') {
    inputs.push({
      key: 'Target',
      value: {
        __type: ENTITY,
        Attributes: [
          ...Object.entries(o.attributes ?? {}).map(([key, value]) => ({ key, value })),
          { key: `${o.table}id`, value: o.recordId },
          { key: 'modifiedon', value: date },
          { key: 'modifiedby', value: ref('systemuser', o.userId) },
        ],
        EntityState: null,
        FormattedValues: [],
        Id: o.recordId,
        KeyAttributes: [],
        LogicalName: o.table,
        RelatedEntities: [],
        RowVersion: null,
      },
    });
  } else {
    inputs.push({ key: 'Target', value: ref(o.table, o.recordId) });
  }
  if (o.relationship) {
    inputs.push({ key: 'Relationship', value: { __type: 'Relationship:http://schemas.microsoft.com/xrm/2011/Contracts', PrimaryEntityRole: null, SchemaName: o.relationship } });
    inputs.push({ key: 'RelatedEntities', value: (o.related ?? []).map((r) => ref(r.logicalName, r.id, r.name ?? null)) });
  }
  const operationId = o.correlationId.replace(/^.{8}/, 'aaaaaaaa');
  return JSON.stringify({
    BusinessUnitId: '0f2d6a35-6f21-4c8e-9a55-1b2c3d4e5f60',
    CorrelationId: o.correlationId,
    Depth: 1,
    InitiatingUserId: o.initiatingUserId ?? o.userId,
    InputParameters: inputs,
    IsExecutingOffline: false,
    IsInTransaction: false,
    IsOfflinePlayback: false,
    IsolationMode: 1,
    MessageName: o.message,
    Mode: 1,
    OperationCreatedOn: date,
    OperationId: operationId,
    OrganizationId: o.organizationId,
    OrganizationName: o.organizationName ?? 'contoso-prod',
    OutputParameters: [],
    OwningExtension: ref('sdkmessageprocessingstep', '75417616-4ea2-e711-8122-000d3aa2331c'),
    ParentContext: null,
    PostEntityImages: [],
    PreEntityImages: [],
    PrimaryEntityId: o.recordId,
    PrimaryEntityName: o.table,
    RequestId: null,
    SecondaryEntityName: o.relationship ? 'role' : 'none',
    SharedVariables: [],
    Stage: 40,
    UserId: o.userId,
  });
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
