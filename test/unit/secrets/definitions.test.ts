import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { policySchema, type Policy } from '../../../src/core/policy';
import {
  definitionFindings,
  definitionFindingsWithStats,
  FlowDefinitionError,
  literalPart,
  parseClientData,
  type FlowDefinitionInput,
} from '../../../src/core/secrets/definitions';

const ENV = '7a1c2f4e-9d3b-4c55-8e21-3b9f0d6a1c01';
const FLOW = 'a18e89d1-4c75-41e4-9517-e90aedc079be';
const SAMPLES = '/work/shared/samples';

// Planted values: random, shape-valid fakes. None of them may appear in a finding.
const AWS_KEY = 'AKIAQYLPMN5HHHFPZAM2';
const FUNCTION_KEY = 'q7Zk2Vw9Lp4Xs8Rt1Mn6Bc3Hd5Fg0Jy2Ka9Ue4Wi7Oz==';
const BASIC_PASSWORD = 'Pw9!kQ2#zL7$mX4v';

function policy(secrets: Record<string, unknown> = {}): Policy {
  return policySchema.parse({ environments: [{ id: ENV, dataverseUrl: 'https://contoso-prod.crm4.dynamics.com' }], secrets });
}

function ctx(extra: Partial<Parameters<typeof definitionFindings>[1]> = {}) {
  return { fingerprintKey: 'test-key', policy: policy(), detectedAt: '2025-03-01T10:00:00.000Z', secretEnvVars: new Set(['cr5f2_ApiKey']), ...extra };
}

const kvHost = { apiId: '/providers/Microsoft.PowerApps/apis/shared_keyvault', connectionName: 'shared_keyvault', operationId: 'GetSecret' };

/** A definition exercising every nesting shape and every rule, with secured twins that must stay quiet. */
function definition(): Record<string, unknown> {
  return {
    $schema: 'https://schema.management.azure.com/providers/Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json#',
    contentVersion: '1.0.0.0',
    parameters: {
      $connections: { defaultValue: {}, type: 'Object' },
      $authentication: { defaultValue: {}, type: 'SecureObject' },
      'Api Key (cr5f2_ApiKey)': { defaultValue: '', type: 'String', metadata: { schemaName: 'cr5f2_ApiKey' } },
      LegacyKey: { defaultValue: AWS_KEY, type: 'String' },
    },
    triggers: { manual: { type: 'Request', kind: 'Button', inputs: { schema: { type: 'object', properties: {} } } } },
    actions: {
      Scope_Secrets: {
        type: 'Scope',
        actions: {
          Get_secret: { type: 'OpenApiConnection', inputs: { host: kvHost, parameters: { secretName: 'erp-password' }, authentication: "@parameters('$authentication')" } },
          Get_secret_secured: {
            type: 'OpenApiConnection',
            inputs: { host: kvHost, parameters: { secretName: 'erp-password' }, authentication: "@parameters('$authentication')" },
            runtimeConfiguration: { secureData: { properties: ['inputs', 'outputs'] } },
          },
        },
      },
      Condition: {
        type: 'If',
        expression: { and: [{ equals: ['@true', true] }] },
        actions: {
          Call_API: {
            type: 'Http',
            inputs: { method: 'GET', uri: 'https://erp.contoso.com/api', headers: { Authorization: "Bearer @{body('Get_secret')?['value']}" } },
          },
        },
        else: {
          actions: {
            Call_API_secured: {
              type: 'Http',
              inputs: { method: 'GET', uri: 'https://erp.contoso.com/api', headers: { Authorization: "@{concat('Bearer ', body('Get_secret')?['value'])}" } },
              runtimeConfiguration: { secureData: { properties: ['inputs'] } },
            },
          },
        },
      },
      Switch: {
        type: 'Switch',
        expression: '@variables(\'mode\')',
        cases: {
          Case_1: {
            case: 'a',
            actions: {
              Call_function: {
                type: 'Http',
                inputs: { method: 'POST', uri: 'https://fn.contoso.com/api/run', headers: { 'x-functions-key': FUNCTION_KEY }, body: { awsKey: AWS_KEY } },
              },
            },
          },
        },
        default: {
          actions: {
            Use_secret_env: {
              type: 'OpenApiConnection',
              inputs: {
                host: { apiId: '/providers/Microsoft.PowerApps/apis/shared_sendmail', connectionName: 'shared_sendmail', operationId: 'SendEmail' },
                parameters: { 'request/body': "Key: @{parameters('Api Key (cr5f2_ApiKey)')}" },
              },
            },
            Use_secret_env_secured: {
              type: 'OpenApiConnection',
              inputs: { host: { apiId: '/providers/Microsoft.PowerApps/apis/shared_sendmail', operationId: 'SendEmail' }, parameters: { body: "@parameters('cr5f2_ApiKey')" } },
              runtimeConfiguration: { secureData: { properties: ['inputs'] } },
            },
          },
        },
      },
      Apply_to_each: {
        type: 'Foreach',
        foreach: "@body('List')?['value']",
        actions: {
          Legacy_get_secret: {
            type: 'ApiConnection',
            inputs: { host: { connection: { name: "@parameters('$connections')['keyvault']['connectionId']" } }, method: 'get', path: "/secrets/@{encodeURIComponent('db-password')}/value" },
          },
        },
      },
      Until: {
        type: 'Until',
        expression: '@equals(1, 1)',
        actions: {
          Http_msi: { type: 'Http', inputs: { method: 'GET', uri: 'https://management.azure.com/x', authentication: { type: 'ManagedServiceIdentity', audience: 'https://management.azure.com' } } },
          Http_basic: {
            type: 'Http',
            inputs: { method: 'GET', uri: 'https://legacy.contoso.com/x', authentication: { type: 'Basic', username: 'svc', password: BASIC_PASSWORD } },
          },
        },
      },
      Compose_expressions: {
        type: 'Compose',
        inputs: { a: "@parameters('LegacyKey')", b: "Token @{variables('token')} end", c: '@{body(\'x\')}' },
      },
    },
    outputs: {},
  };
}

function flow(def: unknown = definition()): FlowDefinitionInput {
  return { environmentId: ENV, flowId: FLOW, displayName: 'ERP sync', definition: def, source: 'flow-api', observedAt: '2025-02-20T08:00:00Z' };
}

function byRule(findings: ReturnType<typeof definitionFindings>, ruleId: string) {
  return findings.filter((f) => f.ruleId === ruleId).map((f) => f.subject.id.replace(`${FLOW}/`, '')).sort();
}

describe('definitionFindings', () => {
  const findings = definitionFindings(flow(), ctx());

  it('flags Key Vault GetSecret without secure outputs, in scopes and loops, both connector shapes', () => {
    expect(byRule(findings, 'secret.keyvault-getsecret-unsecured')).toEqual([
      'actions/Apply_to_each/Legacy_get_secret',
      'actions/Scope_Secrets/Get_secret',
    ]);
    const kv = findings.find((f) => f.subject.id.endsWith('/Get_secret'))!;
    expect(kv.severity).toBe('medium');
    expect(kv.kind).toBe('secret-exposure');
    expect(kv.evidence).toMatchObject({
      actionName: 'Get_secret',
      actionType: 'OpenApiConnection',
      connector: 'shared_keyvault',
      operation: 'GetSecret',
      jsonPath: '$.actions.Scope_Secrets.actions.Get_secret',
      secretName: 'erp-password',
      missing: 'outputs',
      flowId: FLOW,
    });
    expect(kv.evidence['portalUrl']).toBe(`https://make.powerautomate.com/environments/${ENV}/flows/${FLOW}`);
    expect(kv.observedAt).toBe('2025-02-20T08:00:00Z');
    expect(kv.detail).toMatch(/Secure Outputs/);
  });

  it('flags HTTP credentials without secure inputs in if/else and switch, not managed identity or secured ones', () => {
    expect(byRule(findings, 'secret.http-auth-unsecured')).toEqual([
      'actions/Condition/Call_API',
      'actions/Switch/Call_function',
      'actions/Until/Http_basic',
    ]);
    const fn = findings.find((f) => f.ruleId === 'secret.http-auth-unsecured' && f.subject.name === 'Call_function')!;
    expect(fn.evidence['jsonPath']).toBe("$.actions.Switch.cases.Case_1.actions.Call_function.inputs.headers['x-functions-key']");
    expect(fn.evidence['credential']).toBe('x-functions-key header');
  });

  it('flags Secret-type environment variables used without secure inputs, by either parameter name form', () => {
    expect(byRule(findings, 'secret.secret-env-var-unsecured-action')).toEqual(['actions/Switch/Use_secret_env']);
    const f = findings.find((x) => x.ruleId === 'secret.secret-env-var-unsecured-action')!;
    expect(f.evidence['environmentVariable']).toBe('cr5f2_ApiKey');
    // The schemaname form is recognized too once the action is not secured.
    const def = definition();
    const sw = (def['actions'] as any).Switch.default.actions.Use_secret_env_secured;
    delete sw.runtimeConfiguration;
    const again = definitionFindings(flow(def), ctx());
    expect(byRule(again, 'secret.secret-env-var-unsecured-action')).toEqual(['actions/Switch/Use_secret_env', 'actions/Switch/Use_secret_env_secured']);
    // Without the set, nothing to match.
    expect(byRule(definitionFindings(flow(), ctx({ secretEnvVars: new Set() })), 'secret.secret-env-var-unsecured-action')).toEqual([]);
  });

  it('flags hard-coded secrets in parameters and action inputs (detector and credential position), never expressions', () => {
    const hard = findings.filter((f) => f.ruleId === 'secret.hardcoded-in-definition');
    const paths = hard.map((f) => f.evidence['jsonPath']).sort();
    expect(paths).toEqual([
      "$.actions.Switch.cases.Case_1.actions.Call_function.inputs.body.awsKey",
      "$.actions.Switch.cases.Case_1.actions.Call_function.inputs.headers['x-functions-key']",
      '$.actions.Until.actions.Http_basic.inputs.authentication.password',
      '$.parameters.LegacyKey.defaultValue',
    ]);
    for (const f of hard) {
      expect(f.severity).toBe('high');
      expect(String(f.evidence['fingerprint'])).toMatch(/^hmac-sha256:[0-9a-f]{32}$/);
      expect(String(f.evidence['maskedPreview'])).toMatch(/\(\d+ chars\)$/);
    }
    // The same AWS key in two places correlates through one fingerprint.
    const aws = hard.filter((f) => String(f.evidence['jsonPath']).endsWith('awsKey') || String(f.evidence['jsonPath']).includes('LegacyKey'));
    expect(new Set(aws.map((f) => f.evidence['fingerprint'])).size).toBe(1);
    expect(hard.find((f) => String(f.evidence['jsonPath']).includes('LegacyKey'))!.subject).toEqual({
      type: 'flow-definition-parameter',
      id: `${FLOW}/parameters/LegacyKey`,
      name: 'LegacyKey',
    });
    // Compose_expressions holds only expressions: nothing at all on it.
    expect(findings.filter((f) => f.subject.name === 'Compose_expressions')).toEqual([]);
  });

  it('uses the parameter name as context and ignores expressions in credential fields', () => {
    const def = {
      parameters: { ApiPassword: { type: 'String', defaultValue: BASIC_PASSWORD }, Region: { type: 'String', defaultValue: 'westeurope' } },
      actions: {
        Login: { type: 'Http', inputs: { method: 'POST', uri: 'https://x.contoso.com', body: { user: 'svc', password: "@{variables('pw')}", secret: "@parameters('s')" } } },
      },
    };
    const fs = definitionFindings(flow(def), ctx());
    expect(fs.map((f) => `${f.ruleId} ${f.evidence['jsonPath']}`)).toEqual(['secret.hardcoded-in-definition $.parameters.ApiPassword.defaultValue']);
    expect(fs[0]!.evidence['detector']).toBe('secret.password-field');
  });

  it('never puts a planted secret in a finding', () => {
    const json = JSON.stringify(findings);
    for (const v of [AWS_KEY, FUNCTION_KEY, BASIC_PASSWORD, AWS_KEY.slice(4), FUNCTION_KEY.slice(6, 30), BASIC_PASSWORD.slice(3)]) {
      expect(json).not.toContain(v);
    }
  });

  it('gives stable ids; a different fingerprint key changes fingerprints and hard-coded ids only', () => {
    const again = definitionFindings(flow(), ctx());
    expect(again.map((f) => f.id)).toEqual(findings.map((f) => f.id));
    expect(new Set(findings.map((f) => f.id)).size).toBe(findings.length);
    const other = definitionFindings(flow(), ctx({ fingerprintKey: 'another-key' }));
    const risky = (fs: typeof findings) => fs.filter((f) => f.ruleId !== 'secret.hardcoded-in-definition').map((f) => f.id).sort();
    expect(risky(other)).toEqual(risky(findings));
    const hardIds = (fs: typeof findings) => new Set(fs.filter((f) => f.ruleId === 'secret.hardcoded-in-definition').map((f) => f.id));
    const a = hardIds(findings);
    for (const id of hardIds(other)) expect(a.has(id)).toBe(false);
    const fp = (fs: typeof findings) => fs.find((f) => String(f.evidence['jsonPath']).includes('LegacyKey'))!.evidence['fingerprint'];
    expect(fp(other)).not.toBe(fp(findings));
  });

  it('honours disabled rules, severity overrides and suppressions with expiry', () => {
    const p = policy({
      disabledRules: ['secret.http-auth-unsecured'],
      severity: { 'secret.keyvault-getsecret-unsecured': 'high' },
      suppressions: [
        { ruleId: 'secret.keyvault-getsecret-unsecured', location: `${FLOW}/actions/Apply_to_each/*`, reason: 'legacy, being replaced', expires: '2025-03-01' },
        { ruleId: 'secret.secret-env-var-unsecured-action', location: FLOW, reason: 'expired acceptance', expires: '2025-02-28' },
      ],
    });
    const res = definitionFindingsWithStats(flow(), ctx({ policy: p }));
    expect(byRule(res.findings, 'secret.http-auth-unsecured')).toEqual([]);
    expect(byRule(res.findings, 'secret.keyvault-getsecret-unsecured')).toEqual(['actions/Scope_Secrets/Get_secret']);
    expect(res.findings.find((f) => f.ruleId === 'secret.keyvault-getsecret-unsecured')!.severity).toBe('high');
    // The env-var suppression expired the day before detection: the finding is back.
    expect(byRule(res.findings, 'secret.secret-env-var-unsecured-action')).toEqual(['actions/Switch/Use_secret_env']);
    expect(res.suppressed).toBe(1);
    // A day later the Key Vault suppression has expired too.
    const later = definitionFindingsWithStats(flow(), ctx({ policy: p, detectedAt: '2025-03-02T00:00:01Z' }));
    expect(later.suppressed).toBe(0);
    expect(byRule(later.findings, 'secret.keyvault-getsecret-unsecured')).toHaveLength(2);
  });

  it('suppresses a hard-coded secret by fingerprint wherever it appears', () => {
    const fp = findings.find((f) => String(f.evidence['jsonPath']).includes('LegacyKey'))!.evidence['fingerprint'] as string;
    const res = definitionFindingsWithStats(flow(), ctx({ policy: policy({ suppressions: [{ fingerprint: fp, reason: 'test key', expires: '2030-01-01' }] }) }));
    expect(res.suppressed).toBe(2);
    expect(res.findings.some((f) => f.evidence['fingerprint'] === fp)).toBe(false);
  });

  it('reads the public Flow API and Dataverse samples without findings', () => {
    const get = JSON.parse(readFileSync(`${SAMPLES}/flowapi/flowapi-flow-get.cli-m365.json`, 'utf8'));
    expect(definitionFindings(flow(get.properties.definition), ctx())).toEqual([]);
    const cd = parseClientData(readFileSync(`${SAMPLES}/dataverse/workflow-clientdata.with-connectionReferenceLogicalName.json`, 'utf8'));
    expect(Object.keys(cd.connectionReferences)).toEqual(['shared_commondataserviceforapps']);
    const input: FlowDefinitionInput = { ...flow(cd.definition), source: 'dataverse', connectionReferences: cd.connectionReferences };
    expect(definitionFindings(input, ctx())).toEqual([]);
  });

  it('rejects a definition that is not an object', () => {
    expect(() => definitionFindings(flow('nope'), ctx())).toThrow(FlowDefinitionError);
  });
});

describe('parseClientData', () => {
  it('parses the decoded sample', () => {
    const text = readFileSync(`${SAMPLES}/dataverse/workflow-clientdata.decoded.json`, 'utf8');
    const cd = parseClientData(text);
    expect(Object.keys(cd.definition['actions'] as object)).toEqual(['List_rows']);
  });

  it('names the field and never echoes the text', () => {
    const legacy = JSON.parse(readFileSync(`${SAMPLES}/dataverse/workflows-list.legacy-v9.1.response.json`, 'utf8'));
    const clientdata: string = legacy.value.find((w: { clientdata?: string }) => typeof w.clientdata === 'string').clientdata;
    expect(() => parseClientData(clientdata)).toThrow(/^clientdata: not valid JSON/);
    const secretish = `{"properties": {"definition": "${AWS_KEY}"`;
    try {
      parseClientData(secretish);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(FlowDefinitionError);
      expect((e as FlowDefinitionError).field).toBe('clientdata');
      expect((e as Error).message).not.toContain(AWS_KEY.slice(4, 12));
    }
    expect(() => parseClientData('{"properties":{}}')).toThrow(/^clientdata\.properties\.definition: expected an object/);
    expect(() => parseClientData('[]')).toThrow(/^clientdata: expected a JSON object/);
    expect(() => parseClientData('{"properties":{"definition":{},"connectionReferences":[]}}')).toThrow(/connectionReferences/);
  });
});

describe('literalPart', () => {
  it('treats whole-string expressions as non-literal and blanks interpolations, keeping offsets', () => {
    expect(literalPart("@parameters('x')")).toBeNull();
    expect(literalPart('@@literal')).toBe('@@literal');
    const s = "Bearer @{body('a')?['b']} tail";
    const l = literalPart(s)!;
    expect(l).toHaveLength(s.length);
    expect(l.trim().startsWith('Bearer')).toBe(true);
    expect(l.endsWith(' tail')).toBe(true);
    expect(l).not.toContain('body');
    // A quoted brace inside the expression does not end it.
    expect(literalPart("x@{concat('}', 'y')}z")).toBe('x' + ' '.repeat(19) + 'z');
  });
});
