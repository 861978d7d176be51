import { describe, expect, it } from 'vitest';
import { detectText, scanValue } from '../../../src/core/secrets/engine';
import { CONTEXT_RULES, FORMAT_RULES, contextRuleFor } from '../../../src/core/secrets/rules';
import { SECRET_RULES_CATALOGUE } from '../../../src/core/secrets/catalogue';

describe('format rule vectors', () => {
  for (const rule of FORMAT_RULES) {
    describe(rule.id, () => {
      it('has vectors, keywords, a global pattern and a source', () => {
        expect(rule.vectors.match.length).toBeGreaterThan(0);
        expect(rule.vectors.noMatch.length).toBeGreaterThan(0);
        expect(rule.keywords.length).toBeGreaterThan(0);
        expect(rule.pattern.global).toBe(true);
        expect(rule.source.length).toBeGreaterThan(5);
      });
      for (const v of rule.vectors.match) {
        it(`matches ${JSON.stringify(v.slice(0, 60))}`, () => {
          expect(detectText(v).map((m) => m.ruleId)).toContain(rule.id);
        });
      }
      for (const v of rule.vectors.noMatch) {
        it(`does not match ${JSON.stringify(v.slice(0, 60))}`, () => {
          expect(detectText(v).map((m) => m.ruleId)).not.toContain(rule.id);
        });
      }
      it('a keyword of the rule appears in every match vector (prefilter is sound)', () => {
        // Keywords with upper case in a case-sensitive rule must appear exactly; others in any case.
        const exact = (k: string) => /[A-Z]/.test(k) && !rule.pattern.flags.includes('i');
        for (const v of rule.vectors.match) {
          expect(rule.keywords.some((k) => (exact(k) ? v.includes(k) : v.toLowerCase().includes(k.toLowerCase())))).toBe(true);
        }
      });
      it('keywords are at least 3 characters, and exact-case keywords only where the pattern is case-sensitive', () => {
        for (const k of rule.keywords) {
          expect(k.length).toBeGreaterThanOrEqual(3);
          if (/[A-Z]/.test(k) && rule.pattern.flags.includes('i')) expect(k, 'case-insensitive pattern: write the keyword in lower case').toBe(k.toLowerCase());
        }
      });
    });
  }
});

describe('context rule vectors', () => {
  for (const rule of CONTEXT_RULES) {
    describe(rule.id, () => {
      for (const v of rule.vectors.match) {
        it(`matches ${JSON.stringify(v.slice(0, 60))}`, () => {
          expect(detectText(v).map((m) => m.ruleId)).toContain(rule.id);
        });
      }
      for (const v of rule.vectors.noMatch) {
        it(`reports nothing in ${JSON.stringify(v.slice(0, 60))}`, () => {
          expect(detectText(v)).toEqual([]);
        });
      }
    });
  }
});

describe('rule table hygiene', () => {
  it('rule ids are unique and namespaced', () => {
    const ids = [...FORMAT_RULES, ...CONTEXT_RULES].map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^secret\.[a-z0-9-]+$/);
  });

  it('every rule id has a catalogue entry with a fix that says secure inputs/outputs, rotate and Key Vault', () => {
    const byId = new Map(SECRET_RULES_CATALOGUE.map((e) => [e.id, e]));
    for (const r of [...FORMAT_RULES, ...CONTEXT_RULES]) {
      const e = byId.get(r.id);
      expect(e, r.id).toBeDefined();
      expect(e?.kind).toBe('secret-exposure');
      expect(e?.severity).toBe(r.severity);
      expect(e?.fix).toMatch(/Secure inputs/);
      expect(e?.fix).toMatch(/rotate/i);
      expect(e?.fix).toMatch(/Key Vault/);
    }
    for (const [id, sev] of [
      ['secret.keyvault-getsecret-unsecured', 'medium'],
      ['secret.http-auth-unsecured', 'medium'],
      ['secret.hardcoded-in-definition', 'high'],
      ['secret.plaintext-environment-variable', 'high'],
      ['secret.secret-env-var-unsecured-action', 'medium'],
      ['secret.content-too-large', 'low'],
    ] as const) {
      expect(byId.get(id)?.severity, id).toBe(sev);
    }
    expect(new Set(SECRET_RULES_CATALOGUE.map((e) => e.id)).size).toBe(SECRET_RULES_CATALOGUE.length);
  });

  it('disabledRules switches a rule off in detectText and scanValue', () => {
    const v = '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';
    expect(detectText(v).map((m) => m.ruleId)).toEqual(['secret.github-token']);
    expect(detectText(v, { disabledRules: ['secret.github-token'] })).toEqual([]);
    expect(scanValue({ t: v }, { disabledRules: ['secret.github-token', 'secret.token-field'] })).toEqual([]);
  });

  it('metadata names are not sensitive; credential names are', () => {
    for (const n of ['passwordLastSet', 'secretName', 'tokenType', 'accessKeyId', 'keyName', 'publicKey', '$skiptoken', 'credentialsId', 'isSecretSet', 'AuthSource']) {
      expect(contextRuleFor(n, false), n).toBeUndefined();
    }
    for (const n of ['password', 'client_secret', 'token:clientSecret', 'access_token', 'x-functions-key', 'Ocp-Apim-Subscription-Key', 'PRIVATE-TOKEN', 'Authorization']) {
      expect(contextRuleFor(n, false), n).toBeDefined();
    }
  });
});
