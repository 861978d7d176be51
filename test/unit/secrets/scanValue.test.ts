import { describe, expect, it } from 'vitest';
import { detectText, scanValue } from '../../../src/core/secrets/engine';

const ENTRA = 'bP88Q~rcBcYjzzOhg1Hnn76Wm3jGgakZiZ.8vMgR';
const JWT =
  'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

describe('scanValue: paths and context rules', () => {
  it('reports the JSON path and only the token of an Authorization header', () => {
    const hits = scanValue({ inputs: { headers: { Authorization: `Bearer ${JWT}` } } });
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ ruleId: 'secret.jwt', path: '$.inputs.headers.Authorization', start: 7, value: JWT });
  });

  it('uses bracket notation for keys that are not identifiers', () => {
    const hits = scanValue({ headers: { 'Ocp-Apim-Subscription-Key': '2c69j0dc327c4929b74d3a832a04266b' } });
    expect(hits.map((h) => [h.ruleId, h.path])).toEqual([['secret.api-key-field', "$.headers['Ocp-Apim-Subscription-Key']"]]);
  });

  it('finds a password by its key (body.password, authentication.password) and not by a metadata key', () => {
    const hits = scanValue({
      body: { username: 'svc', password: 'r3alP4ssw0rd', passwordLastSet: '2024-03-11T09:14:22Z' },
      authentication: { type: 'Basic', username: 'u', password: 'Tr0ub4dor&3' },
    });
    expect(hits.map((h) => [h.path, h.ruleId, h.value])).toEqual([
      ['$.body.password', 'secret.password-field', 'r3alP4ssw0rd'],
      ['$.authentication.password', 'secret.password-field', 'Tr0ub4dor&3'],
    ]);
  });

  it('reports the Key Vault GetSecret output body.value whatever it looks like', () => {
    const out = {
      statusCode: 200,
      body: { value: 'P@ssw0rd!', name: 'sql-admin-password', version: '4387e9f3d6e14c459867679a90fd0f79', contentType: null, isEnabled: true },
    };
    const hits = scanValue(out);
    expect(hits).toHaveLength(1);
    expect(hits[0]).toMatchObject({ ruleId: 'secret.keyvault-secret-value', path: '$.body.value', start: 0, end: 9 });
  });

  it('does not report a masked Key Vault value or secret metadata', () => {
    expect(scanValue({ body: { value: '***', name: 'x', version: '4387e9f3d6e14c459867679a90fd0f79' } })).toEqual([]);
    expect(scanValue({ body: { name: 'sql-password', version: '4387e9f3d6e14c459867679a90fd0f79', isEnabled: true } })).toEqual([]);
  });

  it('reports the Raw value of an HTTP authentication object', () => {
    const hits = scanValue({ inputs: { authentication: { type: 'Raw', value: 'SSWS 00QCjAl4MlV-WPXM-ABCDEFGHIJKLMNOPQRS_T4nx' } } });
    expect(hits.map((h) => [h.ruleId, h.path])).toEqual([['secret.http-authentication-value', '$.inputs.authentication.value']]);
  });

  it('parses JSON encoded inside a string and reports inner paths', () => {
    const inner = JSON.stringify({ accessKeyId: 'AKIAIOSFODNN7SECRETS', secretAccessKey: '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' });
    const hits = scanValue({ body: { value: inner } });
    expect(hits.map((h) => [h.ruleId, h.path])).toEqual([
      ['secret.aws-access-key-id', '$.body.value(json).accessKeyId'],
      ['secret.secret-field', '$.body.value(json).secretAccessKey'],
    ]);
  });

  it('finds credentials in form-encoded bodies with offsets into the string', () => {
    const body = `client_id=73082700-1f09-405b-80d0-3131bfd6272d&client_secret=${ENTRA}&grant_type=client_credentials`;
    const hits = scanValue({ inputs: { body } });
    expect(hits).toHaveLength(1);
    expect(hits[0]?.ruleId).toBe('secret.entra-client-secret');
    expect(body.slice(hits[0]!.start, hits[0]!.end)).toBe(ENTRA);
  });

  it('parses connection strings into parts', () => {
    const cs = 'Server=tcp:contoso.database.windows.net,1433;Initial Catalog=orders;User ID=flowsvc;Password=P@ssw0rd!;Encrypt=True;';
    const hits = scanValue({ ConnectionStrings: { Orders: cs } });
    expect(hits.map((h) => [h.ruleId, h.value])).toEqual([['secret.sql-connection-string-password', 'P@ssw0rd!']]);
  });

  it('reports URL query credentials and URL user:password', () => {
    const hits = scanValue({
      a: 'https://api.openweathermap.org/data/2.5/weather?q=Oslo&appid=951bc382db9abad29c68634761dd6e19',
      b: 'https://apiuser:r3alP4ssw0rd@api.production.com/v2/orders',
    });
    expect(hits.map((h) => [h.path, h.ruleId, h.value])).toEqual([
      ['$.a', 'secret.url-query-credential', '951bc382db9abad29c68634761dd6e19'],
      ['$.b', 'secret.url-credentials', 'r3alP4ssw0rd'],
    ]);
  });

  it('same secret in the same place gives the same hit', () => {
    const doc = { headers: { 'x-functions-key': 'd'.repeat(44) + 'AzFu182vhA==' } };
    expect(scanValue(doc)).toEqual(scanValue(structuredClone(doc)));
  });
});

describe('false-positive discipline', () => {
  const benign: Array<[string, unknown]> = [
    ['run-history content link', { inputsLink: { uri: 'https://prod-08.northcentralus.logic.azure.com:443/workflows/2dfde2fce2584c49bea17ef0b04c95f4/runs/08586776228332053161046300351/actions/a/contents/ActionInputs?api-version=2016-10-01&sp=%2Fruns%2F08586776228332053161046300351%2Fread&sv=1.0&sig=dLmnt50joimEMK4k9rR6njHQh94iSFJ9rrDxFbkEg5M' } }],
    ['GUIDs', { tenantId: 'dac6fb3d-713c-4555-8a97-4089aa3849be', clientId: '73082700-1f09-405b-80d0-3131bfd6272d', credentialsId: 'ff083f76-7804-4ef1-80e4-fe975bb9141b' }],
    ['hashes', { sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', after: '43fc912ef59a83054ea7f6706df4d53a7dea4d80', 'Content-MD5': '1B2M2Y8AsgTpgAmY7PhCfg==' }],
    ['ETags', { '@odata.etag': 'W/"4451120"', ETag: '"0x8DC41A2B3C4D5E6"' }],
    ['paging tokens', { '@odata.nextLink': 'https://graph.microsoft.com/v1.0/users?$top=100&$skiptoken=RFNwdAIAAQAAACM6U2FyYWhAY29udG9zby5jb20pVXNlcl85MmVjNjJiYy02ZmIzLTRjNGUtYjMwYy0wZjc5MGRlMDFlNDO5AAAAAAAAAAAAAAA', $skipToken: 'eyIkaWQiOiIxIiwiTWF4Um93cyI6MTAwMH0' }],
    ['base64 file content', { $content_type: 'image/png', '$content-type': 'image/png', $content: 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==' }],
    ['public certificate and JWK', { cer: 'MIICmzCCAYMCBgF4HR7HNDANBgkqhkiG9w0BAQsFADARMQ8wDQYDVQQDDAZtYXN0ZXIwHhcNMjEwMzEwMTcwOTE5WhcNMzEwMzEwMTcxMDU5WjARMQ8wDQYDVQQDDAZ', keys: [{ kty: 'RSA', e: 'AQAB', n: 'jyTwiSJACtW_SW-aiihQS5Y5QR704zUwjhlevY0oK-y5wP7SlIc2hq2OPVRarCzjhOxZl2AQFzM5VCR7xRDcnIn9t_pl7Mgsnx9hKDS9yQ24YXzhQ4cMEVVuqwcHvXqPdWDSoCZ1ccMqii' }] }],
    ['masked values', { client_secret: '[REDACTED]', access_token: '<redacted>', password: '*****', Authorization: 'Bearer ********', sig: 'REDACTED' }],
    ['placeholders', { secret: '{hunter2}', token: '${hunter2}', key: '<hunter2>', 'x-functions-key': '{your-function-key}', 'api-key': 'YOUR_API_KEY' }],
    ['workflow expressions', { connectionString: "@{variables('storageConnection')}", apiKey: "@{parameters('ApiKey')}", Authorization: "Bearer @{body('Get_secret')?['value']}", secret: "@parameters('GraphClientSecret')" }],
    ['documented example keys', { aws_access_key_id: 'AKIAIOSFODNN7EXAMPLE', aws_secret_access_key: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', TEST_BACKEND: 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;' }],
    ['a trigger URL without sig', { basePath: 'https://prod-27.westeurope.logic.azure.com/workflows/fb9c8d79b15f41ce9b12861862f43546/triggers/manual/paths/invoke', queries: { sp: '/triggers/manual/run', sv: '1.0' } }],
  ];
  for (const [name, doc] of benign) {
    it(`scanValue reports nothing for ${name}`, () => {
      expect(scanValue(doc)).toEqual([]);
    });
    it(`detectText reports nothing for ${name}`, () => {
      expect(detectText(JSON.stringify(doc))).toEqual([]);
    });
  }

  it('a trigger URL with its sig is a finding, the content link beside it is not', () => {
    const trigger = 'https://prod-27.westeurope.logic.azure.com:443/workflows/fb9c/triggers/manual/paths/invoke?api-version=2016-10-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=IxEQ_ygZf6WNEQCbjV0Vs6p6Y4DyNEJVAa86U5B4xhk';
    const link = 'https://prod-08.northcentralus.logic.azure.com:443/workflows/2dfd/runs/0858/actions/a/contents/ActionOutputs?api-version=2016-10-01&sp=%2Fruns%2F0858%2Fread&sv=1.0&sig=dLmnt50joimEMK4k9rR6njHQh94iSFJ9rrDxFbkEg5M';
    const hits = scanValue({ body: { flowUrl: trigger }, outputsLink: { uri: link } });
    expect(hits.map((h) => [h.ruleId, h.path, h.value])).toEqual([['secret.logic-apps-trigger-url', '$.body.flowUrl', 'IxEQ_ygZf6WNEQCbjV0Vs6p6Y4DyNEJVAa86U5B4xhk']]);
  });
});

describe('detectText contract', () => {
  it('offsets are UTF-16 indices covering only the value, after non-ASCII text', () => {
    const text = `{"note":"héllo wörld 🎉","password":"Tr0ub4dor&3"}`;
    const [m] = detectText(text);
    expect(m).toBeDefined();
    expect(text.slice(m!.start, m!.end)).toBe('Tr0ub4dor&3');
    expect(m!.ruleId).toBe('secret.password-field');
  });

  it('keeps the most specific rule when rules overlap (identifiable key under a password field)', () => {
    const text = '{"password":"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee+ACRCTB7t/"}';
    expect(detectText(text).map((m) => m.ruleId)).toEqual(['secret.azure-container-registry-key']);
  });

  it('returns sorted, non-overlapping matches in a long text with many secrets', () => {
    const parts: string[] = [];
    for (let i = 0; i < 300; i++) parts.push(`{"i":${i},"pad":"${'z'.repeat(i * 7 % 997)}","headers":{"x-functions-key":"${'d'.repeat(44)}AzFu182vhA=="}}`);
    const text = parts.join('\n');
    const ms = detectText(text);
    expect(ms).toHaveLength(300);
    for (let i = 1; i < ms.length; i++) expect(ms[i]!.start).toBeGreaterThanOrEqual(ms[i - 1]!.end);
    for (const m of ms) expect(text.slice(m.start, m.end)).toBe('d'.repeat(44) + 'AzFu182vhA==');
  });

  it('rejects a non-string', () => {
    expect(() => detectText(42 as unknown as string)).toThrow(TypeError);
  });
});
