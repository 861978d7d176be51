import type { TokenCredential } from '@azure/core-auth';
import type { ContentLink, FlowPermission, RunAction, RunRef } from '../core/records';
import type { ContentFetchResult, FlowApiSource, FlowConnectionReference, FlowDetail, FlowSummary, RequestOptions } from '../ports';
import { HttpError, ResponseShapeError, createPipeline, sendJson, sendRaw, stripQuery, type FlowwardenPipeline, type RetryOptions } from './httpPipeline';

/** Audience of the Flow management API (the service registers it with a trailing slash, hence `//`). */
export const FLOW_API_SCOPE = 'https://service.flow.microsoft.com//.default';
export const FLOW_API_VERSION = '2016-11-01';

export interface FlowApiClientOptions {
  /** e.g. https://api.flow.microsoft.com (or the simulator URL). */
  baseUrl: string;
  credential?: TokenCredential;
  /** Use `/scopes/admin/environments/...` to see every flow (needs an admin identity). Default true. */
  adminScope?: boolean;
  /** Pipeline for API calls (bearer). Built from credential when omitted. */
  pipeline?: FlowwardenPipeline;
  /** Pipeline for content links (no bearer). Built when omitted. */
  contentPipeline?: FlowwardenPipeline;
  scope?: string;
  retry?: RetryOptions;
}

interface ArmItem<P> { name?: unknown; id?: unknown; properties?: P }
interface ListBody<T> { value?: unknown; nextLink?: unknown; _items?: T }

interface ActionInfo { type?: string; operationId?: string; apiName?: string }

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

export class FlowApiClient implements FlowApiSource {
  private readonly base: string;
  private readonly admin: boolean;
  private readonly api: FlowwardenPipeline;
  private readonly content: FlowwardenPipeline;
  private readonly actionInfo = new Map<string, Promise<Map<string, ActionInfo>>>();

  constructor(options: FlowApiClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.admin = options.adminScope ?? true;
    if (!options.pipeline && !options.credential) throw new TypeError('FlowApiClient: credential or pipeline is required');
    this.api = options.pipeline ?? createPipeline({ credential: options.credential, scopes: options.scope ?? FLOW_API_SCOPE, retry: options.retry });
    this.content = options.contentPipeline ?? createPipeline({ retry: options.retry });
  }

  private envUrl(environmentId: string): string {
    return `${this.base}/providers/Microsoft.ProcessSimple/${this.admin ? 'scopes/admin/' : ''}environments/${encodeURIComponent(environmentId)}`;
  }

  /** Follow `nextLink` pages; refuses links to another origin so the bearer token never leaves the API host. */
  private async *pages(first: string, options?: RequestOptions): AsyncGenerator<unknown[]> {
    let url: string | undefined = first;
    while (url) {
      const res: { body: ListBody<unknown> } = await sendJson<ListBody<unknown>>(this.api, url, { abortSignal: options?.abortSignal });
      if (!Array.isArray(res.body?.value)) throw new ResponseShapeError(url, 'value', 'expected an array');
      yield res.body.value;
      const next = str(res.body.nextLink);
      if (next && new URL(next).origin !== new URL(this.base).origin) throw new ResponseShapeError(url, 'nextLink', 'points to another host');
      url = next;
    }
  }

  async *listFlows(environmentId: string, options?: RequestOptions): AsyncIterable<FlowSummary> {
    for await (const page of this.pages(`${this.envUrl(environmentId)}/flows?api-version=${FLOW_API_VERSION}`, options)) {
      for (const item of page as ArmItem<Record<string, unknown>>[]) yield this.summary(environmentId, item);
    }
  }

  private summary(environmentId: string, item: ArmItem<Record<string, unknown>>): FlowSummary {
    const flowId = str(item?.name);
    if (!flowId) throw new ResponseShapeError(this.envUrl(environmentId), 'name', 'flow without a name');
    const p = obj(item.properties) ?? {};
    return {
      environmentId,
      flowId,
      displayName: str(p.displayName),
      state: str(p.state),
      creatorObjectId: str(obj(p.creator)?.objectId),
      lastModifiedTime: str(p.lastModifiedTime),
    };
  }

  async getFlow(environmentId: string, flowId: string, options?: RequestOptions): Promise<FlowDetail> {
    const url = `${this.envUrl(environmentId)}/flows/${encodeURIComponent(flowId)}?api-version=${FLOW_API_VERSION}`;
    const { body } = await sendJson<ArmItem<Record<string, unknown>>>(this.api, url, { abortSignal: options?.abortSignal });
    const p = obj(body?.properties);
    if (!p) throw new ResponseShapeError(url, 'properties', 'expected an object');
    const refs = obj(p.connectionReferences) ?? {};
    const connectionReferences: FlowConnectionReference[] = Object.entries(refs).map(([name, v]) => {
      const r = obj(v) ?? {};
      const id = str(r.id) ?? str(r.apiId);
      return { name, connectionName: str(r.connectionName), apiName: id ? id.split('/').pop() : undefined, connectionReferenceLogicalName: str(r.connectionReferenceLogicalName) };
    });
    const detail = { ...this.summary(environmentId, body), definition: p.definition, connectionReferences };
    // Whoever reads a flow refreshes the action types runs are labelled with: no second request for them.
    this.rememberActionInfo(`${environmentId}/${flowId}`, Promise.resolve(actionInfoFrom(detail.definition, connectionReferences)));
    return detail;
  }

  private rememberActionInfo(key: string, p: Promise<Map<string, ActionInfo>>): void {
    if (this.actionInfo.size > 5000) this.actionInfo.clear();
    this.actionInfo.set(key, p);
  }

  async *listRuns(environmentId: string, flowId: string, options?: RequestOptions & { startedAfter?: string }): AsyncIterable<RunRef> {
    const after = options?.startedAfter ? Date.parse(options.startedAfter) : undefined;
    if (options?.startedAfter && !Number.isFinite(after)) throw new TypeError(`startedAfter: expected an ISO date, got ${options.startedAfter}`);
    const url = `${this.envUrl(environmentId)}/flows/${encodeURIComponent(flowId)}/runs?api-version=${FLOW_API_VERSION}`;
    for await (const page of this.pages(url, options)) {
      for (const item of page as ArmItem<Record<string, unknown>>[]) {
        const run = this.runRef(environmentId, flowId, item, url);
        // Newest first: the first run older than the window ends the listing.
        if (after !== undefined && run.startTime && Date.parse(run.startTime) < after) return;
        yield run;
      }
    }
  }

  private runRef(environmentId: string, flowId: string, item: ArmItem<Record<string, unknown>>, url: string): RunRef {
    const runId = str(item?.name);
    if (!runId) throw new ResponseShapeError(url, 'name', 'run without a name');
    const p = obj(item.properties) ?? {};
    return { environmentId, flowId, runId, status: str(p.status) ?? 'Unknown', startTime: str(p.startTime), endTime: str(p.endTime) };
  }

  async getRunActions(environmentId: string, flowId: string, runId: string, options?: RequestOptions): Promise<{ run: RunRef; actions: RunAction[] }> {
    const url = `${this.envUrl(environmentId)}/flows/${encodeURIComponent(flowId)}/runs/${encodeURIComponent(runId)}?api-version=${FLOW_API_VERSION}&$expand=properties%2Factions`;
    const [{ body }, info] = await Promise.all([
      sendJson<ArmItem<Record<string, unknown>>>(this.api, url, { abortSignal: options?.abortSignal }),
      this.definitionInfo(environmentId, flowId, options),
    ]);
    const run = this.runRef(environmentId, flowId, body, url);
    const actionsMap = obj(obj(body.properties)?.actions) ?? {};
    const actions: RunAction[] = Object.entries(actionsMap).map(([name, v]) => {
      const a = obj(v) ?? {};
      const inLink = obj(a.inputsLink);
      const outLink = obj(a.outputsLink);
      const d = info.get(name);
      return {
        name,
        type: d?.type,
        operationId: d?.operationId,
        apiName: d?.apiName,
        status: str(a.status),
        startTime: str(a.startTime),
        endTime: str(a.endTime),
        inputsLink: toLink(inLink),
        outputsLink: toLink(outLink),
        inputsSecured: inLink?.secureData !== undefined,
        outputsSecured: outLink?.secureData !== undefined,
      };
    });
    return { run, actions };
  }

  /** Action types/operations from the definition, fetched once per flow (run history does not carry them). */
  private definitionInfo(environmentId: string, flowId: string, options?: RequestOptions): Promise<Map<string, ActionInfo>> {
    const key = `${environmentId}/${flowId}`;
    let p = this.actionInfo.get(key);
    if (!p) {
      p = this.getFlow(environmentId, flowId, options).then((f) => actionInfoFrom(f.definition, f.connectionReferences));
      p.catch(() => {
        if (this.actionInfo.get(key) === p) this.actionInfo.delete(key); // a failed lookup is retried next time
      });
      this.rememberActionInfo(key, p);
    }
    return p;
  }

  async fetchContent(link: ContentLink, options?: RequestOptions & { maxBytes?: number }): Promise<ContentFetchResult> {
    const max = options?.maxBytes;
    if (max !== undefined && link.contentSize !== undefined && link.contentSize > max) return { status: 'too-large', size: link.contentSize };
    try {
      const res = await sendRaw(this.content, link.uri, { abortSignal: options?.abortSignal, maxBytes: max });
      if (res.truncated) return { status: 'too-large', size: res.size };
      return { status: 'ok', text: res.text, size: Buffer.byteLength(res.text) };
    } catch (e) {
      // Run history ages out: a link to deleted content is not an error of ours.
      if (e instanceof HttpError && (e.status === 404 || e.status === 410)) return { status: 'gone' };
      throw e;
    }
  }

  async listFlowPermissions(environmentId: string, flowId: string, options?: RequestOptions): Promise<FlowPermission[]> {
    const out: FlowPermission[] = [];
    for await (const page of this.pages(`${this.envUrl(environmentId)}/flows/${encodeURIComponent(flowId)}/permissions?api-version=${FLOW_API_VERSION}`, options)) {
      for (const item of page as ArmItem<Record<string, unknown>>[]) out.push(toPermission(item));
    }
    return out;
  }
}

export function toPermission(item: ArmItem<Record<string, unknown>>): FlowPermission {
  const p = obj(item?.properties) ?? {};
  const principal = obj(p.principal) ?? {};
  const id = str(principal.id) ?? str(item?.name);
  if (!id) throw new ResponseShapeError(String(item?.id ?? 'permissions'), 'properties.principal.id', 'missing');
  const upn = str(principal.userPrincipalName) ?? str(principal.email);
  return { principalId: id, principalType: str(principal.type) ?? 'Unknown', roleName: str(p.roleName) ?? 'Unknown', ...(upn ? { upn } : {}) };
}

function toLink(l: Record<string, unknown> | undefined): ContentLink | undefined {
  const uri = str(l?.uri);
  if (!l || !uri) return undefined;
  const hash = obj(l.contentHash);
  return {
    uri,
    contentSize: typeof l.contentSize === 'number' ? l.contentSize : undefined,
    contentHash: hash && str(hash.algorithm) && str(hash.value) ? { algorithm: str(hash.algorithm)!, value: str(hash.value)! } : undefined,
  };
}

/** Walk a definition (nested scopes, conditions, switches, loops) for action type and connector operation. */
export function actionInfoFrom(definition: unknown, refs: FlowConnectionReference[] = []): Map<string, ActionInfo> {
  const out = new Map<string, ActionInfo>();
  const apiOfRef = new Map(refs.map((r) => [r.name, r.apiName]));
  const walk = (actions: unknown) => {
    for (const [name, v] of Object.entries(obj(actions) ?? {})) {
      const a = obj(v) ?? {};
      const host = obj(obj(a.inputs)?.host) ?? {};
      const refName = str(host.connectionName) ?? str(host.connectionReferenceName) ?? str(obj(host.connection)?.name);
      const apiName = str(host.apiId)?.split('/').pop() ?? (refName ? (apiOfRef.get(refName) ?? refName) : undefined);
      out.set(name, { type: str(a.type), operationId: str(host.operationId), apiName });
      walk(a.actions);
      walk(obj(a.else)?.actions);
      walk(obj(a.default)?.actions);
      for (const c of Object.values(obj(a.cases) ?? {})) walk(obj(c)?.actions);
    }
  };
  walk(obj(definition)?.actions);
  return out;
}

export { stripQuery };
