import { buildSampleDataverse } from './dataverseData';
import { compose, http, openApi, secure, workflowDefinition } from './definitions';
import { PLANTED_FORMATS, plantSecret, setPath, type PlantedFormat } from './fakeSecrets';
import { ENVIRONMENT_ID, TENANT_ID, USERS, hashGuid, runIndexFromName, runName } from './ids';
import type { Direction, PlantedSecret, SimConnection, SimFlow, SimRun, SimRunAction, SimTenant } from './model';
import { Lru } from './lru';
import { hashUnit, mixGuid, mixUnit } from './rng';

/**
 * Benchmark tenants: `flows` flows × `runs` runs × `actions` actions. Nothing per run is stored:
 * run metadata, action lists and content are pure functions of (seed, flow, run, action), and the
 * planted-secret index is a generator over the same function.
 */
export interface GeneratedTenantOptions {
  flows: number;
  runs: number;
  actions: number;
  /** Share of unsecured action sides (inputs/outputs) that carry one planted secret, 0..1. */
  secretRate: number;
  seed: number;
  /** Share of actions whose definition secures both sides (default 0.1). */
  securedRate?: number;
}

export interface GeneratedTenant extends SimTenant {
  options: Required<GeneratedTenantOptions>;
  /** Every planted secret, in (flow, run, action, direction) order. */
  plantedSecrets(): Generator<PlantedSecret>;
}

const KINDS = ['Compose', 'Http', 'GetSecret', 'ListRecords'] as const;

export function createGeneratedTenant(o: GeneratedTenantOptions & { anchor: Date }): GeneratedTenant {
  for (const k of ['flows', 'runs', 'actions'] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1) throw new RangeError(`${k}: expected a positive whole number, got ${String(o[k])}`);
  }
  if (!(o.secretRate >= 0 && o.secretRate <= 1)) throw new RangeError(`secretRate: expected a number between 0 and 1, got ${String(o.secretRate)}`);
  if (!Number.isInteger(o.seed)) throw new RangeError(`seed: expected a whole number, got ${String(o.seed)}`);
  const options: Required<GeneratedTenantOptions> = { flows: o.flows, runs: o.runs, actions: o.actions, secretRate: o.secretRate, seed: o.seed, securedRate: o.securedRate ?? 0.1 };
  const seed = options.seed;
  const t0 = o.anchor.getTime();
  const iso = (ms: number) => new Date(ms).toISOString();

  // Per-(flow, action) facts are fixed for the tenant's life: computed once per flow, not per request
  // (each is a SHA-256 draw). Bounded so a tenant of many flows stays on demand.
  const flowFacts = new Lru<number, { kind: (typeof KINDS)[number]; secured: boolean }[]>(20_000);
  const facts = (f: number) =>
    flowFacts.getOrCreate(f, () =>
      Array.from({ length: options.actions }, (_, a) => ({
        kind: KINDS[Math.floor(hashUnit(seed, 'kind', f, a) * KINDS.length)]!,
        secured: hashUnit(seed, 'secured', f, a) < options.securedRate,
      })),
    );
  const kindOf = (f: number, a: number) => facts(f)[a]!.kind;
  const actionName = (f: number, a: number) => `${kindOf(f, a)}_${a + 1}`;
  const isSecured = (f: number, a: number) => facts(f)[a]!.secured;

  function actionDef(f: number, a: number): Record<string, unknown> {
    const runAfter = a === 0 ? {} : { [actionName(f, a - 1)]: ['Succeeded'] };
    const kind = kindOf(f, a);
    const def =
      kind === 'Compose' ? compose({ step: a, note: '@{utcNow()}' }, runAfter)
      : kind === 'Http' ? http({ method: 'POST', uri: `https://api.contoso.example/step/${a}`, headers: { 'Content-Type': 'application/json' }, body: { runAt: '@{utcNow()}' } }, runAfter)
      : kind === 'GetSecret' ? openApi('shared_keyvault', 'GetSecret', { secretName: `secret-${a}` }, runAfter)
      : openApi('shared_commondataserviceforapps', 'ListRecords', { entityName: 'accounts', $top: 5 }, runAfter);
    return isSecured(f, a) ? secure(def, ['inputs', 'outputs']) : def;
  }

  const flows: SimFlow[] = Array.from({ length: options.flows }, (_, f) => ({
    index: f,
    id: hashGuid(seed, 'flow', f),
    displayName: `Generated flow ${f + 1}`,
    state: 'Started',
    creatorObjectId: USERS.svcFlowOwner.aad,
    createdTime: iso(t0 - 30 * 86_400_000),
    lastModifiedTime: iso(t0 - 2 * 86_400_000),
    // Definitions are small (actions per flow), so they are built once.
    definition: workflowDefinition(Object.fromEntries(Array.from({ length: options.actions }, (_, a) => [actionName(f, a), actionDef(f, a)]))),
    connectionReferences: [
      { key: 'shared_keyvault', apiName: 'shared_keyvault', connectionName: 'shared-keyvault-generated', displayName: 'Azure Key Vault' },
      { key: 'shared_commondataserviceforapps', apiName: 'shared_commondataserviceforapps', connectionName: 'shared-commondataserviceforapps-generated', displayName: 'Microsoft Dataverse' },
    ],
    runCount: options.runs,
  }));

  // A scan reads a run's metadata, its actions and each content link within moments: keep recent runs.
  interface RunEntry { run: SimRun; actions?: SimRunAction[] }
  const recentRuns = new Lru<string, RunEntry>(4_096);
  const runEntry = (f: number, r: number): RunEntry =>
    recentRuns.getOrCreate(`${f}/${r}`, () => {
      // Flows start 557 ms apart inside each 5-minute slot: 557 does not divide 300,000, so no two runs
      // of a tenant (up to 300,000 flows) share a start time (Compose inputs carry it, as utcNow()).
      const start = t0 - (r + 1) * 300_000 - ((f * 557) % 300_000);
      return {
        run: { name: runName(seed, f, r), startTime: iso(start), endTime: iso(start + 2_000 + options.actions * 50), status: hashUnit(seed, 'failed', f, r) < 0.1 ? 'Failed' : 'Succeeded' },
      };
    });
  // Copies: callers get fresh objects, as before the cache.
  const run = (flow: SimFlow, r: number): SimRun => ({ ...runEntry(flow.index, r).run });

  // A Compose action's outputs are its inputs, evaluated: the service shows (and hashes) the same
  // content on both sides, so a secret planted in its inputs is in its outputs too.
  const plantSide = (f: number, a: number, dir: Direction): Direction => (kindOf(f, a) === 'Compose' ? 'inputs' : dir);

  function planted(f: number, r: number, a: number, dir: Direction): PlantedFormat | undefined {
    if (isSecured(f, a)) return undefined;
    const d = plantSide(f, a, dir) === 'inputs' ? 0 : 1;
    if (mixUnit(seed, 'plant', f, r, a, d) >= options.secretRate) return undefined;
    return PLANTED_FORMATS[Math.floor(mixUnit(seed, 'format', f, r, a, d) * PLANTED_FORMATS.length)]!;
  }

  // A fresh object per call (a pure function of seed, flow, run, action, side): the server keeps the
  // rendered text of recent sides, so listing and fetch serve the same bytes.
  const content = (f: number, r: number, a: number, dir: Direction) => computeContent(f, r, a, dir);

  /**
   * Content as the service records it. Inputs are the definition's inputs, evaluated: a connector call
   * with literal parameters (Key Vault GetSecret, Dataverse ListRecords) sends the same inputs on every
   * run; Compose and HTTP inputs carry `utcNow()`, so they differ per run. Outputs carry per-call
   * response headers (request ids, ETags) and differ per run, except Compose's, which are its inputs.
   */
  function computeContent(f: number, r: number, a: number, dir: Direction): Record<string, unknown> {
    const kind = kindOf(f, a);
    const d = plantSide(f, a, dir);
    const runAt = runEntry(f, r).run.startTime;
    let base: Record<string, unknown>;
    if (d === 'inputs') {
      base =
        kind === 'Compose' ? { step: a, note: runAt }
        : kind === 'Http' ? { method: 'POST', uri: `https://api.contoso.example/step/${a}`, headers: { 'Content-Type': 'application/json' }, body: { runAt } }
        : kind === 'GetSecret' ? { host: { connectionName: 'shared_keyvault', operationId: 'GetSecret', apiId: '/providers/Microsoft.PowerApps/apis/shared_keyvault' }, parameters: { secretName: `secret-${a}` } }
        : { host: { connectionName: 'shared_commondataserviceforapps', operationId: 'ListRecords', apiId: '/providers/Microsoft.PowerApps/apis/shared_commondataserviceforapps' }, parameters: { entityName: 'accounts', $top: 5 } };
    } else {
      base = { statusCode: 200, headers: { ETag: `W/"${Math.floor(mixUnit(seed, 'etag', f, r, a) * 1e8)}"`, 'x-ms-request-id': mixGuid(seed, 'rq', f, r, a) }, body: { id: mixGuid(seed, 'out', f, r, a), status: 'ok', count: Math.floor(mixUnit(seed, 'n', f, r, a) * 100) } };
    }
    const fmt = planted(f, r, a, dir);
    if (fmt) {
      const p = plantSecret(fmt, seed, f, r, a, d);
      setPath(base, p.path, p.value);
    }
    return base;
  }

  function computeRunActions(flow: SimFlow, r: number): SimRunAction[] {
    const start = Date.parse(runEntry(flow.index, r).run.startTime);
    const failed = runEntry(flow.index, r).run.status === 'Failed';
    return Array.from({ length: options.actions }, (_, a) => {
      // The definition secures both sides or neither (actionDef); no need to build it per run.
      const sides = { inputs: isSecured(flow.index, a), outputs: isSecured(flow.index, a) };
      return {
        name: actionName(flow.index, a),
        type: kindOf(flow.index, a) === 'Compose' ? 'Compose' : kindOf(flow.index, a) === 'Http' ? 'Http' : 'OpenApiConnection',
        status: failed && a === options.actions - 1 ? 'Failed' : 'Succeeded',
        startTime: iso(start + 100 + a * 50),
        endTime: iso(start + 140 + a * 50),
        secureInputs: sides.inputs,
        secureOutputs: sides.outputs,
      };
    });
  }

  const connections: SimConnection[] = flows[0]!.connectionReferences.map((c) => ({
    name: c.connectionName,
    apiName: c.apiName,
    displayName: 'svc-flowowner@contoso.com',
    createdBy: { id: USERS.svcFlowOwner.aad, displayName: USERS.svcFlowOwner.fullname, email: USERS.svcFlowOwner.upn, userPrincipalName: USERS.svcFlowOwner.upn, type: 'User' },
    createdTime: iso(t0 - 60 * 86_400_000),
    sharedWith: [],
  }));
  // Dataverse side is the sample's (identities, roles, audits); workflows rows list only the first flows.
  const dataverse = buildSampleDataverse(o.anchor, flows.slice(0, 50));

  const actionIndex = (flow: SimFlow, name: string) => {
    const m = /_(\d+)$/.exec(name);
    const a = m ? Number(m[1]) - 1 : -1;
    return a >= 0 && a < options.actions && actionName(flow.index, a) === name ? a : undefined;
  };

  return {
    options,
    environmentId: ENVIRONMENT_ID,
    tenantId: TENANT_ID,
    epoch: 0,
    flows,
    run,
    runIndex(flow, name) {
      const i = runIndexFromName(name);
      return i !== undefined && i < flow.runCount && runEntry(flow.index, i).run.name === name ? i : undefined;
    },
    runActions(flow, r): SimRunAction[] {
      const entry = runEntry(flow.index, r);
      entry.actions ??= computeRunActions(flow, r);
      return entry.actions.map((a) => ({ ...a }));
    },
    content(flow, r, name, dir) {
      const a = actionIndex(flow, name);
      return a === undefined || r < 0 || r >= options.runs ? undefined : content(flow.index, r, a, dir);
    },

    permissions: () => [{ principal: { id: USERS.svcFlowOwner.aad, type: 'User' }, roleName: 'Owner' }],
    connections,
    dataverse,
    advance() {
      // Generated tenants have a single epoch.
    },
    *plantedSecrets() {
      for (let f = 0; f < options.flows; f++)
        for (let r = 0; r < options.runs; r++)
          for (let a = 0; a < options.actions; a++)
            for (const dir of ['inputs', 'outputs'] as const) {
              const fmt = planted(f, r, a, dir);
              if (fmt) yield { flowIndex: f, flowId: flows[f]!.id, runIndex: r, runId: runName(seed, f, r), actionName: actionName(f, a), direction: dir, format: fmt, path: plantSecret(fmt, seed, f, r, a, plantSide(f, a, dir)).path };
            }
    },
  };
}

/** Build a generated tenant without a server (benchmarks that feed detectors directly). */
export function generateTenant(options: GeneratedTenantOptions & { anchor?: Date }): GeneratedTenant {
  return createGeneratedTenant({ ...options, anchor: options.anchor ?? new Date() });
}
