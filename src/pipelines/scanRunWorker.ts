import type { Finding } from '../core/finding';
import { indexDefinition, type DefinitionAction } from '../core/flowDefinition';
import type { Policy } from '../core/policy';
import type { ContentLink, RunAction, RunActionContent } from '../core/records';
import { contentHits, contentTooLargeFinding, runContentFindingsFromHits, type ContentHit } from '../core/secrets/findings';
import type { Clock, FindingStore, FlowApiSource, FlowDetail, Logger } from '../ports';
import type { RunScanMessage } from './scanRuns';

export interface ScanRunDeps {
  flowApi: FlowApiSource;
  findings: FindingStore;
  policy: Policy;
  fingerprintKey: string;
  clock: Clock;
  log: Logger;
  cache?: RunScanCache;
}

export interface ScanRunResult {
  actions: number;
  fetched: number;
  skippedSecured: number;
  skippedCached: number;
  tooLarge: number;
  findings: number;
  created: string[];
}

/** A flow as the worker needs it; who can see its run history is read only when a run has a finding. */
interface CachedFlow {
  detail: FlowDetail;
  index: Map<string, DefinitionAction>;
  viewers: () => Promise<string[]>;
}

/**
 * Per-process caches shared by the runs a worker instance scans: flow definitions and viewers (one
 * lookup per flow, not per run) and, per content hash, what the detector found in that content
 * (identical content is fetched and scanned once). The service gives every content link an MD5 hash
 * and a size; the same hash and size means the same bytes, so the cached hits of one side are exactly
 * what a fetch of another side with that hash would find: a Compose action's outputs (its inputs,
 * evaluated), a connector call whose parameters do not change from run to run, the same secret in
 * every run. The findings are rebuilt for each side (its own run, action and direction), so a cache
 * hit gives the same findings, with the same ids, as a fetch. Cached hits hold only fingerprints and
 * masked previews, never a value.
 */
export class RunScanCache {
  private readonly flows = new Map<string, { at: number; value: Promise<CachedFlow> }>();
  private readonly hits = new Map<string, Promise<readonly ContentHit[] | undefined>>();
  constructor(private readonly ttlMs = 10 * 60_000, private readonly maxContents = 50_000) {}

  flow(key: string, now: number, load: () => Promise<CachedFlow>) {
    const hit = this.flows.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    const value = load();
    value.catch(() => this.flows.delete(key));
    this.flows.set(key, { at: now, value });
    return value;
  }

  /**
   * The hits of the content with this hash key: from the cache, or from `load` (fetch and scan), once
   * per key even when several runs ask at the same moment (they wait for the one fetch). `load`
   * returning undefined (content not scanned: too large, gone) or failing leaves nothing cached.
   */
  async content(k: string | undefined, load: () => Promise<readonly ContentHit[] | undefined>): Promise<{ hits: readonly ContentHit[] | undefined; cached: boolean }> {
    if (k === undefined) return { hits: await load(), cached: false };
    const pending = this.hits.get(k);
    if (pending) {
      // Least recently used goes first: re-insert on a hit (content shared by many runs stays).
      this.hits.delete(k);
      this.hits.set(k, pending);
      const hits = await pending;
      if (hits) return { hits, cached: true };
      return { hits: await load(), cached: false };
    }
    const p = load().then((h) => (h ? (h.length ? h : NO_HITS) : undefined));
    if (this.hits.size >= this.maxContents) this.hits.delete(this.hits.keys().next().value!);
    this.hits.set(k, p);
    p.then(
      (h) => {
        if (!h && this.hits.get(k) === p) this.hits.delete(k);
      },
      () => {
        if (this.hits.get(k) === p) this.hits.delete(k);
      },
    );
    return { hits: await p, cached: false };
  }
}

const NO_HITS: readonly ContentHit[] = Object.freeze([]);

function hashKey(link: ContentLink): string | undefined {
  const h = link.contentHash;
  return h?.value && h.value !== 'test==' ? `${h.algorithm}:${h.value}:${link.contentSize ?? ''}` : undefined;
}

function parseContent(text: string): unknown {
  const t = text.trim();
  if (t.startsWith('{') || t.startsWith('[') || t.startsWith('"')) {
    try {
      return JSON.parse(t);
    } catch {
      // Not JSON after all: scan it as text.
    }
  }
  return text;
}

/**
 * Scan one run: fetch the run with its actions, fetch only the content links of sides that are not
 * secured, detect, and write the findings. Throws on source/storage failures so the queue retries the
 * message (findings are idempotent by id, so a retry never duplicates).
 */
export async function scanRun(deps: ScanRunDeps, msg: RunScanMessage, options: { abortSignal?: AbortSignal } = {}): Promise<ScanRunResult> {
  // The app passes its own cache (one fingerprint key and policy per app); alone, a run still shares
  // content between its own sides.
  const cache = deps.cache ?? new RunScanCache();
  const res: ScanRunResult = { actions: 0, fetched: 0, skippedSecured: 0, skippedCached: 0, tooLarge: 0, findings: 0, created: [] };
  const now = deps.clock.now();
  const flow = await cache.flow(`${msg.environmentId}/${msg.flowId}`, now.getTime(), async () => {
    const detail = await deps.flowApi.getFlow(msg.environmentId, msg.flowId, options);
    let viewers: Promise<string[]> | undefined;
    return {
      detail,
      index: indexDefinition(detail.definition),
      viewers: () =>
        (viewers ??= deps.flowApi.listFlowPermissions(msg.environmentId, msg.flowId, options).then(
          (perms) => perms.map((p) => `${p.roleName === 'Owner' ? 'owner' : p.roleName === 'CanView' ? 'run-only user' : p.roleName}: ${p.upn ?? p.principalId} (${p.principalType})`),
          (e: unknown) => {
            deps.log.warn('scanRunWorker: could not read flow permissions', { flowId: msg.flowId, error: e instanceof Error ? e.message : String(e) });
            viewers = undefined; // asked again with the next finding
            return [];
          },
        )),
    };
  });
  const { run, actions } = await deps.flowApi.getRunActions(msg.environmentId, msg.flowId, msg.runId, options);
  const maxBytes = deps.policy.secrets.maxContentBytes;
  const env = deps.policy.environments.find((e) => e.id === msg.environmentId);
  const detectCtx = { fingerprintKey: deps.fingerprintKey, policy: deps.policy };
  // Findings are built once the run is read: only then is it known whether the viewers are needed.
  const found: { base: Omit<RunActionContent, 'content'>; hits?: readonly ContentHit[]; tooLarge?: number }[] = [];
  for (const action of actions) {
    res.actions++;
    const def = flow.index.get(action.name);
    for (const direction of ['inputs', 'outputs'] as const) {
      const link = direction === 'inputs' ? action.inputsLink : action.outputsLink;
      // Secured per the definition or per the run (the service omits the link's uri for a secured side).
      const secured =
        (direction === 'inputs' ? def?.secureInputs || action.inputsSecured : def?.secureOutputs || action.outputsSecured) || (link !== undefined && !link.uri);
      if (!link || secured) {
        if (secured) res.skippedSecured++;
        continue;
      }
      const key = hashKey(link);
      let tooLarge: number | undefined;
      const got = await cache.content(key, async () => {
        if (link.contentSize !== undefined && link.contentSize > maxBytes) {
          tooLarge = link.contentSize;
          return undefined;
        }
        const fetched = await deps.flowApi.fetchContent(link, { maxBytes, ...options });
        res.fetched++;
        if (fetched.status === 'too-large') {
          tooLarge = fetched.size ?? maxBytes + 1;
          return undefined;
        }
        if (fetched.status === 'gone' || fetched.text === undefined) return undefined;
        return contentHits(parseContent(fetched.text), detectCtx);
      });
      if (got.cached) res.skippedCached++;
      if (tooLarge === undefined && !got.hits?.length) continue;
      const base = baseContent(msg, flow.detail, action, def, direction, run.endTime ?? action.endTime ?? run.startTime ?? now.toISOString());
      if (tooLarge !== undefined) {
        res.tooLarge++;
        found.push({ base, tooLarge });
      } else found.push({ base, hits: got.hits! });
    }
  }
  const findings: Finding[] = [];
  if (found.length) {
    const ctx = {
      fingerprintKey: deps.fingerprintKey,
      policy: deps.policy,
      detectedAt: now.toISOString(),
      viewers: await flow.viewers(),
      ...(env?.portalUrl ? { portalUrl: env.portalUrl } : {}),
    };
    for (const f of found) {
      if (f.tooLarge !== undefined) {
        const tl = contentTooLargeFinding({ ...f.base, size: f.tooLarge }, ctx);
        if (tl) findings.push(tl);
      } else findings.push(...runContentFindingsFromHits(f.base, f.hits!, ctx).findings);
    }
  }
  res.findings = findings.length;
  if (findings.length) res.created = (await deps.findings.upsertMany(findings)).created;
  return res;
}

function baseContent(
  msg: RunScanMessage,
  flow: FlowDetail,
  action: RunAction,
  def: DefinitionAction | undefined,
  direction: 'inputs' | 'outputs',
  observedAt: string,
): Omit<RunActionContent, 'content'> {
  const type = def?.type ?? action.type;
  const flowName = msg.flowName ?? flow.displayName;
  return {
    environmentId: msg.environmentId,
    flowId: msg.flowId,
    ...(flowName ? { flowName } : {}),
    runId: msg.runId,
    actionName: action.name,
    ...(type ? { actionType: type } : {}),
    ...(def?.operationId ? { operationId: def.operationId } : {}),
    ...(def?.apiName ? { apiName: def.apiName } : {}),
    direction,
    observedAt,
  };
}
