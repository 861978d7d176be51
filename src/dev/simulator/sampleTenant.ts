import { createHash } from 'node:crypto';
import { AUDIT_ACTION, auditRow, buildSampleDataverse } from './dataverseData';
import { after, compose, http, openApi, recurrence, secure, securedSides, workflowDefinition } from './definitions';
import { fakeApiKey, fakeFunctionsKey, fakeJwt, fakePassword, fakeStorageConnectionString } from './fakeSecrets';
import { ENVIRONMENT_ID, GROUP_SALES, GUEST_MALLORY, ROLES, TENANT_ID, USERS, hashGuid, runIndexFromName, runName } from './ids';
import type { Direction, SimConnection, SimConnectionReference, SimFlow, SimFlowPermission, SimRun, SimRunAction, SimTenant } from './model';

/**
 * The embedded sample tenant: five flows, a Dataverse with users, roles and audits, and a second
 * epoch (advance()) with permission drift. Every planted problem is listed in README.md.
 */

export const SAMPLE_SEED = 20240601;
const S = SAMPLE_SEED;

interface ActionSpec {
  name: string;
  def: Record<string, unknown>;
  inputs: (run: number) => unknown;
  outputs: (run: number) => unknown;
}
interface FlowSpec {
  id: string;
  displayName: string;
  creator: string;
  runs: number;
  failedRuns: number[];
  refs: SimConnectionReference[];
  actions: ActionSpec[];
  trigger?: Record<string, unknown>;
}

const ref = (key: string, logical: string, display: string): SimConnectionReference => ({
  key,
  apiName: key,
  connectionName: `${key.replace(/_/g, '-')}-${hashGuid(S, 'conn', key).replace(/-/g, '').slice(0, 32)}`,
  displayName: display,
  connectionReferenceLogicalName: logical,
});
const REF = {
  keyvault: ref('shared_keyvault', 'cr5f2_sharedkeyvault_3f9a1', 'Azure Key Vault'),
  dataverse: ref('shared_commondataserviceforapps', 'cr5f2_sharedcommondataserviceforapps_77b20', 'Microsoft Dataverse'),
  office365: ref('shared_office365', 'cr5f2_sharedoffice365_5c1d4', 'Office 365 Outlook'),
  sharepoint: ref('shared_sharepointonline', 'cr5f2_sharedsharepointonline_0e6f2', 'SharePoint'),
  teams: ref('shared_teams', 'cr5f2_sharedteams_9a8b7', 'Microsoft Teams'),
};

const respHeaders = (run: number, name: string) => ({
  'Content-Type': 'application/json; charset=utf-8',
  'x-ms-request-id': hashGuid(S, 'req', name, run),
  Date: 'Tue, 04 Jun 2024 09:05:22 GMT',
});
const kvHost = (op: string) => ({ connectionReferenceName: 'shared_keyvault', operationId: op });

const ERP_TOKEN = fakeJwt(S, 'erp');
const STORAGE_CONNECTION = fakeStorageConnectionString(S, 'archive');
const NOTIFY_PASSWORD = fakePassword(S, 'notify');
const ORDER_FUNCTION_URL = `https://contoso-orders.azurewebsites.net/api/OrderIntake?code=${fakeFunctionsKey(S, 'orders')}`;

export const SAMPLE_FLOW_IDS = {
  syncInvoices: 'f10e0001-0000-4000-8000-000000000001',
  nightlyEnrichment: 'f10e0002-0000-4000-8000-000000000002',
  notifySales: 'f10e0003-0000-4000-8000-000000000003',
  orderIntake: 'f10e0004-0000-4000-8000-000000000004',
  benignReporting: 'f10e0005-0000-4000-8000-000000000005',
} as const;

function flowSpecs(): FlowSpec[] {
  const syncActions: ActionSpec[] = [
    {
      name: 'Get_secret',
      def: openApi('shared_keyvault', 'GetSecret', { secretName: 'erp-api-token' }),
      inputs: () => ({ host: kvHost('GetSecret'), parameters: { secretName: 'erp-api-token' } }),
      outputs: (r) => ({
        statusCode: 200,
        headers: respHeaders(r, 'Get_secret'),
        body: { value: ERP_TOKEN, name: 'erp-api-token', version: hashGuid(S, 'kvver').replace(/-/g, ''), contentType: 'application/jwt', isEnabled: true, createdTime: '2024-05-01T08:00:00+00:00', lastUpdatedTime: '2024-05-01T08:00:00+00:00' },
      }),
    },
    {
      name: 'Compose_archive_settings',
      def: compose({ connectionString: "@parameters('Archive storage connection (cr5f2_StorageConnection)')", container: 'invoices-archive' }, after('Get_secret')),
      inputs: () => ({ connectionString: STORAGE_CONNECTION, container: 'invoices-archive' }),
      outputs: () => ({ connectionString: STORAGE_CONNECTION, container: 'invoices-archive' }),
    },
    {
      name: 'Post_invoices_to_ERP',
      def: http(
        { method: 'POST', uri: "@{parameters('ERP base URL (cr5f2_ErpBaseUrl)')}/invoices", headers: { 'Content-Type': 'application/json', Authorization: "Bearer @{body('Get_secret')?['value']}" }, body: '@triggerBody()' },
        after('Compose_archive_settings'),
      ),
      inputs: (r) => ({ uri: 'https://erp-prod.contoso.com/api/v2/invoices', method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${ERP_TOKEN}` }, body: { invoiceId: `INV-2024-${1040 + r}`, amount: 1200 + r * 35.5, currency: 'EUR' } }),
      outputs: (r) => ({ statusCode: 201, headers: respHeaders(r, 'Post_invoices_to_ERP'), body: { id: hashGuid(S, 'erpdoc', r), status: 'accepted' } }),
    },
  ];
  const secured = (a: Record<string, unknown>) => secure(a, ['inputs', 'outputs']);
  const enrichActions: ActionSpec[] = [
    {
      name: 'Get_enrichment_key',
      def: secured(openApi('shared_keyvault', 'GetSecret', { secretName: 'enrichment-api-key' })),
      inputs: () => ({ host: kvHost('GetSecret'), parameters: { secretName: 'enrichment-api-key' } }),
      outputs: () => ({ statusCode: 200, body: { value: fakeJwt(S, 'enrich'), name: 'enrichment-api-key' } }),
    },
    {
      name: 'Call_enrichment_API',
      def: secured(http({ method: 'GET', uri: 'https://api.enrich.example/v1/companies', headers: { Authorization: "Bearer @{body('Get_enrichment_key')?['value']}" } }, after('Get_enrichment_key'))),
      inputs: () => ({ method: 'GET', uri: 'https://api.enrich.example/v1/companies', headers: { Authorization: `Bearer ${fakeJwt(S, 'enrich')}` } }),
      outputs: () => ({ statusCode: 200, body: { companies: [{ name: 'Fabrikam', employees: 1200 }] } }),
    },
    {
      name: 'Update_a_row',
      def: secured(openApi('shared_commondataserviceforapps', 'UpdateRecord', { entityName: 'contacts', recordId: "@items('Apply_to_each')?['contactid']" }, after('Call_enrichment_API'))),
      inputs: () => ({ host: { connectionReferenceName: 'shared_commondataserviceforapps', operationId: 'UpdateRecord' }, parameters: { entityName: 'contacts', recordId: 'c0de0002-0000-4000-8000-000000000001' } }),
      outputs: () => ({ statusCode: 200, body: { contactid: 'c0de0002-0000-4000-8000-000000000001' } }),
    },
  ];
  const notifyActions: ActionSpec[] = [
    {
      name: 'Post_to_CRM_notify',
      def: http({ method: 'POST', uri: 'https://crm-notify.contoso.com/api/notify', authentication: { type: 'Basic', username: 'crm-notify', password: NOTIFY_PASSWORD }, body: '@triggerBody()' }),
      // Logic Apps sanitizes credentials of the authentication block in run history.
      inputs: () => ({ uri: 'https://crm-notify.contoso.com/api/notify', method: 'POST', authentication: { type: 'Basic', username: 'crm-notify', password: '*sanitized*' }, body: { opportunity: 'Contoso renewal' } }),
      outputs: (r) => ({ statusCode: 202, headers: respHeaders(r, 'Post_to_CRM_notify'), body: '' }),
    },
    {
      name: 'Send_an_email_(V2)',
      def: openApi('shared_office365', 'SendEmailV2', { 'emailMessage/To': 'sales@contoso.com', 'emailMessage/Subject': 'New opportunity', 'emailMessage/Body': '<p>@{triggerBody()?[\'name\']}</p>' }, after('Post_to_CRM_notify')),
      inputs: () => ({ host: { connectionReferenceName: 'shared_office365', operationId: 'SendEmailV2' }, parameters: { 'emailMessage/To': 'sales@contoso.com', 'emailMessage/Subject': 'New opportunity', 'emailMessage/Body': '<p>Contoso renewal</p>' } }),
      outputs: () => ({ statusCode: 200, headers: {}, body: null }),
    },
  ];
  const orderActions: ActionSpec[] = [
    {
      name: 'Compose_intake_url',
      def: compose(ORDER_FUNCTION_URL),
      inputs: () => ORDER_FUNCTION_URL,
      outputs: () => ORDER_FUNCTION_URL,
    },
    {
      name: 'Call_order_intake',
      def: http({ method: 'POST', uri: "@{outputs('Compose_intake_url')}", body: '@triggerBody()' }, after('Compose_intake_url')),
      inputs: (r) => ({ uri: ORDER_FUNCTION_URL, method: 'POST', body: { orderId: `SO-${88100 + r}`, lines: 3 } }),
      outputs: (r) => ({ statusCode: 200, headers: respHeaders(r, 'Call_order_intake'), body: { accepted: true } }),
    },
  ];
  const pdf = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n' + 'Quarterly invoice report. '.repeat(12)).toString('base64');
  const benignActions: ActionSpec[] = [
    {
      name: 'List_rows',
      def: openApi('shared_commondataserviceforapps', 'ListRecords', { entityName: 'cr5f2_invoices', $select: 'cr5f2_invoiceid,cr5f2_amount', $top: 2 }),
      inputs: () => ({ host: { connectionReferenceName: 'shared_commondataserviceforapps', operationId: 'ListRecords' }, parameters: { entityName: 'cr5f2_invoices', $select: 'cr5f2_invoiceid,cr5f2_amount', $top: 2 } }),
      outputs: (r) => ({
        statusCode: 200,
        headers: { ...respHeaders(r, 'List_rows'), 'OData-Version': '4.0', ETag: 'W/"48211955"' },
        body: {
          '@odata.context': 'https://contoso-prod.crm4.dynamics.com/api/data/v9.1/$metadata#cr5f2_invoices(cr5f2_invoiceid,cr5f2_amount)',
          '@odata.nextLink': 'https://contoso-prod.crm4.dynamics.com/api/data/v9.1/cr5f2_invoices?$select=cr5f2_invoiceid,cr5f2_amount&$skiptoken=%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie%2520page%253d%25221%2522%253e%253ccr5f2_invoiceid%2520last%253d%2522%257bD5026A4D-D01C-ED11-B83E-000D3A572421%257d%2522%2520first%253d%2522%257b49B0BE2E-D01C-ED11-B83E-000D3A572421%257d%2522%2520%252f%253e%253c%252fcookie%253e%22%20istracking=%22False%22%20/%3E',
          value: [0, 1].map((i) => ({ '@odata.etag': `W/"${7364512 + i + r}"`, cr5f2_invoiceid: hashGuid(S, 'inv', r, i), cr5f2_amount: 100 * (i + 1), cr5f2_documenthash: createHash('sha256').update(`doc-${r}-${i}`).digest('hex') })),
        },
      }),
    },
    {
      name: 'Get_file_content',
      def: openApi('shared_sharepointonline', 'GetFileContent', { dataset: 'https://contoso.sharepoint.com/sites/finance', id: '%252fShared%2bDocuments%252freport.pdf' }, after('List_rows')),
      inputs: () => ({ host: { connectionReferenceName: 'shared_sharepointonline', operationId: 'GetFileContent' }, parameters: { dataset: 'https://contoso.sharepoint.com/sites/finance', id: '%252fShared%2bDocuments%252freport.pdf', inferContentType: true } }),
      outputs: (r) => ({ statusCode: 200, headers: { ...respHeaders(r, 'Get_file_content'), ETag: '"{A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D},3"' }, body: { $content_type: 'application/pdf', $content: pdf } }),
    },
    {
      name: 'Compose_summary',
      def: compose({ count: "@length(body('List_rows')?['value'])", correlation: '@{workflow()?[\'run\']?[\'name\']}', apiKey: '****************3f9a', link: "@{body('Get_file_content')?['link']}" }, after('Get_file_content')),
      inputs: (r) => ({
        count: 2,
        correlation: hashGuid(S, 'corr', r),
        apiKey: '****************3f9a',
        clientTrackingId: '08585236861638480598867166179CU131',
        link: `https://prod-255.westeurope.logic.azure.com:443/workflows/88b5146587d144ea85efb15683c4e58f/runs/08586652586741142222645090602CU35/actions/Compose/contents/ActionOutputs?api-version=2016-06-01&se=2023-12-14T19%3A00%3A00.0000000Z&sp=%2Fruns%2F08586652586741142222645090602CU35%2Factions%2FCompose%2Fcontents%2FActionOutputs%2Fread&sv=1.0&sig=KoI4_RAEVNFUgymktOFxvfb5mCoIKR2WCYGwexjD7kY`,
        expression: "@{body('List_rows')?['@odata.nextLink']}",
      }),
      outputs: (r) => ({ count: 2, correlation: hashGuid(S, 'corr', r), apiKey: '****************3f9a' }),
    },
    {
      name: 'Post_message_in_a_chat_or_channel',
      def: openApi('shared_teams', 'PostMessageToConversation', { poster: 'Flow bot', location: 'Channel', 'body/recipient/groupId': GROUP_SALES, 'body/messageBody': "<p>@{outputs('Compose_summary')}</p>" }, after('Compose_summary')),
      inputs: (r) => ({ host: { connectionReferenceName: 'shared_teams', operationId: 'PostMessageToConversation' }, parameters: { poster: 'Flow bot', location: 'Channel', 'body/recipient/groupId': GROUP_SALES, 'body/messageBody': `<p>2 invoices, run ${hashGuid(S, 'corr', r)}</p>` } }),
      outputs: (r) => ({ statusCode: 201, body: { id: `17${String(1717488000000 + r * 1000)}`, messageLink: `https://teams.microsoft.com/l/message/19%3a${hashGuid(S, 'chan').replace(/-/g, '')}%40thread.tacv2/1717488000000` } }),
    },
  ];
  const U = USERS;
  return [
    { id: SAMPLE_FLOW_IDS.syncInvoices, displayName: 'Sync invoices to ERP', creator: U.svcFlowOwner.aad, runs: 3, failedRuns: [1], refs: [REF.keyvault], actions: syncActions },
    { id: SAMPLE_FLOW_IDS.nightlyEnrichment, displayName: 'Nightly contact enrichment', creator: U.svcFlowOwner.aad, runs: 3, failedRuns: [2], refs: [REF.keyvault, REF.dataverse], actions: enrichActions, trigger: recurrence('Day', 1) },
    { id: SAMPLE_FLOW_IDS.notifySales, displayName: 'Notify sales (alice)', creator: U.alice.aad, runs: 2, failedRuns: [], refs: [REF.office365], actions: notifyActions },
    {
      id: SAMPLE_FLOW_IDS.orderIntake,
      displayName: 'Order intake webhook',
      creator: U.svcFlowOwner.aad,
      runs: 3,
      failedRuns: [0],
      refs: [],
      actions: orderActions,
      trigger: { manual: { type: 'Request', kind: 'Http', inputs: { schema: { type: 'object' } } } },
    },
    { id: SAMPLE_FLOW_IDS.benignReporting, displayName: 'Benign reporting', creator: U.svcFlowOwner.aad, runs: 3, failedRuns: [], refs: [REF.dataverse, REF.sharepoint, REF.teams], actions: benignActions },
  ];
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Build the sample tenant with runs and audits relative to `anchor` (the server's clock at start). */
export function createSampleTenant(anchor: Date): SimTenant {
  const specs = flowSpecs();
  const t0 = anchor.getTime();
  const flows: SimFlow[] = specs.map((s, index) => ({
    index,
    id: s.id,
    displayName: s.displayName,
    state: 'Started',
    creatorObjectId: s.creator,
    createdTime: iso(t0 - (40 + index) * 86_400_000),
    lastModifiedTime: iso(t0 - (3 + index) * 86_400_000),
    definition: workflowDefinition(Object.fromEntries(s.actions.map((a) => [a.name, a.def])), s.trigger),
    connectionReferences: s.refs,
    runCount: s.runs,
  }));
  const specOf = (f: SimFlow) => specs[f.index]!;

  const run = (flow: SimFlow, r: number): SimRun => {
    // Newest first: run 0 started ~10 minutes ago, older ones ~50 minutes apart, all within hours.
    const start = t0 - (10 + flow.index * 3 + r * 50) * 60_000 - 7_123;
    const failed = specOf(flow).failedRuns.includes(r);
    return { name: runName(S, flow.index, r), startTime: iso(start), endTime: iso(start + 4_210 + flow.index * 97), status: failed ? 'Failed' : 'Succeeded' };
  };

  const U = USERS;
  let epoch = 0;
  const owner = (id: string): SimFlowPermission => ({ principal: { id, type: 'User' }, roleName: 'Owner' });
  const permissionsByEpoch = (): Map<string, SimFlowPermission[]> =>
    new Map([
      [SAMPLE_FLOW_IDS.syncInvoices, epoch === 0 ? [owner(U.svcFlowOwner.aad), owner(U.alice.aad)] : [owner(U.svcFlowOwner.aad), owner(U.alice.aad), owner(U.bob.aad), { principal: { id: TENANT_ID, type: 'Tenant' }, roleName: 'CanView' }]],
      [SAMPLE_FLOW_IDS.nightlyEnrichment, epoch === 0 ? [owner(U.svcFlowOwner.aad)] : [owner(U.alice.aad)]],
      [SAMPLE_FLOW_IDS.notifySales, [owner(U.alice.aad)]],
      [SAMPLE_FLOW_IDS.orderIntake, [owner(U.svcFlowOwner.aad), { principal: { id: GUEST_MALLORY.aad, type: 'User' }, roleName: 'CanView' }]],
      [SAMPLE_FLOW_IDS.benignReporting, [owner(U.svcFlowOwner.aad), { principal: { id: GROUP_SALES, type: 'Group' }, roleName: 'CanView' }]],
    ]);

  const connections: SimConnection[] = [REF.keyvault, REF.dataverse, REF.office365, REF.sharepoint, REF.teams].map((c, i) => {
    const byAlice = c.apiName === 'shared_office365';
    const who = byAlice ? U.alice : U.svcFlowOwner;
    return {
      name: c.connectionName,
      apiName: c.apiName,
      displayName: byAlice ? 'alice@contoso.com' : 'svc-flowowner@contoso.com',
      createdBy: { id: who.aad, displayName: who.fullname, email: who.upn, userPrincipalName: who.upn, type: 'User' },
      createdTime: iso(t0 - (60 + i) * 86_400_000),
      sharedWith: byAlice ? [{ principal: { id: U.bob.aad, type: 'User' }, roleName: 'CanEdit' }] : [],
    };
  });

  const dataverse = buildSampleDataverse(anchor, flows);

  return {
    environmentId: ENVIRONMENT_ID,
    tenantId: TENANT_ID,
    get epoch() {
      return epoch;
    },
    flows,
    run,
    runIndex(flow, name) {
      const i = runIndexFromName(name);
      return i !== undefined && i < flow.runCount && run(flow, i).name === name ? i : undefined;
    },
    runActions(flow, r): SimRunAction[] {
      const rr = run(flow, r);
      const start = Date.parse(rr.startTime);
      const actions = specOf(flow).actions;
      return actions.map((a, k) => {
        const sides = securedSides(a.def);
        const last = k === actions.length - 1;
        return {
          name: a.name,
          type: String(a.def.type),
          status: rr.status === 'Failed' && last ? 'Failed' : 'Succeeded',
          startTime: iso(start + 200 + k * 900),
          endTime: iso(start + 200 + k * 900 + 640),
          secureInputs: sides.inputs,
          secureOutputs: sides.outputs,
        };
      });
    },
    content(flow, r, actionName, direction: Direction) {
      const a = specOf(flow).actions.find((x) => x.name === actionName);
      if (!a) return undefined;
      return direction === 'inputs' ? a.inputs(r) : a.outputs(r);
    },
    permissions(flow) {
      return permissionsByEpoch().get(flow.id) ?? [];
    },
    connections,
    dataverse,
    advance(now: Date) {
      if (epoch >= 1) return; // the story has two epochs; further advances are no-ops
      epoch = 1;
      const at = (s: number) => new Date(now.getTime() - s * 1000);
      dataverse.userRoles.get(U.invoiceSync.systemuserid)!.add(ROLES.salesManager.roleid);
      const wf = dataverse.sets.workflows!.find((w) => w.workflowid === SAMPLE_FLOW_IDS.nightlyEnrichment)!;
      wf._ownerid_value = U.alice.systemuserid;
      wf.modifiedon = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
      dataverse.sets.audits!.push(
        auditRow({ at: at(30), action: AUDIT_ACTION.assignRoleToUser, operation: 2, table: 'systemuser', objectId: U.invoiceSync.systemuserid, userId: U.bob.systemuserid, related: { logicalName: 'role', id: ROLES.salesManager.roleid, relationship: 'systemuserroles_association' } }),
        auditRow({ at: at(20), action: AUDIT_ACTION.share, operation: 2, table: 'workflow', objectId: SAMPLE_FLOW_IDS.syncInvoices, userId: U.alice.systemuserid, related: { logicalName: 'systemuser', id: U.bob.systemuserid } }),
        auditRow({ at: at(10), action: AUDIT_ACTION.assign, operation: 2, table: 'workflow', objectId: SAMPLE_FLOW_IDS.nightlyEnrichment, userId: U.alice.systemuserid, changed: [{ logicalName: 'ownerid', oldValue: U.svcFlowOwner.systemuserid, newValue: U.alice.systemuserid }] }),
      );
    },
  };
}

/**
 * Every secret value planted in the sample tenant (run content, definitions, environment variables),
 * and the distinctive part of each (the key inside a connection string, the code in a URL). Tests grep
 * everything flowwarden writes — stdout, tables, emails, ingestion payloads, logs — for these.
 */
export function samplePlantedSecretValues(): string[] {
  const storageKey = /AccountKey=([^;]+)/.exec(STORAGE_CONNECTION)![1]!;
  const functionsKey = /code=([^&]+)/.exec(ORDER_FUNCTION_URL)![1]!;
  return [ERP_TOKEN, STORAGE_CONNECTION, storageKey, NOTIFY_PASSWORD, ORDER_FUNCTION_URL, functionsKey, fakeJwt(S, 'enrich'), fakeApiKey(S, 'envvar')];
}
