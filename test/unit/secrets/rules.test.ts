import { describe, expect, it } from 'vitest';
import { detectText, scanValue, useKeywordLoopForTests } from '../../../src/core/secrets/engine';
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

describe('keyword scan: where and how a vector sits does not matter', () => {
  // The scanner reads the text two characters at a time (ASCII) or by code unit (other text), so
  // parity and non-ASCII neighbours are exactly what could make it miss a keyword.
  const shift = (ms: ReturnType<typeof detectText>, k: number) => ms.map((m) => ({ ...m, start: m.start + k, end: m.end + k }));
  const placements: [string, string][] = [
    ['\n', ''],
    ['\n\n', '\n'],
    ['\n\n\n', ''],
    ['é\n', '\n'],
    ['ü\n\n', '\né'],
    ['𝄞\n', ''],
  ];
  const vectors = [...FORMAT_RULES, ...CONTEXT_RULES].flatMap((r) => r.vectors.match.map((v) => [r.id, v] as const));
  for (const [id, v] of vectors) {
    it(`${id}: ${JSON.stringify(v.slice(0, 40))} at every offset parity, in ASCII and non-ASCII text`, () => {
      const alone = detectText(v);
      expect(alone.map((m) => m.ruleId)).toContain(id);
      for (const [before, after] of placements) {
        expect(detectText(before + v + after), JSON.stringify(before)).toEqual(shift(alone, before.length));
      }
    });
  }

  it('the JavaScript keyword loop (runtimes without WebAssembly) finds exactly what the WebAssembly one finds', () => {
    const texts = [...vectors.map(([, v]) => v), ...vectors.map(([, v]) => `\n${v}\n`), 'x'.repeat(5000) + vectors.map(([, v]) => v).join('\n')];
    expect(useKeywordLoopForTests('wasm')).toBe('wasm');
    const viaWasm = texts.map((t) => detectText(t));
    try {
      expect(useKeywordLoopForTests('js')).toBe('js');
      expect(texts.map((t) => detectText(t))).toEqual(viaWasm);
    } finally {
      useKeywordLoopForTests('wasm');
    }
    expect(viaWasm.flat().length).toBeGreaterThan(vectors.length);
  });

  it('texts larger than the scan buffer (it grows; huge ones get their own) keep exact offsets, before and after', () => {
    const key = 'AKIAIOSFODNN7SECRETS';
    for (const kind of ['wasm', 'js'] as const) {
      useKeywordLoopForTests(kind);
      try {
        expect(detectText(`{"k":"${key}"}`).map((m) => m.start)).toEqual([6]);
        for (const size of [70_001, 400_000, 1_500_001, 4_500_002]) {
          const big = 'a b '.repeat(size / 4) + `\n${key}\n` + 'é'.repeat(size % 3);
          expect(detectText(big), `${kind} ${size}`).toEqual([{ ruleId: 'secret.aws-access-key-id', start: big.indexOf(key), end: big.indexOf(key) + key.length, severity: 'high', confidence: 'high' }]);
          const ascii = big.replace(/é/g, '');
          expect(detectText(ascii).map((m) => m.start), `${kind} ascii ${size}`).toEqual([ascii.indexOf(key)]);
        }
        expect(detectText(`{"k":"${key}"}`).map((m) => m.start)).toEqual([6]);
      } finally {
        useKeywordLoopForTests('wasm');
      }
    }
  });

  it('case-insensitive keywords are found in upper case; exact-case keywords only as written', () => {
    for (const rule of FORMAT_RULES) {
      const insensitive = rule.pattern.flags.includes('i');
      for (const v of rule.vectors.match) {
        if (insensitive) {
          let upper = v;
          for (const k of rule.keywords) upper = upper.replace(new RegExp(k.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi'), (x) => x.toUpperCase());
          expect(detectText(upper).map((m) => m.ruleId), `${rule.id}: ${upper.slice(0, 60)}`).toContain(rule.id);
        }
      }
    }
    expect(detectText('AKIAIOSFODNN7SECRETS').map((m) => m.ruleId)).toEqual(['secret.aws-access-key-id']);
    expect(detectText('akiaIOSFODNN7SECRETS')).toEqual([]);
  });
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
