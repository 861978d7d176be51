import { createHash, timingSafeEqual } from 'node:crypto';
import type { Finding } from '../core/finding';
import { environmentByHost, type Policy, type PolicyEnvironment } from '../core/policy';
import type { Identity } from '../core/records';
import { modifierFindings, MODIFYING_OPERATIONS } from '../core/modifiers/modifierFindings';
import { DriftEventError, eventDriftFindings } from '../core/drift/events';
import type { RoleNameCache } from './roleNames';
import type { HandlerRequest, HandlerResponse } from '../host/httpTypes';
import type { Clock, FindingStore, Logger, PoisonStore, ProfileStore } from '../ports';
import { parseRemoteExecutionContext, webhookToEvent, WebhookPayloadError, type ParsedWebhook } from '../sources/webhookPayload';
import { attachTargetPrincipals, type IdentityResolver } from './identityResolver';

/** Poison / log source name of this pipeline. */
export const WEBHOOK_SOURCE = 'dataverse-webhook';

/** The neutral HTTP request/response the hosts (Functions, serve) adapt to. */
export type WebhookRequest = HandlerRequest;
export type WebhookResponse = HandlerResponse;

export interface WebhookDeps {
  findings: FindingStore;
  profiles: ProfileStore;
  poison: PoisonStore;
  resolver: IdentityResolver;
  policy: Policy;
  /** Accepted secrets (several during rotation). Empty = every call is refused. */
  webhookSecrets: string[];
  maxBytes: number;
  log: Logger;
  clock: Clock;
  /** Role names for role events (the context carries only role ids). */
  roleNames?: RoleNameCache;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

function reply(status: number, body: unknown, headers: Record<string, string> = {}): WebhookResponse {
  return { status, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** Constant-time check of the presented key against every configured secret (no early exit). */
export function keyMatches(presented: string | undefined, secrets: readonly string[]): boolean {
  if (!presented) return false;
  // Equal-length digests: timingSafeEqual needs equal lengths, and the length of a secret stays hidden.
  const p = createHash('sha256').update(presented, 'utf8').digest();
  let ok = false;
  for (const s of secrets) {
    const d = createHash('sha256').update(s, 'utf8').digest();
    ok = timingSafeEqual(p, d) || ok;
  }
  return ok;
}

/**
 * The Dataverse webhook (service endpoint, contract Webhook), framework-agnostic: the Functions
 * registration and `serve` adapt their request to this. Order matters: authenticate before reading
 * the body, then content type, size cap, parse, environment, detect, write, answer 202.
 * Bad input is 4xx naming the field and never echoed; only a storage failure is 503 (Dataverse retries,
 * and finding ids make the retry idempotent). Identity lookups that fail never reject the call.
 */
export async function handleDataverseWebhook(req: WebhookRequest, deps: WebhookDeps): Promise<WebhookResponse> {
  const { log } = deps;
  const presented = req.headers['x-flowwarden-key'] ?? req.query.code;
  if (deps.webhookSecrets.length === 0) log.error('webhook refused: no webhook secret configured');
  if (!keyMatches(presented, deps.webhookSecrets)) {
    return reply(401, { error: 'unauthorized: send the webhook key in the x-flowwarden-key header or the code query parameter' }, { 'www-authenticate': 'x-flowwarden-key' });
  }
  if (req.method.toUpperCase() !== 'POST') return reply(405, { error: 'method not allowed: use POST' }, { allow: 'POST' });

  const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (contentType !== 'application/json') {
    return reply(415, { error: 'content-type: expected application/json' });
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > deps.maxBytes) return tooLarge(deps.maxBytes);

  const bytes = await readCapped(req.body, deps.maxBytes);
  if (bytes === 'too-large') return tooLarge(deps.maxBytes);
  const text = new TextDecoder('utf-8').decode(bytes);
  const at = deps.clock.now().toISOString();

  let parsed: ParsedWebhook;
  try {
    parsed = parseRemoteExecutionContext(text, req.headers);
  } catch (e) {
    if (!(e instanceof WebhookPayloadError)) throw e;
    const env = req.headers['x-ms-dynamics-organization'] ? environmentByHost(deps.policy, req.headers['x-ms-dynamics-organization']) : undefined;
    await setAside(deps, env?.id ?? 'unknown', bytes, `${e.field}: ${e.detail}`, at);
    log.warn('webhook body rejected', { field: e.field, bytes: bytes.length });
    return reply(400, { error: `invalid webhook body: ${e.field}: ${e.detail}`, field: e.field });
  }

  const env = environmentFor(deps.policy, req.headers['x-ms-dynamics-organization'], parsed);
  if (!env) {
    const field = req.headers['x-ms-dynamics-organization'] ? 'x-ms-dynamics-organization' : 'OrganizationId';
    await setAside(deps, 'unknown', bytes, `${field}: no policy environment matches`, at);
    log.warn('webhook for an unknown environment', { field });
    return reply(400, { error: `${field}: no environment in the policy matches this organization`, field });
  }

  // Lookups never throw: a failure gives an unresolved identity that still raises findings.
  const ids = [parsed.userId, parsed.initiatingUserId].filter((x): x is string => !!x);
  const identities = await deps.resolver.resolveMany(env.id, ids);
  const lookup = (id: string): Identity => identities.get(id.toLowerCase()) ?? { id: id.toLowerCase(), kind: 'unknown', resolved: false };
  const event = webhookToEvent(parsed, env.id, lookup, at);
  if (!event) {
    log.info('webhook accepted without attribution', { environmentId: env.id, message: parsed.messageName, reason: parsed.userId ? 'no record id' : 'no UserId' });
    return reply(202, { accepted: true, findings: [] });
  }

  let findings: Finding[];
  try {
    await attachTargetPrincipals([event], deps.resolver, env.id);
    findings = [];
    const modifying = MODIFYING_OPERATIONS.has(event.operation);
    if (modifying) {
      const cache = profileCacheFor(deps.profiles);
      const [profile, learningStartedAt] = await Promise.all([cache.known(env.id, event.table, deps.clock), cache.learningStartedAt(env.id, deps.clock)]);
      findings.push(...modifierFindings(event, learningStartedAt ? { policy: deps.policy, profile, learningStartedAt, detectedAt: at } : { policy: deps.policy, profile, detectedAt: at }));
    }
    try {
      const roleNames = event.roleId && deps.roleNames ? await deps.roleNames.get(env.id) : undefined;
      findings.push(...eventDriftFindings(event, roleNames ? { policy: deps.policy, detectedAt: at, roleNames } : { policy: deps.policy, detectedAt: at }));
    } catch (e) {
      // A role/share event without principal or role: set aside; the modifier findings still count.
      if (!(e instanceof DriftEventError)) throw e;
      await setAside(deps, env.id, bytes, e.message, at);
      log.warn('webhook event set aside by the drift rules', { environmentId: env.id, field: e.field });
    }
    if (findings.length) await deps.findings.upsertMany(findings);
    if (modifying) await profileCacheFor(deps.profiles).record(env.id, event.table, event.user.id, event.occurredAt, deps.clock);
  } catch (e) {
    log.error('webhook storage failure', { environmentId: env.id, error: e instanceof Error ? `${e.name}: ${e.message}`.slice(0, 500) : 'unknown' });
    return reply(503, { error: 'storage unavailable, retry later' }, { 'retry-after': '5' });
  }
  log.info('webhook accepted', {
    environmentId: env.id,
    message: parsed.messageName,
    table: event.table,
    findings: findings.length,
    truncated: parsed.sizeExceeded,
  });
  return reply(202, { accepted: true, findings: findings.map((f) => ({ id: f.id, ruleId: f.ruleId, severity: f.severity })) });
}

// ---------------- learned-profile cache ----------------

/** How long a table's profile read from storage is trusted before it is read again. */
export const PROFILE_TTL_MS = 60_000;
/** A known identity's sighting is written at most this often per (environment, table, identity). */
export const PROFILE_REFRESH_MS = 5 * 60_000;

/**
 * In-process cache over the ProfileStore for the webhook's hot path. Dataverse posts every change of
 * every registered table; reading the profile and rewriting the same profile row per request would
 * make storage the bottleneck (and the same few rows hot). So: a table's known identities are read at
 * most once per PROFILE_TTL_MS, a new identity is written at once (it is what first-seen is about),
 * and a known identity's lastSeen/count is refreshed at most once per PROFILE_REFRESH_MS. pollAudit
 * still records every audited change, so the profile stays complete. Per process: two instances may
 * each raise first-seen once for the same identity (different events, different finding ids).
 */
export class ProfileCache {
  private readonly tables = new Map<string, { at: number; ids: Set<string>; entries: { identityId: string }[] }>();
  private readonly learning = new Map<string, { at: number; value: string | undefined }>();
  private readonly written = new Map<string, number>();

  constructor(private readonly store: ProfileStore) {}

  async known(environmentId: string, table: string, clock: Clock): Promise<{ identityId: string }[]> {
    const k = `${environmentId}\u0000${table}`;
    const now = clock.now().getTime();
    const hit = this.tables.get(k);
    if (hit && now - hit.at < PROFILE_TTL_MS) return hit.entries;
    const rows = await this.store.listTable(environmentId, table);
    const ids = new Set(rows.map((r) => r.identityId.toLowerCase()));
    const entry = { at: now, ids, entries: [...ids].map((identityId) => ({ identityId })) };
    this.tables.set(k, entry);
    return entry.entries;
  }

  async learningStartedAt(environmentId: string, clock: Clock): Promise<string | undefined> {
    const now = clock.now().getTime();
    const hit = this.learning.get(environmentId);
    if (hit && (hit.value !== undefined || now - hit.at < PROFILE_TTL_MS)) return hit.value;
    const value = await this.store.learningStartedAt(environmentId);
    this.learning.set(environmentId, { at: now, value });
    return value;
  }

  async record(environmentId: string, table: string, identityId: string, seenAt: string, clock: Clock): Promise<void> {
    const id = identityId.toLowerCase();
    const key = `${environmentId}\u0000${table}\u0000${id}`;
    const now = clock.now().getTime();
    const last = this.written.get(key);
    if (last !== undefined && now - last < PROFILE_REFRESH_MS) return;
    await this.store.record([{ environmentId, table, identityId: id, seenAt }]);
    this.written.set(key, now);
    const t = this.tables.get(`${environmentId}\u0000${table}`);
    if (t && !t.ids.has(id)) {
      t.ids.add(id);
      t.entries = [...t.entries, { identityId: id }];
    }
    // Learning starts with the first observation; only adjust what was read from the store.
    const l = this.learning.get(environmentId);
    if (l) this.learning.set(environmentId, { at: now, value: l.value !== undefined && l.value < seenAt ? l.value : seenAt });
  }
}

const profileCaches = new WeakMap<ProfileStore, ProfileCache>();
/** One cache per ProfileStore instance (the composition root builds one store per process). */
export function profileCacheFor(store: ProfileStore): ProfileCache {
  let c = profileCaches.get(store);
  if (!c) {
    c = new ProfileCache(store);
    profileCaches.set(store, c);
  }
  return c;
}

function tooLarge(max: number): WebhookResponse {
  return reply(413, { error: `body larger than ${max} bytes` }, { connection: 'close' });
}

/** x-ms-dynamics-organization host first, then the body's OrganizationId (policy organizationId or id). */
export function environmentFor(policy: Policy, orgHeader: string | undefined, parsed: Pick<ParsedWebhook, 'organizationId'>): PolicyEnvironment | undefined {
  if (orgHeader) {
    const host = hostOf(orgHeader);
    const byHost = host ? environmentByHost(policy, host) : undefined;
    if (byHost) return byHost;
  }
  const org = parsed.organizationId?.toLowerCase();
  if (!org) return undefined;
  return policy.environments.find((e) => e.organizationId?.toLowerCase() === org || e.id.toLowerCase() === org);
}

function hostOf(v: string): string | undefined {
  const s = v.trim();
  if (!s) return undefined;
  try {
    return /^[a-z]+:\/\//i.test(s) ? new URL(s).hostname : s.split('/')[0];
  } catch {
    return undefined;
  }
}

/** Read at most maxBytes; past that stop pulling (the adapter closes the connection). */
export async function readCapped(body: WebhookRequest['body'], maxBytes: number): Promise<Uint8Array | 'too-large'> {
  if (typeof body === 'string') {
    const b = Buffer.from(body, 'utf8');
    return b.length > maxBytes ? 'too-large' : b;
  }
  if (body instanceof Uint8Array) return body.length > maxBytes ? 'too-large' : body;
  const chunks: Uint8Array[] = [];
  let total = 0;
  const it = body[Symbol.asyncIterator]();
  for (;;) {
    const r = await it.next();
    if (r.done) break;
    total += r.value.length;
    if (total > maxBytes) return 'too-large';
    chunks.push(r.value);
  }
  return Buffer.concat(chunks, total);
}

/** Poison entry: a hash of the body as key, the reason, no sample (a body may hold secrets). */
async function setAside(deps: WebhookDeps, environmentId: string, bytes: Uint8Array, reason: string, at: string): Promise<void> {
  const key = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
  try {
    await deps.poison.put({ source: WEBHOOK_SOURCE, environmentId, key, reason, at });
  } catch (e) {
    // Bad input is still a 400, never a 5xx: losing the poison record is logged, not retried by Dataverse.
    deps.log.error('could not set the webhook body aside', { error: e instanceof Error ? e.message.slice(0, 300) : 'unknown' });
  }
}
