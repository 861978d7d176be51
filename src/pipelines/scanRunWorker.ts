import type { Finding } from '../core/finding';
import { indexDefinition, type DefinitionAction } from '../core/flowDefinition';
import type { Policy } from '../core/policy';
import type { ContentLink, RunAction, RunActionContent } from '../core/records';
import { contentTooLargeFinding, runContentFindings } from '../core/secrets/findings';
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

/**
 * Per-process caches shared by the runs a worker instance scans: flow definitions and viewers (one
 * lookup per flow, not per run) and content hashes already scanned clean (identical content is not
 * fetched twice). Only "clean" results are cached, so a cache hit can never hide a finding.
 */
export class RunScanCache {
  private readonly flows = new Map<string, { at: number; value: Promise<{ detail: FlowDetail; index: Map<string, DefinitionAction>; viewers: string[] }> }>();
  private readonly clean = new Map<string, true>();
  constructor(private readonly ttlMs = 10 * 60_000, private readonly maxClean = 50_000) {}

  flow(key: string, now: number, load: () => Promise<{ detail: FlowDetail; index: Map<string, DefinitionAction>; viewers: string[] }>) {
    const hit = this.flows.get(key);
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    const value = load();
    value.catch(() => this.flows.delete(key));
    this.flows.set(key, { at: now, value });
    return value;
  }

  isClean(k: string | undefined): boolean {
    return !!k && this.clean.has(k);
  }

  markClean(k: string | undefined): void {
    if (!k) return;
    if (this.clean.size >= this.maxClean) this.clean.delete(this.clean.keys().next().value!);
    this.clean.set(k, true);
  }
}

const defaultCache = new RunScanCache();

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
  const cache = deps.cache ?? defaultCache;
  const res: ScanRunResult = { actions: 0, fetched: 0, skippedSecured: 0, skippedCached: 0, tooLarge: 0, findings: 0, created: [] };
  const now = deps.clock.now();
  const flow = await cache.flow(`${msg.environmentId}/${msg.flowId}`, now.getTime(), async () => {
    const detail = await deps.flowApi.getFlow(msg.environmentId, msg.flowId, options);
    const perms = await deps.flowApi.listFlowPermissions(msg.environmentId, msg.flowId, options).catch((e: unknown) => {
      deps.log.warn('scanRunWorker: could not read flow permissions', { flowId: msg.flowId, error: e instanceof Error ? e.message : String(e) });
      return [];
    });
    const viewers = perms.map((p) => `${p.roleName === 'Owner' ? 'owner' : p.roleName === 'CanView' ? 'run-only user' : p.roleName}: ${p.upn ?? p.principalId} (${p.principalType})`);
    return { detail, index: indexDefinition(detail.definition), viewers };
  });
  const { run, actions } = await deps.flowApi.getRunActions(msg.environmentId, msg.flowId, msg.runId, options);
  const maxBytes = deps.policy.secrets.maxContentBytes;
  const ctx = {
    fingerprintKey: deps.fingerprintKey,
    policy: deps.policy,
    detectedAt: now.toISOString(),
    viewers: flow.viewers,
  };
  const env = deps.policy.environments.find((e) => e.id === msg.environmentId);
  const findings: Finding[] = [];
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
      if (cache.isClean(key)) {
        res.skippedCached++;
        continue;
      }
      const base = baseContent(msg, flow.detail, action, def, direction, run.endTime ?? action.endTime ?? run.startTime ?? now.toISOString());
      if (link.contentSize !== undefined && link.contentSize > maxBytes) {
        res.tooLarge++;
        const f = contentTooLargeFinding({ ...base, size: link.contentSize }, { ...ctx, ...(env?.portalUrl ? { portalUrl: env.portalUrl } : {}) });
        if (f) findings.push(f);
        continue;
      }
      const fetched = await deps.flowApi.fetchContent(link, { maxBytes, ...options });
      res.fetched++;
      if (fetched.status === 'too-large') {
        res.tooLarge++;
        const f = contentTooLargeFinding({ ...base, size: fetched.size ?? maxBytes + 1 }, { ...ctx, ...(env?.portalUrl ? { portalUrl: env.portalUrl } : {}) });
        if (f) findings.push(f);
        continue;
      }
      if (fetched.status === 'gone' || fetched.text === undefined) continue;
      const content: RunActionContent = { ...base, content: parseContent(fetched.text) };
      const found = runContentFindings(content, { ...ctx, ...(env?.portalUrl ? { portalUrl: env.portalUrl } : {}) });
      if (found.length === 0) cache.markClean(key);
      findings.push(...found);
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
