import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type SimulatorHandle } from '../../../src/dev/simulator/server';
import { SAMPLE_FLOW_IDS } from '../../../src/dev/simulator/sampleTenant';
import { USERS } from '../../../src/dev/simulator/ids';
import { ConnectionsFixture } from './fixture';
import { FlowApiClient } from '../../../src/sources/flowApi';
import { HttpError } from '../../../src/sources/httpPipeline';
import { LocalSimulatorCredential } from '../../../src/sources/localCredential';

let sim: SimulatorHandle;
let fx: ConnectionsFixture;

beforeAll(async () => {
  sim = await startSimulator();
  fx = new ConnectionsFixture(sim);
});
afterAll(async () => {
  await sim.stop();
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('Flow API client against the simulator', () => {
  it('lists the sample flows through the admin scope and reads a definition', async () => {
    const flows = await collect(fx.flowApi.listFlows(sim.environmentId));
    expect(flows.map((f) => f.displayName)).toEqual(['Sync invoices to ERP', 'Nightly contact enrichment', 'Notify sales (alice)', 'Order intake webhook', 'Benign reporting']);
    expect(flows.find((f) => f.displayName === 'Notify sales (alice)')?.creatorObjectId).toBe(USERS.alice.aad);
    expect(sim.stats().requests.adminScope).toBeGreaterThan(0);
    const detail = await fx.flowApi.getFlow(sim.environmentId, SAMPLE_FLOW_IDS.syncInvoices);
    expect(detail.connectionReferences).toEqual([expect.objectContaining({ name: 'shared_keyvault', apiName: 'shared_keyvault', connectionReferenceLogicalName: 'cr5f2_sharedkeyvault_3f9a1' })]);
    expect(JSON.stringify(detail.definition)).toContain('GetSecret');
  });

  it('serves the user scope too', async () => {
    const user = new FlowApiClient({ baseUrl: sim.url, credential: fx.credential, adminScope: false });
    const before = sim.stats().requests.adminScope ?? 0;
    const flows = await collect(user.listFlows(sim.environmentId));
    expect(flows).toHaveLength(5);
    expect(sim.stats().requests.adminScope ?? 0).toBe(before);
  });

  it('maps run actions, fetches content without the bearer and never gets a link for secured sides', async () => {
    const runs = await collect(fx.flowApi.listRuns(sim.environmentId, SAMPLE_FLOW_IDS.syncInvoices));
    expect(runs).toHaveLength(3);
    expect(runs[0]!.runId).toMatch(/^\d{29}CU\d+$/);
    const { actions } = await fx.flowApi.getRunActions(sim.environmentId, SAMPLE_FLOW_IDS.syncInvoices, runs[0]!.runId);
    const getSecret = actions.find((a) => a.name === 'Get_secret')!;
    expect(getSecret).toMatchObject({ type: 'OpenApiConnection', operationId: 'GetSecret', apiName: 'shared_keyvault', outputsSecured: false });
    expect(getSecret.outputsLink?.uri).toContain('sig=');
    const res = await fx.flowApi.fetchContent(getSecret.outputsLink!);
    expect(res.status).toBe('ok');
    const body = JSON.parse(res.text!) as { body: { value: string } };
    expect(body.body.value.split('.')).toHaveLength(3); // the JWT-shaped secret is exposed

    const contentBefore = sim.stats().requests.content ?? 0;
    const nightly = await collect(fx.flowApi.listRuns(sim.environmentId, SAMPLE_FLOW_IDS.nightlyEnrichment));
    const secured = await fx.flowApi.getRunActions(sim.environmentId, SAMPLE_FLOW_IDS.nightlyEnrichment, nightly[0]!.runId);
    expect(secured.actions).toHaveLength(3);
    for (const a of secured.actions) {
      expect(a).toMatchObject({ inputsSecured: true, outputsSecured: true });
      expect(a.inputsLink).toBeUndefined();
      expect(a.outputsLink).toBeUndefined();
    }
    expect(sim.stats().requests.content ?? 0).toBe(contentBefore);
  });

  it('rejects a tampered signature and a bearer on content links', async () => {
    const runs = await collect(fx.flowApi.listRuns(sim.environmentId, SAMPLE_FLOW_IDS.orderIntake));
    const { actions } = await fx.flowApi.getRunActions(sim.environmentId, SAMPLE_FLOW_IDS.orderIntake, runs[0]!.runId);
    const link = actions[0]!.inputsLink!;
    const tampered = { ...link, uri: link.uri.replace(/sig=([^&]+)/, (_, s: string) => `sig=${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`) };
    await expect(fx.flowApi.fetchContent(tampered)).rejects.toMatchObject({ name: 'HttpError', status: 403 });
    const other = { ...link, uri: link.uri.replace('/contents/ActionInputs', '/contents/ActionOutputs') };
    await expect(fx.flowApi.fetchContent(other)).rejects.toBeInstanceOf(HttpError);
    const withBearer = await fetch(link.uri, { headers: { Authorization: 'Bearer x.y.z' } });
    expect(withBearer.status).toBe(400);
    const ok = await fetch(link.uri);
    expect(ok.status).toBe(200);
  });

  it('caps content size', async () => {
    const runs = await collect(fx.flowApi.listRuns(sim.environmentId, SAMPLE_FLOW_IDS.benignReporting));
    const { actions } = await fx.flowApi.getRunActions(sim.environmentId, SAMPLE_FLOW_IDS.benignReporting, runs[0]!.runId);
    const file = actions.find((a) => a.name === 'Get_file_content')!.outputsLink!;
    expect(await fx.flowApi.fetchContent(file, { maxBytes: 50 })).toMatchObject({ status: 'too-large' });
    // Without a declared size the stream is cut at maxBytes.
    expect(await fx.flowApi.fetchContent({ uri: file.uri }, { maxBytes: 50 })).toMatchObject({ status: 'too-large' });
    expect(await fx.flowApi.fetchContent(file, { maxBytes: 1_000_000 })).toMatchObject({ status: 'ok' });
  });

  it('reads flow permissions', async () => {
    const perms = await fx.flowApi.listFlowPermissions(sim.environmentId, SAMPLE_FLOW_IDS.orderIntake);
    expect(perms).toEqual([
      { principalId: USERS.svcFlowOwner.aad, principalType: 'User', roleName: 'Owner' },
      { principalId: 'aad00008-0000-4000-8000-000000000008', principalType: 'User', roleName: 'CanView' },
    ]);
  });

  it('requires a valid bearer token', async () => {
    const res = await fetch(`${sim.url}/providers/Microsoft.ProcessSimple/environments/${sim.environmentId}/flows?api-version=2016-11-01`);
    expect(res.status).toBe(401);
    const forged = await fetch(`${sim.url}/providers/Microsoft.ProcessSimple/environments/${sim.environmentId}/flows?api-version=2016-11-01`, { headers: { Authorization: 'Bearer a.b.c' } });
    expect(forged.status).toBe(401);
  });
});

describe('Power Apps connections client', () => {
  it('lists connections with creator and sharing', async () => {
    const conns = await collect(fx.connections.listConnections(sim.environmentId));
    expect(conns).toHaveLength(5);
    const o365 = conns.find((c) => c.connectorName === 'shared_office365')!;
    expect(o365).toMatchObject({ createdById: USERS.alice.aad, createdByUpn: 'alice@contoso.com' });
    expect(o365.sharedWith).toEqual([{ principalId: USERS.bob.aad, principalType: 'User', roleName: 'CanEdit' }]);
    expect(conns.find((c) => c.connectorName === 'shared_keyvault')).toMatchObject({ createdById: USERS.svcFlowOwner.aad, sharedWith: [] });
  });
});

describe('Dataverse client', () => {
  it('pages audits with maxpagesize 2, oldest first, inside the window', async () => {
    const since = new Date(Date.now() - 6 * 3_600_000).toISOString();
    const pages = await collect(fx.dataverse.listAudits(sim.environmentId, { since, pageSize: 2 }));
    expect(pages.length).toBeGreaterThanOrEqual(7);
    expect(pages.slice(0, -1).every((p) => p.rows.length === 2 && p.nextLink?.includes('$skiptoken='))).toBe(true);
    expect(pages.at(-1)!.nextLink).toBeUndefined();
    const rows = pages.flatMap((p) => p.rows);
    expect(rows).toHaveLength(15);
    const times = rows.map((r) => Date.parse(r.createdon));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(new Set(rows.map((r) => r.auditid)).size).toBe(15);
    // Annotations are requested and kept.
    expect(rows[0]!['_userid_value@OData.Community.Display.V1.FormattedValue']).toBeTypeOf('string');
  });

  it('filters by window and resumes from a nextLink', async () => {
    const all = (await collect(fx.dataverse.listAudits(sim.environmentId, { since: new Date(Date.now() - 6 * 3_600_000).toISOString() }))).flatMap((p) => p.rows);
    const mid = all[5]!.createdon;
    const end = all[10]!.createdon;
    const window = (await collect(fx.dataverse.listAudits(sim.environmentId, { since: mid, until: end, pageSize: 3 }))).flatMap((p) => p.rows);
    expect(window.map((r) => r.auditid)).toEqual(all.slice(5, 10).map((r) => r.auditid));
    const first = await fx.dataverse.listAudits(sim.environmentId, { since: mid, until: end, pageSize: 3 })[Symbol.asyncIterator]().next();
    const resumed = (await collect(fx.dataverse.listAudits(sim.environmentId, { since: mid, until: end, pageSize: 3, resume: first.value!.nextLink }))).flatMap((p) => p.rows);
    expect([...first.value!.rows, ...resumed].map((r) => r.auditid)).toEqual(window.map((r) => r.auditid));
  });

  it('reads users, roles, teams and solution components', async () => {
    const users = await collect(fx.dataverse.listSystemUsers(sim.environmentId));
    expect(users).toHaveLength(7);
    expect(users.find((u) => u.systemuserid === USERS.invoiceSync.systemuserid)?.applicationid).toBe(USERS.invoiceSync.appId);
    expect((await fx.dataverse.getSystemUser(sim.environmentId, USERS.bob.systemuserid))?.domainname).toBe('bob@contoso.com');
    expect(await fx.dataverse.getSystemUser(sim.environmentId, '5e0f0099-0000-4000-8000-000000000099')).toBeUndefined();
    await expect(fx.dataverse.getSystemUser(sim.environmentId, "x' or 1 eq 1")).rejects.toThrow(/systemUserId/);
    expect((await fx.dataverse.listUserRoles(sim.environmentId, USERS.reportingReader.systemuserid)).map((r) => r.name).sort()).toEqual(['Basic User', 'System Administrator']);
    const teams = await collect(fx.dataverse.listTeams(sim.environmentId));
    expect(teams.map((t) => t.name)).toEqual(['Flow Makers']);
    expect(await fx.dataverse.listTeamMembers(sim.environmentId, teams[0]!.teamid)).toEqual([USERS.alice.systemuserid]);
    expect((await fx.dataverse.listTeamRoles(sim.environmentId, teams[0]!.teamid)).map((r) => r.name)).toEqual(['Environment Maker']);
    expect(await collect(fx.dataverse.listRoles(sim.environmentId))).toHaveLength(7);
    const wf = await collect(fx.dataverse.listWorkflows(sim.environmentId, { category: 5 }));
    expect(wf).toHaveLength(5);
    expect(JSON.parse(wf[0]!.clientdata!).properties.definition.actions).toBeDefined();
    expect(await collect(fx.dataverse.listWorkflows(sim.environmentId, { category: 0 }))).toHaveLength(0);
    expect(await collect(fx.dataverse.listConnectionReferences(sim.environmentId))).toHaveLength(5);
    const defs = await collect(fx.dataverse.listEnvironmentVariableDefinitions(sim.environmentId));
    expect(defs.find((d) => d.schemaname === 'cr5f2_StorageConnection')?.type).toBe(100000005);
    expect(await collect(fx.dataverse.listEnvironmentVariableValues(sim.environmentId))).toHaveLength(2);
  });
});

describe('epochs', () => {
  it('advance() adds drift: role added, co-owner + tenant share, owner change, audit rows', async () => {
    const own = await startSimulator();
    try {
      const f = new ConnectionsFixture(own);
      const since = new Date(Date.now() - 6 * 3_600_000).toISOString();
      const before = (await collect(f.dataverse.listAudits(own.environmentId, { since }))).flatMap((p) => p.rows).length;
      const res = await fetch(`${own.url}/_sim/advance`, { method: 'POST' });
      expect(await res.json()).toEqual({ epoch: 1 });
      const after = (await collect(f.dataverse.listAudits(own.environmentId, { since }))).flatMap((p) => p.rows);
      expect(after.length).toBe(before + 3);
      expect(after.slice(-3).map((r) => r.action)).toEqual([55, 14, 13]);
      expect((await f.dataverse.listUserRoles(own.environmentId, USERS.invoiceSync.systemuserid)).map((r) => r.name).sort()).toEqual(['Invoice Writer', 'Sales Manager']);
      const perms = await f.flowApi.listFlowPermissions(own.environmentId, SAMPLE_FLOW_IDS.syncInvoices);
      expect(perms.map((p) => `${p.principalType}:${p.roleName}`)).toEqual(['User:Owner', 'User:Owner', 'User:Owner', 'Tenant:CanView']);
      expect(await f.flowApi.listFlowPermissions(own.environmentId, SAMPLE_FLOW_IDS.nightlyEnrichment)).toEqual([{ principalId: USERS.alice.aad, principalType: 'User', roleName: 'Owner' }]);
    } finally {
      await own.stop();
    }
  });
});

describe('local credential', () => {
  it('only talks to loopback', () => {
    expect(() => new LocalSimulatorCredential({ tokenUrl: 'https://login.microsoftonline.com/x/oauth2/v2.0/token' })).toThrow(/loopback/);
  });
  it('gets and caches a token', async () => {
    const c = new LocalSimulatorCredential({ tokenUrl: sim.tokenUrl });
    const before = sim.stats().requests.token ?? 0;
    const a = await c.getToken('https://service.flow.microsoft.com//.default');
    const b = await c.getToken('https://service.flow.microsoft.com//.default');
    expect(a.token).toBe(b.token);
    expect((sim.stats().requests.token ?? 0) - before).toBe(1);
  });
});

