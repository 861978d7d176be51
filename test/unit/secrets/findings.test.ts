import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { policySchema, type Policy } from '../../../src/core/policy';
import type { RunActionContent } from '../../../src/core/records';
import {
  applySecretPolicy,
  contentTooLargeFinding,
  locationMatches,
  runContentFindings,
  runContentFindingsWithStats,
  suppressionActive,
  type SecretFindingContext,
} from '../../../src/core/secrets/findings';

const ENV = '7a1c2f4e-9d3b-4c55-8e21-3b9f0d6a1c01';
const FLOW = 'a18e89d1-4c75-41e4-9517-e90aedc079be';
const RUN = '08584766024405418396540238404CU07';

// Random, shape-valid fakes.
const AWS_KEY = 'AKIAQYLPMN5HHHFPZAM2';
const STORAGE_KEY = 'kX2vQ9mT4rW7yZ1bN5cF8hJ3lP6sD0gA2eR9uI4oK7tY1wE5qM8nB3vC6xZ0jH4fL7pS2dG9aQ1rT5yU8iO3wE6zX==';
const STORAGE_CS = `DefaultEndpointsProtocol=https;AccountName=contosodata;AccountKey=${STORAGE_KEY};EndpointSuffix=core.windows.net`;

function policy(secrets: Record<string, unknown> = {}, portalUrl?: string): Policy {
  return policySchema.parse({
    environments: [{ id: ENV, dataverseUrl: 'https://contoso-prod.crm4.dynamics.com', ...(portalUrl ? { portalUrl } : {}) }],
    secrets,
  });
}

function ctx(extra: Partial<SecretFindingContext> = {}): SecretFindingContext {
  return { fingerprintKey: 'test-key', policy: policy(), detectedAt: '2025-03-01T10:00:00.000Z', ...extra };
}

function content(extra: Partial<RunActionContent> = {}): RunActionContent {
  return {
    environmentId: ENV,
    flowId: FLOW,
    flowName: 'ERP sync',
    runId: RUN,
    actionName: 'Send_an_HTTP_request',
    actionType: 'Http',
    direction: 'inputs',
    observedAt: '2025-02-28T23:59:00Z',
    content: {
      method: 'POST',
      uri: 'https://erp.contoso.com/api/orders',
      headers: { 'Content-Type': 'application/json', 'x-ms-client-request-id': 'c3f1b8a4-2f0e-4d5b-9a7c-1e2d3f4a5b6c' },
      body: { orderId: 1234, aws: AWS_KEY, storage: STORAGE_CS, note: 'ordinary text with no secret in it' },
    },
    ...extra,
  };
}

describe('runContentFindings', () => {
  const findings = runContentFindings(content(), ctx({ viewers: ['owner: svc-flowowner@contoso.com', 'co-owner: alice@contoso.com', 'run-only: ops@contoso.com'] }));

  it('finds each planted secret once, with the run context in subject and evidence', () => {
    expect(findings.length).toBeGreaterThanOrEqual(2);
    const paths = findings.map((f) => String(f.evidence['path']));
    expect(paths.some((p) => p.includes('aws'))).toBe(true);
    expect(paths.some((p) => p.includes('storage'))).toBe(true);
    for (const f of findings) {
      expect(f.kind).toBe('secret-exposure');
      expect(['critical', 'high']).toContain(f.severity);
      expect(f.subject).toEqual({ type: 'flow-run-action', id: `${FLOW}/runs/${RUN}/actions/Send_an_HTTP_request`, name: 'Send_an_HTTP_request' });
      expect(f.environmentId).toBe(ENV);
      expect(f.observedAt).toBe('2025-02-28T23:59:00Z');
      expect(f.detectedAt).toBe('2025-03-01T10:00:00.000Z');
      expect(f.evidence).toMatchObject({ direction: 'inputs', flowId: FLOW, runId: RUN, actionName: 'Send_an_HTTP_request' });
      expect(f.evidence['portalUrl']).toBe(`https://make.powerautomate.com/environments/${ENV}/flows/${FLOW}/runs/${RUN}`);
      expect(String(f.evidence['fingerprint'])).toMatch(/^hmac-sha256:[0-9a-f]{32}$/);
      expect(f.title).not.toContain('\n');
      expect(f.detail).toContain('Send_an_HTTP_request');
      expect(f.detail).toContain(RUN);
      expect(f.detail).toContain('alice@contoso.com');
      expect(f.detail).toMatch(/Secure Inputs/);
      expect(f.detail).toMatch(/rotate/);
    }
  });

  it('never puts a planted secret in a finding', () => {
    const json = JSON.stringify(findings);
    for (const v of [AWS_KEY, STORAGE_KEY, AWS_KEY.slice(4), STORAGE_KEY.slice(4, 40), STORAGE_KEY.slice(-30)]) expect(json).not.toContain(v);
  });

  it('is idempotent: same input → same ids; a different place or direction → a different id', () => {
    const again = runContentFindings(content(), ctx({ detectedAt: '2025-03-02T00:00:00Z' }));
    expect(again.map((f) => f.id).sort()).toEqual(findings.map((f) => f.id).sort());
    const outputs = runContentFindings(content({ direction: 'outputs' }), ctx());
    const ids = new Set(findings.map((f) => f.id));
    for (const f of outputs) expect(ids.has(f.id)).toBe(false);
    expect(outputs[0]!.detail).toMatch(/Secure Outputs/);
  });

  it('keys ids by fingerprint: another fingerprint key gives other fingerprints and other ids', () => {
    const other = runContentFindings(content(), ctx({ fingerprintKey: 'rotated-key' }));
    expect(other.length).toBe(findings.length);
    const fps = new Set(findings.map((f) => f.evidence['fingerprint']));
    const ids = new Set(findings.map((f) => f.id));
    for (const f of other) {
      expect(fps.has(f.evidence['fingerprint'])).toBe(false);
      expect(ids.has(f.id)).toBe(false);
    }
  });

  it('correlates the same secret across runs by fingerprint', () => {
    const other = runContentFindings(content({ runId: 'other-run', content: { text: `key=${AWS_KEY}` } }), ctx());
    const awsFp = findings.find((f) => String(f.evidence['path']).includes('aws'))!.evidence['fingerprint'];
    expect(other.map((f) => f.evidence['fingerprint'])).toContain(awsFp);
  });

  it('scans plain-text content too and finds nothing in clean content', () => {
    expect(runContentFindings(content({ content: `Authorization header was ${AWS_KEY}` }), ctx()).length).toBe(1);
    expect(runContentFindings(content({ content: { statusCode: 200, body: { id: 'c3f1b8a4-2f0e-4d5b-9a7c-1e2d3f4a5b6c', ok: true } } }), ctx())).toEqual([]);
  });

  it('uses the policy portal URL, and ctx.portalUrl over it', () => {
    const p = policy({}, 'https://make.gov.powerautomate.us/');
    const f1 = runContentFindings(content(), ctx({ policy: p }))[0]!;
    expect(String(f1.evidence['portalUrl']).startsWith(`https://make.gov.powerautomate.us/environments/${ENV}/flows/`)).toBe(true);
    const f2 = runContentFindings(content(), ctx({ policy: p, portalUrl: 'https://portal.example' }))[0]!;
    expect(String(f2.evidence['portalUrl']).startsWith('https://portal.example/environments/')).toBe(true);
    expect(f2.id).toBe(f1.id);
  });

  it('applies disabled rules, severity overrides and suppressions (fingerprint, rule + location, expiry)', () => {
    const aws = findings.find((f) => String(f.evidence['path']).includes('aws'))!;
    const storage = findings.find((f) => String(f.evidence['path']).includes('storage'))!;

    const disabled = runContentFindings(content(), ctx({ policy: policy({ disabledRules: [aws.ruleId] }) }));
    expect(disabled.some((f) => f.ruleId === aws.ruleId)).toBe(false);

    const overridden = runContentFindings(content(), ctx({ policy: policy({ severity: { [storage.ruleId]: 'low' } }) }));
    expect(overridden.find((f) => f.ruleId === storage.ruleId)!.severity).toBe('low');

    const byFp = runContentFindingsWithStats(
      content(),
      ctx({ policy: policy({ suppressions: [{ fingerprint: aws.evidence['fingerprint'] as string, reason: 'documented test key', expires: '2025-03-01' }] }) }),
    );
    expect(byFp.suppressed).toBe(1);
    expect(byFp.findings.map((f) => f.id)).not.toContain(aws.id);

    const expired = runContentFindingsWithStats(
      content(),
      ctx({
        detectedAt: '2025-03-02T00:00:00Z',
        policy: policy({ suppressions: [{ fingerprint: aws.evidence['fingerprint'] as string, reason: 'documented test key', expires: '2025-03-01' }] }),
      }),
    );
    expect(expired.suppressed).toBe(0);
    expect(expired.findings.map((f) => f.id)).toContain(aws.id);

    const byLocation = runContentFindingsWithStats(
      content(),
      ctx({ policy: policy({ suppressions: [{ ruleId: storage.ruleId, location: `${FLOW}/runs/*/actions/Send_an_HTTP_request`, reason: 'r', expires: '2026-01-01' }] }) }),
    );
    expect(byLocation.findings.map((f) => f.id)).not.toContain(storage.id);
    expect(byLocation.findings.map((f) => f.id)).toContain(aws.id);

    const elsewhere = runContentFindingsWithStats(
      content(),
      ctx({ policy: policy({ suppressions: [{ ruleId: storage.ruleId, location: 'another-flow', reason: 'r', expires: '2026-01-01' }] }) }),
    );
    expect(elsewhere.suppressed).toBe(0);
  });
});

describe('property: no secret value in findings', () => {
  const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const alnum = (n: number) => fc.array(fc.constantFrom(...ALNUM), { minLength: n, maxLength: n }).map((a) => a.join(''));
  // Entra client secrets (xxx8Q~…) and storage keys, placed under random keys in random action content.
  const secret = fc.oneof(
    fc.tuple(alnum(3), fc.constantFrom(...'0123456789'), alnum(34)).map(([a, d, b]) => `${a}${d}Q~${b}`),
    alnum(86).map((k) => `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${k}==;EndpointSuffix=core.windows.net`),
  );
  it('holds for random secrets in random places', () => {
    fc.assert(
      fc.property(secret, fc.constantFrom('body', 'headers', 'value', 'note'), fc.constantFrom('inputs', 'outputs'), (value, key, direction) => {
        const fs = runContentFindings(content({ direction: direction as 'inputs' | 'outputs', content: { statusCode: 200, [key]: { data: [1, { text: `see ${value} here` }] } } }), ctx());
        expect(fs.length).toBeGreaterThan(0);
        const json = JSON.stringify(fs);
        const core = /AccountKey=([A-Za-z0-9]+)/.exec(value)?.[1] ?? value;
        expect(json).not.toContain(core);
        expect(json).not.toContain(core.slice(4, 24));
      }),
      { numRuns: 200, seed: 42 },
    );
  });
});

describe('contentTooLargeFinding', () => {
  const { content: _omit, ...base } = content();
  it('names the action and size, low severity, stable id', () => {
    const f = contentTooLargeFinding({ ...base, size: 9_000_000 }, ctx())!;
    expect(f.ruleId).toBe('secret.content-too-large');
    expect(f.severity).toBe('low');
    expect(f.title).toContain('Send_an_HTTP_request');
    expect(f.title).toContain('9000000');
    expect(f.evidence).toMatchObject({ size: 9_000_000, maxContentBytes: 4 * 1024 * 1024, direction: 'inputs', runId: RUN });
    expect(contentTooLargeFinding({ ...base, size: 9_000_001 }, ctx())!.id).toBe(f.id);
  });
  it('is dropped when the rule is disabled', () => {
    expect(contentTooLargeFinding({ ...base, size: 9_000_000 }, ctx({ policy: policy({ disabledRules: ['secret.content-too-large'] }) }))).toBeUndefined();
  });
});

describe('policy helpers', () => {
  it('expires a suppression after its day', () => {
    const s = { reason: 'r', expires: '2025-03-01', ruleId: 'x' };
    expect(suppressionActive(s, '2025-03-01T23:59:59Z')).toBe(true);
    expect(suppressionActive(s, '2025-03-02T00:00:00Z')).toBe(false);
  });
  it('matches locations by glob or by prefix segment', () => {
    expect(locationMatches('flow-1', 'flow-1/runs/r/actions/a')).toBe(true);
    expect(locationMatches('flow-1', 'flow-10/runs/r')).toBe(false);
    expect(locationMatches('flow-*/actions/Get_*', 'flow-9/actions/Get_secret')).toBe(true);
    expect(locationMatches('flow-*/actions/Get_*', 'flow-9/runs/x/actions/Http')).toBe(false);
  });
  it('ignores a suppression that names nothing', () => {
    const f = runContentFindings(content(), ctx())[0]!;
    const res = applySecretPolicy([f], { policy: policy({ suppressions: [{ reason: 'oops', expires: '2030-01-01' }] }), detectedAt: '2025-03-01T00:00:00Z' });
    expect(res.findings).toHaveLength(1);
    expect(res.suppressed).toBe(0);
  });
});
