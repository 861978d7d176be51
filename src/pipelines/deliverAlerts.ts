import type { Finding, FindingKind, Severity } from '../core/finding';
import type { Policy } from '../core/policy';
import {
  ACS_DEFAULT_LIMITS,
  allRoutes,
  backoffMs,
  digestDue,
  isImmediate,
  messageKey,
  operationIdFor,
  planDigest,
  planImmediate,
  routesFor,
  returnTokens,
  takeTokens,
  type AlertRoute,
  type BucketState,
  type PlannedMessage,
  type ThrottleLimits,
} from '../core/alerts/plan';
import { renderDigest, renderImmediate, type RenderContext } from '../core/alerts/render';
import {
  ConcurrencyError,
  type AlertRecord,
  type AlertStateStore,
  type Clock,
  type EmailSender,
  type FindingStore,
  type Logger,
  type WorkQueue,
} from '../ports';

/**
 * Alert delivery: immediate emails from the alerts queue, a digest per route on the policy's cadence.
 *
 * State lives in FlowWardenAlerts (AlertStateStore), partition = route:
 *   - one record per (route, finding id): pending (waits for the digest or a retry) → sending (owned by
 *     message `messageKey`) → sent. Never sent twice: `sent` is final and every transition is ETag-guarded.
 *   - one record per message (`imm-…` / `dig-…`): `sending` with the ACS operation id is written BEFORE
 *     the send; a retry after a crash polls that operation instead of sending again (and re-sends with
 *     the same Operation-Id only when ACS never received it).
 *   - `_digest` per route: when the last digest went out.
 *   - route `_throttle`, key `acs`: the request window shared by all workers (ACS limits count sends
 *     and status polls).
 */

export interface AlertQueueItem {
  findingId: string;
  environmentId: string;
  observedAt: string;
  severity: Severity;
  kind: FindingKind;
  ruleId: string;
}

export interface DeliverAlertsDeps {
  findings: FindingStore;
  alertState: AlertStateStore;
  email: EmailSender;
  policy: Policy;
  clock: Clock;
  log: Logger;
  alertsQueue: WorkQueue<AlertQueueItem>;
  /** ACS request limits (default 30/min, 100/h). */
  limits?: ThrottleLimits;
  /** Set false when no ACS sender is configured (outbox only: the demo), so nothing is held back. */
  throttle?: boolean;
  /** A `sending` record older than this is taken over (its worker died). Default 10 min. */
  leaseMs?: number;
  /** After this many failed sends a finding is left `failed` and reported. Default 6. */
  maxAttempts?: number;
  /** Requests charged per send (the send plus the status polls it makes). Default 3. */
  requestsPerSend?: number;
}

export interface DeliveryReport {
  sent: { route: string; key: string; kind: 'immediate' | 'digest'; findingIds: string[]; operationId: string }[];
  /** Findings already alerted (or owned by a message in flight) and skipped. */
  skipped: string[];
  /** Findings waiting for the digest. */
  pending: string[];
  /** Not sent yet: throttled, or still running at ACS (polled later). */
  deferred: string[];
  /** Subset of `deferred` held back by the throttle: a queue worker should retry these messages later. */
  throttled: string[];
  /** Sends that failed; retried with backoff by the `deliverDigest` sweep. */
  retrying: string[];
  failed: string[];
  /** Findings the queue named but the store does not hold. */
  missing: string[];
  /** When deferred by the throttle: wait at least this long. */
  retryAfterMs?: number;
}

function emptyReport(): DeliveryReport {
  return { sent: [], skipped: [], pending: [], deferred: [], throttled: [], retrying: [], failed: [], missing: [] };
}

const THROTTLE_ROUTE = '_throttle';
const THROTTLE_KEY = 'acs';
const DIGEST_KEY = '_digest';
/** Findings per digest email (and per message record). */
const DIGEST_MAX_FINDINGS = 150;

interface FindingRef {
  environmentId: string;
  observedAt: string;
}

// ---------------------------------------------------------------- enqueue

export function isAlertQueueItem(b: unknown): b is AlertQueueItem {
  const o = b as Partial<AlertQueueItem> | null;
  return !!o && typeof o === 'object' && typeof o.findingId === 'string' && typeof o.environmentId === 'string' && typeof o.observedAt === 'string';
}

/** Called by every pipeline after it wrote NEW findings: one alerts-queue message per new finding id. */
export async function enqueueAlerts(deps: { alertsQueue: WorkQueue<AlertQueueItem> }, findings: Finding[]): Promise<number> {
  const seen = new Set<string>();
  const items: AlertQueueItem[] = [];
  for (const f of findings) {
    if (seen.has(f.id)) continue;
    seen.add(f.id);
    items.push({ findingId: f.id, environmentId: f.environmentId, observedAt: f.observedAt, severity: f.severity, kind: f.kind, ruleId: f.ruleId });
  }
  if (items.length) await deps.alertsQueue.sendMany(items);
  return items.length;
}

// ---------------------------------------------------------------- immediate

/**
 * Queue worker: load the findings, send immediate ones (grouped per route and flow/rule), park the
 * rest as `pending` for the digest. Safe to call again with the same items.
 */
export async function deliverImmediate(deps: DeliverAlertsDeps, items: AlertQueueItem[]): Promise<DeliveryReport> {
  const report = emptyReport();
  const findings = await loadFindings(deps, items, report);
  const alerts = deps.policy.alerts;
  const later = findings.filter((f) => !isImmediate(f, alerts));
  for (const f of later) {
    const routes = routesFor(f, alerts);
    if (!routes.length) deps.log.warn('no alert route for finding (policy alerts.routes and alerts.fallback are empty)', { findingId: f.id });
    for (const route of routes) await markPending(deps, route, f);
    report.pending.push(f.id);
  }
  const now = findings.filter((f) => isImmediate(f, alerts));
  for (const f of now) {
    if (!routesFor(f, alerts).length) deps.log.warn('no alert route for finding (policy alerts.routes and alerts.fallback are empty)', { findingId: f.id });
  }
  for (const plan of planImmediate(now, alerts)) {
    await sendPlanned(deps, plan, report);
  }
  return report;
}

/**
 * CLI / demo / timer helper: receive alert messages in batches, deliver them, delete the handled ones.
 * Messages deferred by the throttle stay in the queue and come back after their visibility timeout.
 */
export async function drainAlertsQueue(
  deps: DeliverAlertsDeps,
  options: { batchSize?: number; visibilityTimeoutSec?: number; maxBatches?: number } = {},
): Promise<DeliveryReport> {
  const total = emptyReport();
  for (let i = 0; i < (options.maxBatches ?? 100); i++) {
    const msgs = await deps.alertsQueue.receive(options.batchSize ?? 32, options.visibilityTimeoutSec ?? 300);
    if (!msgs.length) break;
    // A message that is not an alert reference can never be delivered: set it aside, keep the batch going.
    const valid = [];
    for (const m of msgs) {
      if (isAlertQueueItem(m.body)) valid.push(m);
      else await deps.alertsQueue.poison(m, 'alert message: expected {findingId, environmentId, observedAt, severity, kind, ruleId}');
    }
    const r = await deliverImmediate(deps, valid.map((m) => m.body));
    merge(total, r);
    // Throttled messages stay and come back after their visibility timeout; failures are retried by
    // the deliverDigest sweep with backoff, so their messages are done.
    const keep = new Set(r.throttled);
    // A throttled message comes back when the window has room again (never later than the visibility
    // timeout it was received with).
    const backInSec = Math.min(options.visibilityTimeoutSec ?? 300, Math.max(1, Math.ceil((r.retryAfterMs ?? 1000) / 1000)));
    for (const m of valid) {
      if (!keep.has(m.body.findingId)) await deps.alertsQueue.delete(m);
      else await deps.alertsQueue.extend(m, backInSec).catch(() => undefined);
    }
    if (r.throttled.length) break;
  }
  return total;
}

// ---------------------------------------------------------------- digest

/**
 * Timer: per route, recover messages whose worker died, retry failed immediate alerts, and when the
 * digest is due send everything still pending in one digest. `force` ignores the cadence (demo).
 */
export async function deliverDigest(deps: DeliverAlertsDeps, options: { force?: boolean } = {}): Promise<DeliveryReport> {
  const report = emptyReport();
  const alerts = deps.policy.alerts;
  for (const route of allRoutes(alerts)) {
    await recoverInFlight(deps, route, report);
    const pendingRecs = await deps.alertState.list(route.key, 'pending');
    const failedRecs = (await deps.alertState.list(route.key, 'failed')).filter((r) => isFindingKey(r.key) && r.attempts < (deps.maxAttempts ?? 6));
    const now = deps.clock.now();
    const ready = [...pendingRecs, ...failedRecs].filter((r) => isFindingKey(r.key) && !notYet(r, now));
    const findings = await loadFindings(
      deps,
      ready.map((r) => ({ findingId: r.key, ...(parsePayload<FindingRef>(r.payload) ?? { environmentId: '', observedAt: '' }) }) as AlertQueueItem),
      report,
    );
    // Failed immediate alerts are retried as immediate; everything else waits for the digest.
    const retryNow = findings.filter((f) => isImmediate(f, alerts));
    for (const plan of planImmediate(retryNow, alerts).filter((p) => p.route.key === route.key)) await sendPlanned(deps, plan, report);
    const forDigest = findings.filter((f) => !isImmediate(f, alerts));
    if (!forDigest.length) continue;
    const state = await deps.alertState.get(route.key, DIGEST_KEY);
    const last = parsePayload<{ lastDigestAt?: string }>(state?.payload)?.lastDigestAt;
    if (!options.force && !digestDue(last, now, alerts.digestHours)) {
      report.pending.push(...forDigest.map((f) => f.id));
      continue;
    }
    // A message record holds its finding refs (≤ 32 K chars per table property): cap each digest.
    let delivered = false;
    let lastKey = '';
    for (let i = 0; i < forDigest.length; i += DIGEST_MAX_FINDINGS) {
      const plan = planDigest(route, forDigest.slice(i, i + DIGEST_MAX_FINDINGS));
      if (!plan) continue;
      const outcome = await sendPlanned(deps, plan, report);
      if (outcome === 'sent' || outcome === 'already') {
        delivered = true;
        lastKey = plan.key;
      }
    }
    if (delivered) {
      await putQuiet(deps, {
        route: route.key,
        key: DIGEST_KEY,
        state: 'sent',
        findingIds: [],
        attempts: 0,
        updatedAt: now.toISOString(),
        payload: JSON.stringify({ lastDigestAt: now.toISOString(), lastKey }),
        etag: state?.etag,
      });
    }
  }
  return report;
}

// ---------------------------------------------------------------- one message

type Outcome = 'sent' | 'already' | 'in-flight' | 'deferred' | 'failed' | 'empty';

async function sendPlanned(deps: DeliverAlertsDeps, planned: PlannedMessage, report: DeliveryReport): Promise<Outcome> {
  const { route } = planned;
  const now = deps.clock.now();
  const lease = deps.leaseMs ?? 600_000;

  // 1. Drop findings already alerted or owned by a live message on this route.
  const current = new Map<string, AlertRecord | undefined>();
  const candidates: Finding[] = [];
  for (const f of planned.findings) {
    const rec = await deps.alertState.get(route.key, f.id);
    current.set(f.id, rec);
    if (rec?.state === 'sent') {
      report.skipped.push(f.id);
      continue;
    }
    if (rec?.state === 'failed' && notYet(rec, now)) {
      // Backing off after a failed send: the sweep retries it when due.
      report.retrying.push(f.id);
      continue;
    }
    if (rec?.state === 'sending') {
      const owner = rec.messageKey ? await deps.alertState.get(route.key, rec.messageKey) : undefined;
      // Only a message that carries this finding settles it; a claim its message does not list is an
      // orphan (the claiming worker lost a race) and is sent here once stale.
      if (owner?.state === 'sent' && owner.findingIds.includes(f.id)) {
        await markFindingsSent(deps, route, [f.id]);
        report.skipped.push(f.id);
        continue;
      }
      if (owner?.state === 'sending' && owner.findingIds.includes(f.id)) {
        // Its own message finishes it (polling, or re-sending under the same operation id when stale).
        await resumeMessage(deps, route, owner, report);
        report.skipped.push(f.id);
        continue;
      }
      if (!stale(rec, now, lease)) {
        // Claimed by a live worker that has not recorded its message yet: never send it twice.
        report.skipped.push(f.id);
        continue;
      }
    }
    candidates.push(f);
  }
  if (!candidates.length) return 'empty';
  const key = messageKey(planned.kind, route, candidates.map((f) => f.id));

  // 2. An identical message may exist from an earlier, interrupted attempt.
  const existing = await deps.alertState.get(route.key, key);
  if (existing?.state === 'sent') {
    await markFindingsSent(deps, route, candidates.map((f) => f.id));
    report.skipped.push(...candidates.map((f) => f.id));
    return 'already';
  }
  if (existing?.state === 'sending') return resumeMessage(deps, route, existing, report);

  // 3. Throttle before touching any state, so a deferral leaves nothing half-claimed.
  const cost = deps.requestsPerSend ?? 3;
  let takenAt: number | undefined;
  const wait = await takeThrottle(deps, cost, (at) => (takenAt = at));
  if (wait > 0) {
    report.deferred.push(...candidates.map((f) => f.id));
    report.throttled.push(...candidates.map((f) => f.id));
    report.retryAfterMs = Math.max(report.retryAfterMs ?? 0, wait);
    deps.log.warn('alert send deferred by the ACS throttle', { route: route.key, message: key, waitMs: wait });
    return 'deferred';
  }

  // 4. Claim each finding for this message (ETag-guarded: a concurrent worker loses and skips).
  const claimed: Finding[] = [];
  const claims = new Map<string, AlertRecord>();
  for (const f of candidates) {
    const rec = current.get(f.id);
    try {
      const claim = await deps.alertState.put({
        route: route.key,
        key: f.id,
        state: 'sending',
        messageKey: key,
        findingIds: [f.id],
        attempts: rec?.attempts ?? 0,
        updatedAt: now.toISOString(),
        payload: JSON.stringify({ environmentId: f.environmentId, observedAt: f.observedAt } satisfies FindingRef),
        etag: rec?.etag,
      });
      claims.set(f.id, claim);
      claimed.push(f);
    } catch (e) {
      if (!(e instanceof ConcurrencyError)) throw e;
      report.skipped.push(f.id);
    }
  }
  if (!claimed.length) {
    // Every finding went to another worker: this send will not happen, its requests go back.
    await refundThrottle(deps, cost, takenAt);
    return 'empty';
  }
  let msgKey = key;
  let prior = existing;
  if (claimed.length !== candidates.length) {
    // Another worker took some of these findings: this message carries only what it claimed, under
    // the key of that set (two workers must never share a message record for different findings).
    msgKey = messageKey(planned.kind, route, claimed.map((f) => f.id));
    for (const f of claimed) {
      const claim = claims.get(f.id)!;
      claims.set(f.id, await deps.alertState.put({ ...claim, messageKey: msgKey, updatedAt: now.toISOString() }));
    }
    prior = await deps.alertState.get(route.key, msgKey);
    if (prior?.state === 'sent') {
      await markFindingsSent(deps, route, claimed.map((f) => f.id));
      report.skipped.push(...claimed.map((f) => f.id));
      return 'already';
    }
    if (prior?.state === 'sending') return resumeMessage(deps, route, prior, report);
  }
  const attempts = Math.max(0, ...claimed.map((f) => current.get(f.id)?.attempts ?? 0));
  const operationId = operationIdFor(route.key, msgKey, attempts);

  // 5. Record the message with its operation id BEFORE sending.
  let msgRec: AlertRecord;
  try {
    msgRec = await deps.alertState.put({
      route: route.key,
      key: msgKey,
      state: 'sending',
      findingIds: claimed.map((f) => f.id),
      operationId,
      attempts,
      updatedAt: now.toISOString(),
      payload: JSON.stringify({ kind: planned.kind, refs: claimed.map((f) => ({ id: f.id, environmentId: f.environmentId, observedAt: f.observedAt })) }),
      etag: prior?.etag,
    });
  } catch (e) {
    if (!(e instanceof ConcurrencyError)) throw e;
    // Someone else recorded this message first: hand the claims back so they are not orphaned (the
    // sweep, or the next drain, sends whatever that message does not carry).
    for (const f of claimed) await putQuiet(deps, { ...claims.get(f.id)!, state: 'pending', messageKey: undefined, updatedAt: now.toISOString() });
    await refundThrottle(deps, cost, takenAt);
    report.pending.push(...claimed.map((f) => f.id));
    return 'in-flight';
  }
  return transmit(deps, route, msgRec, planned.kind, claimed, report);
}

async function transmit(
  deps: DeliverAlertsDeps,
  route: AlertRoute,
  msgRec: AlertRecord,
  kind: 'immediate' | 'digest',
  findings: Finding[],
  report: DeliveryReport,
): Promise<Outcome> {
  const ctx = renderContext(deps.policy, route, deps.clock.now());
  const email = kind === 'immediate' ? renderImmediate(findings, ctx) : renderDigest(findings, ctx);
  let status: string;
  let error: string | undefined;
  try {
    status = (await deps.email.send(email, { operationId: msgRec.operationId, dedupeKey: msgRec.key })).status;
  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
    status = 'Failed';
    // The post may have reached ACS before the error (timeout, dropped connection): ask before retrying.
    if (deps.email.getStatus && msgRec.operationId) {
      try {
        const s = (await deps.email.getStatus(msgRec.operationId)).status;
        if (s !== 'NotFound') status = s;
      } catch {
        // Unknown: leave it `sending`; recoverInFlight polls it later instead of sending twice.
        deps.log.warn('alert email outcome unknown; will poll its operation later', { route: route.key, message: msgRec.key, error });
        report.deferred.push(...findings.map((f) => f.id));
        return 'in-flight';
      }
    }
  }
  return settle(deps, route, msgRec, status, error, findings.map((f) => f.id), report, kind);
}

async function settle(
  deps: DeliverAlertsDeps,
  route: AlertRoute,
  msgRec: AlertRecord,
  status: string,
  error: string | undefined,
  findingIds: string[],
  report: DeliveryReport,
  kind: 'immediate' | 'digest',
): Promise<Outcome> {
  const now = deps.clock.now().toISOString();
  if (status === 'Succeeded') {
    await putQuiet(deps, { ...msgRec, state: 'sent', updatedAt: now });
    await markFindingsSent(deps, route, findingIds);
    report.sent.push({ route: route.key, key: msgRec.key, kind, findingIds, operationId: msgRec.operationId ?? '' });
    deps.log.info('alert email sent', { route: route.key, message: msgRec.key, kind, findings: findingIds.length, operationId: msgRec.operationId });
    return 'sent';
  }
  if (status === 'Running' || status === 'NotStarted') {
    // Still in ACS's hands: keep the operation id; recoverInFlight polls it later.
    report.deferred.push(...findingIds);
    return 'in-flight';
  }
  // Failed / Canceled / an error: release the findings for a retry with backoff.
  const attempts = msgRec.attempts + 1;
  const max = deps.maxAttempts ?? 6;
  await putQuiet(deps, { ...msgRec, state: 'failed', attempts, updatedAt: now, lastError: error ?? `ACS status ${status}` });
  for (const id of findingIds) {
    const rec = await deps.alertState.get(route.key, id);
    if (!rec || rec.state === 'sent') continue;
    const next = new Date(deps.clock.now().getTime() + backoffMs(attempts)).toISOString();
    const ref = parsePayload<FindingRef>(rec.payload);
    await putQuiet(deps, {
      ...rec,
      state: 'failed',
      attempts,
      messageKey: undefined,
      updatedAt: now,
      lastError: error ?? `ACS status ${status}`,
      payload: JSON.stringify({ ...ref, nextAttemptAt: next }),
    });
  }
  (attempts >= max ? report.failed : report.retrying).push(...findingIds);
  deps.log.error('alert email failed', { route: route.key, message: msgRec.key, attempts, error: error ?? `ACS status ${status}` });
  return 'failed';
}

/** A message left `sending`: poll its operation (never re-send blindly). */
async function resumeMessage(deps: DeliverAlertsDeps, route: AlertRoute, msgRec: AlertRecord, report: DeliveryReport): Promise<Outcome> {
  const now = deps.clock.now();
  const lease = deps.leaseMs ?? 600_000;
  const kind = parsePayload<{ kind?: 'immediate' | 'digest' }>(msgRec.payload)?.kind ?? 'immediate';
  if (!msgRec.operationId) return 'in-flight';
  let status = 'NotFound';
  if (deps.email.getStatus) {
    if ((await takeThrottle(deps, 1)) > 0) {
      report.deferred.push(...msgRec.findingIds);
      report.throttled.push(...msgRec.findingIds);
      return 'deferred';
    }
    status = (await deps.email.getStatus(msgRec.operationId)).status;
  }
  if (status === 'NotFound') {
    // ACS never got it. A live worker may be about to post: only a stale record is taken over.
    if (!stale(msgRec, now, lease)) {
      report.skipped.push(...msgRec.findingIds);
      return 'in-flight';
    }
    let taken: AlertRecord;
    try {
      taken = await deps.alertState.put({ ...msgRec, updatedAt: now.toISOString() });
    } catch (e) {
      if (e instanceof ConcurrencyError) return 'in-flight';
      throw e;
    }
    const findings = await loadFindings(
      deps,
      (parsePayload<{ refs?: (FindingRef & { id: string })[] }>(taken.payload)?.refs ?? []).map((r) => ({ findingId: r.id, environmentId: r.environmentId, observedAt: r.observedAt }) as AlertQueueItem),
      report,
    );
    if (!findings.length) return 'empty';
    if ((await takeThrottle(deps, deps.requestsPerSend ?? 3)) > 0) {
      report.deferred.push(...taken.findingIds);
      report.throttled.push(...taken.findingIds);
      return 'deferred';
    }
    // Same Operation-Id: if the first post did reach ACS after all, the service dedupes it.
    return transmit(deps, route, taken, kind, findings, report);
  }
  return settle(deps, route, msgRec, status, undefined, msgRec.findingIds, report, kind);
}

/** Sweep: messages stuck in `sending` (their worker died or ACS was still running) and orphaned claims. */
async function recoverInFlight(deps: DeliverAlertsDeps, route: AlertRoute, report: DeliveryReport): Promise<void> {
  const now = deps.clock.now();
  const lease = deps.leaseMs ?? 600_000;
  const sending = await deps.alertState.list(route.key, 'sending');
  for (const rec of sending.filter((r) => isMessageKey(r.key))) await resumeMessage(deps, route, rec, report);
  for (const rec of sending.filter((r) => isFindingKey(r.key))) {
    const owner = rec.messageKey ? await deps.alertState.get(route.key, rec.messageKey) : undefined;
    const carried = !!owner && owner.findingIds.includes(rec.key);
    if (owner?.state === 'sent' && carried) await markFindingsSent(deps, route, [rec.key]);
    else if ((!owner || !carried || owner.state === 'failed') && stale(rec, now, lease)) {
      // Claimed but its message never got recorded: back to pending.
      await putQuiet(deps, { ...rec, state: 'pending', messageKey: undefined, updatedAt: now.toISOString() });
    }
  }
}

// ---------------------------------------------------------------- helpers

async function takeThrottle(deps: DeliverAlertsDeps, cost: number, onTaken?: (at: number) => void): Promise<number> {
  if (deps.throttle === false) return 0;
  const limits = deps.limits ?? ACS_DEFAULT_LIMITS;
  for (let i = 0; i < 10; i++) {
    // Contention (another worker took tokens between our read and write) is not the limit: back off a
    // little, with jitter, and try again.
    if (i > 0) await new Promise((r) => setTimeout(r, 5 + Math.floor(Math.random() * 20 * i)));
    const rec = await deps.alertState.get(THROTTLE_ROUTE, THROTTLE_KEY);
    const now = deps.clock.now();
    const r = takeTokens(parsePayload<BucketState>(rec?.payload), cost, limits, now);
    if (!r.ok) return r.waitMs;
    try {
      await deps.alertState.put({
        route: THROTTLE_ROUTE,
        key: THROTTLE_KEY,
        state: 'sent',
        findingIds: [],
        attempts: 0,
        updatedAt: deps.clock.now().toISOString(),
        payload: JSON.stringify(r.state),
        etag: rec?.etag,
      });
      onTaken?.(now.getTime());
      return 0;
    } catch (e) {
      // Another worker took tokens at the same time: re-read and try again.
      if (!(e instanceof ConcurrencyError)) throw e;
    }
  }
  return 1000;
}

/** Best effort: return requests taken for a send that did not happen (see returnTokens). */
async function refundThrottle(deps: DeliverAlertsDeps, cost: number, at: number | undefined): Promise<void> {
  if (deps.throttle === false || at === undefined) return;
  for (let i = 0; i < 5; i++) {
    const rec = await deps.alertState.get(THROTTLE_ROUTE, THROTTLE_KEY);
    if (!rec) return;
    try {
      await deps.alertState.put({ ...rec, updatedAt: deps.clock.now().toISOString(), payload: JSON.stringify(returnTokens(parsePayload<BucketState>(rec.payload), cost, at)) });
      return;
    } catch (e) {
      if (!(e instanceof ConcurrencyError)) throw e;
    }
  }
}

async function markPending(deps: DeliverAlertsDeps, route: AlertRoute, f: Finding): Promise<void> {
  const rec = await deps.alertState.get(route.key, f.id);
  if (rec) return; // already pending, sending or sent: never reset
  try {
    await deps.alertState.put({
      route: route.key,
      key: f.id,
      state: 'pending',
      findingIds: [f.id],
      attempts: 0,
      updatedAt: deps.clock.now().toISOString(),
      payload: JSON.stringify({ environmentId: f.environmentId, observedAt: f.observedAt } satisfies FindingRef),
    });
  } catch (e) {
    if (!(e instanceof ConcurrencyError)) throw e;
  }
}

async function markFindingsSent(deps: DeliverAlertsDeps, route: AlertRoute, ids: string[]): Promise<void> {
  const now = deps.clock.now().toISOString();
  for (const id of ids) {
    for (let i = 0; i < 3; i++) {
      const rec = await deps.alertState.get(route.key, id);
      if (rec?.state === 'sent') break;
      try {
        await deps.alertState.put({ ...(rec ?? { route: route.key, key: id, findingIds: [id], attempts: 0 }), state: 'sent', updatedAt: now, etag: rec?.etag } as AlertRecord);
        break;
      } catch (e) {
        if (!(e instanceof ConcurrencyError)) throw e;
      }
    }
  }
}

/** Write, tolerating a lost race (the winner's state stands). */
async function putQuiet(deps: DeliverAlertsDeps, rec: AlertRecord): Promise<void> {
  try {
    await deps.alertState.put(rec);
  } catch (e) {
    if (!(e instanceof ConcurrencyError)) throw e;
    deps.log.warn('alert state changed concurrently; keeping the other writer', { route: rec.route, key: rec.key });
  }
}

async function loadFindings(deps: DeliverAlertsDeps, items: AlertQueueItem[], report: DeliveryReport): Promise<Finding[]> {
  const out: Finding[] = [];
  const seen = new Set<string>();
  for (const it of items) {
    if (seen.has(it.findingId)) continue;
    seen.add(it.findingId);
    if (!it.environmentId || !it.observedAt) {
      report.missing.push(it.findingId);
      deps.log.error('alert item lacks environmentId/observedAt', { findingId: it.findingId });
      continue;
    }
    const f = await deps.findings.get(it.findingId, it.environmentId, it.observedAt);
    if (!f) {
      report.missing.push(it.findingId);
      deps.log.error('finding named by an alert is not in the findings table', { findingId: it.findingId });
      continue;
    }
    const { state: _state, ...finding } = f;
    out.push(finding);
  }
  return out;
}

export function renderContext(policy: Policy, route: AlertRoute, now: Date): RenderContext {
  return {
    to: route.to,
    environments: policy.environments.map((e) => ({ id: e.id, name: e.name, portalUrl: e.portalUrl, dataverseUrl: e.dataverseUrl })),
    digestHours: policy.alerts.digestHours,
    now,
  };
}

function parsePayload<T>(payload: string | undefined): T | undefined {
  if (!payload) return undefined;
  try {
    return JSON.parse(payload) as T;
  } catch {
    throw new Error(`alert state: payload is not valid JSON (${payload.slice(0, 40)}…)`);
  }
}

function stale(rec: AlertRecord, now: Date, leaseMs: number): boolean {
  return now.getTime() - Date.parse(rec.updatedAt) >= leaseMs;
}

function notYet(rec: AlertRecord, now: Date): boolean {
  const next = parsePayload<{ nextAttemptAt?: string }>(rec.payload)?.nextAttemptAt;
  return !!next && Date.parse(next) > now.getTime();
}

const isMessageKey = (k: string) => k.startsWith('imm-') || k.startsWith('dig-');
const isFindingKey = (k: string) => !isMessageKey(k) && !k.startsWith('_');

function merge(into: DeliveryReport, r: DeliveryReport): void {
  into.sent.push(...r.sent);
  into.skipped.push(...r.skipped);
  into.pending.push(...r.pending);
  into.deferred.push(...r.deferred);
  into.throttled.push(...r.throttled);
  into.retrying.push(...r.retrying);
  into.failed.push(...r.failed);
  into.missing.push(...r.missing);
  if (r.retryAfterMs !== undefined) into.retryAfterMs = Math.max(into.retryAfterMs ?? 0, r.retryAfterMs);
}

/** CLI / demo: deliver everything queued, then the digests (a digest is due at once the first time). */
export async function deliverAll(deps: DeliverAlertsDeps, options: { forceDigest?: boolean } = {}): Promise<DeliveryReport> {
  const total = await drainAlertsQueue(deps);
  merge(total, await deliverDigest(deps, { force: options.forceDigest }));
  return total;
}
