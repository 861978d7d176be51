import { createHash } from 'node:crypto';
import { fakeApiKey } from './fakeSecrets';
import { BUSINESS_UNIT_ID, ROLES, TEAM_FLOW_MAKERS, USERS, hashGuid } from './ids';
import type { SimDataverse, SimFlow } from './model';

/** Dataverse audit `action` codes used by the story (audit entity option set). */
export const AUDIT_ACTION = { create: 1, update: 2, delete: 3, assign: 13, share: 14, associate: 33, disassociate: 34, assignRoleToTeam: 53, removeRoleFromTeam: 54, assignRoleToUser: 55, removeRoleFromUser: 56 } as const;
const ACTION_LABEL: Record<number, string> = { 1: 'Create', 2: 'Update', 3: 'Delete', 13: 'Assign', 14: 'Share', 33: 'Associate Entities', 34: 'Disassociate Entities', 53: 'Assign Role To Team', 54: 'Remove Role From Team', 55: 'Assign Role To User', 56: 'Remove Role From User' };
/** Dataverse audit `operation`: 1 Create, 2 Update, 3 Delete, 4 Access. */
const OPERATION_LABEL: Record<number, string> = { 1: 'Create', 2: 'Update', 3: 'Delete', 4: 'Access' };
const TABLE_LABEL: Record<string, string> = { cr5f2_invoice: 'Invoice', contact: 'Contact', account: 'Account', systemuser: 'User', workflow: 'Process', team: 'Team' };

const SEED = 20240601;
const allUsers = Object.values(USERS);
const nameOf = (systemuserid: string) => allUsers.find((u) => u.systemuserid === systemuserid)?.fullname ?? 'Unknown';

export interface AuditSpec {
  at: Date;
  action: number;
  operation: number;
  table: string;
  objectId: string;
  userId: string;
  callingUserId?: string;
  changed?: { logicalName: string; oldValue?: string | null; newValue?: string | null }[];
  /** For role/share/associate rows: the related record (role id, principal id). */
  related?: { logicalName: string; id: string; relationship?: string };
}

let auditCounter = 0;
/** One `audits` row in the Web API shape (annotations included; the server strips them unless asked). */
export function auditRow(spec: AuditSpec): Record<string, unknown> {
  const id = hashGuid(SEED, 'audit', auditCounter++, spec.at.toISOString(), spec.objectId);
  const createdon = spec.at.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const changedata = spec.changed
    ? JSON.stringify({ changedAttributes: spec.changed.map((c) => ({ logicalName: c.logicalName, oldValue: c.oldValue ?? null, newValue: c.newValue ?? null })) })
    : spec.related
      ? // Simulator convention for relationship rows (real detail needs RetrieveAuditDetails): the target record.
        JSON.stringify({ relationshipName: spec.related.relationship ?? null, targetRecords: [{ logicalName: spec.related.logicalName, id: spec.related.id }] })
      : null;
  const row: Record<string, unknown> = {
    '_objectid_value@Microsoft.Dynamics.CRM.lookuplogicalname': spec.table,
    _objectid_value: spec.objectId,
    'objecttypecode@OData.Community.Display.V1.FormattedValue': TABLE_LABEL[spec.table] ?? spec.table,
    objecttypecode: spec.table,
    'createdon@OData.Community.Display.V1.FormattedValue': spec.at.toUTCString(),
    createdon,
    '_userid_value@Microsoft.Dynamics.CRM.lookuplogicalname': 'systemuser',
    '_userid_value@OData.Community.Display.V1.FormattedValue': nameOf(spec.userId),
    _userid_value: spec.userId,
    '_callinguserid_value@Microsoft.Dynamics.CRM.lookuplogicalname': spec.callingUserId ? 'systemuser' : undefined,
    '_callinguserid_value@OData.Community.Display.V1.FormattedValue': spec.callingUserId ? nameOf(spec.callingUserId) : undefined,
    _callinguserid_value: spec.callingUserId ?? null,
    'action@OData.Community.Display.V1.FormattedValue': ACTION_LABEL[spec.action] ?? String(spec.action),
    action: spec.action,
    'operation@OData.Community.Display.V1.FormattedValue': OPERATION_LABEL[spec.operation] ?? String(spec.operation),
    operation: spec.operation,
    auditid: id,
    transactionid: hashGuid(SEED, 'tx', id),
    attributemask: spec.changed ? spec.changed.map((_, i) => String(10 + i)).join(',') : null,
    changedata,
    useradditionalinfo: null,
  };
  for (const k of Object.keys(row)) if (row[k] === undefined) delete row[k];
  return row;
}

const etag = (s: string) => `W/"${parseInt(createHash('md5').update(s).digest('hex').slice(0, 7), 16)}"`;

function systemuser(u: (typeof allUsers)[number]): Record<string, unknown> {
  const app = 'appId' in u ? u.appId : null;
  const upn = 'upn' in u ? u.upn : null;
  return {
    '@odata.etag': etag(u.systemuserid),
    systemuserid: u.systemuserid,
    fullname: u.fullname,
    domainname: upn ?? `${app}@contoso.onmicrosoft.com`,
    internalemailaddress: upn ?? `${app}@contoso.onmicrosoft.com`,
    applicationid: app,
    azureactivedirectoryobjectid: u.aad,
    isdisabled: false,
    accessmode: app ? 4 : 0,
    'accessmode@OData.Community.Display.V1.FormattedValue': app ? 'Non-interactive' : 'Read-Write',
    islicensed: !app,
    _businessunitid_value: BUSINESS_UNIT_ID,
  };
}

/** The sample tenant's Dataverse: users, roles, teams, solution components and recent audits. */
export function buildSampleDataverse(anchor: Date, flows: SimFlow[]): SimDataverse {
  const ago = (minutes: number) => new Date(anchor.getTime() - minutes * 60_000);
  const U = USERS;
  const userRoles = new Map<string, Set<string>>([
    [U.svcFlowOwner.systemuserid, new Set([ROLES.basicUser.roleid, ROLES.environmentMaker.roleid, ROLES.invoiceWriter.roleid])],
    [U.invoiceSync.systemuserid, new Set([ROLES.invoiceWriter.roleid])],
    [U.contactEnricher.systemuserid, new Set([ROLES.contactWriter.roleid])],
    [U.reportingReader.systemuserid, new Set([ROLES.basicUser.roleid, ROLES.systemAdministrator.roleid])],
    [U.alice.systemuserid, new Set([ROLES.basicUser.roleid])],
    [U.bob.systemuserid, new Set([ROLES.basicUser.roleid])],
    [U.legacyIntegration.systemuserid, new Set([ROLES.systemCustomizer.roleid])],
  ]);
  const teamRoles = new Map([[TEAM_FLOW_MAKERS.teamid, new Set<string>([ROLES.environmentMaker.roleid])]]);
  const teamMembers = new Map([[TEAM_FLOW_MAKERS.teamid, new Set<string>([U.alice.systemuserid])]]);

  const invoice1 = 'c0de0001-0000-4000-8000-000000000001';
  const invoice2 = 'c0de0001-0000-4000-8000-000000000002';
  const invoice3 = 'c0de0001-0000-4000-8000-000000000003';
  const contact1 = 'c0de0002-0000-4000-8000-000000000001';
  const account1 = 'c0de0003-0000-4000-8000-000000000001';
  const account2 = 'c0de0003-0000-4000-8000-000000000002';
  const A = AUDIT_ACTION;
  const audits: AuditSpec[] = [
    { at: ago(230), action: A.assignRoleToUser, operation: 2, table: 'systemuser', objectId: U.svcFlowOwner.systemuserid, userId: U.alice.systemuserid, related: { logicalName: 'role', id: ROLES.invoiceWriter.roleid, relationship: 'systemuserroles_association' } },
    { at: ago(200), action: A.update, operation: 2, table: 'cr5f2_invoice', objectId: invoice1, userId: U.invoiceSync.systemuserid, changed: [{ logicalName: 'cr5f2_status', oldValue: '1', newValue: '2' }] },
    { at: ago(190), action: A.create, operation: 1, table: 'cr5f2_invoice', objectId: invoice3, userId: U.invoiceSync.systemuserid },
    { at: ago(180), action: A.update, operation: 2, table: 'cr5f2_invoice', objectId: invoice1, userId: U.bob.systemuserid, changed: [{ logicalName: 'cr5f2_amount', oldValue: '1200.00', newValue: '120.00' }] },
    { at: ago(170), action: A.update, operation: 2, table: 'cr5f2_invoice', objectId: invoice2, userId: U.contactEnricher.systemuserid, changed: [{ logicalName: 'cr5f2_customername', oldValue: 'Fabrikam', newValue: 'Fabrikam Ltd' }] },
    { at: ago(160), action: A.create, operation: 1, table: 'account', objectId: account2, userId: U.legacyIntegration.systemuserid },
    { at: ago(150), action: A.update, operation: 2, table: 'contact', objectId: contact1, userId: U.alice.systemuserid, changed: [{ logicalName: 'telephone1', oldValue: null, newValue: '+1 555 0100' }] },
    { at: ago(140), action: A.update, operation: 2, table: 'contact', objectId: contact1, userId: U.alice.systemuserid, callingUserId: U.contactEnricher.systemuserid, changed: [{ logicalName: 'jobtitle', oldValue: 'Buyer', newValue: 'Head of Purchasing' }] },
    { at: ago(130), action: A.update, operation: 2, table: 'account', objectId: account1, userId: U.alice.systemuserid, callingUserId: U.contactEnricher.systemuserid, changed: [{ logicalName: 'creditlimit', oldValue: '10000', newValue: '250000' }] },
    { at: ago(120), action: A.update, operation: 2, table: 'contact', objectId: contact1, userId: U.contactEnricher.systemuserid, changed: [{ logicalName: 'emailaddress1', oldValue: null, newValue: 'buyer@fabrikam.com' }] },
    { at: ago(110), action: A.delete, operation: 3, table: 'cr5f2_invoice', objectId: invoice2, userId: U.bob.systemuserid },
    { at: ago(100), action: A.assign, operation: 2, table: 'account', objectId: account1, userId: U.alice.systemuserid, changed: [{ logicalName: 'ownerid', oldValue: U.alice.systemuserid, newValue: U.bob.systemuserid }] },
    { at: ago(90), action: A.share, operation: 2, table: 'cr5f2_invoice', objectId: invoice1, userId: U.bob.systemuserid, related: { logicalName: 'systemuser', id: U.legacyIntegration.systemuserid } },
    { at: ago(80), action: A.removeRoleFromUser, operation: 2, table: 'systemuser', objectId: U.bob.systemuserid, userId: U.alice.systemuserid, related: { logicalName: 'role', id: ROLES.salesManager.roleid, relationship: 'systemuserroles_association' } },
    { at: ago(70), action: A.update, operation: 2, table: 'cr5f2_invoice', objectId: invoice3, userId: U.invoiceSync.systemuserid, changed: [{ logicalName: 'cr5f2_status', oldValue: '1', newValue: '3' }] },
  ];

  const workflows = flows.map((f) => {
    const owner = f.creatorObjectId === U.alice.aad ? U.alice.systemuserid : U.svcFlowOwner.systemuserid;
    const connectionReferences = Object.fromEntries(
      f.connectionReferences.map((c) => [c.key, { api: { name: c.apiName }, connection: { connectionReferenceLogicalName: c.connectionReferenceLogicalName }, runtimeSource: 'embedded' }]),
    );
    return {
      '@odata.etag': etag(f.id),
      workflowid: f.id,
      workflowidunique: hashGuid(SEED, 'wfu', f.id),
      name: f.displayName,
      category: 5,
      'category@OData.Community.Display.V1.FormattedValue': 'Modern Flow',
      type: 1,
      statecode: 1,
      statuscode: 2,
      _ownerid_value: owner,
      '_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname': 'systemuser',
      _createdby_value: owner,
      createdon: f.createdTime,
      modifiedon: f.lastModifiedTime,
      ismanaged: false,
      clientdata: JSON.stringify({ properties: { connectionReferences, definition: f.definition }, schemaVersion: '1.0.0.0' }),
    };
  });

  const connectionreferences = [
    ['cr5f2_sharedkeyvault_3f9a1', 'shared_keyvault', 'Azure Key Vault (ERP)'],
    ['cr5f2_sharedcommondataserviceforapps_77b20', 'shared_commondataserviceforapps', 'Dataverse (automation)'],
    ['cr5f2_sharedoffice365_5c1d4', 'shared_office365', 'Office 365 Outlook (sales)'],
    ['cr5f2_sharedsharepointonline_0e6f2', 'shared_sharepointonline', 'SharePoint (reports)'],
    ['cr5f2_sharedteams_9a8b7', 'shared_teams', 'Microsoft Teams (reports)'],
  ].map(([logical, api, display]) => {
    const conn = flows.flatMap((f) => f.connectionReferences).find((c) => c.connectionReferenceLogicalName === logical);
    const owner = api === 'shared_office365' ? U.alice.systemuserid : U.svcFlowOwner.systemuserid;
    return {
      '@odata.etag': etag(logical!),
      connectionreferenceid: hashGuid(SEED, 'cref', logical!),
      connectionreferencelogicalname: logical,
      connectionreferencedisplayname: display,
      connectorid: `/providers/Microsoft.PowerApps/apis/${api}`,
      connectionid: conn?.connectionName ?? null,
      _ownerid_value: owner,
      _createdby_value: owner,
      statecode: 0,
    };
  });

  const envDef = (schemaname: string, displayname: string, type: number, defaultvalue: string | null) => ({
    '@odata.etag': etag(schemaname),
    environmentvariabledefinitionid: hashGuid(SEED, 'evd', schemaname),
    schemaname,
    displayname,
    type,
    'type@OData.Community.Display.V1.FormattedValue': { 100000000: 'String', 100000001: 'Number', 100000002: 'Boolean', 100000003: 'JSON', 100000004: 'Data source', 100000005: 'Secret' }[type],
    defaultvalue,
    secretstore: type === 100000005 ? 0 : null,
  });
  const kvRef = '/subscriptions/5b1c0e2d-3a4f-4b6c-8d7e-9f0a1b2c3d4e/resourceGroups/rg-erp-prod/providers/Microsoft.KeyVault/vaults/kv-contoso-erp/secrets/storage-connection';
  const environmentvariabledefinitions = [
    envDef('cr5f2_ErpApiKey', 'ERP API key', 100000000, fakeApiKey(SEED, 'envvar')),
    envDef('cr5f2_StorageConnection', 'Archive storage connection', 100000005, null),
    envDef('cr5f2_ErpBaseUrl', 'ERP base URL', 100000000, 'https://erp.contoso.com/api/v2'),
    envDef('cr5f2_BatchSize', 'Invoice batch size', 100000001, '200'),
    envDef('cr5f2_FeatureFlags', 'Feature flags', 100000003, '{"enrichContacts":true,"archiveInvoices":true}'),
  ];
  const defId = (s: string) => environmentvariabledefinitions.find((d) => d.schemaname === s)!.environmentvariabledefinitionid;
  const environmentvariablevalues = [
    { environmentvariablevalueid: hashGuid(SEED, 'evv', 'storage'), schemaname: 'cr5f2_StorageConnection', value: kvRef, _environmentvariabledefinitionid_value: defId('cr5f2_StorageConnection') },
    { environmentvariablevalueid: hashGuid(SEED, 'evv', 'baseurl'), schemaname: 'cr5f2_ErpBaseUrl', value: 'https://erp-prod.contoso.com/api/v2', _environmentvariabledefinitionid_value: defId('cr5f2_ErpBaseUrl') },
  ];

  return {
    sets: {
      systemusers: allUsers.map(systemuser),
      roles: Object.values(ROLES).map((r) => ({ '@odata.etag': etag(r.roleid), roleid: r.roleid, name: r.name, _businessunitid_value: BUSINESS_UNIT_ID, ismanaged: false })),
      teams: [{ '@odata.etag': etag(TEAM_FLOW_MAKERS.teamid), teamid: TEAM_FLOW_MAKERS.teamid, name: TEAM_FLOW_MAKERS.name, teamtype: 0, 'teamtype@OData.Community.Display.V1.FormattedValue': 'Owner', azureactivedirectoryobjectid: null, isdefault: false, _businessunitid_value: BUSINESS_UNIT_ID }],
      workflows,
      connectionreferences,
      environmentvariabledefinitions,
      environmentvariablevalues,
      audits: audits.map(auditRow),
    },
    keys: {
      systemusers: 'systemuserid',
      roles: 'roleid',
      teams: 'teamid',
      workflows: 'workflowid',
      connectionreferences: 'connectionreferenceid',
      environmentvariabledefinitions: 'environmentvariabledefinitionid',
      environmentvariablevalues: 'environmentvariablevalueid',
      audits: 'auditid',
    },
    userRoles,
    teamRoles,
    teamMembers,
  };
}
