import { createHash } from 'node:crypto';
import { atLeast, severityRank, type Finding, type Severity } from '../finding';
import type { Policy } from '../policy';

/**
 * Routing, grouping, dedupe keys and throttling of alert emails. Pure: the pipeline
 * (src/pipelines/deliverAlerts.ts) supplies stored state and does the I/O.
 */

export type AlertsPolicy = Policy['alerts'];

/** A resolved recipient list. `key` is stable for the same recipients (PartitionKey of FlowWardenAlerts). */
export interface AlertRoute {
  key: string;
  to: string[];
}

export function routeKey(to: readonly string[]): string {
  const norm = [...new Set(to.map((a) => a.trim().toLowerCase()))].sort();
  return 'route-' + createHash('sha256').update(norm.join(',')).digest('hex').slice(0, 16);
}

function toRoute(to: readonly string[]): AlertRoute {
  return { key: routeKey(to), to: [...new Set(to.map((a) => a.trim().toLowerCase()))].sort() };
}

/** Every distinct route the policy can produce (routes + fallback), for the digest sweep. */
export function allRoutes(alerts: AlertsPolicy): AlertRoute[] {
  const out = new Map<string, AlertRoute>();
  for (const r of alerts.routes) {
    const route = toRoute(r.to);
    out.set(route.key, route);
  }
  if (alerts.fallback.length) {
    const route = toRoute(alerts.fallback);
    out.set(route.key, route);
  }
  return [...out.values()];
}

/**
 * Routes a finding goes to: every policy route whose environment, kind and minimum severity match; the
 * fallback recipients when none does. Empty only when the policy has neither.
 */
const routeCache = new WeakMap<readonly string[], AlertRoute>();
function cachedRoute(to: readonly string[]): AlertRoute {
  let r = routeCache.get(to);
  if (!r) routeCache.set(to, (r = toRoute(to)));
  return r;
}

export function routesFor(f: Pick<Finding, 'environmentId' | 'kind' | 'severity'>, alerts: AlertsPolicy): AlertRoute[] {
  const matched = alerts.routes.filter(
    (r) =>
      (!r.environments || r.environments.includes(f.environmentId)) &&
      (!r.kinds || r.kinds.includes(f.kind)) &&
      atLeast(f.severity, r.minSeverity),
  );
  const lists = matched.length ? matched.map((r) => r.to) : alerts.fallback.length ? [alerts.fallback] : [];
  const out = new Map<string, AlertRoute>();
  for (const to of lists) {
    const route = cachedRoute(to);
    out.set(route.key, route);
  }
  return [...out.values()];
}

/** Immediate when at or above the policy's `immediate` severity; everything else waits for the digest. */
export function isImmediate(f: Pick<Finding, 'severity'>, alerts: AlertsPolicy): boolean {
  return atLeast(f.severity, alerts.immediate);
}

/** The flow a finding is about, when it is about one (evidence first, then a flow-ish subject). */
export function flowOf(f: Finding): string | undefined {
  const ev = f.evidence['flowId'];
  if (typeof ev === 'string' && ev) return ev;
  if (f.subject.type === 'flow' || f.subject.type === 'flow-definition') return f.subject.id;
  return undefined;
}

/** Related findings share a message: same flow when there is one, else same rule. */
export function groupKey(f: Finding): string {
  const flow = flowOf(f);
  return flow ? `flow:${f.environmentId}:${flow}` : `rule:${f.ruleId}`;
}

/** Code-unit order: stable across locales and much cheaper than localeCompare. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface AlertGroup {
  key: string;
  findings: Finding[];
}

/** Groups in a stable order: worst severity first, then key; findings inside likewise, then by id. */
export function groupFindings(findings: readonly Finding[]): AlertGroup[] {
  const groups = new Map<string, Finding[]>();
  for (const f of findings) {
    const k = groupKey(f);
    const g = groups.get(k);
    if (g) g.push(f);
    else groups.set(k, [f]);
  }
  const byFinding = (a: Finding, b: Finding) => severityRank(b.severity) - severityRank(a.severity) || cmp(a.id, b.id);
  const out = [...groups.entries()].map(([key, fs]) => ({ key, findings: fs.sort(byFinding) }));
  return out.sort((a, b) => byFinding(a.findings[0]!, b.findings[0]!) || cmp(a.key, b.key));
}

export interface PlannedMessage {
  kind: 'immediate' | 'digest';
  route: AlertRoute;
  /** Dedupe key: same route + same findings → same key (outbox file name, state row). */
  key: string;
  findings: Finding[];
}

/** Stable message key over the route and the (sorted, distinct) finding ids. */
export function messageKey(kind: 'immediate' | 'digest', route: AlertRoute, findingIds: readonly string[]): string {
  const ids = [...new Set(findingIds)].sort();
  const h = createHash('sha256').update(route.key).update('\u0000').update(ids.join(',')).digest('hex').slice(0, 24);
  return `${kind === 'immediate' ? 'imm' : 'dig'}-${h}`;
}

/** One immediate message per (route, group) for the findings that are immediate; one per route for a burst of more groups than `maxImmediateGroups`. */
export function planImmediate(findings: readonly Finding[], alerts: AlertsPolicy): PlannedMessage[] {
  const perRoute = new Map<string, { route: AlertRoute; findings: Finding[] }>();
  for (const f of dedupe(findings)) {
    if (!isImmediate(f, alerts)) continue;
    for (const route of routesFor(f, alerts)) {
      const slot = perRoute.get(route.key) ?? { route, findings: [] };
      slot.findings.push(f);
      perRoute.set(route.key, slot);
    }
  }
  const out: PlannedMessage[] = [];
  for (const { route, findings: fs } of [...perRoute.values()].sort((a, b) => cmp(a.route.key, b.route.key))) {
    const groups = groupFindings(fs);
    // A burst (a first scan, a mass change) becomes one message per route, grouped inside, instead of
    // a flood that on-call skims past and that the ACS quota would stretch over hours.
    if (groups.length > alerts.maxImmediateGroups) {
      const all = groups.flatMap((g) => g.findings);
      out.push({ kind: 'immediate', route, key: messageKey('immediate', route, all.map((f) => f.id)), findings: all });
      continue;
    }
    for (const g of groups) {
      out.push({ kind: 'immediate', route, key: messageKey('immediate', route, g.findings.map((f) => f.id)), findings: g.findings });
    }
  }
  return out;
}

/** The digest for one route: every given finding that routes there, one message. */
export function planDigest(route: AlertRoute, findings: readonly Finding[]): PlannedMessage | undefined {
  const fs = groupFindings(dedupe(findings)).flatMap((g) => g.findings);
  if (!fs.length) return undefined;
  return { kind: 'digest', route, key: messageKey('digest', route, fs.map((f) => f.id)), findings: fs };
}

function dedupe(findings: readonly Finding[]): Finding[] {
  const seen = new Map<string, Finding>();
  for (const f of findings) if (!seen.has(f.id)) seen.set(f.id, f);
  return [...seen.values()];
}

/** Is the route's digest due? First digest: at once; then every `digestHours`. */
export function digestDue(lastDigestAt: string | undefined, now: Date, digestHours: number): boolean {
  if (!lastDigestAt) return true;
  return now.getTime() - Date.parse(lastDigestAt) >= digestHours * 3_600_000;
}

/**
 * ACS operation id (GUID) derived from the message key and attempt, so it can be recorded before the
 * send and a retry of the same attempt reuses it (ACS treats `Operation-Id` as the operation's id).
 */
export function operationIdFor(routeKeyValue: string, key: string, attempt: number): string {
  const h = createHash('sha256').update(`${routeKeyValue}\u0000${key}\u0000${attempt}`).digest('hex');
  // Shape it as an RFC 4122 version-4 / variant-1 GUID: the SDK validates the header as a Uuid.
  const v = ((parseInt(h[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${v}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

// ---------------- throttling ----------------

/** ACS email default limits: sends per minute and per hour; status polls are charged too. */
export interface ThrottleLimits {
  perMinute: number;
  perHour: number;
}
export const ACS_DEFAULT_LIMITS: ThrottleLimits = { perMinute: 30, perHour: 100 };

/**
 * Request budget persisted as JSON in FlowWardenAlerts: the times of the requests of the last hour.
 * A sliding window rather than refilling buckets, because a bucket of 100 refilling at 100/h lets
 * ~200 through in the first hour, and ACS counts requests per window.
 */
export interface BucketState {
  /** Epoch ms of each request still inside the hour window, oldest first. */
  sent: number[];
}

/**
 * Take `cost` requests (a send, or status polls). When either window is full, nothing is taken and
 * `waitMs` says how long until `cost` more fit.
 */
export function takeTokens(
  state: BucketState | undefined,
  cost: number,
  limits: ThrottleLimits,
  now: Date,
): { ok: true; state: BucketState } | { ok: false; state: BucketState; waitMs: number } {
  if (!(cost > 0) || !Number.isInteger(cost)) throw new RangeError(`takeTokens: cost must be a positive whole number, got ${cost}`);
  if (cost > limits.perMinute || cost > limits.perHour) throw new RangeError(`takeTokens: cost ${cost} exceeds the limits`);
  const t = now.getTime();
  const sent = (state?.sent ?? []).filter((x) => x > t - 3_600_000).sort((a, b) => a - b);
  const inMinute = sent.filter((x) => x > t - 60_000);
  const needMinute = inMinute.length + cost - limits.perMinute;
  const needHour = sent.length + cost - limits.perHour;
  if (needMinute <= 0 && needHour <= 0) {
    return { ok: true, state: { sent: [...sent, ...Array.from({ length: cost }, () => t)] } };
  }
  // The window frees a slot when its oldest request ages out.
  const waitMinute = needMinute > 0 ? inMinute[needMinute - 1]! + 60_000 - t : 0;
  const waitHour = needHour > 0 ? sent[needHour - 1]! + 3_600_000 - t : 0;
  return { ok: false, state: { sent }, waitMs: Math.max(1, Math.max(waitMinute, waitHour)) };
}

/**
 * Give back `cost` requests taken at `at` that were never made (the message lost all its findings to a
 * concurrent worker before sending). Only entries with exactly that time are removed.
 */
export function returnTokens(state: BucketState | undefined, cost: number, at: number): BucketState {
  const sent = [...(state?.sent ?? [])];
  let n = cost;
  for (let i = sent.length - 1; i >= 0 && n > 0; i--) {
    if (sent[i] === at) {
      sent.splice(i, 1);
      n--;
    }
  }
  return { sent };
}

/** Exponential backoff with a cap: 1st retry after `baseMs`, doubling. */
export function backoffMs(attempt: number, baseMs = 30_000, capMs = 3_600_000): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

/** Severity of the worst finding. */
export function worstSeverity(findings: readonly Pick<Finding, 'severity'>[]): Severity {
  let worst: Severity = 'info';
  for (const f of findings) if (severityRank(f.severity) > severityRank(worst)) worst = f.severity;
  return worst;
}
