import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  allRoutes,
  backoffMs,
  digestDue,
  groupFindings,
  isImmediate,
  messageKey,
  operationIdFor,
  planDigest,
  planImmediate,
  routeKey,
  routesFor,
  returnTokens,
  takeTokens,
  ACS_DEFAULT_LIMITS,
} from '../../../src/core/alerts/plan';
import { allRules, ruleInfo } from '../../../src/core/catalogue';
import { ENV, finding, policy } from './fixtures';

const alerts = policy().alerts;

describe('routing', () => {
  it('sends high findings to on-call and admins, medium only to admins', () => {
    const hi = routesFor(finding({ severity: 'high' }), alerts).map((r) => r.to[0]);
    expect(hi.sort()).toEqual(['oncall@contoso.com', 'powerplatform-admins@contoso.com']);
    const med = routesFor(finding({ severity: 'medium' }), alerts).map((r) => r.to[0]);
    expect(med).toEqual(['powerplatform-admins@contoso.com']);
  });
  it('honours environments and kinds', () => {
    const dev = routesFor(finding({ severity: 'low', environmentId: 'dev-env' }), alerts).map((r) => r.to[0]);
    expect(dev.sort()).toEqual(['dev-team@contoso.com', 'powerplatform-admins@contoso.com']);
    const devDrift = routesFor(finding({ severity: 'low', environmentId: 'dev-env', kind: 'permission-drift' }), alerts).map((r) => r.to[0]);
    expect(devDrift).toEqual(['powerplatform-admins@contoso.com']);
  });
  it('falls back when no route matches', () => {
    const p = policy(`environments: [{ id: e1, dataverseUrl: "https://x.crm.dynamics.com" }]
alerts:
  routes: [{ to: ["a@x.com"], minSeverity: critical }]
  fallback: ["fb@x.com"]`);
    expect(routesFor(finding({ severity: 'low' }), p.alerts).map((r) => r.to)).toEqual([['fb@x.com']]);
    expect(allRoutes(p.alerts)).toHaveLength(2);
  });
  it('route keys ignore order and case', () => {
    expect(routeKey(['B@x.com', 'a@x.com'])).toBe(routeKey(['a@x.com', 'b@x.com']));
  });
  it('immediate at or above the policy severity', () => {
    expect(isImmediate(finding({ severity: 'high' }), alerts)).toBe(true);
    expect(isImmediate(finding({ severity: 'medium' }), alerts)).toBe(false);
  });
});

describe('planning', () => {
  it('groups immediate findings by flow, then by rule, and dedupes ids', () => {
    const a = finding({ key: 'a' });
    const b = finding({ key: 'b' });
    const other = finding({ key: 'c', kind: 'unexpected-modifier', ruleId: 'modifier.not-in-policy', subject: { type: 'record', id: 'r1' }, evidence: {} });
    const other2 = finding({ key: 'd', kind: 'unexpected-modifier', ruleId: 'modifier.not-in-policy', subject: { type: 'record', id: 'r2' }, evidence: {} });
    const low = finding({ key: 'e', severity: 'low' });
    const plan = planImmediate([a, b, a, other, other2, low], alerts);
    // 2 routes × 2 groups; the low one is for the digest.
    expect(plan).toHaveLength(4);
    for (const m of plan) expect(m.findings.map((f) => f.id)).not.toContain(low.id);
    const sizes = plan.map((m) => m.findings.length);
    expect(sizes).toEqual([2, 2, 2, 2]);
  });
  it('message keys are stable regardless of order', () => {
    const r = allRoutes(alerts)[0]!;
    expect(messageKey('immediate', r, ['b', 'a', 'a'])).toBe(messageKey('immediate', r, ['a', 'b']));
    expect(messageKey('digest', r, ['a'])).not.toBe(messageKey('immediate', r, ['a']));
    const d = planDigest(r, [finding({ key: 'x', severity: 'low' })]);
    expect(d?.kind).toBe('digest');
    expect(planDigest(r, [])).toBeUndefined();
  });
  it('groupFindings puts the worst group first', () => {
    const g = groupFindings([
      finding({ key: '1', severity: 'low', evidence: { flowId: 'f-b' } }),
      finding({ key: '2', severity: 'critical', evidence: { flowId: 'f-a' } }),
    ]);
    expect(g.map((x) => x.key)).toEqual([`flow:${ENV}:f-a`, `flow:${ENV}:f-b`]);
  });
  it('digest cadence', () => {
    const now = new Date('2025-01-02T00:00:00Z');
    expect(digestDue(undefined, now, 24)).toBe(true);
    expect(digestDue('2025-01-01T01:00:00Z', now, 24)).toBe(false);
    expect(digestDue('2025-01-01T00:00:00Z', now, 24)).toBe(true);
  });
  it('operation ids are GUIDs, stable per (route, key, attempt)', () => {
    const id = operationIdFor('r', 'k', 0);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(operationIdFor('r', 'k', 0)).toBe(id);
    expect(operationIdFor('r', 'k', 1)).not.toBe(id);
  });
});

describe('throttle (token buckets)', () => {
  const t0 = new Date('2025-01-01T00:00:00Z');
  it('allows 30 sends in a burst, then asks to wait until the minute window frees a slot', () => {
    let state;
    for (let i = 0; i < 30; i++) {
      const r = takeTokens(state, 1, ACS_DEFAULT_LIMITS, t0);
      expect(r.ok).toBe(true);
      state = r.state;
    }
    const r = takeTokens(state, 1, ACS_DEFAULT_LIMITS, t0);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.waitMs).toBe(60_000);
  });
  it('gives back the requests of a send that did not happen, and only those', () => {
    const t1 = new Date(t0.getTime() + 1000);
    let state;
    for (let i = 0; i < 27; i++) state = (takeTokens(state, 1, ACS_DEFAULT_LIMITS, t0) as { state: { sent: number[] } }).state;
    const taken = takeTokens(state, 3, ACS_DEFAULT_LIMITS, t1);
    expect(taken.ok).toBe(true);
    expect(takeTokens(taken.state, 3, ACS_DEFAULT_LIMITS, t1).ok).toBe(false);
    const back = returnTokens(taken.state, 3, t1.getTime());
    expect(back.sent).toHaveLength(27);
    expect(takeTokens(back, 3, ACS_DEFAULT_LIMITS, t1).ok).toBe(true);
    // Nothing taken at that time: nothing given back.
    expect(returnTokens(back, 3, t1.getTime() + 5).sent).toHaveLength(27);
  });
  it('caps at 100 per hour even when minutes refill', () => {
    let state;
    let sent = 0;
    // One attempt every 2 s for an hour: the minute bucket would allow 1800.
    for (let s = 0; s < 3600; s += 2) {
      const r = takeTokens(state, 1, ACS_DEFAULT_LIMITS, new Date(t0.getTime() + s * 1000));
      state = r.state;
      if (r.ok) sent++;
    }
    expect(sent).toBe(100);
  });
  it('never exceeds either limit in any sliding window (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 90_000 }), { minLength: 1, maxLength: 400 }), (gaps) => {
        let state;
        let t = t0.getTime();
        const sends: number[] = [];
        for (const g of gaps) {
          t += g;
          const r = takeTokens(state, 1, ACS_DEFAULT_LIMITS, new Date(t));
          state = r.state;
          if (r.ok) sends.push(t);
        }
        for (let i = 0; i < sends.length; i++) {
          expect(sends.filter((s) => s >= sends[i]! && s < sends[i]! + 60_000).length).toBeLessThanOrEqual(30);
          expect(sends.filter((s) => s >= sends[i]! && s < sends[i]! + 3_600_000).length).toBeLessThanOrEqual(100);
        }
      }),
      { numRuns: 50 },
    );
  });
  it('rejects impossible costs', () => {
    expect(() => takeTokens(undefined, 0, ACS_DEFAULT_LIMITS, t0)).toThrow(RangeError);
    expect(() => takeTokens(undefined, 31, ACS_DEFAULT_LIMITS, t0)).toThrow(/exceeds/);
  });
  it('backoff doubles and caps', () => {
    expect(backoffMs(1)).toBe(30_000);
    expect(backoffMs(2)).toBe(60_000);
    expect(backoffMs(20)).toBe(3_600_000);
  });
});

describe('catalogue', () => {
  it('merges every area catalogue and falls back to a generic entry by prefix', () => {
    const ids = allRules().map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const prefix of ['secret.', 'modifier.', 'drift.', 'health.']) expect(ids.some((id) => id.startsWith(prefix))).toBe(true);
    expect(ruleInfo('health.source-stalled')?.severity).toBe('high');
    expect(ruleInfo('modifier.not-in-policy')?.kind).toBe('unexpected-modifier');
    expect(ruleInfo('secret.something-new')).toMatchObject({ id: 'secret.something-new', kind: 'secret-exposure' });
    expect(ruleInfo('weird')).toBeUndefined();
    expect(ruleInfo('weird', 'permission-drift')?.kind).toBe('permission-drift');
    for (const r of allRules()) expect(r.why.length && r.fix.length).toBeGreaterThan(0);
  });
});
