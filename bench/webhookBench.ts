/**
 * Webhook load test: an open-loop generator (requests leave on schedule whatever the latency, so a
 * slow server shows up as latency, not as a lower rate) posting realistic RemoteExecutionContext
 * bodies with the key header to a loopback URL, reporting p50/p99. Target: p99 < 50 ms at 200 req/s.
 *
 * Run alone against `serve`: ./node_modules/.bin/node dist/bench/webhookBench.js <url> <key> [rps] [seconds]
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';

export interface WebhookBenchOptions {
  /** Loopback only (127.0.0.1, ::1, localhost); anything else is refused. */
  url: string;
  key: string;
  /** Requests per second; default 200, at most 1000. */
  rps?: number;
  /** Duration; default 30 s, at most 120 s. */
  seconds?: number;
  /** x-ms-dynamics-organization header sent; default the demo environment's host. */
  organization?: string;
}

export interface WebhookBenchResult {
  sent: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  statusCounts: Record<string, number>;
  rps: number;
  seconds: number;
}

export const MAX_BENCH_RPS = 1000;
export const MAX_BENCH_SECONDS = 120;
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

export function isLoopbackUrl(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  return (u.protocol === 'http:' || u.protocol === 'https:') && (LOOPBACK.has(u.hostname) || /^127\.\d+\.\d+\.\d+$/.test(u.hostname));
}

// ---------------- realistic bodies ----------------

const XRM = 'http://schemas.microsoft.com/xrm/2011/Contracts';
const wcfDate = (ms: number): string => `/Date(${ms})/`;
const kv = (key: string, value: unknown): { key: string; value: unknown } => ({ key, value });
const ref = (logicalName: string, id: string, name: string | null = null): Record<string, unknown> => ({
  __type: `EntityReference:${XRM}`,
  Id: id,
  KeyAttributes: [],
  LogicalName: logicalName,
  Name: name,
  RowVersion: null,
});
const entity = (logicalName: string, id: string, attributes: { key: string; value: unknown }[]): Record<string, unknown> => ({
  __type: `Entity:${XRM}`,
  Attributes: attributes,
  EntityState: null,
  FormattedValues: [],
  Id: id,
  KeyAttributes: [],
  LogicalName: logicalName,
  RelatedEntities: [],
  RowVersion: null,
});

export interface ContextSpec {
  message: 'Create' | 'Update' | 'Delete' | 'Assign' | 'GrantAccess' | 'ModifyAccess' | 'RevokeAccess' | 'Associate' | 'Disassociate' | 'SetState';
  table: string;
  recordId: string;
  userId: string;
  initiatingUserId?: string;
  organizationId: string;
  organizationName?: string;
  /** Milliseconds since epoch; default now. */
  at?: number;
  /** Attributes set on the Target (Create/Update). */
  attributes?: Record<string, unknown>;
  /** Assignee / share principal / role-holder counterpart. */
  principal?: { logicalName: 'systemuser' | 'team'; id: string };
  /** Associate/Disassociate: relationship schema name and the related records. */
  relationship?: string;
  related?: { logicalName: string; id: string; name?: string }[];
  /** Include a ParentContext (sync plug-in chains do). */
  parent?: boolean;
}

/**
 * A RemoteExecutionContext as Dataverse posts it (DataContract JSON: {key,value} arrays, `__type`
 * tags, `/Date(ms)/`). Shapes follow the published Update sample; other messages carry their
 * documented InputParameters (Target, Assignee, PrincipalAccess, Revokee, Relationship, RelatedEntities).
 */
export function buildRemoteExecutionContext(spec: ContextSpec): Record<string, unknown> {
  const at = spec.at ?? Date.now();
  const input: { key: string; value: unknown }[] = [];
  const attrs = Object.entries(spec.attributes ?? {}).map(([k, v]) => kv(k, v));
  switch (spec.message) {
    case 'Create':
    case 'Update':
      input.push(
        kv(
          'Target',
          entity(spec.table, spec.recordId, [
            ...attrs,
            kv(`${spec.table}id`, spec.recordId),
            kv('modifiedon', wcfDate(at)),
            kv('modifiedby', ref('systemuser', spec.userId)),
            kv('modifiedonbehalfby', spec.initiatingUserId && spec.initiatingUserId !== spec.userId ? ref('systemuser', spec.initiatingUserId) : null),
          ]),
        ),
      );
      if (spec.message === 'Update') input.push(kv('SuppressDuplicateDetection', false));
      break;
    case 'Delete':
    case 'SetState':
      input.push(kv('Target', ref(spec.table, spec.recordId)));
      if (spec.message === 'SetState') {
        input.push(kv('State', { __type: `OptionSetValue:${XRM}`, Value: 1 }), kv('Status', { __type: `OptionSetValue:${XRM}`, Value: 2 }));
      }
      break;
    case 'Assign':
      input.push(kv('Target', ref(spec.table, spec.recordId)), kv('Assignee', ref(spec.principal?.logicalName ?? 'systemuser', spec.principal?.id ?? spec.userId)));
      break;
    case 'GrantAccess':
    case 'ModifyAccess':
      input.push(
        kv('Target', ref(spec.table, spec.recordId)),
        kv('PrincipalAccess', {
          __type: 'PrincipalAccess:http://schemas.microsoft.com/crm/2011/Contracts',
          AccessMask: 3,
          Principal: ref(spec.principal?.logicalName ?? 'systemuser', spec.principal?.id ?? spec.userId),
        }),
      );
      break;
    case 'RevokeAccess':
      input.push(kv('Target', ref(spec.table, spec.recordId)), kv('Revokee', ref(spec.principal?.logicalName ?? 'systemuser', spec.principal?.id ?? spec.userId)));
      break;
    case 'Associate':
    case 'Disassociate':
      input.push(
        kv('Target', ref(spec.table, spec.recordId)),
        kv('Relationship', { __type: `Relationship:${XRM}`, PrimaryEntityRole: null, SchemaName: spec.relationship ?? 'contact_customer_accounts' }),
        kv('RelatedEntities', (spec.related ?? []).map((r) => ref(r.logicalName, r.id, r.name ?? null))),
      );
      break;
  }
  const base = {
    BusinessUnitId: '0c4bd5f1-9a3e-4a63-9b0e-6a3b7f1f2d10',
    CorrelationId: randomUUID(),
    Depth: 1,
    InitiatingUserId: spec.initiatingUserId ?? spec.userId,
    InputParameters: input,
    IsExecutingOffline: false,
    IsInTransaction: false,
    IsOfflinePlayback: false,
    IsolationMode: 1,
    MessageName: spec.message,
    Mode: 1,
    OperationCreatedOn: wcfDate(at),
    OperationId: randomUUID(),
    OrganizationId: spec.organizationId,
    OrganizationName: spec.organizationName ?? 'contoso',
    OutputParameters: spec.message === 'Create' ? [kv('id', spec.recordId)] : [],
    OwningExtension: { Id: randomUUID(), KeyAttributes: [], LogicalName: 'sdkmessageprocessingstep', Name: null, RowVersion: null },
    PostEntityImages: [],
    PreEntityImages: [],
    PrimaryEntityId: spec.recordId,
    PrimaryEntityName: spec.message === 'Associate' || spec.message === 'Disassociate' ? 'none' : spec.table,
    RequestId: null,
    SecondaryEntityName: 'none',
    SharedVariables: [],
    Stage: 40,
    UserId: spec.userId,
  };
  return spec.parent ? { ...base, ParentContext: { ...base, Stage: 30, ParentContext: null } } : base;
}

// ---------------- the load generator ----------------

const DEMO_ORG_ID = '0b6c5a2d-1e4f-4a7b-9c3d-5e8f7a9b1c2d';
const DEMO_HOST = 'contoso-prod.crm4.dynamics.com';
const USERS = ['3f0a1b2c-0000-4a00-8000-0000000000a1', '3f0a1b2c-0000-4a00-8000-0000000000a2', '3f0a1b2c-0000-4a00-8000-0000000000a3'];
const TABLES = ['contact', 'account', 'cr5f2_invoice'];

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function benchWebhook(opts: WebhookBenchOptions): Promise<WebhookBenchResult> {
  if (!isLoopbackUrl(opts.url)) throw new Error(`benchWebhook: url must be a loopback http(s) URL (127.0.0.1, ::1, localhost), got a non-loopback host`);
  const rps = opts.rps ?? 200;
  const seconds = opts.seconds ?? 30;
  if (!(rps > 0 && rps <= MAX_BENCH_RPS)) throw new Error(`benchWebhook: rps must be in (0, ${MAX_BENCH_RPS}]`);
  if (!(seconds > 0 && seconds <= MAX_BENCH_SECONDS)) throw new Error(`benchWebhook: seconds must be in (0, ${MAX_BENCH_SECONDS}]`);
  const total = Math.round(rps * seconds);
  const interval = 1000 / rps;
  const latencies: number[] = [];
  const statusCounts: Record<string, number> = {};
  let errors = 0;
  const inflight: Promise<void>[] = [];
  const start = performance.now();

  const fire = async (i: number): Promise<void> => {
    const body = JSON.stringify(
      buildRemoteExecutionContext({
        message: i % 10 === 0 ? 'Create' : 'Update',
        table: TABLES[i % TABLES.length]!,
        recordId: randomUUID(),
        userId: USERS[i % USERS.length]!,
        organizationId: DEMO_ORG_ID,
        attributes: { name: `bench record ${i}`, description: 'x'.repeat(200) },
      }),
    );
    const t0 = performance.now();
    try {
      const res = await fetch(opts.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-flowwarden-key': opts.key,
          'x-ms-dynamics-organization': opts.organization ?? DEMO_HOST,
          'x-ms-dynamics-entity-name': TABLES[i % TABLES.length]!,
          'x-ms-dynamics-request-name': i % 10 === 0 ? 'Create' : 'Update',
        },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      latencies.push(performance.now() - t0);
      statusCounts[String(res.status)] = (statusCounts[String(res.status)] ?? 0) + 1;
      if (res.status >= 400) errors++;
    } catch {
      errors++;
      statusCounts.error = (statusCounts.error ?? 0) + 1;
    }
  };

  // Open loop: request i leaves at start + i·interval, independent of earlier responses.
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(fire(i));
  }
  await Promise.all(inflight);
  latencies.sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 100) / 100;
  return {
    sent: total,
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    maxMs: round(latencies[latencies.length - 1] ?? 0),
    errors,
    statusCounts,
    rps,
    seconds,
  };
}

if (require.main === module) {
  const [url, key, rps, seconds] = process.argv.slice(2);
  if (!url || !key) {
    console.error('usage: webhookBench <loopback url> <key> [rps=200] [seconds=30]');
    process.exit(2);
  }
  benchWebhook({ url, key, rps: rps ? Number(rps) : 200, seconds: seconds ? Number(seconds) : 30 }).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
