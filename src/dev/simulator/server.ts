import { createHmac, hash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FaultInjector, type FaultKind, type FaultOptions } from './faults';
import { Lru } from './lru';
import { createGeneratedTenant, type GeneratedTenant, type GeneratedTenantOptions } from './generatedTenant';
import type { Direction, SimConnection, SimFlow, SimFlowPermission, SimTenant } from './model';
import { ODataQueryError, applyOrderBy, matches, parseFilter } from './odata';
import { createSampleTenant } from './sampleTenant';

/**
 * Local tenant simulator: the Flow API (user and admin scope), Power Apps connections, Dataverse
 * Web API and SAS content links, in their real wire formats, with bearer auth, OData paging and
 * injectable faults. Loopback only; for demos, tests and benchmarks.
 */

export interface StartSimulatorOptions {
  port?: number;
  host?: '127.0.0.1';
  tenant?: 'sample' | GeneratedTenantOptions;
  faults?: FaultOptions;
  now?: () => Date;
  /** Flow API page sizes (runs and flows lists; the real service pages at 50 or so). */
  flowApiPageSize?: number;
  /** Keep a log of API requests (time, kind, client request id, fault) for retry-timing checks in tests. */
  recordRequests?: boolean;
  /**
   * Serve this instead of the real answer when it returns one (poison-input tests: malformed content,
   * a run body of the wrong shape). Called with the route kind (e.g. `content`, `flowapi.run`) and path.
   */
  rawResponse?: (kind: string, path: string) => { status?: number; body: string; contentType?: string } | undefined;
}

/** One API request as the simulator saw it (no query string: content links carry signatures). */
export interface SimRequestRecord {
  /** Arrival, ms since the epoch (wall clock). */
  at: number;
  kind: string;
  path: string;
  /** x-ms-client-request-id: the same across the SDK's retries of one call. */
  clientRequestId?: string;
  fault?: FaultKind;
  retryAfter?: string;
}

export interface SimStats {
  /** Requests by route kind, e.g. flowapi.runs, dataverse.audits, content, token. */
  requests: Record<string, number>;
  /** Faults injected by kind. */
  faults: Record<FaultKind, number>;
  epoch: number;
}

export interface SimulatorHandle {
  /** Base URL for every API (Flow API, Power Apps, Dataverse, content links). */
  url: string;
  /** OAuth2 client-credentials token endpoint (for LocalSimulatorCredential). */
  tokenUrl: string;
  environmentId: string;
  tenant: SimTenant;
  /** Set for generated tenants: the planted-secret index lives here. */
  generated?: GeneratedTenant;
  stop(): Promise<void>;
  stats(): SimStats;
  advance(): void;
  setFaults(faults: FaultOptions): void;
  /** Requests recorded since start (empty unless `recordRequests`). */
  requestLog(): SimRequestRecord[];
}

const API_VERSION = '2016-11-01';
const DV_PREFIX = '/api/data/v9.2/';

class HttpProblem extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
  }
}

/** A stable GUID-shaped id for a name (FNV-1a, four lanes): tracking ids only need to look like the service's. */
function trackingGuid(name: string): string {
  const lanes = [0x811c9dc5, 0x01000193, 0x9e3779b9, 0x85ebca6b];
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    for (let l = 0; l < 4; l++) lanes[l] = Math.imul(lanes[l]! ^ (c + l), 0x01000193) >>> 0;
  }
  const hex = lanes.map((n) => n.toString(16).padStart(8, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export async function startSimulator(options: StartSimulatorOptions = {}): Promise<SimulatorHandle> {
  const host = options.host ?? '127.0.0.1';
  if (host !== '127.0.0.1') throw new RangeError('host: the simulator listens on 127.0.0.1 only');
  const now = options.now ?? (() => new Date());
  const anchor = now();
  const generated = typeof options.tenant === 'object' ? createGeneratedTenant({ ...options.tenant, anchor }) : undefined;
  const tenant: SimTenant = generated ?? createSampleTenant(anchor);
  const faults = new FaultInjector(options.faults);
  const pageSize = options.flowApiPageSize ?? 50;
  const key = randomBytes(32); // signs tokens and content links; new per server
  const requests: Record<string, number> = {};
  const log: SimRequestRecord[] = [];
  const flowsByKey = new Map<string, SimFlow>(tenant.flows.map((f) => [f.id.replace(/-/g, ''), f]));
  const flowsById = new Map<string, SimFlow>(tenant.flows.map((f) => [f.id.toLowerCase(), f]));
  let baseUrl = '';

  const count = (kind: string) => (requests[kind] = (requests[kind] ?? 0) + 1);
  const hmac = (s: string) => createHmac('sha256', key).update(s).digest('base64url');

  // ---------- tokens ----------
  function issueToken(scope: string, clientId: string): { access_token: string; expires_in: number } {
    const iat = Math.floor(now().getTime() / 1000);
    const aud = scope.replace(/\/?\.default$/, '').replace(/\/+$/, '');
    const h = Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })).toString('base64url');
    const p = Buffer.from(JSON.stringify({ aud, iss: `${baseUrl}/${tenant.tenantId}/v2.0`, tid: tenant.tenantId, appid: clientId, iat, exp: iat + 3600 })).toString('base64url');
    return { access_token: `${h}.${p}.${hmac(`${h}.${p}`)}`, expires_in: 3600 };
  }
  function checkBearer(req: http.IncomingMessage): void {
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer ([\w-]+)\.([\w-]+)\.([\w-]+)$/.exec(auth);
    const challenge = { 'WWW-Authenticate': `Bearer authorization_uri="${baseUrl}/${tenant.tenantId}/oauth2/v2.0/authorize", error="invalid_token"` };
    if (!m) throw new HttpProblem(401, 'AuthenticationFailed', 'Authentication failed. The Authorization header is missing or not a bearer token.', challenge);
    const expected = Buffer.from(hmac(`${m[1]}.${m[2]}`));
    const given = Buffer.from(m[3]!);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new HttpProblem(401, 'InvalidAuthenticationToken', 'The access token is invalid.', challenge);
    const payload = JSON.parse(Buffer.from(m[2]!, 'base64url').toString()) as { exp: number };
    if (payload.exp * 1000 < now().getTime()) throw new HttpProblem(401, 'ExpiredAuthenticationToken', 'The access token has expired.', challenge);
  }

  // ---------- content links ----------
  // Rendered content per side: the run listing (size, hash) and the content fetch that follows it
  // serve the same text, so it is serialized once. Keyed by epoch: the sample tenant changes on advance().
  // The signature of a side's link is kept with it (the fetch compares against it, as Azure Storage
  // compares a SAS signature): one HMAC per link, not one per listing and another per fetch.
  const renderedContent = new Lru<string, { text: string; md5: string; sig?: { input: string; value: string } }>(16_384);
  function rendered(flow: SimFlow, runIndex: number, runName: string, action: string, dir: Direction): { text: string; md5: string; sig?: { input: string; value: string } } | undefined {
    const k = `${tenant.epoch}|${flow.id}|${runName}|${action}|${dir}`;
    const hit = renderedContent.get(k);
    if (hit) return hit;
    const content = tenant.content(flow, runIndex, action, dir);
    if (content === undefined) return undefined;
    const text = JSON.stringify(content);
    return renderedContent.set(k, { text, md5: hash('md5', text, 'base64') });
  }
  function contentPath(flow: SimFlow, runName: string, action: string, dir: Direction): string {
    return `/workflows/${flow.id.replace(/-/g, '')}/runs/${runName}/actions/${encodeURIComponent(action)}/contents/${dir === 'inputs' ? 'ActionInputs' : 'ActionOutputs'}`;
  }
  function signContent(path: string, se: string, sp: string, memo?: { sig?: { input: string; value: string } }): string {
    const input = `${path}\n${se}\n${sp}`;
    if (memo?.sig?.input === input) return memo.sig.value;
    const value = hmac(input);
    if (memo) memo.sig = { input, value };
    return value;
  }
  function contentLink(flow: SimFlow, runName: string, action: string, dir: Direction, side: { text: string; md5: string; sig?: { input: string; value: string } }) {
    const { text, md5 } = side;
    const path = contentPath(flow, runName, action, dir);
    const expiry = new Date(Math.ceil(now().getTime() / 3_600_000) * 3_600_000 + 4 * 3_600_000);
    const se = expiry.toISOString().replace(/\.\d{3}Z$/, '.0000000Z');
    const sp = `/runs/${runName}/actions/${action}/contents/${dir === 'inputs' ? 'ActionInputs' : 'ActionOutputs'}/read`;
    const q = `api-version=2016-06-01&se=${encodeURIComponent(se)}&sp=${encodeURIComponent(sp)}&sv=1.0&sig=${signContent(path, se, sp, side)}`;
    return { uri: `${baseUrl}${path}?${q}`, contentVersion: md5, contentSize: Buffer.byteLength(text), contentHash: { algorithm: 'md5', value: md5 } };
  }
  function serveContent(req: http.IncomingMessage, u: URL, m: RegExpExecArray): { status: number; body: string } {
    if (req.headers.authorization) throw new HttpProblem(400, 'AuthorizationHeaderNotAllowed', 'Content links are authorized by their signature; send no Authorization header.');
    const se = u.searchParams.get('se') ?? '';
    const sp = u.searchParams.get('sp') ?? '';
    const sig = u.searchParams.get('sig') ?? '';
    const flow = flowsByKey.get(m[1]!);
    const runIndex = flow ? tenant.runIndex(flow, m[2]!) : undefined;
    const actionName = decodeURIComponent(m[3]!);
    const dir: Direction = m[4] === 'ActionInputs' ? 'inputs' : 'outputs';
    const action = flow && runIndex !== undefined ? tenant.runActions(flow, runIndex).find((a) => a.name === actionName) : undefined;
    const content = flow && runIndex !== undefined && action ? rendered(flow, runIndex, m[2]!, actionName, dir) : undefined;
    // The signature is checked first, whatever the path names (403 before any 404).
    const expected = Buffer.from(signContent(u.pathname, se, sp, content));
    const given = Buffer.from(sig);
    if (!sig || expected.length !== given.length || !timingSafeEqual(expected, given)) throw new HttpProblem(403, 'AuthorizationFailed', 'The signature of the content link is not valid.');
    if (!(Date.parse(se) > now().getTime())) throw new HttpProblem(403, 'AuthorizationFailed', 'The content link has expired.');
    if (!flow || runIndex === undefined) throw new HttpProblem(404, 'WorkflowRunNotFound', 'The run was not found.');
    // Secured sides have no link; refusing here too keeps a buggy signer from leaking them.
    if (!action || (dir === 'inputs' ? action.secureInputs : action.secureOutputs)) throw new HttpProblem(404, 'ActionContentNotFound', 'No content for this action.');
    if (content === undefined) throw new HttpProblem(404, 'ActionContentNotFound', 'No content for this action.');
    return { status: 200, body: content.text };
  }

  // ---------- Flow API rendering ----------
  const envPath = (admin: boolean) => `/providers/Microsoft.ProcessSimple/${admin ? 'scopes/admin/' : ''}environments/${tenant.environmentId}`;
  function renderFlow(flow: SimFlow, admin: boolean, withDefinition: boolean) {
    const definition = flow.definition as { triggers?: Record<string, { type?: string }>; actions?: Record<string, { type?: string; inputs?: { host?: { operationId?: string } } }> };
    return {
      name: flow.id,
      id: `${envPath(admin)}/flows/${flow.id}`,
      type: 'Microsoft.ProcessSimple/environments/flows',
      properties: {
        apiId: '/providers/Microsoft.PowerApps/apis/shared_logicflows',
        displayName: flow.displayName,
        userType: 'Owner',
        ...(withDefinition ? { definition: flow.definition } : {}),
        state: flow.state,
        connectionReferences: Object.fromEntries(
          flow.connectionReferences.map((c) => [
            c.key,
            { connectionName: c.connectionName, source: 'Embedded', id: `/providers/Microsoft.PowerApps/apis/${c.apiName}`, displayName: c.displayName, tier: 'Standard', ...(c.connectionReferenceLogicalName ? { connectionReferenceLogicalName: c.connectionReferenceLogicalName } : {}) },
          ]),
        ),
        createdTime: flow.createdTime,
        lastModifiedTime: flow.lastModifiedTime,
        flowSuspensionReason: 'None',
        environment: { name: tenant.environmentId, type: 'Microsoft.ProcessSimple/environments', id: `/providers/Microsoft.ProcessSimple/environments/${tenant.environmentId}` },
        definitionSummary: {
          triggers: Object.values(definition.triggers ?? {}).map((t) => ({ type: t.type })),
          actions: Object.values(definition.actions ?? {}).map((a) => ({ type: a.type, ...(a.inputs?.host?.operationId ? { swaggerOperationId: a.inputs.host.operationId } : {}) })),
        },
        creator: { tenantId: tenant.tenantId, objectId: flow.creatorObjectId, userId: flow.creatorObjectId, userType: 'ActiveDirectory' },
        provisioningMethod: 'FromDefinition',
        flowFailureAlertSubscribed: true,
        isManaged: false,
      },
    };
  }
  function renderRun(flow: SimFlow, runIndex: number, admin: boolean, withActions: boolean) {
    const run = tenant.run(flow, runIndex);
    const tracking = `${run.name.slice(0, 20)}${run.name.slice(21, 29)}0CU${(runIndex % 90) + 10}`;
    const properties: Record<string, unknown> = {
      startTime: run.startTime,
      endTime: run.endTime,
      status: run.status,
      ...(run.status === 'Failed' ? { code: 'ActionFailed', error: { code: 'ActionFailed', message: 'An action failed. No dependent actions succeeded.' } } : {}),
      correlation: { clientTrackingId: tracking },
      trigger: { name: Object.keys((flow.definition as { triggers?: object }).triggers ?? { manual: 1 })[0], startTime: run.startTime, endTime: run.startTime, originHistoryName: tracking, correlation: { clientTrackingId: tracking }, code: 'OK', status: 'Succeeded' },
    };
    if (withActions) {
      const actions: Record<string, unknown> = {};
      for (const a of tenant.runActions(flow, runIndex)) {
        const side = (dir: Direction, secured: boolean) => {
          const content = rendered(flow, runIndex, run.name, a.name, dir);
          if (content === undefined) return undefined;
          // The platform's marker for a secured side: a link object without uri, carrying secureData.
          if (secured) return { contentSize: Buffer.byteLength(content.text), secureData: { properties: [dir] } };
          return contentLink(flow, run.name, a.name, dir, content);
        };
        const inputsLink = side('inputs', a.secureInputs);
        const outputsLink = side('outputs', a.secureOutputs);
        actions[a.name] = {
          ...(inputsLink ? { inputsLink } : {}),
          ...(outputsLink ? { outputsLink } : {}),
          startTime: a.startTime,
          endTime: a.endTime,
          correlation: { actionTrackingId: trackingGuid(`${run.name}/${a.name}`), clientTrackingId: tracking },
          status: a.status,
          code: a.status === 'Failed' ? 'BadRequest' : 'OK',
          ...(a.status === 'Failed' ? { error: { code: 'BadRequest', message: 'The remote server returned 400.' } } : {}),
        };
      }
      properties.actions = actions;
    }
    return { name: run.name, id: `${envPath(admin)}/flows/${flow.id}/runs/${run.name}`, type: 'Microsoft.ProcessSimple/environments/flows/runs', properties };
  }
  const renderPermission = (base: string, p: SimFlowPermission) => ({
    name: p.principal.id,
    id: `${base}/permissions/${p.principal.id}`,
    type: '/providers/Microsoft.ProcessSimple/environments/flows/permissions',
    properties: { roleName: p.roleName, permissionType: 'Principal', principal: { id: p.principal.id, type: p.principal.type, ...(p.principal.type === 'Tenant' ? { tenantId: tenant.tenantId } : {}) } },
  });
  function renderConnection(c: SimConnection, admin: boolean) {
    const env = tenant.environmentId;
    return {
      name: c.name,
      id: admin ? `/providers/Microsoft.PowerApps/scopes/admin/environments/${env}/apis/${c.apiName}/connections/${c.name}` : `/providers/Microsoft.PowerApps/apis/${c.apiName}/connections/${c.name}`,
      type: admin ? 'Microsoft.PowerApps/scopes/admin/environments/apis/connections' : 'Microsoft.PowerApps/apis/connections',
      properties: {
        apiId: `/providers/Microsoft.PowerApps/apis/${c.apiName}`,
        displayName: c.displayName,
        iconUri: `https://connectoricons-prod.azureedge.net/releases/v1.0.1700/1.0.1700.3800/${c.apiName.replace(/^shared_/, '')}/icon.png`,
        statuses: [{ status: 'Connected' }],
        connectionParameters: {},
        keywordsRemaining: 0,
        createdBy: { ...c.createdBy, tenantId: tenant.tenantId },
        createdTime: c.createdTime,
        lastModifiedTime: c.createdTime,
        environment: { id: `/providers/Microsoft.PowerApps/environments/${env}`, name: env },
        allowSharing: false,
      },
    };
  }

  function paged<T>(items: T[] | ((offset: number, n: number) => T[]), total: number, u: URL): { value: T[]; nextLink?: string } {
    const top = Number(u.searchParams.get('$top') ?? pageSize);
    const n = Number.isInteger(top) && top > 0 ? Math.min(top, 250) : pageSize;
    const tok = u.searchParams.get('$skiptoken');
    const offset = tok ? Number(Buffer.from(tok, 'base64url').toString()) : 0;
    if (!Number.isInteger(offset) || offset < 0) throw new HttpProblem(400, 'InvalidSkipToken', 'The $skiptoken is not valid.');
    const value = typeof items === 'function' ? items(offset, Math.min(n, Math.max(0, total - offset))) : items.slice(offset, offset + n);
    const next = offset + n < total ? `${baseUrl}${u.pathname}?api-version=${API_VERSION}${u.searchParams.get('$top') ? `&$top=${n}` : ''}&$skiptoken=${Buffer.from(String(offset + n)).toString('base64url')}` : undefined;
    return { value, ...(next ? { nextLink: next } : {}) };
  }

  function flowOr404(id: string): SimFlow {
    const f = flowsById.get(id.toLowerCase());
    if (!f) throw new HttpProblem(404, 'FlowNotFound', `Could not find flow '${id}'.`);
    return f;
  }
  function checkEnv(env: string): void {
    if (env.toLowerCase() !== tenant.environmentId.toLowerCase()) throw new HttpProblem(404, 'EnvironmentNotFound', `The environment '${env}' could not be found.`);
  }
  function checkApiVersion(u: URL): void {
    if (!u.searchParams.get('api-version')) throw new HttpProblem(400, 'MissingApiVersionParameter', "The api-version query parameter (?api-version=) is required for all requests.");
  }

  // ---------- Dataverse ----------
  function dataverse(req: http.IncomingMessage, u: URL, rest: string): { body: unknown; headers: Record<string, string> } {
    const m = /^([a-z_]+)(?:\(([0-9a-fA-F-]{36})\))?(?:\/([a-z_]+))?$/.exec(rest);
    if (!m) throw new HttpProblem(404, '0x80060888', `Resource not found for the segment '${rest}'.`);
    const [, set, id, nav] = m as unknown as [string, string, string | undefined, string | undefined];
    const dv = tenant.dataverse;
    const prefer = String(req.headers.prefer ?? '');
    const applied: string[] = [];
    const includeAnnotations = /odata\.include-annotations/.test(prefer);
    if (includeAnnotations) applied.push(/odata\.include-annotations="[^"]*"/.exec(prefer)?.[0] ?? 'odata.include-annotations="*"');
    const strip = (row: Record<string, unknown>) => (includeAnnotations ? row : Object.fromEntries(Object.entries(row).filter(([k]) => !k.includes('@') || k === '@odata.etag')));
    const context = `${baseUrl}${DV_PREFIX}$metadata#${set}`;
    let rows: Record<string, unknown>[];
    let entity = set;
    if (nav) {
      const byId = (s: string, idv: string) => (dv.sets[s] ?? []).filter((r) => String(r[dv.keys[s]!]).toLowerCase() === idv.toLowerCase());
      const pick = (s: string, ids: Set<string> | undefined) => (dv.sets[s] ?? []).filter((r) => ids?.has(String(r[dv.keys[s]!])));
      if (!id || byId(set, id).length === 0) throw new HttpProblem(404, '0x80040217', `${set.replace(/s$/, '')} With Id = ${id} Does Not Exist`);
      if (set === 'systemusers' && nav === 'systemuserroles_association') { rows = pick('roles', dv.userRoles.get(id)); entity = 'roles'; }
      else if (set === 'teams' && nav === 'teamroles_association') { rows = pick('roles', dv.teamRoles.get(id)); entity = 'roles'; }
      else if (set === 'teams' && nav === 'teammembership_association') { rows = pick('systemusers', dv.teamMembers.get(id)); entity = 'systemusers'; }
      else throw new HttpProblem(404, '0x80060888', `Resource not found for the segment '${nav}'.`);
    } else {
      rows = dv.sets[set] ?? (() => { throw new HttpProblem(404, '0x80060888', `Resource not found for the segment '${set}'.`); })();
      if (id) {
        const row = rows.find((r) => String(r[dv.keys[set]!]).toLowerCase() === id.toLowerCase());
        if (!row) throw new HttpProblem(404, '0x80040217', `${set.replace(/s$/, '')} With Id = ${id} Does Not Exist`);
        return { body: { '@odata.context': `${context}/$entity`, ...strip(row) }, headers: applied.length ? { 'Preference-Applied': applied.join(',') } : {} };
      }
    }
    let filtered: Record<string, unknown>[];
    try {
      filtered = applyOrderBy(rows.filter((r) => matches(r, parseFilter(u.searchParams.get('$filter')))), u.searchParams.get('$orderby'));
    } catch (e) {
      if (e instanceof ODataQueryError) throw new HttpProblem(400, '0x80060888', e.message);
      throw e;
    }
    const maxMatch = /odata\.maxpagesize=(\d+)/.exec(prefer);
    const top = u.searchParams.get('$top');
    let size = 5000;
    if (maxMatch) { size = Math.max(1, Math.min(5000, Number(maxMatch[1]))); applied.push(`odata.maxpagesize=${size}`); }
    if (top) filtered = filtered.slice(0, Number(top));
    let offset = 0;
    const skiptoken = u.searchParams.get('$skiptoken');
    if (skiptoken) {
      const cookie = /pagingcookie="([^"]*)"/.exec(skiptoken)?.[1];
      const inner = cookie ? decodeURIComponent(decodeURIComponent(cookie)) : '';
      const o = /offset="(\d+)"/.exec(inner)?.[1];
      if (o === undefined) throw new HttpProblem(400, '0x80048d19', 'The $skiptoken is not valid.');
      offset = Number(o);
    }
    const page = filtered.slice(offset, offset + size).map(strip);
    const body: Record<string, unknown> = { '@odata.context': entity === set ? context : `${baseUrl}${DV_PREFIX}$metadata#${entity}`, value: page };
    if (offset + size < filtered.length) {
      const last = page[page.length - 1] ?? {};
      const keyName = dv.keys[entity] ?? 'id';
      const pagingCookie = encodeURIComponent(encodeURIComponent(`<cookie page="${offset / size + 1}" offset="${offset + size}"><${keyName} last="{${String(last[keyName] ?? '').toUpperCase()}}" /></cookie>`));
      const token = `<cookie pagenumber="${offset / size + 2}" pagingcookie="${pagingCookie}" istracking="False" />`;
      const params = [...u.searchParams.entries()].filter(([k]) => k !== '$skiptoken');
      params.push(['$skiptoken', token]);
      body['@odata.nextLink'] = `${baseUrl}${u.pathname}?${params.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')}`;
    }
    return { body, headers: applied.length ? { 'Preference-Applied': applied.join(',') } : {} };
  }

  // ---------- routing ----------
  const FLOW = /^\/providers\/Microsoft\.ProcessSimple\/(scopes\/admin\/)?environments\/([^/]+)\/flows(?:\/([^/]+)(?:\/(runs|permissions)(?:\/([^/]+))?)?)?$/i;
  const CONN_ADMIN = /^\/providers\/Microsoft\.PowerApps\/scopes\/admin\/environments\/([^/]+)\/(?:apis\/([^/]+)\/)?connections(?:\/([^/]+)\/permissions)?$/i;
  const CONN_USER = /^\/providers\/Microsoft\.PowerApps\/apis\/([^/]+)\/connections(?:\/([^/]+)\/permissions)?$/i;
  const CONTENT = /^\/workflows\/([0-9a-f]{32})\/runs\/([^/]+)\/actions\/([^/]+)\/contents\/(ActionInputs|ActionOutputs)$/;
  const TOKEN = /^\/([^/]+)\/oauth2\/v2\.0\/token$/;

  function classify(path: string): string | undefined {
    let m: RegExpExecArray | null;
    if ((m = FLOW.exec(path))) return m[5] ? (m[4] === 'runs' ? 'flowapi.run' : 'flowapi.unknown') : m[4] ? `flowapi.${m[4]}` : m[3] ? 'flowapi.flow' : 'flowapi.flows';
    if ((m = CONN_ADMIN.exec(path)) || (m = CONN_USER.exec(path))) return path.endsWith('/permissions') ? 'powerapps.connectionPermissions' : 'powerapps.connections';
    if (CONTENT.test(path)) return 'content';
    if (path.startsWith(DV_PREFIX)) return `dataverse.${path.slice(DV_PREFIX.length).replace(/\([^)]*\)/, '').replace(/\//g, '.')}`;
    return undefined;
  }

  function route(req: http.IncomingMessage, u: URL): { status?: number; body: unknown; headers?: Record<string, string>; raw?: string } {
    const path = u.pathname;
    let m: RegExpExecArray | null;
    if ((m = CONTENT.exec(path))) {
      const r = serveContent(req, u, m);
      return { raw: r.body, body: undefined };
    }
    checkBearer(req);
    if ((m = FLOW.exec(path))) {
      checkApiVersion(u);
      const admin = Boolean(m[1]);
      checkEnv(m[2]!);
      if (!m[3]) {
        const flows = tenant.flows;
        return { body: paged(flows.map((f) => renderFlow(f, admin, false)), flows.length, u) };
      }
      const flow = flowOr404(m[3]);
      if (!m[4]) return { body: renderFlow(flow, admin, true) };
      if (m[4] === 'permissions') {
        if (m[5]) throw new HttpProblem(404, 'NotFound', 'Not found.');
        const base = `${envPath(admin)}/flows/${flow.id}`;
        return { body: { value: tenant.permissions(flow).map((p) => renderPermission(base, p)) } };
      }
      if (!m[5]) return { body: paged((offset, n) => Array.from({ length: n }, (_, i) => renderRun(flow, offset + i, admin, false)), flow.runCount, u) };
      const idx = tenant.runIndex(flow, m[5]);
      if (idx === undefined) throw new HttpProblem(404, 'WorkflowRunNotFound', `The workflow run '${m[5]}' could not be found.`);
      const expand = u.searchParams.get('$expand') ?? '';
      return { body: renderRun(flow, idx, admin, /properties\/actions/i.test(expand)) };
    }
    if ((m = CONN_ADMIN.exec(path))) {
      checkApiVersion(u);
      checkEnv(m[1]!);
      const api = m[2];
      if (m[3]) return connectionPermissions(m[3], true);
      const list = tenant.connections.filter((c) => !api || c.apiName.toLowerCase() === api.toLowerCase());
      return { body: paged(list.map((c) => renderConnection(c, true)), list.length, u) };
    }
    if ((m = CONN_USER.exec(path))) {
      checkApiVersion(u);
      if (m[2]) return connectionPermissions(m[2], false);
      const env = /environment eq '([^']+)'/.exec(u.searchParams.get('$filter') ?? '')?.[1];
      if (!env) throw new HttpProblem(400, 'InvalidFilter', "$filter=environment eq '<environment name>' is required.");
      checkEnv(env);
      const list = tenant.connections.filter((c) => c.apiName.toLowerCase() === m![1]!.toLowerCase());
      return { body: paged(list.map((c) => renderConnection(c, false)), list.length, u) };
    }
    if (path.startsWith(DV_PREFIX)) {
      const r = dataverse(req, u, path.slice(DV_PREFIX.length));
      return { body: r.body, headers: { 'OData-Version': '4.0', ...r.headers } };
    }
    throw new HttpProblem(404, 'NotFound', 'No such route.');
  }

  function connectionPermissions(name: string, admin: boolean) {
    const c = tenant.connections.find((x) => x.name === name);
    if (!c) throw new HttpProblem(404, 'ConnectionNotFound', `Connection '${name}' was not found.`);
    const base = admin ? `/providers/Microsoft.PowerApps/scopes/admin/environments/${tenant.environmentId}/apis/${c.apiName}/connections/${c.name}` : `/providers/Microsoft.PowerApps/apis/${c.apiName}/connections/${c.name}`;
    const owner = { principal: { id: c.createdBy.id, type: c.createdBy.type === 'User' ? 'User' : 'ServicePrincipal' }, roleName: 'Owner' } as const;
    return {
      body: {
        value: [owner, ...c.sharedWith].map((p) => ({
          name: `${c.name}-${p.principal.id}`,
          id: `${base}/permissions/${p.principal.id}`,
          type: '/providers/Microsoft.PowerApps/apis/connections/permissions',
          properties: { roleName: p.roleName, principal: { id: p.principal.id, type: p.principal.type, tenantId: tenant.tenantId } },
        })),
      },
    };
  }

  function control(req: http.IncomingMessage, u: URL, body: string): { status?: number; body: unknown } {
    if (req.method === 'GET' && u.pathname === '/_sim/stats') return { body: stats() };
    if (req.method === 'POST' && u.pathname === '/_sim/advance') {
      tenant.advance(now());
      return { body: { epoch: tenant.epoch } };
    }
    if (req.method === 'POST' && u.pathname === '/_sim/faults') {
      let parsed: unknown;
      try {
        parsed = JSON.parse(body || '{}');
      } catch {
        throw new HttpProblem(400, 'InvalidJson', 'body: expected a JSON object of fault settings');
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpProblem(400, 'InvalidJson', 'body: expected a JSON object of fault settings');
      try {
        faults.configure(parsed as FaultOptions);
      } catch (e) {
        throw new HttpProblem(400, 'InvalidFaults', (e as Error).message);
      }
      return { body: faults.settings };
    }
    throw new HttpProblem(404, 'NotFound', 'No such control route.');
  }

  function stats(): SimStats {
    return { requests: { ...requests }, faults: { ...faults.injected }, epoch: tenant.epoch };
  }

  function send(res: http.ServerResponse, status: number, body: string, headers: Record<string, string>, isDataverse: boolean): void {
    const requestId = randomUUID();
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(body)),
      ...(isDataverse ? { 'x-ms-service-request-id': requestId, REQ_ID: requestId } : { 'x-ms-request-id': requestId }),
      ...headers,
    });
    res.end(body);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const u = new URL(req.url ?? '/', baseUrl);
        const isDataverse = u.pathname.startsWith(DV_PREFIX);
        try {
          if (u.pathname.startsWith('/_sim/')) {
            const r = control(req, u, Buffer.concat(chunks).toString());
            return send(res, r.status ?? 200, JSON.stringify(r.body), {}, false);
          }
          const tm = TOKEN.exec(u.pathname);
          if (tm && req.method === 'POST') {
            count('token');
            const form = new URLSearchParams(Buffer.concat(chunks).toString());
            if (form.get('grant_type') !== 'client_credentials' || !form.get('client_id') || !form.get('scope')) {
              return send(res, 400, JSON.stringify({ error: 'invalid_request', error_description: 'grant_type=client_credentials, client_id and scope are required' }), {}, false);
            }
            return send(res, 200, JSON.stringify({ token_type: 'Bearer', ...issueToken(form.get('scope')!, form.get('client_id')!), ext_expires_in: 3600 }), {}, false);
          }
          const kind = classify(u.pathname);
          if (!kind) throw new HttpProblem(404, 'NotFound', 'No such route.');
          count(kind);
          if (/\/scopes\/admin\//i.test(u.pathname)) count('adminScope');
          const fault = faults.draw();
          const rec: SimRequestRecord | undefined = options.recordRequests
            ? { at: Date.now(), kind, path: u.pathname, ...(typeof req.headers['x-ms-client-request-id'] === 'string' ? { clientRequestId: req.headers['x-ms-client-request-id'] } : {}), ...(fault ? { fault } : {}) }
            : undefined;
          if (rec) log.push(rec);
          if (fault === 'reset') {
            req.socket.destroy();
            return;
          }
          if (fault === '429') {
            const msg = isDataverse ? { error: { code: '0x80072322', message: 'Number of requests exceeded the limit of 6000 over time window of 300 seconds.' } } : { error: { code: 'TooManyRequests', message: 'Rate limit is exceeded. Try again later.' } };
            const retryAfter = faults.retryAfterHeader(new Date()); // wall clock: transport time, not tenant time
            if (rec) rec.retryAfter = retryAfter;
            return send(res, 429, JSON.stringify(msg), { 'Retry-After': retryAfter }, isDataverse);
          }
          if (fault === '503') return send(res, 503, JSON.stringify({ error: { code: 'ServiceUnavailable', message: 'The service is temporarily unavailable.' } }), {}, isDataverse);
          if (fault === 'slow') await new Promise((r) => setTimeout(r, faults.settings.slowMs));
          const raw = options.rawResponse?.(kind, u.pathname);
          if (raw) return send(res, raw.status ?? 200, raw.body, raw.contentType ? { 'Content-Type': raw.contentType } : {}, isDataverse);
          const r = route(req, u);
          if (r.raw !== undefined) return send(res, 200, r.raw, {}, false);
          return send(res, r.status ?? 200, JSON.stringify(r.body), r.headers ?? {}, isDataverse);
        } catch (e) {
          if (e instanceof HttpProblem) return send(res, e.status, JSON.stringify({ error: { code: e.code, message: e.message } }), e.headers, isDataverse);
          return send(res, 500, JSON.stringify({ error: { code: 'InternalServerError', message: (e as Error).message } }), {}, isDataverse);
        }
      })();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  baseUrl = `http://${host}:${port}`;

  return {
    url: baseUrl,
    tokenUrl: `${baseUrl}/${tenant.tenantId}/oauth2/v2.0/token`,
    environmentId: tenant.environmentId,
    tenant,
    generated,
    stats,
    advance: () => tenant.advance(now()),
    setFaults: (f) => faults.configure(f),
    requestLog: () => log.slice(),
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
