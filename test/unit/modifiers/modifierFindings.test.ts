import { describe, expect, it } from 'vitest';
import { MODIFIER_RULES_CATALOGUE } from '../../../src/core/modifiers/catalogue';
import { isLearning, modifierEvidenceKey, modifierFindings, recordPortalLink } from '../../../src/core/modifiers/modifierFindings';
import { parsePolicy } from '../../../src/core/policy';
import type { AuditEvent } from '../../../src/core/records';
import { demoPolicy, ENV, IDS, who } from './helpers';

const policy = demoPolicy();
const DETECTED = '2026-11-23T12:00:00.000Z';
const LEARNED_LONG_AGO = '2026-01-01T00:00:00.000Z';
const INVOICE = 'b0000000-0000-4000-8000-000000000001';

const ev = (over: Partial<AuditEvent> = {}): AuditEvent => ({
  environmentId: ENV,
  source: 'audit',
  eventId: 'a0000000-0000-4000-8000-000000000001',
  table: 'cr5f2_invoice',
  recordId: INVOICE,
  operation: 'update',
  actionCode: 2,
  messageName: 'Update',
  user: who(IDS.invoiceSync),
  occurredAt: '2026-11-20T10:15:30.000Z',
  ...over,
});

const seen = (...ids: string[]) => ids.map((identityId) => ({ identityId }));
const rules = (fs: { ruleId: string }[]) => fs.map((f) => f.ruleId).sort();

describe('modifierFindings', () => {
  it('the allowed automation on its own table, already profiled, raises nothing', () => {
    expect(modifierFindings(ev(), { policy, profile: seen(IDS.invoiceSync), learningStartedAt: LEARNED_LONG_AGO, detectedAt: DETECTED })).toEqual([]);
  });

  it('a person on an automation-only table: not-in-policy + person-on-automation-table + first-seen', () => {
    const fs = modifierFindings(ev({ user: who(IDS.bob) }), { policy, profile: seen(IDS.invoiceSync), learningStartedAt: LEARNED_LONG_AGO, detectedAt: DETECTED });
    expect(rules(fs)).toEqual(['modifier.first-seen', 'modifier.not-in-policy', 'modifier.person-on-automation-table']);
    const person = fs.find((f) => f.ruleId === 'modifier.person-on-automation-table')!;
    expect(person).toMatchObject({
      kind: 'unexpected-modifier',
      severity: 'high',
      environmentId: ENV,
      subject: { type: 'record', id: `cr5f2_invoice:${INVOICE}` },
      observedAt: '2026-11-20T10:15:30.000Z',
      detectedAt: DETECTED,
      evidence: {
        table: 'cr5f2_invoice',
        recordId: INVOICE,
        operation: 'update',
        identityId: IDS.bob,
        identityName: 'Bob Person',
        identityKind: 'person',
        upn: 'bob@contoso.com',
        resolved: true,
        portalLink: `https://contoso-prod.crm4.dynamics.com/main.aspx?etn=cr5f2_invoice&id=${INVOICE}&pagetype=entityrecord`,
        expected: 'Invoice Sync (app user) (app:a1b2c3d4-0001-4e5f-8a9b-000000000001)',
      },
    });
    expect(person.title).toContain('Bob Person');
    expect(person.detail).toContain('Invoice Sync (app user)');
    expect(person.detail).toContain('How to fix:');
    const first = fs.find((f) => f.ruleId === 'modifier.first-seen')!;
    expect(first.severity).toBe('medium');
  });

  it('an application user of another lane: not-in-policy + outside-lane', () => {
    const fs = modifierFindings(ev({ user: who(IDS.contactEnricher) }), { policy, profile: seen(IDS.contactEnricher), learningStartedAt: LEARNED_LONG_AGO, detectedAt: DETECTED });
    expect(rules(fs)).toEqual(['modifier.not-in-policy', 'modifier.outside-lane']);
    const lane = fs.find((f) => f.ruleId === 'modifier.outside-lane')!;
    expect(lane.evidence).toMatchObject({ lane: 'contact,account', applicationId: 'a1b2c3d4-0002-4e5f-8a9b-000000000002', identityKind: 'application-user' });
  });

  it('outside-lane works on tables the policy does not declare', () => {
    const fs = modifierFindings(ev({ table: 'lead', user: who(IDS.invoiceSync) }), { policy, profile: seen(IDS.invoiceSync), learningStartedAt: LEARNED_LONG_AGO, detectedAt: DETECTED });
    expect(rules(fs)).toEqual(['modifier.outside-lane']);
    expect(fs[0]!.evidence.portalLink).toBe(`https://contoso-prod.crm4.dynamics.com/main.aspx?etn=lead&id=${INVOICE}&pagetype=entityrecord`);
  });

  it('an application user without a declared lane derives it from allowedModifiers', () => {
    const p = parsePolicy(
      `environments: [{ id: e1, dataverseUrl: "https://x.crm.dynamics.com" }]
tables:
  contact: { allowedModifiers: ["app:a1b2c3d4-0002-4e5f-8a9b-000000000002"] }
`,
      'inline.yaml',
    );
    const fs = modifierFindings(ev({ environmentId: 'e1', table: 'account', user: who(IDS.contactEnricher) }), { policy: p, profile: seen(IDS.contactEnricher), detectedAt: DETECTED });
    expect(rules(fs)).toEqual(['modifier.outside-lane']);
    expect(fs[0]!.evidence.lane).toBe('contact');
  });

  it('first-seen: info while learning, low for an allowed identity after, and once the profile has it nothing', () => {
    const learning = modifierFindings(ev(), { policy, profile: [], learningStartedAt: '2026-11-20T00:00:00Z', detectedAt: DETECTED });
    expect(rules(learning)).toEqual(['modifier.first-seen']);
    expect(learning[0]!.severity).toBe('info');
    expect(learning[0]!.evidence.learning).toBe(true);
    expect(modifierFindings(ev(), { policy, profile: [], detectedAt: DETECTED })[0]!.severity).toBe('info');
    const after = modifierFindings(ev(), { policy, profile: [], learningStartedAt: LEARNED_LONG_AGO, detectedAt: DETECTED });
    expect(after[0]!.severity).toBe('low');
  });

  it('impersonation where the table forbids it (high), and where the policy is silent (medium)', () => {
    const onAccount = ev({ table: 'account', user: who(IDS.alice), callingUser: who(IDS.contactEnricher) });
    const fs = modifierFindings(onAccount, { policy, profile: seen(IDS.alice), learningStartedAt: LEARNED_LONG_AGO, detectedAt: DETECTED });
    expect(rules(fs)).toEqual(['modifier.impersonation']);
    expect(fs[0]).toMatchObject({ severity: 'high', evidence: { identityId: IDS.alice, callingUserId: IDS.contactEnricher, callingUserKind: 'application-user', callingUserName: 'Contact Enricher (app user)' } });
    const onContact = modifierFindings({ ...onAccount, table: 'contact' }, { policy, profile: seen(IDS.alice), learningStartedAt: LEARNED_LONG_AGO, detectedAt: DETECTED });
    expect(rules(onContact)).toEqual(['modifier.impersonation']);
    expect(onContact[0]!.severity).toBe('medium');
  });

  it('impersonation allowed by the table or by the caller raises nothing', () => {
    const p = parsePolicy(
      `environments: [{ id: ${ENV}, dataverseUrl: "https://x.crm.dynamics.com" }]
tables:
  account: { allowImpersonation: true }
identities:
  - { ref: "app:a1b2c3d4-0002-4e5f-8a9b-000000000002", kind: application-user, mayImpersonate: true }
`,
      'inline.yaml',
    );
    const base = { user: who(IDS.alice), callingUser: who(IDS.contactEnricher) };
    expect(modifierFindings(ev({ table: 'account', ...base }), { policy: p, profile: seen(IDS.alice), detectedAt: DETECTED })).toEqual([]);
    expect(modifierFindings(ev({ table: 'contact', ...base }), { policy: p, profile: seen(IDS.alice), detectedAt: DETECTED })).toEqual([]);
  });

  it('a service account is not a person even though Dataverse shows it as a licensed user', () => {
    const fs = modifierFindings(ev({ user: who(IDS.svcOwner) }), { policy, profile: seen(IDS.svcOwner), learningStartedAt: LEARNED_LONG_AGO, detectedAt: DETECTED });
    expect(rules(fs)).toEqual(['modifier.not-in-policy']);
    expect(fs[0]!.evidence).toMatchObject({ identityKind: 'service-account', identityName: 'Flow owner service account', policyRef: 'upn:svc-flowowner@contoso.com' });
  });

  it('an unresolved identity still raises, with the raw id and resolved:false', () => {
    const raw = '55555555-0000-4000-8000-0000000000ff';
    const fs = modifierFindings(ev({ user: { id: raw, kind: 'unknown', resolved: false } }), { policy, profile: [], learningStartedAt: LEARNED_LONG_AGO, detectedAt: DETECTED });
    expect(rules(fs)).toEqual(['modifier.first-seen', 'modifier.not-in-policy']);
    for (const f of fs) {
      expect(f.evidence).toMatchObject({ identityId: raw, resolved: false, identityKind: 'unknown' });
      expect(f.title).toContain('unresolved');
    }
  });

  it('the same change seen by the audit poll and by the webhook gives the same finding ids', () => {
    const audit = ev({ user: who(IDS.bob), eventId: 'a-1', source: 'audit', occurredAt: '2026-11-20T10:15:30.000Z' });
    const hook = ev({ user: who(IDS.bob), eventId: 'wh-xyz', source: 'webhook', messageName: 'Update', occurredAt: '2026-11-20T10:15:30.480Z' });
    delete hook.actionCode;
    const ctx = { policy, profile: [], learningStartedAt: LEARNED_LONG_AGO, detectedAt: DETECTED };
    expect(modifierEvidenceKey(audit)).toBe(modifierEvidenceKey(hook));
    expect(modifierFindings(audit, ctx).map((f) => f.id).sort()).toEqual(modifierFindings(hook, ctx).map((f) => f.id).sort());
    // Same row twice → same ids; a different second or record → different ids.
    expect(modifierFindings(audit, ctx).map((f) => f.id)).toEqual(modifierFindings({ ...audit }, ctx).map((f) => f.id));
    const later = modifierFindings({ ...audit, occurredAt: '2026-11-20T10:15:31.000Z' }, ctx).map((f) => f.id);
    expect(later).not.toEqual(modifierFindings(audit, ctx).map((f) => f.id));
  });

  it('column-not-in-policy: one finding per protected column changed by an identity not listed for it', () => {
    const p = parsePolicy(
      `environments: [{ id: ${ENV}, dataverseUrl: "https://x.crm.dynamics.com" }]
tables:
  contact:
    allowedModifiers: ["upn:alice@contoso.com", "app:a1b2c3d4-0002-4e5f-8a9b-000000000002"]
    columns:
      creditlimit: ["app:a1b2c3d4-0002-4e5f-8a9b-000000000002"]
      emailaddress1: ["app:a1b2c3d4-0002-4e5f-8a9b-000000000002"]
`,
      'inline.yaml',
    );
    const ctx = { policy: p, profile: seen(IDS.alice, IDS.contactEnricher), detectedAt: DETECTED };
    const byAlice = modifierFindings(ev({ table: 'contact', user: who(IDS.alice), changedAttributes: ['telephone1', 'creditlimit', 'emailaddress1'] }), ctx);
    expect(rules(byAlice)).toEqual(['modifier.column-not-in-policy', 'modifier.column-not-in-policy']);
    expect(byAlice.map((f) => f.evidence.column).sort()).toEqual(['creditlimit', 'emailaddress1']);
    expect(new Set(byAlice.map((f) => f.id)).size).toBe(2);
    // No identities declared in this policy: the reference itself names the allowed writer.
    expect(byAlice[0]!.evidence.columnAllowed).toBe('app:a1b2c3d4-0002-4e5f-8a9b-000000000002');
    expect(modifierFindings(ev({ table: 'contact', user: who(IDS.contactEnricher), changedAttributes: ['creditlimit'] }), ctx)).toEqual([]);
    expect(modifierFindings(ev({ table: 'contact', user: who(IDS.alice), changedAttributes: ['telephone1'] }), ctx)).toEqual([]);
  });

  it('role changes and other actions are not modifier events; operations filter is honoured', () => {
    const ctx = { policy, profile: [], detectedAt: DETECTED };
    expect(modifierFindings(ev({ operation: 'role-assign', table: 'systemuser', user: who(IDS.bob) }), ctx)).toEqual([]);
    expect(modifierFindings(ev({ operation: 'other', user: who(IDS.bob) }), ctx)).toEqual([]);
    const p = parsePolicy(
      `environments: [{ id: ${ENV}, dataverseUrl: "https://x.crm.dynamics.com" }]
tables:
  cr5f2_invoice: { allowedModifiers: ["app:a1b2c3d4-0001-4e5f-8a9b-000000000001"], allowPeople: false, operations: [delete] }
`,
      'inline.yaml',
    );
    expect(modifierFindings(ev({ user: who(IDS.bob) }), { policy: p, profile: [], detectedAt: DETECTED })).toEqual([]);
    expect(modifierFindings(ev({ user: who(IDS.bob), operation: 'delete' }), { policy: p, profile: [], detectedAt: DETECTED }).length).toBeGreaterThan(0);
  });

  it('every finding has a catalogue entry and evidence of primitives only', () => {
    const ids = new Set(MODIFIER_RULES_CATALOGUE.map((r) => r.id));
    const events = [ev({ user: who(IDS.bob) }), ev({ user: who(IDS.contactEnricher) }), ev({ table: 'account', user: who(IDS.alice), callingUser: who(IDS.unknownApp) })];
    for (const e of events) {
      for (const f of modifierFindings(e, { policy, profile: [], detectedAt: DETECTED })) {
        expect(ids.has(f.ruleId)).toBe(true);
        expect(f.id).toMatch(/^[0-9a-f]{32}$/);
        for (const v of Object.values(f.evidence)) expect(['string', 'number', 'boolean']).toContain(typeof v);
      }
    }
  });

  it('helpers: portal link and learning window', () => {
    expect(recordPortalLink('https://org.crm.dynamics.com/', 'contact', 'abc')).toBe('https://org.crm.dynamics.com/main.aspx?etn=contact&id=abc&pagetype=entityrecord');
    expect(isLearning(policy, undefined, DETECTED)).toBe(true);
    expect(isLearning(policy, '2026-11-01T00:00:00Z', DETECTED)).toBe(true);
    expect(isLearning(policy, '2026-10-01T00:00:00Z', DETECTED)).toBe(false);
  });
});
