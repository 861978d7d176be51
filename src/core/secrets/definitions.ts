/**
 * Flow-definition risk analysis: actions that will leak a secret into run history on their next run,
 * and secrets hard-coded in the definition itself. Pure: walks the Logic Apps workflow definition
 * (Flow API `properties.definition` or Dataverse `workflows.clientdata`) and returns findings.
 */
import { makeFinding, type Finding, type FindingDraft, type Severity } from '../finding';
import { fingerprint, maskedPreview } from '../fingerprint';
import { scanValue } from './engine';
import { applySecretPolicy, flowPortalUrl, portalBase, type SecretFindingContext, type SecretFindingResult } from './findings';

export const KEYVAULT_UNSECURED_RULE = 'secret.keyvault-getsecret-unsecured';
export const HTTP_AUTH_UNSECURED_RULE = 'secret.http-auth-unsecured';
export const HARDCODED_RULE = 'secret.hardcoded-in-definition';
export const SECRET_ENV_VAR_UNSECURED_RULE = 'secret.secret-env-var-unsecured-action';

export interface FlowDefinitionInput {
  environmentId: string;
  flowId: string;
  displayName?: string;
  /** The Logic Apps workflow definition object. */
  definition: unknown;
  source: 'flow-api' | 'dataverse';
  /** Flow-level connection references (Flow API `connectionReferences` / clientdata `properties.connectionReferences`): scanned for literals. */
  connectionReferences?: unknown;
  /**
   * When the definition last changed (Flow API `lastModifiedTime`, Dataverse `modifiedon`). Used as
   * `observedAt` so a finding keeps its date (and its table partition) across scans; default detectedAt.
   */
  observedAt?: string;
}

export type DefinitionFindingContext = SecretFindingContext & {
  /** Schema names of Secret-type (100000005) environment variables, from `secretEnvVarNames()`. */
  secretEnvVars?: Set<string>;
};

export class FlowDefinitionError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'FlowDefinitionError';
  }
}

/**
 * Parse Dataverse `workflows.clientdata` (a JSON string of `{ properties: { connectionReferences, definition } }`).
 * The error names the field but never quotes the text: clientdata may itself hold a secret.
 */
export function parseClientData(clientdata: string): { definition: Record<string, unknown>; connectionReferences: Record<string, unknown> } {
  if (typeof clientdata !== 'string' || clientdata.trim() === '') throw new FlowDefinitionError('clientdata', 'expected a non-empty JSON string');
  let raw: unknown;
  try {
    raw = JSON.parse(clientdata);
  } catch (e) {
    // V8's message quotes a slice of the input; keep only the position.
    const pos = /position (\d+)/.exec(e instanceof Error ? e.message : '')?.[1];
    throw new FlowDefinitionError('clientdata', `not valid JSON${pos ? ` (at position ${pos})` : ''}`);
  }
  if (!isObject(raw)) throw new FlowDefinitionError('clientdata', 'expected a JSON object');
  const props = raw['properties'];
  if (!isObject(props)) throw new FlowDefinitionError('clientdata.properties', 'expected an object');
  const definition = props['definition'];
  if (!isObject(definition)) throw new FlowDefinitionError('clientdata.properties.definition', 'expected an object');
  const refs = props['connectionReferences'] ?? {};
  if (!isObject(refs)) throw new FlowDefinitionError('clientdata.properties.connectionReferences', 'expected an object');
  return { definition, connectionReferences: refs };
}

// ---------------------------------------------------------------- helpers

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return IDENT.test(key) ? `${path}.${key}` : `${path}['${key.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}']`;
}

/** Visit every string leaf with its JSON path. */
function walkStrings(value: unknown, path: string, visit: (s: string, path: string) => void): void {
  if (typeof value === 'string') visit(value, path);
  else if (Array.isArray(value)) value.forEach((v, i) => walkStrings(v, childPath(path, i), visit));
  else if (isObject(value)) for (const [k, v] of Object.entries(value)) walkStrings(v, childPath(path, k), visit);
}

/**
 * The literal part of a workflow string: `@expr` (whole-string expression) → null; `@{…}` interpolations
 * are blanked with spaces so offsets still index the original; a leading `@@` is an escaped literal `@`.
 */
export function literalPart(s: string): string | null {
  if (s.startsWith('@') && !s.startsWith('@@') && !s.startsWith('@{')) return null;
  if (!s.includes('@{')) return s;
  let out = '';
  let i = 0;
  while (i < s.length) {
    const at = s.indexOf('@{', i);
    if (at < 0) {
      out += s.slice(i);
      break;
    }
    out += s.slice(i, at);
    // Find the closing brace, skipping single-quoted string literals ('' escapes a quote).
    let j = at + 2;
    let depth = 1;
    let inQuote = false;
    while (j < s.length && depth > 0) {
      const c = s[j];
      if (inQuote) {
        if (c === "'") {
          if (s[j + 1] === "'") j++;
          else inQuote = false;
        }
      } else if (c === "'") inQuote = true;
      else if (c === '{') depth++;
      else if (c === '}') depth--;
      j++;
    }
    out += ' '.repeat(j - at);
    i = j;
  }
  return out;
}

function secureDataProps(action: Record<string, unknown>): string[] {
  const rc = action['runtimeConfiguration'];
  const sd = isObject(rc) ? rc['secureData'] : undefined;
  const props = isObject(sd) ? sd['properties'] : undefined;
  return Array.isArray(props) ? props.filter((p): p is string => typeof p === 'string').map((p) => p.toLowerCase()) : [];
}

// ---------------------------------------------------------------- action tree

interface ActionNode {
  name: string;
  /** Action names from the root, `/`-joined (names are unique per workflow, the chain shows nesting). */
  actionPath: string;
  jsonPath: string;
  kind: 'action' | 'trigger';
  body: Record<string, unknown>;
}

function collectActions(container: unknown, parentPath: string, jsonPath: string, out: ActionNode[]): void {
  if (!isObject(container)) return;
  for (const [name, body] of Object.entries(container)) {
    if (!isObject(body)) continue;
    const actionPath = parentPath ? `${parentPath}/${name}` : name;
    const jp = childPath(jsonPath, name);
    out.push({ name, actionPath, jsonPath: jp, kind: 'action', body });
    // Scope / Foreach / Until / If (then) carry `actions`; If has `else.actions`; Switch has `cases.*.actions` and `default.actions`.
    collectActions(body['actions'], actionPath, childPath(jp, 'actions'), out);
    const els = body['else'];
    if (isObject(els)) collectActions(els['actions'], actionPath, childPath(childPath(jp, 'else'), 'actions'), out);
    const cases = body['cases'];
    if (isObject(cases)) {
      for (const [caseName, c] of Object.entries(cases)) {
        if (isObject(c)) collectActions(c['actions'], actionPath, childPath(childPath(childPath(jp, 'cases'), caseName), 'actions'), out);
      }
    }
    const dflt = body['default'];
    if (isObject(dflt)) collectActions(dflt['actions'], actionPath, childPath(childPath(jp, 'default'), 'actions'), out);
  }
}

function listNodes(definition: Record<string, unknown>): ActionNode[] {
  const out: ActionNode[] = [];
  const triggers = definition['triggers'];
  if (isObject(triggers)) {
    for (const [name, body] of Object.entries(triggers)) {
      if (isObject(body)) out.push({ name, actionPath: name, jsonPath: childPath('$.triggers', name), kind: 'trigger', body });
    }
  }
  collectActions(definition['actions'], '', '$.actions', out);
  return out;
}

interface ConnectorInfo {
  connector?: string;
  operation?: string;
}

function connectorInfo(body: Record<string, unknown>): ConnectorInfo {
  const inputs = isObject(body['inputs']) ? body['inputs'] : {};
  const host = isObject(inputs['host']) ? inputs['host'] : {};
  const info: ConnectorInfo = {};
  const apiId = str(host['apiId']);
  const connectionName = str(host['connectionName']);
  const connection = isObject(host['connection']) ? str(host['connection']['name']) : undefined;
  if (apiId) info.connector = apiId.split('/').pop()!;
  else if (connectionName) info.connector = connectionName;
  else if (connection) info.connector = /\['([^']+)'\]/.exec(connection)?.[1] ?? connection;
  const op = str(host['operationId']);
  if (op) info.operation = op;
  else if (str(inputs['path'])) info.operation = `${(str(inputs['method']) ?? 'get').toUpperCase()} ${str(inputs['path'])!.replace(/@\{[^}]*\}/g, '{…}')}`;
  return info;
}

function isKeyVaultGetSecret(body: Record<string, unknown>): boolean {
  const type = (str(body['type']) ?? '').toLowerCase();
  const inputs = isObject(body['inputs']) ? body['inputs'] : undefined;
  const host = inputs && isObject(inputs['host']) ? inputs['host'] : undefined;
  if (!inputs || !host) return false;
  const apiId = (str(host['apiId']) ?? '').toLowerCase();
  const refs = [str(host['connectionName']), isObject(host['connection']) ? str(host['connection']['name']) : undefined]
    .filter((x): x is string => !!x)
    .map((x) => x.toLowerCase());
  const isKeyVault = apiId.endsWith('shared_keyvault') || apiId.endsWith('/keyvault') || refs.some((r) => r.includes('keyvault'));
  if (!isKeyVault) return false;
  if (type.startsWith('openapiconnection')) {
    const op = (str(host['operationId']) ?? '').toLowerCase();
    return op === 'getsecret' || op === 'getsecretversion';
  }
  if (type === 'apiconnection') {
    // Older shape: GET /secrets/{name}/value (or /secrets/{name}/versions/{v}/value).
    const path = str(inputs['path']) ?? '';
    const method = (str(inputs['method']) ?? 'get').toLowerCase();
    return method === 'get' && /^\/secrets\/.+\/value$/i.test(path);
  }
  return false;
}

const AUTH_HEADERS = new Set([
  'authorization',
  'proxy-authorization',
  'x-functions-key',
  'api-key',
  'x-api-key',
  'apikey',
  'ocp-apim-subscription-key',
  'x-ms-client-secret',
]);

interface HttpAuthUse {
  /** JSON path of the credential (header or authentication object). */
  jsonPath: string;
  what: string;
}

/** HTTP parts that can carry credentials: inputs itself, or subscribe/unsubscribe for HttpWebhook. */
function httpRequestParts(inputs: Record<string, unknown>, inputsPath: string): { req: Record<string, unknown>; path: string }[] {
  const parts = [{ req: inputs, path: inputsPath }];
  for (const k of ['subscribe', 'unsubscribe']) {
    const p = inputs[k];
    if (isObject(p)) parts.push({ req: p, path: childPath(inputsPath, k) });
  }
  return parts;
}

function httpAuthUses(body: Record<string, unknown>, jsonPath: string): HttpAuthUse[] {
  const inputs = body['inputs'];
  if (!isObject(inputs)) return [];
  const uses: HttpAuthUse[] = [];
  for (const { req, path } of httpRequestParts(inputs, childPath(jsonPath, 'inputs'))) {
    const auth = req['authentication'];
    if (auth !== undefined && auth !== null && auth !== '') {
      // A managed identity puts no credential in the inputs (only the audience).
      const t = isObject(auth) ? (str(auth['type']) ?? '') : '';
      if (t.toLowerCase() !== 'managedserviceidentity') {
        uses.push({ jsonPath: childPath(path, 'authentication'), what: t ? `authentication (${t})` : 'authentication' });
      }
    }
    const headers = req['headers'];
    if (isObject(headers)) {
      for (const h of Object.keys(headers)) {
        if (AUTH_HEADERS.has(h.toLowerCase())) uses.push({ jsonPath: childPath(childPath(path, 'headers'), h), what: `${h} header` });
      }
    }
  }
  return uses;
}

interface LiteralHit {
  jsonPath: string;
  detector: string;
  value: string;
}

/** A copy of `value` holding only literal text: whole-string expressions become '', interpolations a space. */
function literalsOnly(value: unknown): unknown {
  if (typeof value === 'string') {
    const lit = literalPart(value);
    if (lit === null) return '';
    const text = lit === value ? value : collapseBlanks(value, lit);
    return text.trim() === '' ? '' : text;
  }
  if (Array.isArray(value)) return value.map(literalsOnly);
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, literalsOnly(v)]));
  return value;
}

/** Each `@{…}` becomes one space, so literal pieces around it never join into one token. */
function collapseBlanks(s: string, lit: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (lit[i] === s[i]) out += s[i];
    else if (!out.endsWith(' ')) out += ' ';
  }
  return out;
}

/**
 * Detector hits (format and field-name context rules) on the literal parts of `value`. `name` gives a
 * bare value its field-name context (a parameter called ApiPassword). Paths are rebased onto `jsonPath`.
 */
function literalSecrets(value: unknown, jsonPath: string, disabledRules: string[], name?: string): LiteralHit[] {
  const tree = literalsOnly(value);
  const wrapped = name === undefined ? tree : { [name]: tree };
  const root = name === undefined ? '$' : childPath('$', name);
  return scanValue(wrapped, { disabledRules }).map((h) => ({
    jsonPath: jsonPath + h.path.slice(root.length),
    detector: h.ruleId,
    value: h.value,
  }));
}

const PARAM_REF = /parameters\(\s*'((?:[^']|'')*)'\s*\)/gi;

/** Secret-type environment variables that an action's inputs reference through `parameters('…')`. */
function secretEnvVarRefs(
  inputs: unknown,
  secretNames: Set<string>,
  paramSchema: Map<string, string>,
): string[] {
  const found = new Set<string>();
  walkStrings(inputs, '$', (s) => {
    if (!s.includes('parameters(')) return;
    for (const m of s.matchAll(PARAM_REF)) {
      const ref = m[1]!.replace(/''/g, "'");
      const candidates = [ref, paramSchema.get(ref.toLowerCase()) ?? ''];
      // Solution flows name the parameter "<schemaname> (<displayname>)" or "<displayname> (<schemaname>)".
      const pm = /^(.*?)\s*\(([^()]*)\)$/.exec(ref);
      if (pm) candidates.push(pm[1]!, pm[2]!);
      const hit = candidates.find((c) => c && secretNames.has(c.toLowerCase()));
      if (hit) found.add(hit);
    }
  });
  return [...found].sort();
}

// ---------------------------------------------------------------- findings

export function definitionFindings(flow: FlowDefinitionInput, ctx: DefinitionFindingContext): Finding[] {
  return definitionFindingsWithStats(flow, ctx).findings;
}

export function definitionFindingsWithStats(flow: FlowDefinitionInput, ctx: DefinitionFindingContext): SecretFindingResult {
  if (!isObject(flow.definition)) throw new FlowDefinitionError('definition', 'expected the workflow definition object');
  const def = flow.definition;
  const disabled = ctx.policy.secrets.disabledRules;
  const observedAt = flow.observedAt ?? ctx.detectedAt;
  const portalUrl = flowPortalUrl(portalBase(ctx, flow.environmentId), flow.environmentId, flow.flowId);
  const flowLabel = flow.displayName ? `"${flow.displayName}" (${flow.flowId})` : flow.flowId;
  const secretNames = new Set([...(ctx.secretEnvVars ?? [])].map((n) => n.toLowerCase()));
  const drafts: Finding[] = [];

  const emit = (d: {
    ruleId: string;
    severity: Severity;
    subject: { type: string; id: string; name?: string };
    title: string;
    detail: string;
    evidence: Record<string, string | number | boolean>;
    evidenceKey: string;
  }): void => {
    const draft: FindingDraft = {
      kind: 'secret-exposure',
      ruleId: d.ruleId,
      severity: d.severity,
      environmentId: flow.environmentId,
      subject: d.subject,
      observedAt,
      title: d.title,
      detail: d.detail,
      evidence: { flowId: flow.flowId, source: flow.source, portalUrl, ...d.evidence },
      evidenceKey: d.evidenceKey,
    };
    drafts.push(makeFinding(draft, ctx.detectedAt));
  };

  const hardcoded = (
    subject: { type: string; id: string; name?: string },
    where: string,
    hit: LiteralHit,
    extra: Record<string, string | number | boolean>,
  ): void => {
    const fp = fingerprint(hit.value, ctx.fingerprintKey);
    const preview = maskedPreview(hit.value);
    emit({
      ruleId: HARDCODED_RULE,
      severity: 'high',
      subject,
      title: `Secret hard-coded in ${where} of flow ${flow.displayName ?? flow.flowId}`,
      detail:
        `A secret-looking literal (${hit.detector}, ${preview}, fingerprint ${fp}) is written into the definition of flow ${flowLabel} ` +
        `at ${hit.jsonPath} (${where}). Everyone who can open or export the flow can read it, and it shows in run history. ` +
        'Fix: replace it with a Secret-type environment variable backed by Azure Key Vault (or a Key Vault "Get secret" action with secure outputs), then rotate the secret.',
      evidence: { ...extra, jsonPath: hit.jsonPath, detector: hit.detector, maskedPreview: preview, fingerprint: fp },
      evidenceKey: `${hit.jsonPath}|${fp}`,
    });
  };

  // Workflow parameters' defaults, including $connections.
  const params = def['parameters'];
  const paramSchema = new Map<string, string>();
  if (isObject(params)) {
    for (const [name, p] of Object.entries(params)) {
      if (!isObject(p)) continue;
      const meta = p['metadata'];
      const schema = isObject(meta) ? str(meta['schemaName']) : undefined;
      if (schema) paramSchema.set(name.toLowerCase(), schema);
      const jp = childPath(childPath('$.parameters', name), 'defaultValue');
      const subject = { type: 'flow-definition-parameter', id: `${flow.flowId}/parameters/${name}`, name };
      for (const hit of literalSecrets(p['defaultValue'], jp, disabled, name)) {
        hardcoded(subject, name === '$connections' ? '$connections' : `parameter ${name}`, hit, { parameterName: name });
      }
    }
  }
  if (flow.connectionReferences !== undefined) {
    for (const hit of literalSecrets(flow.connectionReferences, '$connectionReferences', disabled)) {
      const subject = { type: 'flow-definition-connections', id: `${flow.flowId}/connectionReferences` };
      hardcoded(subject, 'connection references', hit, {});
    }
  }

  for (const node of listNodes(def)) {
    const body = node.body;
    const type = str(body['type']) ?? '';
    const secure = secureDataProps(body);
    const info = connectorInfo(body);
    const subject = {
      type: 'flow-definition-action',
      id: `${flow.flowId}/${node.kind === 'trigger' ? 'triggers' : 'actions'}/${node.actionPath}`,
      name: node.name,
    };
    const label = `${node.kind} ${node.name}${type ? ` (${type})` : ''}`;
    const base: Record<string, string | number | boolean> = { actionName: node.name, actionPath: node.actionPath, actionType: type };
    if (info.connector) base['connector'] = info.connector;
    if (info.operation) base['operation'] = info.operation;

    if (isKeyVaultGetSecret(body) && !secure.includes('outputs')) {
      const inputs = isObject(body['inputs']) ? body['inputs'] : {};
      const p = isObject(inputs['parameters']) ? inputs['parameters'] : {};
      const secretName = str(p['secretName']);
      emit({
        ruleId: KEYVAULT_UNSECURED_RULE,
        severity: 'medium',
        subject,
        title: `Key Vault "Get secret" without secure outputs: ${node.name} in flow ${flow.displayName ?? flow.flowId}`,
        detail:
          `The ${label} of flow ${flowLabel} reads a secret from Azure Key Vault${secretName && literalPart(secretName) !== null ? ` ("${secretName}")` : ''} ` +
          `but its outputs are not secured, so every run writes the secret value in clear into the run history, readable by the flow's owners, co-owners and run-only users. ` +
          'Fix: in the action settings turn on Secure Outputs (runtimeConfiguration.secureData.properties: ["outputs"]), and Secure Inputs on the actions that use the value; ' +
          'then rotate the secret, since past runs keep it until their history expires.',
        evidence: { ...base, jsonPath: node.jsonPath, missing: 'outputs', ...(secretName && literalPart(secretName) !== null ? { secretName } : {}) },
        evidenceKey: 'keyvault-getsecret|outputs',
      });
    }

    const isHttp = /^http(webhook)?$/i.test(type);
    if (isHttp && !secure.includes('inputs')) {
      const uses = httpAuthUses(body, node.jsonPath);
      if (uses.length > 0) {
        emit({
          ruleId: HTTP_AUTH_UNSECURED_RULE,
          severity: 'medium',
          subject,
          title: `HTTP credential not secured: ${node.name} in flow ${flow.displayName ?? flow.flowId}`,
          detail:
            `The ${label} of flow ${flowLabel} sends a credential (${uses.map((u) => u.what).join(', ')}) but its inputs are not secured, ` +
            "so every run writes the credential in clear into the run history, readable by the flow's owners, co-owners and run-only users. " +
            'Fix: turn on Secure Inputs (runtimeConfiguration.secureData.properties: ["inputs"]), take the credential from a Secret-type environment variable or Key Vault, ' +
            'or use a managed identity; then rotate the credential.',
          evidence: { ...base, jsonPath: uses[0]!.jsonPath, credential: uses.map((u) => u.what).join(', '), missing: 'inputs' },
          evidenceKey: 'http-auth|inputs',
        });
      }
    }

    if (secretNames.size > 0 && !secure.includes('inputs')) {
      for (const envVar of secretEnvVarRefs(body['inputs'], secretNames, paramSchema)) {
        emit({
          ruleId: SECRET_ENV_VAR_UNSECURED_RULE,
          severity: 'medium',
          subject,
          title: `Secret environment variable ${envVar} used in ${node.name} without secure inputs (flow ${flow.displayName ?? flow.flowId})`,
          detail:
            `The ${label} of flow ${flowLabel} uses the Secret-type environment variable ${envVar}, but its inputs are not secured, ` +
            'so the resolved secret value appears in clear in the run history. ' +
            'Fix: turn on Secure Inputs (runtimeConfiguration.secureData.properties: ["inputs"]) on every action that uses the variable, and Secure Outputs where the value is echoed.',
          evidence: { ...base, jsonPath: childPath(node.jsonPath, 'inputs'), environmentVariable: envVar, missing: 'inputs' },
          evidenceKey: `secret-env-var|${envVar.toLowerCase()}`,
        });
      }
    }

    // Hard-coded literals in inputs (expressions are not literals).
    const inputsPath = childPath(node.jsonPath, 'inputs');
    for (const hit of literalSecrets(body['inputs'], inputsPath, disabled)) hardcoded(subject, label, hit, base);
  }

  return applySecretPolicy(drafts, ctx);
}
