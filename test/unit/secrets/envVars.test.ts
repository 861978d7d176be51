import { describe, expect, it } from 'vitest';
import { policySchema, type Policy } from '../../../src/core/policy';
import {
  ENV_VAR_TYPE,
  environmentVariableFindings,
  environmentVariableFindingsWithStats,
  secretEnvVarNames,
  suspiciousByName,
} from '../../../src/core/secrets/envVars';
import type { EnvironmentVariableDefinitionRecord, EnvironmentVariableValueRecord } from '../../../src/ports';

const ENV = '7a1c2f4e-9d3b-4c55-8e21-3b9f0d6a1c01';
// Random, shape-valid fakes.
const AWS_KEY = 'AKIAQYLPMN5HHHFPZAM2';
const CLIENT_SECRET = 'Zq7~Rk2.Lw9_Xp4-Mv8Tn3Bc6Hd1Fg5Jy0Ks';
const JSON_SECRET = 'AKIAZ7DTY3WNPQ5LKRM4';

function policy(secrets: Record<string, unknown> = {}): Policy {
  return policySchema.parse({ environments: [{ id: ENV, dataverseUrl: 'https://contoso-prod.crm4.dynamics.com' }], secrets });
}
const ctx = (extra: Record<string, unknown> = {}) => ({ fingerprintKey: 'test-key', policy: policy(), detectedAt: '2025-03-01T10:00:00.000Z', environmentId: ENV, ...extra });

const def = (id: string, schemaname: string, type: number, defaultvalue: string | null, extra: Partial<EnvironmentVariableDefinitionRecord> = {}): EnvironmentVariableDefinitionRecord => ({
  environmentvariabledefinitionid: id,
  schemaname,
  type,
  defaultvalue,
  ...extra,
});

const defs: EnvironmentVariableDefinitionRecord[] = [
  def('d1000000-0000-4000-8000-000000000001', 'cr5f2_LegacyAwsKey', ENV_VAR_TYPE.String, AWS_KEY, { displayname: 'Legacy AWS key', solutionName: 'ErpIntegration', modifiedon: '2025-01-10T09:00:00Z' }),
  def('d1000000-0000-4000-8000-000000000002', 'cr5f2_ClientSecret', ENV_VAR_TYPE.String, null, { displayname: 'ERP client secret' }),
  def('d1000000-0000-4000-8000-000000000003', 'cr5f2_KeyVaultUrl', ENV_VAR_TYPE.String, 'https://contoso-kv.vault.azure.net/'),
  def('d1000000-0000-4000-8000-000000000004', 'cr5f2_ErpSettings', ENV_VAR_TYPE.JSON, JSON.stringify({ endpoint: 'https://erp.contoso.com', auth: { accessKeyId: JSON_SECRET } })),
  def('d1000000-0000-4000-8000-000000000005', 'cr5f2_ApiKey', ENV_VAR_TYPE.Secret, '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/contoso-kv/secrets/api-key'),
  def('d1000000-0000-4000-8000-000000000006', 'cr5f2_BatchSize', ENV_VAR_TYPE.Number, '500'),
  def('d1000000-0000-4000-8000-000000000007', 'cr5f2_Enabled', ENV_VAR_TYPE.Boolean, 'yes'),
  def('d1000000-0000-4000-8000-000000000008', 'cr5f2_SecretName', ENV_VAR_TYPE.String, 'erp-client-secret'),
];
const values: EnvironmentVariableValueRecord[] = [
  { environmentvariablevalueid: 'v1000000-0000-4000-8000-000000000002', _environmentvariabledefinitionid_value: 'd1000000-0000-4000-8000-000000000002', value: CLIENT_SECRET, modifiedon: '2025-02-01T12:00:00Z' },
  { environmentvariablevalueid: 'v1000000-0000-4000-8000-000000000005', _environmentvariabledefinitionid_value: 'd1000000-0000-4000-8000-000000000005', value: '/subscriptions/x/secrets/api-key' },
  { environmentvariablevalueid: 'v1000000-0000-4000-8000-000000000006', _environmentvariabledefinitionid_value: 'D1000000-0000-4000-8000-000000000006', value: '750' },
];

describe('environmentVariableFindings', () => {
  const findings = environmentVariableFindings(defs, values, ctx());

  it('flags plaintext secrets in default and current values of non-Secret variables', () => {
    expect(findings.map((f) => `${f.subject.id}|${f.evidence['where']}`).sort()).toEqual([
      'cr5f2_ClientSecret|current value',
      'cr5f2_ErpSettings|default value',
      'cr5f2_LegacyAwsKey|default value',
    ]);
    for (const f of findings) {
      expect(f.ruleId).toBe('secret.plaintext-environment-variable');
      expect(f.kind).toBe('secret-exposure');
      expect(f.severity).toBe('high');
      expect(f.environmentId).toBe(ENV);
      expect(f.subject.type).toBe('environment-variable');
      expect(f.detail).toMatch(/Secret-type environment variable backed by Azure Key Vault/);
    }
  });

  it('names the variable, its solution, type and where; observedAt from modifiedon', () => {
    const aws = findings.find((f) => f.subject.id === 'cr5f2_LegacyAwsKey')!;
    expect(aws.subject.name).toBe('Legacy AWS key');
    expect(aws.evidence).toMatchObject({ schemaname: 'cr5f2_LegacyAwsKey', solution: 'ErpIntegration', variableType: 'String', where: 'default value', path: '$' });
    expect(aws.detail).toContain('ErpIntegration');
    expect(aws.observedAt).toBe('2025-01-10T09:00:00Z');
    const cs = findings.find((f) => f.subject.id === 'cr5f2_ClientSecret')!;
    expect(cs.evidence['valueId']).toBe('v1000000-0000-4000-8000-000000000002');
    expect(cs.observedAt).toBe('2025-02-01T12:00:00Z');
    const json = findings.find((f) => f.subject.id === 'cr5f2_ErpSettings')!;
    expect(String(json.evidence['path'])).toContain('accessKeyId');
    expect(json.evidence['variableType']).toBe('JSON');
  });

  it('never puts a planted secret in a finding', () => {
    const s = JSON.stringify(findings);
    for (const v of [AWS_KEY, CLIENT_SECRET, JSON_SECRET, CLIENT_SECRET.slice(4), AWS_KEY.slice(4)]) expect(s).not.toContain(v);
  });

  it('is idempotent and honours suppressions with expiry', () => {
    expect(environmentVariableFindings(defs, values, ctx()).map((f) => f.id)).toEqual(findings.map((f) => f.id));
    const sup = { ruleId: 'secret.plaintext-environment-variable', location: 'cr5f2_ClientSecret', reason: 'rotating', expires: '2025-03-01' };
    const active = environmentVariableFindingsWithStats(defs, values, ctx({ policy: policy({ suppressions: [sup] }) }));
    expect(active.suppressed).toBe(1);
    expect(active.findings.map((f) => f.subject.id)).not.toContain('cr5f2_ClientSecret');
    const expired = environmentVariableFindingsWithStats(defs, values, ctx({ policy: policy({ suppressions: [sup] }), detectedAt: '2025-03-05T00:00:00Z' }));
    expect(expired.suppressed).toBe(0);
    expect(expired.findings.map((f) => f.subject.id)).toContain('cr5f2_ClientSecret');
    expect(environmentVariableFindings(defs, values, ctx({ policy: policy({ disabledRules: ['secret.plaintext-environment-variable'] }) }))).toEqual([]);
  });

  it('scans a value whose definition is missing, by its definition id', () => {
    const orphan = environmentVariableFindings([], [{ environmentvariablevalueid: 'v9', _environmentvariabledefinitionid_value: 'd9', value: `key ${AWS_KEY}` }], ctx());
    expect(orphan).toHaveLength(1);
    expect(orphan[0]!.subject.id).toBe('d9');
  });
});

describe('secretEnvVarNames', () => {
  it('lists Secret-type schema names only', () => {
    expect([...secretEnvVarNames(defs)]).toEqual(['cr5f2_ApiKey']);
  });
});

describe('suspiciousByName', () => {
  it('needs a credential name and a credential-looking value', () => {
    expect(suspiciousByName(['cr5f2_ClientSecret'], CLIENT_SECRET)).toBe(true);
    expect(suspiciousByName(['cr5f2_ApiPassword'], 'Spring2025!Erp')).toBe(true);
    expect(suspiciousByName(['cr5f2_ClientSecretName'], 'erp-client-secret')).toBe(false);
    expect(suspiciousByName(['cr5f2_TokenUrl'], 'https://login.microsoftonline.com/x/oauth2/v2.0/token')).toBe(false);
    expect(suspiciousByName(['cr5f2_ApiKey'], 'changeme')).toBe(false);
    expect(suspiciousByName(['cr5f2_ApiKey'], 'xxxxxxxxxxxx')).toBe(false);
    expect(suspiciousByName(['cr5f2_Region'], CLIENT_SECRET)).toBe(false);
  });
});
