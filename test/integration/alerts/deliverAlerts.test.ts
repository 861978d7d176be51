import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { allRoutes, messageKey, planImmediate, routeKey } from '../../../src/core/alerts/plan';
import { ConcurrencyError, type AlertStateStore } from '../../../src/ports';
import { startLocalAcs, type LocalAcs } from '../../../src/dev/localAcs';
import { AcsEmailSender } from '../../../src/sinks/acsEmail';
import { CompositeEmailSender, decodeQuotedPrintable, OutboxEmailSender } from '../../../src/sinks/outboxEmail';
import { deliverDigest, drainAlertsQueue, enqueueAlerts } from '../../../src/pipelines/deliverAlerts';
import type { EmailSender } from '../../../src/ports';
import { finding, PLANTED } from '../../unit/alerts/fixtures';
import { alertDeps } from './helpers';

let acs: LocalAcs;
beforeAll(async () => {
  acs = await startLocalAcs({ runningPolls: 1 });
});
afterAll(async () => {
  await acs.close();
});

function sender(extra: Partial<ConstructorParameters<typeof AcsEmailSender>[0]> = {}) {
  return new AcsEmailSender({ connectionString: acs.connectionString, senderAddress: 'DoNotReply@flowwarden.local', pollIntervalMs: 5, ...extra });
}

/** Critical ×2 in one flow, one high modifier finding, two medium (digest). Evidence carries a planted value the email must drop. */
function sampleFindings(tag: string) {
  const ev = (flowId: string) => ({ flowId, runId: 'run-1', maskedPreview: 'Acco********(88 chars)', fingerprint: 'hmac-sha256:00ff', value: PLANTED });
  return [
    finding({ key: `${tag}-a`, severity: 'critical', evidence: ev(`flow-${tag}`) }),
    finding({ key: `${tag}-b`, severity: 'critical', ruleId: 'secret.github-pat', evidence: ev(`flow-${tag}`) }),
    finding({ key: `${tag}-c`, severity: 'high', kind: 'unexpected-modifier', ruleId: 'modifier.not-in-policy', subject: { type: 'record', id: `account/${tag}` }, evidence: { table: 'account', recordId: tag } }),
    finding({ key: `${tag}-d`, severity: 'medium', kind: 'permission-drift', ruleId: 'drift.role-added', subject: { type: 'principal', id: `p-${tag}` }, evidence: { roleName: 'System Administrator' } }),
    finding({ key: `${tag}-e`, severity: 'low', evidence: ev(`flow-${tag}-2`) }),
  ];
}

const sentFor = (tag: string) => acs.sent.filter((m) => (m.plainText ?? '').includes(tag));

describe('deliverAlerts with the real EmailClient against the local ACS endpoint', () => {
  it('sends grouped immediate alerts, polls the operation, digests the rest once, and never twice', async () => {
    const { deps, clock, log } = alertDeps('alertsflow', sender());
    const fs = sampleFindings('t1');
    await deps.findings.upsertMany(fs);
    expect(await enqueueAlerts(deps, [...fs, fs[0]!])).toBe(5);
    const r1 = await drainAlertsQueue(deps);
    // on-call and admins both get: the flow group (2 critical) and the modifier (high).
    expect(r1.sent).toHaveLength(4);
    expect(r1.sent.every((s) => s.kind === 'immediate')).toBe(true);
    expect(r1.sent.map((s) => s.findingIds.length).sort()).toEqual([1, 1, 2, 2]);
    expect(r1.pending.sort()).toEqual([fs[3]!.id, fs[4]!.id].sort());
    expect(await deps.alertsQueue.approximateCount()).toBe(0);
    const imm = sentFor('t1');
    expect(imm).toHaveLength(4);
    expect(imm.map((m) => m.to[0]).sort()).toEqual(['oncall@contoso.com', 'oncall@contoso.com', 'powerplatform-admins@contoso.com', 'powerplatform-admins@contoso.com']);
    expect(imm.every((m) => m.subject.startsWith('[flowwarden] ') && m.html?.startsWith('<!DOCTYPE html>'))).toBe(true);
    // Each send was followed by status polls of its own operation (Running, then Succeeded).
    for (const s of r1.sent) {
      const reqs = acs.requests.filter((q) => q.operationIdHeader === s.operationId);
      expect(reqs.filter((q) => q.method === 'POST')).toHaveLength(1);
      expect(reqs.filter((q) => q.method === 'GET' && q.path === `/emails/operations/${s.operationId}`).length).toBeGreaterThanOrEqual(2);
      expect(reqs.every((q) => q.auth === 'hmac')).toBe(true);
    }

    // Digest: the two below-immediate findings, to the admins route only, once.
    const d1 = await deliverDigest(deps);
    expect(d1.sent).toHaveLength(1);
    expect(d1.sent[0]!.kind).toBe('digest');
    expect(d1.sent[0]!.findingIds.sort()).toEqual([fs[3]!.id, fs[4]!.id].sort());
    const digest = sentFor('t1').find((m) => m.subject.includes('Digest'))!;
    expect(digest.to).toEqual(['powerplatform-admins@contoso.com']);
    expect((await deliverDigest(deps)).sent).toHaveLength(0);
    clock.advance(25 * 3_600_000);
    expect((await deliverDigest(deps)).sent).toHaveLength(0);

    // The same findings again (a re-scan): nothing new is sent.
    await enqueueAlerts(deps, fs);
    const r2 = await drainAlertsQueue(deps);
    expect(r2.sent).toHaveLength(0);
    expect(sentFor('t1')).toHaveLength(5);

    // No planted value anywhere: ACS request bodies, alert state rows, log lines.
    for (const q of acs.requests) expect(q.body).not.toContain(PLANTED);
    for (const route of ['oncall@contoso.com', 'powerplatform-admins@contoso.com']) {
      for (const rec of await deps.alertState.list(routeKey([route]))) expect(JSON.stringify(rec)).not.toContain(PLANTED);
    }
    for (const line of log.lines) expect(line).not.toContain(PLANTED);
  });

  it('does not double-send when the worker dies between the send and recording the result', async () => {
    const real = sender();
    let posted = 0;
    // Worker A posts the email, then "dies": its send never returns.
    const dying: EmailSender = {
      send: async (msg, options) => {
        posted++;
        await real.send(msg, options);
        return new Promise(() => {});
      },
      getStatus: (id, o) => real.getStatus(id, o),
    };
    const a = alertDeps('alertscrash', dying);
    const f = finding({ key: 'crash-1', severity: 'critical', evidence: { flowId: 'flow-crash', runId: 'r' } });
    await a.deps.findings.upsertMany([f]);
    await enqueueAlerts(a.deps, [f]);
    void drainAlertsQueue(a.deps, { batchSize: 1, maxBatches: 1, visibilityTimeoutSec: 1 });
    await waitFor(() => posted === 1 && sentFor('flow-crash').length === 1);

    // Worker B (a fresh process on the same storage), after A's lease expired: polls, does not post again.
    const b = { ...a.deps, email: real };
    a.clock.advance(11 * 60_000);
    const postsBefore = acs.requests.filter((q) => q.method === 'POST').length;
    const r = await deliverDigest(b);
    expect(r.sent.map((s) => s.kind)).toEqual(['immediate']);
    expect(acs.requests.filter((q) => q.method === 'POST').length).toBe(postsBefore);
    expect(sentFor('flow-crash')).toHaveLength(1);
    // The queue message comes back: the first route is a no-op, the second route's email goes out once.
    await new Promise((res) => setTimeout(res, 1100));
    expect((await drainAlertsQueue(b)).sent).toHaveLength(1);
    expect(sentFor('flow-crash')).toHaveLength(2);
    await enqueueAlerts(b, [f]);
    expect((await drainAlertsQueue(b)).sent).toHaveLength(0);
    expect(sentFor('flow-crash')).toHaveLength(2);
    expect(posted).toBe(1);
  });

  it('two drains that each win part of a message: each sends what it claimed, under its own key, and every finding goes out once', async () => {
    const base = alertDeps('alertsrace', sender());
    const x = finding({ key: 'race-x', severity: 'critical', evidence: { flowId: 'flow-race', runId: 'r1' } });
    const y = finding({ key: 'race-y', severity: 'critical', evidence: { flowId: 'flow-race', runId: 'r2' } });
    await base.deps.findings.upsertMany([x, y]);
    // Both were published twice (two instances saw them new): each drain gets both.
    await enqueueAlerts(base.deps, [x, y]);
    await enqueueAlerts(base.deps, [x, y]);
    // Force the race: drain A can only claim X, drain B only Y (the other claim loses its ETag).
    const owner = new Map([[x.id, 'A'], [y.id, 'B']]);
    const racing = (who: 'A' | 'B'): AlertStateStore => ({
      get: (r, k) => base.deps.alertState.get(r, k),
      list: (r, st) => base.deps.alertState.list(r, st),
      put: async (rec) => {
        if (rec.state === 'sending' && owner.has(rec.key) && owner.get(rec.key) !== who) throw new ConcurrencyError(`claim of ${rec.key} lost`);
        return base.deps.alertState.put(rec);
      },
    });
    const a = { ...base.deps, alertState: racing('A') };
    const emailsBefore = acs.sent.length;
    const b = { ...base.deps, alertState: racing('B') };
    const reports = await Promise.all([drainAlertsQueue(a, { batchSize: 2, maxBatches: 1 }), drainAlertsQueue(b, { batchSize: 2, maxBatches: 1 })]);
    // Whatever a drain could not place (handed back to pending) the sweep sends.
    const sweep = await deliverDigest(base.deps);
    // A drain that finds the other's message in flight may finish it (poll its operation) and report
    // it too: one message, one operation id.
    const sent = [...new Map([...reports, sweep].flatMap((r) => r.sent).map((m) => [m.operationId, m])).values()];
    const routes = allRoutes(base.deps.policy.alerts).filter((r) => planImmediate([x], base.deps.policy.alerts).some((p) => p.route.key === r.key));
    expect(routes.length).toBeGreaterThan(0);
    for (const route of routes) {
      for (const f of [x, y]) expect((await base.deps.alertState.get(route.key, f.id))?.state, `${route.key} ${f.id}`).toBe('sent');
    }
    // Each finding in exactly one message per route, and every message key distinct.
    const carried = sent.flatMap((m) => m.findingIds.map((id) => `${m.route}|${id}`));
    expect(carried.sort()).toEqual(routes.flatMap((r) => [x, y].map((f) => `${r.key}|${f.id}`)).sort());
    expect(new Set(sent.map((m) => `${m.route}|${m.key}`)).size).toBe(sent.length);
    expect(acs.sent.length - emailsBefore).toBe(sent.length);
  });

  it('a claim whose message does not list it is an orphan: the sweep sends it instead of marking it sent', async () => {
    const { deps, clock } = alertDeps('alertsorphan', sender());
    const x = finding({ key: 'orph-x', severity: 'critical', evidence: { flowId: 'flow-orphan', runId: 'r1' } });
    const y = finding({ key: 'orph-y', severity: 'critical', evidence: { flowId: 'flow-orphan', runId: 'r2' } });
    await deps.findings.upsertMany([x, y]);
    const route = planImmediate([x], deps.policy.alerts)[0]!.route;
    const key = messageKey('immediate', route, [x.id, y.id]);
    const at = clock.now().toISOString();
    // A message record that carries X only was sent; Y's claim points at it (the loser of a race).
    await deps.alertState.put({ route: route.key, key, state: 'sent', findingIds: [x.id], attempts: 0, updatedAt: at, payload: '{}' });
    await deps.alertState.put({ route: route.key, key: x.id, state: 'sent', messageKey: key, findingIds: [x.id], attempts: 0, updatedAt: at, payload: JSON.stringify({ environmentId: x.environmentId, observedAt: x.observedAt }) });
    await deps.alertState.put({ route: route.key, key: y.id, state: 'sending', messageKey: key, findingIds: [y.id], attempts: 0, updatedAt: at, payload: JSON.stringify({ environmentId: y.environmentId, observedAt: y.observedAt }) });
    clock.advance(11 * 60_000); // past the claim lease
    const r = await deliverDigest(deps);
    expect(r.sent.flatMap((s) => s.findingIds)).toContain(y.id);
    expect((await deps.alertState.get(route.key, y.id))?.state).toBe('sent');
    expect(sentFor('flow-orphan').filter((m) => m.to[0] === route.to[0])).toHaveLength(1);
  });

  it('re-sends under the same operation id when ACS never received the first post', async () => {
    const real = sender();
    let calls = 0;
    const crashBeforePost: EmailSender = {
      send: async () => {
        calls++;
        return new Promise(() => {});
      },
      getStatus: (id, o) => real.getStatus(id, o),
    };
    const a = alertDeps('alertsnopost', crashBeforePost);
    const f = finding({ key: 'np-1', severity: 'high', evidence: { flowId: 'flow-nopost' } });
    await a.deps.findings.upsertMany([f]);
    await enqueueAlerts(a.deps, [f]);
    void drainAlertsQueue(a.deps, { maxBatches: 1, visibilityTimeoutSec: 1 });
    await waitFor(() => calls === 1);
    const opId = (await a.deps.alertState.list(routeKey(['oncall@contoso.com']), 'sending')).find((x) => x.key.startsWith('imm-'))!.operationId!;
    a.clock.advance(11 * 60_000);
    const r = await deliverDigest({ ...a.deps, email: real });
    expect(r.sent).toHaveLength(1);
    expect(r.sent[0]!.operationId).toBe(opId);
    expect(acs.requests.filter((q) => q.method === 'POST' && q.operationIdHeader === opId)).toHaveLength(1);
    expect(sentFor('flow-nopost')).toHaveLength(1);
  });

  it('retries a 429 with Retry-After through the SDK pipeline and sends once', async () => {
    const { deps } = alertDeps('alerts429', sender({ clientOptions: { retryOptions: { maxRetries: 3, retryDelayInMs: 10, maxRetryDelayInMs: 50 } } }));
    const f = finding({ key: '429', severity: 'critical', evidence: { flowId: 'flow-429' } });
    await deps.findings.upsertMany([f]);
    await enqueueAlerts(deps, [f]);
    acs.inject429(1, 0, 'send');
    const r = await drainAlertsQueue(deps);
    expect(r.sent).toHaveLength(2);
    expect(acs.requests.some((q) => q.status === 429)).toBe(true);
    expect(sentFor('flow-429')).toHaveLength(2);
  });

  it('throttles below the ACS limits: defers and keeps the message, then sends when the window frees', async () => {
    const { deps, clock } = alertDeps('alertsthrottle', sender(), { limits: { perMinute: 3, perHour: 100 }, requestsPerSend: 3 });
    const f = finding({ key: 'thr', severity: 'critical', evidence: { flowId: 'flow-thr' } });
    await deps.findings.upsertMany([f]);
    await enqueueAlerts(deps, [f]);
    const r1 = await drainAlertsQueue(deps, { visibilityTimeoutSec: 1 });
    expect(r1.sent).toHaveLength(1);
    expect(r1.throttled).toEqual([f.id]);
    expect(r1.retryAfterMs).toBeGreaterThan(0);
    expect(sentFor('flow-thr')).toHaveLength(1);
    clock.advance(61_000);
    await new Promise((r) => setTimeout(r, 1100));
    const r2 = await drainAlertsQueue(deps);
    expect(r2.sent).toHaveLength(1);
    expect(sentFor('flow-thr')).toHaveLength(2);
  });

  it('does not throttle when told so (outbox-only demo)', async () => {
    const { deps } = alertDeps('alertsnothrottle', sender(), { limits: { perMinute: 3, perHour: 3 }, throttle: false });
    const fs = [1, 2, 3].map((i) => finding({ key: `nt${i}`, severity: 'critical', evidence: { flowId: `flow-nt${i}` } }));
    await deps.findings.upsertMany(fs);
    await enqueueAlerts(deps, fs);
    const r = await drainAlertsQueue(deps);
    expect(r.sent).toHaveLength(6);
    expect(r.throttled).toEqual([]);
  });

  it('marks a Failed operation and retries it with backoff', async () => {
    const real = sender();
    let failNext = true;
    const failing: EmailSender = {
      send: async (msg, o) => {
        const r = await real.send(msg, o);
        if (failNext) {
          failNext = false;
          acs.failOperation(r.operationId);
          return { operationId: r.operationId, status: (await real.getStatus(r.operationId)).status };
        }
        return r;
      },
      getStatus: (id) => real.getStatus(id),
    };
    const policyOneRoute = { routes: [{ to: ['oncall@contoso.com'], minSeverity: 'info' as const }], immediate: 'high' as const, digestHours: 24, fallback: [], maxImmediateGroups: 5 };
    const { deps, clock } = alertDeps('alertsfail', failing);
    deps.policy = { ...deps.policy, alerts: policyOneRoute };
    const f = finding({ key: 'fail', severity: 'critical', evidence: { flowId: 'flow-fail' } });
    await deps.findings.upsertMany([f]);
    await enqueueAlerts(deps, [f]);
    const r1 = await drainAlertsQueue(deps);
    expect(r1.sent).toHaveLength(0);
    expect(r1.retrying).toEqual([f.id]);
    expect(await deps.alertsQueue.approximateCount()).toBe(0);
    // A redelivered queue message does not bypass the backoff either.
    await enqueueAlerts(deps, [f]);
    expect((await drainAlertsQueue(deps)).retrying).toEqual([f.id]);
    expect((await deliverDigest(deps)).sent).toHaveLength(0); // backoff not over
    clock.advance(31_000);
    const r2 = await deliverDigest(deps);
    expect(r2.sent).toHaveLength(1);
    expect(r2.sent[0]!.operationId).not.toBe(r1.sent[0]?.operationId);
  });
});

describe('outbox (.eml)', () => {
  it('writes one file per message, overwrites on re-runs, and carries no planted value', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fw-outbox-'));
    try {
      const run = async () => {
        // A fresh store each run, like the demo's in-memory Azurite: only the file names dedupe.
        const { deps } = alertDeps('alertsoutbox', new OutboxEmailSender(dir, 'DoNotReply@flowwarden.local'));
        const fs = sampleFindings('ob');
        await deps.findings.upsertMany(fs);
        await enqueueAlerts(deps, fs);
        await drainAlertsQueue(deps);
        await deliverDigest(deps);
      };
      await run();
      const first = (await readdir(dir)).sort();
      expect(first.filter((n) => n.startsWith('imm-'))).toHaveLength(4);
      expect(first.filter((n) => n.startsWith('dig-'))).toHaveLength(1);
      await run();
      expect((await readdir(dir)).sort()).toEqual(first);
      for (const n of first) {
        const raw = await readFile(path.join(dir, n), 'utf8');
        expect(raw).toMatch(/^From: DoNotReply@flowwarden\.local\r\nTo: /);
        expect(raw).toMatch(/\r\nDate: [A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000\r\n/);
        expect(raw).toMatch(/\r\nMessage-ID: <[^>]+@flowwarden\.local>\r\n/);
        expect(raw).toContain('Content-Type: multipart/alternative; boundary="');
        expect(raw).toContain('Content-Type: text/plain; charset=utf-8');
        expect(raw).toContain('Content-Type: text/html; charset=utf-8');
        expect(raw.split('\r\n').filter((l) => l.length > 78)).toEqual([]);
        const decoded = decodeQuotedPrintable(raw);
        expect(decoded).not.toContain(PLANTED);
        expect(raw).not.toContain(PLANTED);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('composite sends through ACS and the outbox', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fw-outbox-'));
    try {
      const { deps } = alertDeps('alertscomposite', new CompositeEmailSender([sender(), new OutboxEmailSender(dir)]));
      const f = finding({ key: 'comp', severity: 'critical', evidence: { flowId: 'flow-comp' } });
      await deps.findings.upsertMany([f]);
      await enqueueAlerts(deps, [f]);
      const r = await drainAlertsQueue(deps);
      expect(r.sent).toHaveLength(2);
      expect(sentFor('flow-comp')).toHaveLength(2);
      expect(await readdir(dir)).toHaveLength(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('waitFor: timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
