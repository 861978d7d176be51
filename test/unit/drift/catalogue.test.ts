import { describe, expect, it } from 'vitest';
import { DRIFT_RULE, DRIFT_RULES_CATALOGUE, driftRuleInfo } from '../../../src/core/drift/catalogue';

describe('DRIFT_RULES_CATALOGUE', () => {
  it('has exactly one complete entry per drift rule id', () => {
    const ids = Object.values(DRIFT_RULE);
    expect(DRIFT_RULES_CATALOGUE.map((r) => r.id).sort()).toEqual([...ids].sort());
    for (const r of DRIFT_RULES_CATALOGUE) {
      expect(r.kind).toBe('permission-drift');
      for (const text of [r.title, r.description, r.why, r.fix]) expect(text.length).toBeGreaterThan(20);
    }
    expect(driftRuleInfo(DRIFT_RULE.ownerHasDataRoles).description).toContain('roles.nonDataRoles');
  });

  it('rejects an unknown id by name', () => {
    expect(() => driftRuleInfo('drift.nope' as never)).toThrow(/drift\.nope/);
  });
});
