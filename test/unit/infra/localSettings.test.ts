import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config';
import { SETTINGS } from '../../../src/settings';

const ROOT = resolve(__dirname, '../../..');
const sample = JSON.parse(readFileSync(join(ROOT, 'local.settings.sample.json'), 'utf8')) as {
  IsEncrypted: boolean;
  Values: Record<string, string>;
};

/** What `func start` needs besides flowwarden's own settings. */
const LOCAL_HOST = { FUNCTIONS_WORKER_RUNTIME: 'node', AzureWebJobsStorage: 'UseDevelopmentStorage=true' };

describe('local.settings.sample.json', () => {
  it('lists exactly the settings of src/settings.ts plus the local host ones', () => {
    expect(sample.IsEncrypted).toBe(false);
    expect(Object.keys(sample.Values).sort()).toEqual([...Object.keys(LOCAL_HOST), ...SETTINGS.map((s) => s.name)].sort());
    for (const [k, v] of Object.entries(LOCAL_HOST)) expect(sample.Values[k], k).toBe(v);
  });

  it('carries each setting’s sample value, all strings', () => {
    for (const s of SETTINGS) expect(sample.Values[s.name], s.name).toBe(s.sample);
    for (const v of Object.values(sample.Values)) expect(typeof v).toBe('string');
  });

  it('is a configuration the app accepts as it stands', () => {
    const cfg = loadConfig(sample.Values);
    expect(cfg.storage.connectionString).toBe('UseDevelopmentStorage=true');
    expect(cfg.credential).toBe('default');
    expect(cfg.logs.stream).toBe('Custom-FlowWardenFindings');
  });

  it('holds no real secret: secret samples say they are local-only', () => {
    for (const s of SETTINGS.filter((x) => x.secret)) {
      expect(sample.Values[s.name], s.name).toMatch(/^(|UseDevelopmentStorage=true|local-only-[a-z0-9-]+)$/);
    }
  });

  it('every setting declares whether Azure sets it', () => {
    for (const s of SETTINGS) expect(['set', 'omit'], s.name).toContain(s.azure);
    // Required settings can never be left out of the Azure template.
    for (const s of SETTINGS.filter((x) => x.required)) expect(s.azure, s.name).toBe('set');
  });
});

describe('secret scan of the deployable text', () => {
  it('finds nothing secretlint’s recommended rules flag in the sample settings and the templates', async () => {
    const { lintSource } = await import('@secretlint/core');
    const { creator } = await import('@secretlint/secretlint-rule-preset-recommend');
    const targets = ['local.settings.sample.json', 'infra/main.bicep', 'infra/main.bicepparam', 'infra/modules/findingsWorkspace.bicep', 'infra/modules/queryPack.bicep'];
    for (const rel of targets) {
      const filePath = join(ROOT, rel);
      const result = await lintSource({
        source: { filePath, content: readFileSync(filePath, 'utf8'), ext: rel.slice(rel.lastIndexOf('.')), contentType: 'text' },
        options: { config: { rules: [{ id: '@secretlint/secretlint-rule-preset-recommend', rule: creator }] }, maskSecrets: true },
      });
      expect(result.messages.map((m) => `${rel}: ${m.ruleId} ${m.message}`)).toEqual([]);
    }
  });

  it('would flag a private key, so the scan above is live', async () => {
    const { lintSource } = await import('@secretlint/core');
    const { creator } = await import('@secretlint/secretlint-rule-preset-recommend');
    // Made-up key material, assembled here so no key block sits in the repo as text.
    const body = Array.from({ length: 4 }, (_, i) => `MIIEow${String(i).repeat(2)}${'QkFTRTY0'.repeat(7)}`).join('\n');
    const content = ['-----BEGIN RSA', 'PRIVATE KEY-----'].join(' ') + '\n' + body + '\n' + ['-----END RSA', 'PRIVATE KEY-----'].join(' ');
    const result = await lintSource({
      source: { filePath: '/virtual/leak.txt', content, ext: '.txt', contentType: 'text' },
      options: { config: { rules: [{ id: '@secretlint/secretlint-rule-preset-recommend', rule: creator }] }, maskSecrets: true, noPhysicFilePath: true },
    });
    expect(result.messages.length).toBeGreaterThan(0);
  });
});
