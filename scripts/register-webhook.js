#!/usr/bin/env node
'use strict';
/**
 * Registers (or updates) the flowwarden Dataverse webhook in one environment through the Web API:
 * one service endpoint (contract Webhook, HttpHeader auth `x-flowwarden-key`) and asynchronous
 * PostOperation steps on the monitored tables of the policy plus role associate/disassociate.
 * Safe to run again: it updates the endpoint URL/secret and adds only the steps that are missing.
 *
 *   FLOWWARDEN_WEBHOOK_SECRET=... node scripts/register-webhook.js \
 *     --policy policy/flowwarden.policy.yaml --environment <environment id> \
 *     --webhook-url https://<app>.azurewebsites.net/api/webhooks/dataverse [--dry-run]
 *
 * Run it as a Dataverse System Customizer / System Administrator (az login); the monitor's own
 * application user stays read-only and cannot do this. The secret is read from the environment,
 * never from the command line, and is never printed. See docs/tenant-setup.md.
 */

const ENDPOINT_NAME = 'flowwarden';
const HEADER_NAME = 'x-flowwarden-key';
/** Per monitored table. Assign and the sharing messages exist only on user/team-owned tables. */
const TABLE_MESSAGES = ['Create', 'Update', 'Delete', 'Assign', 'GrantAccess', 'ModifyAccess', 'RevokeAccess'];
const OWNERSHIP_MESSAGES = new Set(['Assign', 'GrantAccess', 'ModifyAccess', 'RevokeAccess']);
/** Role changes (systemuserroles_association, teamroles_association) arrive as these; no table filter exists for them. */
const GLOBAL_MESSAGES = ['Associate', 'Disassociate'];

class RegistrationError extends Error {
  /** @param {string} message @param {{ status?: number, field?: string }} [info] */
  constructor(message, info = {}) {
    super(message);
    this.name = 'RegistrationError';
    this.status = info.status;
    this.field = info.field;
  }
}

/** OData string literal: single quotes doubled. */
const odataString = (v) => `'${String(v).replace(/'/g, "''")}'`;
const xmlAttr = (v) => String(v).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');

/**
 * @param {import('./register-webhook').RegisterWebhookOptions} opts
 * @returns {Promise<import('./register-webhook').RegisterWebhookResult>}
 */
async function registerWebhook(opts) {
  const { dataverseUrl, webhookUrl, secret, tables, getToken, dryRun = false } = opts;
  const doFetch = opts.fetch ?? globalThis.fetch;
  const log = opts.log ?? (() => {});
  if (!/^https:\/\//i.test(webhookUrl) && !/^http:\/\/(127\.0\.0\.1|localhost)[:/]/i.test(webhookUrl)) {
    throw new RegistrationError('webhookUrl: expected an https URL', { field: 'webhookUrl' });
  }
  if (typeof secret !== 'string' || secret.length < 16) {
    throw new RegistrationError('secret: expected at least 16 characters', { field: 'secret' });
  }
  if (!Array.isArray(tables) || tables.length === 0 || tables.some((t) => !/^[a-z0-9_]+$/.test(t))) {
    throw new RegistrationError('tables: expected one or more table logical names (lowercase)', { field: 'tables' });
  }
  const base = `${dataverseUrl.replace(/\/+$/, '')}/api/data/v9.2/`;
  const token = await getToken();

  /** @param {string} method @param {string} path @param {unknown} [body] */
  async function call(method, path, body) {
    const res = await doFetch(base + path, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        'odata-version': '4.0',
        'odata-maxversion': '4.0',
        ...(body ? { 'content-type': 'application/json; charset=utf-8', prefer: 'return=representation' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) {
      // Dataverse error bodies carry {error:{code,message}}; never the request (which holds the secret).
      let detail = '';
      try {
        detail = JSON.parse(text).error?.message ?? '';
      } catch {
        detail = '';
      }
      throw new RegistrationError(`${method} ${path.split('?')[0]}: HTTP ${res.status}${detail ? ` ${detail}` : ''}`, { status: res.status });
    }
    return text ? JSON.parse(text) : {};
  }
  const one = async (path) => (await call('GET', path)).value?.[0];

  const result = { serviceEndpointId: '', created: [], existing: [], skipped: [] };

  // 1. Service endpoint: HttpHeader auth (authtype 5) sends the header on every call.
  const endpointBody = {
    name: ENDPOINT_NAME,
    description: 'flowwarden: unexpected modifiers and role changes, near real time',
    url: webhookUrl,
    contract: 8, // Webhook
    authtype: 5, // HttpHeader
    authvalue: `<settings><setting name="${HEADER_NAME}" value="${xmlAttr(secret)}" /></settings>`,
    messageformat: 2, // JSON
    userclaim: 1, // None
  };
  const found = await one(`serviceendpoints?$select=serviceendpointid,name&$filter=name eq ${odataString(ENDPOINT_NAME)}`);
  if (found) {
    result.serviceEndpointId = found.serviceendpointid;
    log(`service endpoint ${ENDPOINT_NAME} exists; ${dryRun ? 'would update' : 'updating'} its URL and secret`);
    if (!dryRun) await call('PATCH', `serviceendpoints(${found.serviceendpointid})`, endpointBody);
  } else if (dryRun) {
    log(`would create service endpoint ${ENDPOINT_NAME} → ${webhookUrl}`);
    result.serviceEndpointId = '(new)';
  } else {
    result.serviceEndpointId = (await call('POST', 'serviceendpoints', endpointBody)).serviceendpointid;
    log(`created service endpoint ${ENDPOINT_NAME}`);
  }

  // 2. Steps: asynchronous (mode 1) PostOperation (stage 40), so a slow or failing webhook never
  //    blocks or fails the user's transaction; successful system jobs are deleted automatically.
  const messageIds = new Map();
  async function messageId(name) {
    if (!messageIds.has(name)) {
      const m = await one(`sdkmessages?$select=sdkmessageid,name&$filter=name eq ${odataString(name)}`);
      if (!m) throw new RegistrationError(`sdkmessage ${name} not found`, { field: 'message' });
      messageIds.set(name, m.sdkmessageid);
    }
    return messageIds.get(name);
  }
  const work = [
    ...tables.flatMap((table) => TABLE_MESSAGES.map((message) => ({ message, table }))),
    ...GLOBAL_MESSAGES.map((message) => ({ message, table: undefined })),
  ];
  for (const { message, table } of work) {
    const stepName = table ? `flowwarden: ${message} of ${table}` : `flowwarden: ${message}`;
    const sdkMessageId = await messageId(message);
    let filterId;
    if (table) {
      const filter = await one(
        `sdkmessagefilters?$select=sdkmessagefilterid&$filter=primaryobjecttypecode eq ${odataString(table)} and _sdkmessageid_value eq ${sdkMessageId}`,
      );
      if (!filter) {
        if (OWNERSHIP_MESSAGES.has(message)) {
          // Organization-owned tables have no Assign or sharing; nothing to watch there.
          result.skipped.push(`${stepName} (the table is not user/team-owned)`);
          continue;
        }
        throw new RegistrationError(`table ${table}: no ${message} message filter (is the logical name right?)`, { field: 'tables' });
      }
      filterId = filter.sdkmessagefilterid;
    }
    if (found) {
      const existing = await one(
        `sdkmessageprocessingsteps?$select=sdkmessageprocessingstepid&$filter=name eq ${odataString(stepName)} and _eventhandler_value eq ${found.serviceendpointid}`,
      );
      if (existing) {
        result.existing.push(stepName);
        continue;
      }
    }
    if (dryRun) {
      log(`would register step "${stepName}"`);
      result.created.push(stepName);
      continue;
    }
    await call('POST', 'sdkmessageprocessingsteps', {
      name: stepName,
      description: 'flowwarden webhook (scripts/register-webhook.js)',
      mode: 1,
      stage: 40,
      rank: 1,
      supporteddeployment: 0,
      asyncautodelete: true,
      'sdkmessageid@odata.bind': `/sdkmessages(${sdkMessageId})`,
      ...(filterId ? { 'sdkmessagefilterid@odata.bind': `/sdkmessagefilters(${filterId})` } : {}),
      'eventhandler_serviceendpoint@odata.bind': `/serviceendpoints(${result.serviceEndpointId})`,
    });
    log(`registered step "${stepName}"`);
    result.created.push(stepName);
  }
  return result;
}

/** Command line: reads the policy for the environment's Dataverse URL and monitored tables. */
async function main(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dry-run') args.dryRun = true;
    else if (['--policy', '--environment', '--webhook-url', '--secret-env'].includes(a)) args[a.slice(2)] = argv[++i];
    else throw new RegistrationError(`unknown argument ${a}`);
  }
  for (const need of ['policy', 'environment', 'webhook-url']) {
    if (!args[need]) throw new RegistrationError(`--${need} is required`, { field: need });
  }
  const { readFileSync } = require('node:fs');
  const { parse } = require('yaml');
  const policy = parse(readFileSync(args.policy, 'utf8'));
  const env = (policy?.environments ?? []).find((e) => e && e.id === args.environment);
  if (!env || typeof env.dataverseUrl !== 'string') {
    throw new RegistrationError(`${args.policy}: environments[].id ${args.environment} with a dataverseUrl not found`, { field: 'environment' });
  }
  const tables = Object.keys(policy.tables ?? {});
  const secretEnv = args['secret-env'] ?? 'FLOWWARDEN_WEBHOOK_SECRET';
  // Comma-separated for rotation: the first one is the one Dataverse sends.
  const secret = (process.env[secretEnv] ?? '').split(',').map((s) => s.trim()).filter(Boolean)[0];
  if (!secret) throw new RegistrationError(`${secretEnv}: set it to the webhook secret (the value in Key Vault)`, { field: secretEnv });

  const { DefaultAzureCredential } = require('@azure/identity');
  const credential = new DefaultAzureCredential();
  const scope = `${env.dataverseUrl.replace(/\/+$/, '')}/.default`;
  const result = await registerWebhook({
    dataverseUrl: env.dataverseUrl,
    webhookUrl: args['webhook-url'],
    secret,
    tables,
    dryRun: !!args.dryRun,
    getToken: async () => (await credential.getToken(scope)).token,
    log: (line) => console.log(line),
  });
  console.log(
    `service endpoint ${result.serviceEndpointId}: ${result.created.length} step(s) ${args.dryRun ? 'to add' : 'added'}, ${result.existing.length} already there, ${result.skipped.length} skipped`,
  );
  for (const s of result.skipped) console.log(`  skipped ${s}`);
}

module.exports = { registerWebhook, RegistrationError, ENDPOINT_NAME, HEADER_NAME, TABLE_MESSAGES, GLOBAL_MESSAGES };

if (require.main === module) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e instanceof RegistrationError ? `register-webhook: ${e.message}` : e);
    process.exitCode = e instanceof RegistrationError && !e.status ? 2 : 1;
  });
}
