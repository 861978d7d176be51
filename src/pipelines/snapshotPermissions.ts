import { driftFindings, recordFindingsObservedAt } from '../core/drift/driftFindings';
import { effectiveKind } from '../core/drift/policyView';
import type { Policy } from '../core/policy';
import type {
  ConnectionSnapshot,
  FlowPermission,
  FlowPermissionSnapshot,
  IdentityKind,
  PermissionSnapshot,
  PrincipalSnapshot,
  RoleGrant,
} from '../core/records';
import type {
  CheckpointStore,
  Clock,
  ConnectionReferenceRecord,
  ConnectionSource,
  DataverseSource,
  FindingStore,
  FlowApiSource,
  FlowConnectionReference,
  FlowSummary,
  Logger,
  RoleRecord,
  SnapshotStore,
  SystemUserRecord,
  WorkflowRecord,
} from '../ports';

export const PERMISSIONS_SOURCE = 'permission-snapshot';
/** Modern (cloud) flows in Dataverse `workflows.category`. */
const CATEGORY_MODERN_FLOW = 5;

export interface TakeSnapshotDeps {
  dataverse: DataverseSource;
  flowApi: FlowApiSource;
  connections: ConnectionSource;
  policy: Policy;
  clock: Clock;
}

export interface TakeSnapshotOptions {
  abortSignal?: AbortSignal;
  /** Parallel per-user / per-team / per-flow calls (default 8). */
  concurrency?: number;
}

const low = (s: string) => s.trim().toLowerCase();

/** Run `fn` over `items` with at most `limit` in flight; results in input order; the first error rejects. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>, signal?: AbortSignal): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      signal?.throwIfAborted();
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** Connection references of a Dataverse-only solution flow, from `clientdata` (absent/unparseable → none). */
function clientDataReferences(wf: WorkflowRecord): FlowConnectionReference[] {
  if (!wf.clientdata) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(wf.clientdata);
  } catch {
    // The definition scan reports unparseable clientdata; here it only means "no references known".
    return [];
  }
  const refs = (parsed as { properties?: { connectionReferences?: Record<string, unknown> } })?.properties?.connectionReferences;
  if (!refs || typeof refs !== 'object') return [];
  return Object.entries(refs).map(([name, v]) => {
    const r = (v ?? {}) as { connection?: { name?: string; connectionReferenceLogicalName?: string }; api?: { name?: string } };
    const out: FlowConnectionReference = { name };
    if (r.connection?.name) out.connectionName = r.connection.name;
    if (r.connection?.connectionReferenceLogicalName) out.connectionReferenceLogicalName = r.connection.connectionReferenceLogicalName;
    if (r.api?.name) out.apiName = r.api.name;
    return out;
  });
}

/**
 * Take the permission snapshot of one environment: systemusers with their roles (direct and through team
 * membership), flows with owner / co-owners / run-only users, and the exact map flow → connection
 * reference → connection → owner identity. Flow API principals (Entra object ids) are mapped to
 * systemuser ids (teams for groups) through `azureactivedirectoryobjectid`, so the snapshot and audit
 * events speak the same ids.
 */
export async function takePermissionSnapshot(deps: TakeSnapshotDeps, environmentId: string, options: TakeSnapshotOptions = {}): Promise<PermissionSnapshot> {
  const { dataverse, flowApi, policy } = deps;
  const limit = options.concurrency ?? 8;
  const signal = options.abortSignal;
  const req = signal ? { abortSignal: signal } : {};
  const takenAt = deps.clock.now().toISOString();

  // ---------- principals and roles ----------
  const [roles, users, teams] = await Promise.all([
    collect(dataverse.listRoles(environmentId, req)),
    collect(dataverse.listSystemUsers(environmentId, req)),
    collect(dataverse.listTeams(environmentId, req)),
  ]);
  const roleName = new Map(roles.map((r) => [low(r.roleid), r.name]));
  const grantOf = (r: RoleRecord, via: string): RoleGrant => ({ roleId: low(r.roleid), roleName: r.name || roleName.get(low(r.roleid)) || r.roleid, via });

  const directRoles = await mapLimit(users, limit, (u) => dataverse.listUserRoles(environmentId, u.systemuserid, req), signal);
  const teamData = await mapLimit(
    teams,
    limit,
    async (t) => {
      const [members, troles] = await Promise.all([dataverse.listTeamMembers(environmentId, t.teamid, req), dataverse.listTeamRoles(environmentId, t.teamid, req)]);
      return { team: t, members: new Set(members.map(low)), roles: troles };
    },
    signal,
  );

  const userById = new Map<string, SystemUserRecord>(users.map((u) => [low(u.systemuserid), u]));
  const userByObjectId = new Map<string, SystemUserRecord>();
  for (const u of users) if (u.azureactivedirectoryobjectid) userByObjectId.set(low(u.azureactivedirectoryobjectid), u);
  const teamByObjectId = new Map<string, string>();
  for (const t of teams) if (t.azureactivedirectoryobjectid) teamByObjectId.set(low(t.azureactivedirectoryobjectid), low(t.teamid));

  const upnOf = (u: SystemUserRecord) => u.domainname || u.internalemailaddress || undefined;
  const principals: PrincipalSnapshot[] = users.map((u, i) => {
    const id = low(u.systemuserid);
    const grants = (directRoles[i] ?? []).map((r) => grantOf(r, 'direct'));
    for (const td of teamData) if (td.members.has(id)) for (const r of td.roles) grants.push(grantOf(r, `team:${low(td.team.teamid)}`));
    grants.sort((a, b) => a.roleId.localeCompare(b.roleId) || a.via.localeCompare(b.via));
    const applicationId = u.applicationid ? low(u.applicationid) : undefined;
    const upn = upnOf(u);
    // Dataverse tells application users apart (applicationid); service accounts are people to it, so
    // the policy-declared kind wins.
    const kind = effectiveKind(policy, { id, applicationId, upn }, applicationId ? 'application-user' : 'person');
    const p: PrincipalSnapshot = { id, kind, roles: grants };
    if (applicationId) p.applicationId = applicationId;
    if (upn) p.upn = upn;
    if (u.fullname) p.name = u.fullname;
    if (u.isdisabled !== undefined) p.disabled = u.isdisabled;
    return p;
  });

  const principalById = new Map(principals.map((p) => [p.id, p]));
  /** Entra object id (or systemuser id) → the id the snapshot uses, with what we know about it. */
  const resolvePrincipal = (rawId: string, type?: string): { id: string; objectId?: string; upn?: string; kind: IdentityKind } => {
    const raw = low(rawId);
    const byObj = userByObjectId.get(raw);
    if (byObj) {
      const id = low(byObj.systemuserid);
      const p = principalById.get(id)!;
      return { id, objectId: raw, ...(p.upn ? { upn: p.upn } : {}), kind: p.kind };
    }
    const asUser = userById.get(raw);
    if (asUser) {
      const p = principalById.get(raw)!;
      return { id: raw, ...(p.upn ? { upn: p.upn } : {}), kind: p.kind };
    }
    if (type?.toLowerCase() === 'group') {
      const team = teamByObjectId.get(raw);
      if (team) return { id: team, objectId: raw, kind: 'unknown' };
    }
    return { id: raw, kind: 'unknown' };
  };
  const mapPermission = (p: FlowPermission): FlowPermission => {
    const r = resolvePrincipal(p.principalId, p.principalType);
    const out: FlowPermission = { principalId: r.id, principalType: p.principalType, roleName: p.roleName };
    const upn = p.upn ?? r.upn;
    if (upn) out.upn = upn;
    const objectId = p.objectId ?? r.objectId;
    if (objectId) out.objectId = low(objectId);
    return out;
  };

  // ---------- flows ----------
  const [summaries, workflows, connRefs] = await Promise.all([
    collect(flowApi.listFlows(environmentId, req)),
    collect(dataverse.listWorkflows(environmentId, { ...req, category: CATEGORY_MODERN_FLOW })),
    collect(dataverse.listConnectionReferences(environmentId, req)),
  ]);
  const workflowById = new Map(workflows.map((w) => [low(w.workflowid), w]));
  const refByLogical = new Map<string, ConnectionReferenceRecord>(connRefs.map((r) => [low(r.connectionreferencelogicalname), r]));
  const listed = new Set(summaries.map((s) => low(s.flowId)));

  const flowOf = async (s: FlowSummary): Promise<FlowPermissionSnapshot> => {
    const [detail, perms] = await Promise.all([flowApi.getFlow(environmentId, s.flowId, req), flowApi.listFlowPermissions(environmentId, s.flowId, req)]);
    const wf = workflowById.get(low(s.flowId));
    return buildFlow(low(s.flowId), detail.displayName ?? s.displayName ?? wf?.name, wf?._ownerid_value ?? detail.creatorObjectId ?? s.creatorObjectId, perms, detail.connectionReferences);
  };
  const buildFlow = (flowId: string, displayName: string | undefined, rawOwner: string | undefined, perms: FlowPermission[], refs: FlowConnectionReference[]): FlowPermissionSnapshot => {
    const permissions = perms.map(mapPermission).sort((a, b) => a.principalId.localeCompare(b.principalId) || a.roleName.localeCompare(b.roleName));
    const links = refs.map((r) => {
      const logical = r.connectionReferenceLogicalName;
      const reference = logical ?? r.name;
      const connectionId = r.connectionName ?? (logical ? refByLogical.get(low(logical))?.connectionid ?? undefined : undefined);
      const link: NonNullable<FlowPermissionSnapshot['connectionLinks']>[number] = { reference };
      if (r.apiName) link.apiName = r.apiName;
      if (connectionId) link.connectionId = low(connectionId);
      return link;
    });
    links.sort((a, b) => a.reference.localeCompare(b.reference));
    const f: FlowPermissionSnapshot = { flowId, permissions, connectionReferences: links.map((l) => l.reference), connectionLinks: links };
    if (displayName) f.displayName = displayName;
    if (rawOwner) f.ownerId = resolvePrincipal(rawOwner).id;
    return f;
  };

  const flows = await mapLimit(summaries, limit, flowOf, signal);
  // Solution flows the Flow API did not list (e.g. no admin scope): Dataverse owner and references only.
  for (const wf of workflows) {
    if (listed.has(low(wf.workflowid))) continue;
    flows.push(buildFlow(low(wf.workflowid), wf.name, wf._ownerid_value, [], clientDataReferences(wf)));
  }
  flows.sort((a, b) => a.flowId.localeCompare(b.flowId));

  // ---------- connections: flow → reference → connection → owner ----------
  const records = await collect(deps.connections.listConnections(environmentId, req));
  const connections: ConnectionSnapshot[] = records.map((c) => {
    const id = low(c.connectionId);
    const owner = resolvePrincipal(c.createdById);
    const createdBy: ConnectionSnapshot['createdBy'] = { id: owner.id, kind: owner.kind };
    const upn = c.createdByUpn ?? owner.upn;
    if (upn) createdBy.upn = upn;
    const ownerUser = userById.get(owner.id);
    if (ownerUser?.fullname) createdBy.name = ownerUser.fullname;
    const usedBy = flows.filter((f) => f.connectionLinks?.some((l) => l.connectionId === id));
    const refs = new Set<string>();
    for (const r of connRefs) if (r.connectionid && low(r.connectionid) === id) refs.add(r.connectionreferencelogicalname);
    for (const f of usedBy) for (const l of f.connectionLinks ?? []) if (l.connectionId === id) refs.add(l.reference);
    const snap: ConnectionSnapshot = {
      connectionId: id,
      connectorName: c.connectorName,
      createdBy,
      sharedWith: c.sharedWith
        .map(mapPermission)
        .filter((p) => p.principalId !== owner.id)
        .sort((a, b) => a.principalId.localeCompare(b.principalId)),
      connectionReferences: [...refs].sort(),
      usedByFlows: usedBy.map((f) => f.flowId),
    };
    if (c.displayName) snap.displayName = c.displayName;
    return snap;
  });
  connections.sort((a, b) => a.connectionId.localeCompare(b.connectionId));
  const ownerOf = new Map(connections.map((c) => [c.connectionId, c.createdBy.id]));
  for (const f of flows) for (const l of f.connectionLinks ?? []) if (l.connectionId && ownerOf.has(l.connectionId)) l.ownerId = ownerOf.get(l.connectionId)!;

  principals.sort((a, b) => a.id.localeCompare(b.id));
  return {
    environmentId,
    takenAt,
    principals,
    flows,
    connections,
    roles: roles.map((r) => ({ roleId: low(r.roleid), roleName: r.name })).sort((a, b) => a.roleId.localeCompare(b.roleId)),
  };
}

/**
 * Role id (lower-case) → name, for `eventDriftFindings(event, { …, roleNames })`: audit rows and webhook
 * bodies carry only the role id, and the drift rules compare names with the policy.
 */
export async function loadRoleNames(dataverse: DataverseSource, environmentId: string, options: { abortSignal?: AbortSignal } = {}): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const r of dataverse.listRoles(environmentId, options)) out.set(low(r.roleid), r.name);
  return out;
}

export interface SnapshotPermissionsDeps extends TakeSnapshotDeps {
  snapshots: SnapshotStore;
  findings: FindingStore;
  log: Logger;
  /** When given, records last success / failures under source `permission-snapshot` for health. */
  checkpoints?: CheckpointStore;
}

export interface SnapshotPermissionsResult {
  environments: { environmentId: string; firstRun: boolean; principals: number; flows: number; connections: number; findings: number; created: string[] }[];
  errors: { environmentId: string; message: string }[];
}

/**
 * The hourly job: per environment, take the snapshot, diff it against the policy and the stored previous
 * snapshot, write the findings FIRST and only then save the snapshot, so a crash in between re-diffs
 * against the old snapshot next time and no change is lost (the ids make the rewrite a no-op).
 * An environment that fails is logged, recorded and returned in `errors`; the others still run.
 */
export async function snapshotPermissions(
  deps: SnapshotPermissionsDeps,
  options: { environmentIds?: string[]; abortSignal?: AbortSignal; concurrency?: number } = {},
): Promise<SnapshotPermissionsResult> {
  const res: SnapshotPermissionsResult = { environments: [], errors: [] };
  const envs = deps.policy.environments.filter((e) => !options.environmentIds || options.environmentIds.includes(e.id));
  const take: TakeSnapshotOptions = {};
  if (options.abortSignal) take.abortSignal = options.abortSignal;
  if (options.concurrency) take.concurrency = options.concurrency;
  for (const env of envs) {
    const started = deps.clock.now();
    try {
      const current = await takePermissionSnapshot(deps, env.id, take);
      const previous = await deps.snapshots.load(env.id);
      const findings = driftFindings(current, previous, { policy: deps.policy, detectedAt: current.takenAt });
      const { created } = await deps.findings.upsertMany(findings);
      await deps.snapshots.save(recordFindingsObservedAt(current, findings));
      res.environments.push({
        environmentId: env.id,
        firstRun: previous === undefined,
        principals: current.principals.length,
        flows: current.flows.length,
        connections: current.connections.length,
        findings: findings.length,
        created,
      });
      deps.log.info('permission snapshot taken', {
        environmentId: env.id,
        firstRun: previous === undefined,
        principals: current.principals.length,
        flows: current.flows.length,
        connections: current.connections.length,
        findings: findings.length,
        created: created.length,
      });
      if (deps.checkpoints) {
        const cp = await deps.checkpoints.get(PERMISSIONS_SOURCE, env.id);
        await deps.checkpoints.put({
          ...(cp ?? {}),
          source: PERMISSIONS_SOURCE,
          environmentId: env.id,
          watermark: current.takenAt,
          lastSuccess: current.takenAt,
          lastAttempt: current.takenAt,
          lastError: undefined,
          consecutiveFailures: 0,
        });
      }
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      res.errors.push({ environmentId: env.id, message });
      deps.log.error('permission snapshot failed', { environmentId: env.id, error: message });
      if (deps.checkpoints) {
        await recordSnapshotFailure(deps.checkpoints, env.id, message, started).catch((cpErr: unknown) => {
          // The snapshot error is the one returned; the failed bookkeeping is logged, not lost.
          deps.log.error('recording the snapshot failure failed', { environmentId: env.id, error: cpErr instanceof Error ? cpErr.message : String(cpErr) });
        });
      }
    }
  }
  return res;
}

async function recordSnapshotFailure(checkpoints: CheckpointStore, environmentId: string, message: string, at: Date): Promise<void> {
  const cp = await checkpoints.get(PERMISSIONS_SOURCE, environmentId);
  await checkpoints.put({
    ...(cp ?? { source: PERMISSIONS_SOURCE, environmentId, watermark: at.toISOString() }),
    lastAttempt: at.toISOString(),
    lastError: message.slice(0, 500),
    consecutiveFailures: (cp?.consecutiveFailures ?? 0) + 1,
  });
}
