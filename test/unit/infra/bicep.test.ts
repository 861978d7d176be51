import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SETTINGS } from '../../../src/settings';
import { TABLES } from '../../../src/sinks/tableService';
import { QUEUES } from '../../../src/sinks/storageQueue';
import { at, bodyOf, literal, readBicepTree, type BicepFile, type BicepStatement, type BicepValue } from './bicepText';

/**
 * Checks on infra/**\/*.bicep read as text (no Bicep compiler here). `az bicep build` in CI
 * elsewhere is the syntax check; these are the policy checks: least privilege, no keys, and the
 * app settings agree with src/settings.ts in both directions.
 */

const ROOT = resolve(__dirname, '../../..');
const INFRA = join(ROOT, 'infra');
const files = readBicepTree(INFRA, ROOT);
const main = files.find((f) => f.rel === join('infra', 'main.bicep'))!;

/** Built-in roles the template may assign, and the only resource types each may be scoped to. */
const ALLOWED_BUILT_IN_ROLES: Record<string, { name: string; scopes: string[] }> = {
  '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3': { name: 'Storage Table Data Contributor', scopes: ['Microsoft.Storage/storageAccounts'] },
  '974c5e8b-45b9-4653-ba55-5f855dd0fb88': { name: 'Storage Queue Data Contributor', scopes: ['Microsoft.Storage/storageAccounts'] },
  'b7e6dc6d-f1e8-4753-8033-0f276bb0955b': { name: 'Storage Blob Data Owner', scopes: ['Microsoft.Storage/storageAccounts'] },
  '3913510d-42f4-4e42-8a64-420c390055eb': {
    name: 'Monitoring Metrics Publisher',
    scopes: ['Microsoft.Insights/dataCollectionRules', 'Microsoft.Insights/components'],
  },
  '73c42c96-874c-492b-b04d-ab87d138a893': { name: 'Log Analytics Reader', scopes: ['Microsoft.OperationalInsights/workspaces'] },
  '4633458b-17de-408a-b874-0445c86b69e6': { name: 'Key Vault Secrets User', scopes: ['Microsoft.KeyVault/vaults'] },
};

/** The one custom role: ACS email send rights (what the ACS docs list for an Entra sender). */
const EMAIL_SENDER_ACTIONS = [
  'Microsoft.Communication/CommunicationServices/Read',
  'Microsoft.Communication/CommunicationServices/Write',
  'Microsoft.Communication/EmailServices/write',
];

/** App settings the Functions host (not flowwarden's config) reads in Azure. */
const HOST_SETTINGS = [
  'AzureWebJobsStorage__accountName',
  'AzureWebJobsStorage__credential',
  'AzureWebJobsStorage__clientId',
  'APPLICATIONINSIGHTS_CONNECTION_STRING',
  'APPLICATIONINSIGHTS_AUTHENTICATION_STRING',
  'AZURE_CLIENT_ID',
];

/** Why each `azure: 'omit'` setting of src/settings.ts has no value in Azure. */
const OMITTED_IN_AZURE: Record<string, string> = {
  FLOWWARDEN_STORAGE_CONNECTION_STRING: 'identity-based storage: shared keys are disabled, FLOWWARDEN_STORAGE_ACCOUNT_URL is used',
  FLOWWARDEN_DATAVERSE_URL_OVERRIDE: 'only for the local simulator or a proxy; in Azure the policy dataverseUrl is called',
  FLOWWARDEN_OUTBOX_DIR: 'demo/local .eml copies; in Azure mail goes through ACS only',
  FLOWWARDEN_ACS_CONNECTION_STRING: 'key-based ACS access for local endpoints only; in Azure the managed identity signs in to FLOWWARDEN_ACS_ENDPOINT',
};

/** App settings that must never be in a Flex Consumption template (deprecated on the plan, or a key-based connection). */
const FORBIDDEN_SETTINGS = [
  'AzureWebJobsStorage',
  'FUNCTIONS_WORKER_RUNTIME',
  'FUNCTIONS_EXTENSION_VERSION',
  'WEBSITE_RUN_FROM_PACKAGE',
  'WEBSITE_CONTENTAZUREFILECONNECTIONSTRING',
  'WEBSITE_CONTENTSHARE',
  'WEBSITE_NODE_DEFAULT_VERSION',
];

function resources(file: BicepFile, type?: string): BicepStatement[] {
  return file.statements.filter((s) => s.keyword === 'resource' && (!type || s.target?.split('@')[0] === type));
}
function allResources(type?: string): { file: BicepFile; stmt: BicepStatement }[] {
  return files.flatMap((file) => resources(file, type).map((stmt) => ({ file, stmt })));
}
function typeOf(stmt: BicepStatement): string {
  return stmt.target!.split('@')[0]!;
}
function statement(file: BicepFile, keyword: BicepStatement['keyword'], name: string): BicepStatement {
  const s = file.statements.find((x) => x.keyword === keyword && x.name === name);
  if (!s) throw new Error(`${file.rel}: no ${keyword} ${name}`);
  return s;
}
function objectKeys(value: BicepValue | undefined): string[] {
  const body = bodyOf(value);
  if (!body) throw new Error('expected an object');
  return [...body.keys()];
}
function stringItems(value: BicepValue | undefined): string[] {
  if (value?.kind !== 'array') throw new Error('expected an array');
  return value.items.map((v) => {
    const t = literal(v);
    if (t === undefined) throw new Error(`expected a string literal, got ${v.raw}`);
    return t;
  });
}

describe('infra templates parse', () => {
  it('reads main.bicep and its modules, and every module path exists', () => {
    expect(main).toBeDefined();
    const modules = files.flatMap((f) => f.statements.filter((s) => s.keyword === 'module').map((s) => ({ f, s })));
    expect(modules.length).toBeGreaterThanOrEqual(2);
    for (const { f, s } of modules) {
      expect(existsSync(resolve(dirname(f.path), s.target!)), `${f.rel}: module ${s.name} → ${s.target}`).toBe(true);
    }
  });

  it('uses dated, non-preview API versions on every resource', () => {
    for (const { file, stmt } of allResources()) {
      expect(stmt.target, `${file.rel}: ${stmt.name}`).toMatch(/^[A-Za-z]+\.[A-Za-z]+\/[\w/]+@\d{4}-\d{2}-\d{2}$/);
    }
  });

  it('loads every text file it references, and the KQL pack queries the findings table', () => {
    const loads = files.flatMap((f) => [...f.code.matchAll(/loadTextContent\('([^']+)'\)/g)].map((m) => resolve(dirname(f.path), m[1]!)));
    const expected = [
      'open-critical-by-flow.kql',
      'secrets-by-rule-over-time.kql',
      'modifiers-by-identity.kql',
      'drift-timeline.kql',
      'source-health.kql',
    ].map((n) => join(INFRA, 'kql', n));
    expect(loads).toEqual(expect.arrayContaining([...expected, join(INFRA, 'workbook', 'flowwarden.workbook.json')]));
    for (const p of loads) expect(existsSync(p), p).toBe(true);
    for (const p of expected) expect(readFileSync(p, 'utf8')).toContain('FlowWardenFindings_CL');
    const workbook = JSON.parse(readFileSync(join(INFRA, 'workbook', 'flowwarden.workbook.json'), 'utf8')) as { version?: string; items?: unknown[] };
    expect(workbook.version).toBe('Notebook/1.0');
    expect(Array.isArray(workbook.items)).toBe(true);
  });
});

describe('no keys', () => {
  it('never lists keys or builds a key-bearing connection string', () => {
    for (const f of files) {
      expect(f.code, f.rel).not.toMatch(/listKeys|listkeys|listConnectionStrings|listCredentials|\.keys\[|primaryKey|secondaryKey/i);
      expect(f.code, f.rel).not.toMatch(/AccountKey=|SharedAccessKey|SharedAccessSignature|DefaultEndpointsProtocol/i);
    }
  });

  it('disables shared-key access on every storage account and local auth where the service offers it', () => {
    const accounts = allResources('Microsoft.Storage/storageAccounts').filter((r) => !r.stmt.existing);
    expect(accounts.length).toBe(1);
    for (const { stmt } of accounts) {
      expect(at(stmt.value, 'properties', 'allowSharedKeyAccess')?.raw).toBe('false');
      expect(at(stmt.value, 'properties', 'allowBlobPublicAccess')?.raw).toBe('false');
      expect(literal(at(stmt.value, 'properties', 'minimumTlsVersion'))).toBe('TLS1_2');
    }
    const insights = allResources('Microsoft.Insights/components');
    expect(insights.map((r) => at(r.stmt.value, 'properties', 'DisableLocalAuth')?.raw)).toEqual(['true']);
    const workspaces = allResources('Microsoft.OperationalInsights/workspaces').filter((r) => !r.stmt.existing);
    expect(workspaces.map((r) => at(r.stmt.value, 'properties', 'features', 'disableLocalAuth')?.raw)).toEqual(['true']);
  });

  it('turns off basic-auth publishing on the function app', () => {
    const policies = allResources('Microsoft.Web/sites/basicPublishingCredentialsPolicies');
    expect(policies.map((p) => literal(at(p.stmt.value, 'name'))).sort()).toEqual(['ftp', 'scm']);
    for (const p of policies) expect(at(p.stmt.value, 'properties', 'allow')?.raw).toBe('false');
  });

  it('keeps secrets out of parameter files and defaults', () => {
    for (const f of files) {
      for (const s of f.statements.filter((x) => x.keyword === 'param' && x.decorators.includes('@secure()'))) {
        expect(literal(s.value), `${f.rel}: secure param ${s.name} default`).toBe('');
      }
    }
    const params = readFileSync(join(INFRA, 'main.bicepparam'), 'utf8');
    expect(params).toMatch(/^using 'main\.bicep'/m);
    const declared = new Set(main.statements.filter((x) => x.keyword === 'param').map((x) => x.name));
    for (const m of params.matchAll(/^param (\w+)/gm)) expect(declared.has(m[1]!), `main.bicepparam sets unknown param ${m[1]}`).toBe(true);
    // Secrets only ever come from the deployer's environment, never as literals.
    for (const name of ['fingerprintKey', 'webhookSecret']) {
      const line = params.split('\n').find((l) => l.startsWith(`param ${name} `));
      expect(line, name).toMatch(/^param \w+ = readEnvironmentVariable\('FLOWWARDEN_[A-Z_]+', ''\)$/);
    }
  });
});

describe('role assignments', () => {
  const assignments = allResources('Microsoft.Authorization/roleAssignments');

  it('uses allowed roles, each scoped to one resource of the right type', () => {
    expect(assignments.length).toBeGreaterThanOrEqual(7);
    for (const { file, stmt } of assignments) {
      const where = `${file.rel}: ${stmt.name}`;
      expect(file.code, where).not.toMatch(/targetScope\s*=\s*'(subscription|managementGroup|tenant)'/);
      const scope = at(stmt.value, 'scope');
      expect(scope?.kind, `${where} needs an explicit resource scope`).toBe('expr');
      expect(scope!.raw, where).toMatch(/^[A-Za-z_]\w*$/);
      const target = file.statements.find((s) => (s.keyword === 'resource') && s.name === scope!.raw);
      expect(target, `${where}: scope ${scope!.raw} is not a resource of this file`).toBeDefined();
      const scopeType = typeOf(target!);

      const name = at(stmt.value, 'name');
      expect(name?.raw, `${where}: deterministic guid() name`).toMatch(/^guid\(/);
      // The guid includes the scope resource, so two scopes never collide.
      expect(name!.raw, where).toContain(`${scope!.raw}.id`);

      const roleDef = at(stmt.value, 'properties', 'roleDefinitionId')!.raw;
      const builtIn = /^subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions',\s*'([0-9a-f-]{36})'\)$/.exec(roleDef);
      if (builtIn) {
        const role = ALLOWED_BUILT_IN_ROLES[builtIn[1]!];
        expect(role, `${where}: role ${builtIn[1]} is not on the allowed list`).toBeDefined();
        expect(role!.scopes, `${where}: ${role!.name} on ${scopeType}`).toContain(scopeType);
      } else {
        const custom = /^subscriptionResourceId\('Microsoft\.Authorization\/roleDefinitions',\s*([A-Za-z_]\w*)\.name\)$/.exec(roleDef);
        expect(custom, `${where}: roleDefinitionId ${roleDef}`).not.toBeNull();
        const def = statement(file, 'resource', custom![1]!);
        expect(typeOf(def)).toBe('Microsoft.Authorization/roleDefinitions');
        expect(scopeType).toBe('Microsoft.Communication/communicationServices');
        const perms = at(def.value, 'properties', 'permissions');
        expect(perms?.kind).toBe('array');
        const [perm] = (perms as Extract<BicepValue, { kind: 'array' }>).items;
        expect(stringItems(at(perm, 'actions')).sort()).toEqual([...EMAIL_SENDER_ACTIONS].sort());
        for (const k of ['notActions', 'dataActions', 'notDataActions']) expect(stringItems(at(perm, k))).toEqual([]);
        expect(at(def.value, 'properties', 'assignableScopes')?.raw).toMatch(/^\[\s*resourceGroup\(\)\.id\s*\]$/);
      }
    }
  });

  it('grants the identity exactly the roles it needs, where it needs them', () => {
    const grants = assignments
      .filter((a) => /identity\.properties\.principalId|publisherPrincipalId/.test(at(a.stmt.value, 'properties', 'principalId')!.raw))
      .map((a) => {
        const roleDef = at(a.stmt.value, 'properties', 'roleDefinitionId')!.raw;
        const id = /'([0-9a-f-]{36})'/.exec(roleDef)?.[1];
        const scope = a.file.statements.find((s) => s.name === at(a.stmt.value, 'scope')!.raw)!;
        return `${id ? ALLOWED_BUILT_IN_ROLES[id]!.name : 'custom email sender'} @ ${typeOf(scope)}`;
      })
      .sort();
    expect(grants).toEqual(
      [
        'Storage Blob Data Owner @ Microsoft.Storage/storageAccounts',
        'Storage Queue Data Contributor @ Microsoft.Storage/storageAccounts',
        'Storage Table Data Contributor @ Microsoft.Storage/storageAccounts',
        'Key Vault Secrets User @ Microsoft.KeyVault/vaults',
        'Monitoring Metrics Publisher @ Microsoft.Insights/dataCollectionRules',
        'Monitoring Metrics Publisher @ Microsoft.Insights/components',
        'custom email sender @ Microsoft.Communication/communicationServices',
      ].sort(),
    );
    for (const a of assignments.filter((x) => !/readerPrincipalIds/.test(x.stmt.value!.raw))) {
      expect(literal(at(a.stmt.value, 'properties', 'principalType')), a.stmt.name).toBe('ServicePrincipal');
    }
  });

  it('gives `flowwarden query` users Log Analytics Reader on the findings workspace only', () => {
    const readers = assignments.filter((a) => a.stmt.value!.kind === 'for');
    expect(readers).toHaveLength(1);
    const roleDef = at(readers[0]!.stmt.value, 'properties', 'roleDefinitionId')!.raw;
    expect(roleDef).toContain('73c42c96-874c-492b-b04d-ab87d138a893');
  });
});

describe('function app', () => {
  const site = resources(main, 'Microsoft.Web/sites')[0]!;
  const plan = resources(main, 'Microsoft.Web/serverfarms')[0]!;

  it('runs Node 22 on the Flex Consumption plan with the user-assigned identity', () => {
    expect(literal(at(plan.value, 'sku', 'name'))).toBe('FC1');
    expect(literal(at(plan.value, 'sku', 'tier'))).toBe('FlexConsumption');
    expect(literal(at(site.value, 'kind'))).toBe('functionapp,linux');
    expect(literal(at(site.value, 'properties', 'functionAppConfig', 'runtime', 'name'))).toBe('node');
    expect(literal(at(site.value, 'properties', 'functionAppConfig', 'runtime', 'version'))).toBe('22');
    expect(literal(at(site.value, 'identity', 'type'))).toBe('UserAssigned');
    expect(at(site.value, 'properties', 'keyVaultReferenceIdentity')?.raw).toBe('identity.id');
    expect(at(site.value, 'properties', 'httpsOnly')?.raw).toBe('true');
    const deployment = at(site.value, 'properties', 'functionAppConfig', 'deployment', 'storage', 'authentication');
    expect(literal(at(deployment, 'type'))).toBe('UserAssignedIdentity');
    expect(main.code).not.toMatch(/linuxFxVersion|netFrameworkVersion/);
  });

  const hostSettings = statement(main, 'var', 'hostSettings').value;
  const appSettings = statement(main, 'var', 'flowwardenSettings').value;
  const configured = bodyOf(appSettings)!;

  it('applies exactly the host settings and the flowwarden settings', () => {
    const config = resources(main, 'Microsoft.Web/sites/config')[0]!;
    expect(literal(at(config.value, 'name'))).toBe('appsettings');
    expect(at(config.value, 'properties')?.raw).toBe('union(hostSettings, flowwardenSettings, settingOverrides)');
    expect(objectKeys(hostSettings).sort()).toEqual([...HOST_SETTINGS].sort());
    expect(literal(at(hostSettings, 'AzureWebJobsStorage__credential'))).toBe('managedidentity');
    expect(at(hostSettings, 'AzureWebJobsStorage__clientId')?.raw).toBe('identity.properties.clientId');
    expect(at(hostSettings, 'AZURE_CLIENT_ID')?.raw).toBe('identity.properties.clientId');
    for (const f of files) {
      for (const name of FORBIDDEN_SETTINGS) expect(f.code, `${f.rel} sets ${name}`).not.toMatch(new RegExp(`\\b${name}\\s*:`));
    }
  });

  it('sets every setting src/settings.ts marks for Azure, and nothing it does not know', () => {
    const wanted = SETTINGS.filter((s) => s.azure === 'set').map((s) => s.name).sort();
    expect([...configured.keys()].sort()).toEqual(wanted);
    const known = new Set([...SETTINGS.map((s) => s.name), ...HOST_SETTINGS]);
    const everyKey = [...objectKeys(hostSettings), ...configured.keys()];
    for (const k of everyKey) expect(known.has(k), `${k} is not in src/settings.ts nor a host setting`).toBe(true);
  });

  it('omits only the local-only settings, each for a recorded reason', () => {
    const omitted = SETTINGS.filter((s) => s.azure === 'omit').map((s) => s.name).sort();
    expect(Object.keys(OMITTED_IN_AZURE).sort()).toEqual(omitted);
    for (const name of omitted) {
      for (const f of files) expect(f.code, `${f.rel} mentions ${name}`).not.toContain(name);
    }
  });

  it('reads secret settings from Key Vault references, and required ones have a value', () => {
    for (const s of SETTINGS.filter((x) => x.azure === 'set')) {
      const v = configured.get(s.name)!;
      if (s.secret) {
        expect(v.kind, s.name).toBe('string');
        expect(v.raw, s.name).toMatch(/^'@Microsoft\.KeyVault\(SecretUri=\$\{keyVault\.properties\.vaultUri\}secrets\/\$\{\w+\}\/\)'$/);
      } else {
        expect(v.raw, s.name).not.toMatch(/KeyVault/);
      }
      if (s.required) expect(v.raw.length, s.name).toBeGreaterThan(2);
    }
  });

  it('uses the code defaults for tuning settings, so Azure and local behave alike', () => {
    // The stream name comes from the workspace module, checked against the default below.
    expect(at(appSettings, 'FLOWWARDEN_LOGS_STREAM')?.raw).toBe('findings.outputs.streamName');
    for (const s of SETTINGS.filter((x) => x.azure === 'set' && x.default !== undefined && x.name !== 'FLOWWARDEN_LOGS_STREAM')) {
      expect(literal(configured.get(s.name)), s.name).toBe(s.default);
    }
  });

  it('points storage and telemetry settings at the resources of this template', () => {
    expect(at(appSettings, 'FLOWWARDEN_STORAGE_ACCOUNT_URL')?.raw).toBe('storage.properties.primaryEndpoints.table');
    expect(at(appSettings, 'FLOWWARDEN_MANAGED_IDENTITY_CLIENT_ID')?.raw).toBe('identity.properties.clientId');
    expect(literal(at(appSettings, 'FLOWWARDEN_CREDENTIAL'))).toBe('default');
    expect(at(appSettings, 'FLOWWARDEN_LOGS_DCR_ID')?.raw).toBe('findings.outputs.dcrImmutableId');
    expect(at(appSettings, 'FLOWWARDEN_LOGS_WORKSPACE_ID')?.raw).toBe('findings.outputs.workspaceId');
    expect(at(appSettings, 'FLOWWARDEN_LOGS_INGESTION_ENDPOINT')?.raw).toBe('findings.outputs.logsIngestionEndpoint');
  });
});

describe('storage layout', () => {
  it('creates every table and queue the code uses, and no others', () => {
    expect(stringItems(statement(main, 'var', 'tableNames').value).sort()).toEqual(Object.values(TABLES).sort());
    expect(stringItems(statement(main, 'var', 'queueNames').value).sort()).toEqual(Object.values(QUEUES).sort());
    const tables = resources(main, 'Microsoft.Storage/storageAccounts/tableServices/tables')[0]!;
    expect(tables.value!.kind).toBe('for');
    expect(tables.value!.raw).toMatch(/in tableNames:/);
    const queues = resources(main, 'Microsoft.Storage/storageAccounts/queueServices/queues')[0]!;
    expect(queues.value!.raw).toMatch(/in queueNames:/);
  });
});

describe('findings workspace', () => {
  const mod = files.find((f) => f.rel.endsWith('findingsWorkspace.bicep'))!;
  const expectedColumns: [string, string][] = [
    ['TimeGenerated', 'datetime'],
    ['FindingId', 'string'],
    ['Kind', 'string'],
    ['RuleId', 'string'],
    ['Severity', 'string'],
    ['EnvironmentId', 'string'],
    ['SubjectType', 'string'],
    ['SubjectId', 'string'],
    ['SubjectName', 'string'],
    ['ObservedAt', 'datetime'],
    ['Title', 'string'],
    ['Detail', 'string'],
    ['Evidence', 'dynamic'],
  ];

  it('declares the FlowWardenFindings_CL columns once, for the table and the stream', () => {
    const cols = statement(mod, 'var', 'findingColumns').value;
    expect(cols?.kind).toBe('array');
    const actual = (cols as Extract<BicepValue, { kind: 'array' }>).items.map((c) => [literal(at(c, 'name')), literal(at(c, 'type'))]);
    expect(actual).toEqual(expectedColumns);
    const table = resources(mod, 'Microsoft.OperationalInsights/workspaces/tables')[0]!;
    expect(literal(statement(mod, 'var', 'tableName').value)).toBe('FlowWardenFindings_CL');
    expect(at(table.value, 'properties', 'schema', 'columns')?.raw).toMatch(/for c in findingColumns/);
  });

  it('routes stream Custom-FlowWardenFindings unchanged into the table through a DCE', () => {
    const dcr = resources(mod, 'Microsoft.Insights/dataCollectionRules')[0]!;
    const streamDefault = SETTINGS.find((s) => s.name === 'FLOWWARDEN_LOGS_STREAM')!.default;
    expect(literal(statement(mod, 'var', 'streamName').value)).toBe(streamDefault);
    expect(objectKeys(at(dcr.value, 'properties', 'streamDeclarations'))).toEqual([streamDefault]);
    expect(at(dcr.value, 'properties', 'streamDeclarations', streamDefault!, 'columns')?.raw).toMatch(/for c in findingColumns/);
    expect(at(dcr.value, 'properties', 'dataCollectionEndpointId')?.raw).toBe('dataCollectionEndpoint.id');
    const flows = at(dcr.value, 'properties', 'dataFlows') as Extract<BicepValue, { kind: 'array' }>;
    expect(flows.items).toHaveLength(1);
    expect(literal(at(flows.items[0], 'transformKql'))).toBe('source');
    expect(at(flows.items[0], 'outputStream')?.raw).toBe("'Custom-${tableName}'");
    expect(at(dcr.value, 'dependsOn')?.raw).toMatch(/findingsTable/);
  });
});

describe('outputs', () => {
  const outputs = new Map(main.statements.filter((s) => s.keyword === 'output').map((s) => [s.name, s.value!.raw]));

  it('publishes the webhook URL, the DCR immutable id and the workspace id', () => {
    expect(outputs.get('webhookUrl')).toBe("'https://${functionApp.properties.defaultHostName}/api/webhooks/dataverse'");
    expect(outputs.get('dcrImmutableId')).toBe('findings.outputs.dcrImmutableId');
    expect(outputs.get('workspaceId')).toBe('findings.outputs.workspaceId');
    const mod = files.find((f) => f.rel.endsWith('findingsWorkspace.bicep'))!;
    const modOut = new Map(mod.statements.filter((s) => s.keyword === 'output').map((s) => [s.name, s.value!.raw]));
    expect(modOut.get('dcrImmutableId')).toBe('dataCollectionRule.properties.immutableId');
    expect(modOut.get('workspaceId')).toBe('workspace.properties.customerId');
  });
});

describe('function registrations', () => {
  // The bindings in functions/*.ts read settings and name queues/routes too; they must line up.
  const dir = join(ROOT, 'functions');
  const sources = readdirSync(dir).filter((n) => n.endsWith('.ts')).map((n) => ({ n, text: readFileSync(join(dir, n), 'utf8') }));
  const configured = new Set([...objectKeys(statement(main, 'var', 'hostSettings').value), ...objectKeys(statement(main, 'var', 'flowwardenSettings').value)]);

  it('finds the registrations', () => {
    expect(sources.map((s) => s.n)).toEqual(expect.arrayContaining(['dataverseWebhook.ts', 'scanRunWorker.ts', 'deliverAlerts.ts']));
  });

  it('sets every %SETTING% a binding reads', () => {
    for (const { n, text } of sources) {
      for (const m of text.matchAll(/%([A-Za-z0-9_]+)%/g)) expect(configured.has(m[1]!), `${n} reads %${m[1]}%`).toBe(true);
    }
  });

  it('uses the identity-based AzureWebJobsStorage connection and queues the template creates', () => {
    const queues = stringItems(statement(main, 'var', 'queueNames').value);
    for (const { n, text } of sources) {
      for (const m of text.matchAll(/connection:\s*'([^']+)'/g)) {
        expect(m[1], n).toBe('AzureWebJobsStorage');
        expect(configured.has(`${m[1]}__accountName`), n).toBe(true);
      }
      for (const m of text.matchAll(/queueName:\s*'([^']+)'/g)) expect(queues, n).toContain(m[1]);
    }
  });

  it('publishes the URL the webhook function actually serves', () => {
    const webhook = sources.find((s) => s.n === 'dataverseWebhook.ts')!.text;
    const route = /route:\s*'([^']+)'/.exec(webhook)?.[1];
    expect(route).toBeDefined();
    const output = main.statements.find((s) => s.keyword === 'output' && s.name === 'webhookUrl')!.value!.raw;
    expect(output.endsWith(`/api/${route}'`)).toBe(true);
  });
});
