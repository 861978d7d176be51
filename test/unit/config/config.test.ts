import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../src/config';
import { SETTINGS } from '../../../src/settings';

const base = {
  FLOWWARDEN_POLICY: 'policy/demo.policy.yaml',
  FLOWWARDEN_STORAGE_CONNECTION_STRING: 'UseDevelopmentStorage=true',
  FLOWWARDEN_FINGERPRINT_KEY: 'k'.repeat(32),
  FLOWWARDEN_WEBHOOK_SECRET: 'first-secret-0000,second-secret-000',
};

function problems(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('config', () => {
  it('applies the defaults of the settings list', () => {
    const c = loadConfig(base);
    expect(c.webhookSecrets).toEqual(['first-secret-0000', 'second-secret-000']);
    expect(c.schedules.runs).toBe(SETTINGS.find((s) => s.name === 'FLOWWARDEN_RUNS_SCHEDULE')!.default);
    expect(c.flowApiUrl).toBe('https://api.flow.microsoft.com');
    expect(c.lookbackMinutes).toBe(30);
  });

  it('names the variable and what was expected for each bad setting', () => {
    const p = problems({ ...base, FLOWWARDEN_FINGERPRINT_KEY: 'short', FLOWWARDEN_LOOKBACK_MINUTES: 'soon', FLOWWARDEN_ACS_ENDPOINT: 'not a url', FLOWWARDEN_CREDENTIAL: 'magic' });
    expect(p.some((m) => m.startsWith('FLOWWARDEN_FINGERPRINT_KEY: expected at least 32'))).toBe(true);
    expect(p.some((m) => m.startsWith('FLOWWARDEN_LOOKBACK_MINUTES: expected a whole number'))).toBe(true);
    expect(p.some((m) => m.startsWith('FLOWWARDEN_ACS_ENDPOINT: expected an http(s) URL'))).toBe(true);
    expect(p.some((m) => m.startsWith('FLOWWARDEN_CREDENTIAL'))).toBe(true);
  });

  it('requires the policy, a key, a webhook secret and some storage', () => {
    const p = problems({});
    for (const name of ['FLOWWARDEN_POLICY', 'FLOWWARDEN_FINGERPRINT_KEY', 'FLOWWARDEN_WEBHOOK_SECRET', 'FLOWWARDEN_STORAGE_ACCOUNT_URL']) {
      expect(p.some((m) => m.startsWith(name)), name).toBe(true);
    }
  });

  it('refuses unresolved Key Vault references and never echoes the value', () => {
    const ref = '@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/fingerprint/)';
    const p = problems({ ...base, FLOWWARDEN_FINGERPRINT_KEY: ref, FLOWWARDEN_WEBHOOK_SECRET: ref });
    expect(p).toContain("FLOWWARDEN_FINGERPRINT_KEY: the Key Vault reference did not resolve (check the app's identity has Key Vault Secrets User and the secret exists)");
    expect(p.some((m) => m.startsWith('FLOWWARDEN_WEBHOOK_SECRET: the Key Vault reference'))).toBe(true);
    const secret = 'a-real-looking-webhook-secret-value';
    expect(problems({ ...base, FLOWWARDEN_WEBHOOK_SECRET: secret + ',short' }).join('\n')).not.toContain(secret);
  });

  it('resolves a relative policy path from the Functions script root', () => {
    expect(loadConfig({ ...base, AzureWebJobsScriptRoot: '/home/site/wwwroot' }).policyPath).toBe('/home/site/wwwroot/policy/demo.policy.yaml');
    expect(loadConfig({ ...base, FLOWWARDEN_POLICY: '/etc/p.yaml', AzureWebJobsScriptRoot: '/x' }).policyPath).toBe('/etc/p.yaml');
  });
});
