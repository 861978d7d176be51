import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { compose, type App } from '../compose';
import { loadConfig } from '../config';
import { SEVERITIES, type Severity } from '../core/finding';
import { startAzurite } from '../dev/azurite';
import { startLocalAcs, type LocalAcs } from '../dev/localAcs';
import { startLocalLogs, type LocalLogs } from '../dev/localLogs';
import { ORGANIZATION_ID, ROLES, USERS } from '../dev/simulator/ids';
import { startSimulator, type SimulatorHandle } from '../dev/simulator/server';
import type { GeneratedTenantOptions } from '../dev/simulator/generatedTenant';
import { dynamicsHeaders, remoteExecutionContext, type WebhookSampleOptions } from '../dev/webhookSamples';
import { memoryLogger } from '../log';
import type { Logger } from '../ports';
import { loadPolicyFile } from '../policyFile';
import { repoRoot } from '../repoRoot';
import { serveApp } from './serve';
import { byImportance, printFindings } from './findings';
import { EXIT, UsageError, type CliIO } from './io';
import { runDeliveryOnce, runDetectionsOnce, step, type StepResult } from './runOnce';

/**
 * Fingerprint key of the demo only. Public on purpose: it makes the demo's finding ids and fingerprints
 * the same on every run. A real deployment reads FLOWWARDEN_FINGERPRINT_KEY from Key Vault.
 */
export const DEMO_FINGERPRINT_KEY = 'flowwarden-demo-only-fingerprint-key-not-a-secret';

export function demoPolicyPath(): string {
  return path.join(repoRoot(), 'policy', 'demo.policy.yaml');
}

export interface DemoResult {
  app: App;
  steps: StepResult[];
  outboxDir: string;
  emails: string[];
  logAnalyticsRows: number;
  secondPass: { newFindings: number; emails: number };
  logLines: string[];
  /** The local ACS and Logs endpoints, with every request they received. */
  acs: LocalAcs;
  logs: LocalLogs;
}

/**
 * The main job on embedded defaults: Azurite in memory, the tenant simulator, local ACS and Logs
 * endpoints; every pipeline once on the sample tenant, a change in the tenant, the pipelines again,
 * webhooks through the real HTTP route, alerts, health; then a second pass that must find nothing new.
 */
export interface DemoStack {
  app: App;
  sim: SimulatorHandle;
  acs: LocalAcs;
  logs: LocalLogs;
  log: Logger & { lines: string[] };
  stop(): Promise<void>;
}

/**
 * Azurite in memory, the tenant simulator (sample or generated tenant), local ACS and Logs endpoints,
 * and the app composed against them with the demo policy: the embedded defaults.
 */
export async function startDemoStack(options: { outboxDir?: string; tenant?: 'sample' | GeneratedTenantOptions; storageNamePrefix?: string } = {}): Promise<DemoStack> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const [azurite, sim, acs, logs] = await Promise.all([startAzurite(), startSimulator({ tenant: options.tenant ?? 'sample' }), startLocalAcs(), startLocalLogs()]);
    stops.push(azurite.stop, sim.stop, () => acs.close(), () => logs.close());
    const config = loadConfig({
      FLOWWARDEN_POLICY: demoPolicyPath(),
      FLOWWARDEN_STORAGE_CONNECTION_STRING: azurite.connectionString,
      FLOWWARDEN_FINGERPRINT_KEY: DEMO_FINGERPRINT_KEY,
      FLOWWARDEN_WEBHOOK_SECRET: randomBytes(24).toString('base64url'),
      FLOWWARDEN_FLOW_API_URL: sim.url,
      FLOWWARDEN_POWERAPPS_API_URL: sim.url,
      FLOWWARDEN_DATAVERSE_URL_OVERRIDE: sim.url,
      FLOWWARDEN_CREDENTIAL: 'local',
      FLOWWARDEN_ACS_CONNECTION_STRING: acs.connectionString,
      FLOWWARDEN_EMAIL_SENDER: 'DoNotReply@flowwarden.local',
      ...(options.outboxDir ? { FLOWWARDEN_OUTBOX_DIR: options.outboxDir } : {}),
      FLOWWARDEN_LOGS_INGESTION_ENDPOINT: logs.ingestionEndpoint,
      FLOWWARDEN_LOGS_DCR_ID: logs.dcrId,
      FLOWWARDEN_LOGS_WORKSPACE_ID: logs.workspaceId,
      FLOWWARDEN_LOGS_QUERY_ENDPOINT: logs.queryEndpoint,
    });
    const policy = await loadPolicyFile(config.policyPath);
    const log = memoryLogger();
    const app = compose(config, policy, { log, ...(options.storageNamePrefix ? { storageNamePrefix: options.storageNamePrefix } : {}) });
    return { app, sim, acs, logs, log, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * The main job on embedded defaults: every pipeline once on the sample tenant, a change in the tenant,
 * the pipelines again, webhooks through the real HTTP route, alerts, health; then a second pass that
 * must find nothing new.
 */
export async function runDemoPipeline(options: { outboxDir: string; onProgress?: (line: string) => void }): Promise<DemoResult & { stop(): Promise<void> }> {
  const say = options.onProgress ?? (() => undefined);
  say('starting Azurite (in memory), the tenant simulator and local ACS / Logs endpoints…');
  const stack = await startDemoStack({ outboxDir: options.outboxDir });
  const { app, sim, acs, logs, log } = stack;
  const stops: (() => Promise<void>)[] = [stack.stop];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const steps: StepResult[] = [];

    say('pass 1: permissions baseline, run history, definitions, audit log…');
    await runDetectionsOnce(app, steps);

    say('the tenant changes (a role is granted, a co-owner added, a flow shared, an owner changed); webhooks arrive…');
    sim.advance();
    const host = await serveApp(app, { port: 0, timers: false, queues: false });
    stops.push(host.stop);
    await step(steps, 'dataverseWebhook', async () => {
      const statuses = await postDemoWebhooks(host.url, app.config.webhookSecrets[0]!, new URL(app.policy.environments[0]!.dataverseUrl).host, app.clock.now());
      return `HTTP ${statuses.join(', ')}`;
    });

    say('pass 2: snapshot diff, new audit rows, alerts, health…');
    await runDetectionsOnce(app, steps);
    await runDeliveryOnce(app, steps);
    const emails = acs.sent.map((m) => m.subject);

    say('second pass over the same tenant: nothing new may be found or sent…');
    const before = (await app.findingStore.queryAll({})).length;
    const sentBefore = acs.sent.length;
    const again: StepResult[] = [];
    await runDetectionsOnce(app, again);
    await runDeliveryOnce(app, again);
    steps.push(...again.filter((s) => !s.ok).map((s) => ({ ...s, step: `${s.step} (second pass)` })));
    const after = (await app.findingStore.queryAll({})).length;
    return {
      app,
      steps,
      outboxDir: options.outboxDir,
      emails,
      logAnalyticsRows: logs.rows.length,
      secondPass: { newFindings: after - before, emails: acs.sent.length - sentBefore },
      logLines: log.lines,
      acs,
      logs,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Webhook deliveries of the sample story, posted to the real HTTP route with the shared-secret header. */
async function postDemoWebhooks(baseUrl: string, key: string, orgHost: string, now: Date): Promise<number[]> {
  const events: Omit<WebhookSampleOptions, 'organizationId' | 'at' | 'correlationId'>[] = [
    // A person edits an invoice, a table only the Invoice Sync automation may write.
    { message: 'Update', table: 'cr5f2_invoice', recordId: '1c0ffee0-0000-4000-8000-00000000f001', userId: USERS.bob.systemuserid, attributes: { cr5f2_amount: 990, cr5f2_status: 'Paid' } },
    // The Contact Enricher app user (InitiatingUserId) creates an account as Bob (UserId): impersonation where the table forbids it.
    { message: 'Create', table: 'account', recordId: '1c0ffee0-0000-4000-8000-00000000f002', userId: USERS.bob.systemuserid, initiatingUserId: USERS.contactEnricher.systemuserid, attributes: { name: 'Fabrikam (imported)' } },
    // Alice grants System Customizer to the Contact Enricher app user (role associate), seen within seconds.
    {
      message: 'Associate',
      table: 'systemuser',
      recordId: USERS.contactEnricher.systemuserid,
      userId: USERS.alice.systemuserid,
      relationship: 'systemuserroles_association',
      related: [{ logicalName: 'role', id: ROLES.systemCustomizer.roleid, name: ROLES.systemCustomizer.name }],
    },
  ];
  const statuses: number[] = [];
  for (const [i, e] of events.entries()) {
    const body = remoteExecutionContext({ ...e, organizationId: ORGANIZATION_ID, at: new Date(now.getTime() - (events.length - i) * 60_000), correlationId: stableUuid(i) });
    const res = await fetch(`${baseUrl}/api/webhooks/dataverse`, {
      method: 'POST',
      headers: { ...dynamicsHeaders({ organizationHost: orgHost, table: e.table, message: e.message }), 'x-flowwarden-key': key },
      body,
    });
    await res.text();
    statuses.push(res.status);
  }
  return statuses;
}

function stableUuid(i: number): string {
  return `d3e0${String(i).padStart(4, '0')}-0000-4000-8000-0000000000${String(i).padStart(2, '0')}`;
}

/** `demo [--json] [--fail-on SEVERITY]` */
export async function runDemo(argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, 'fail-on': { type: 'string' }, outbox: { type: 'string', default: 'outbox' } },
  });
  if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const failOn = values['fail-on'] as Severity | undefined;
  if (failOn && !SEVERITIES.includes(failOn)) throw new UsageError(`--fail-on: expected one of ${SEVERITIES.join(', ')}`);
  const outboxDir = path.resolve(values.outbox!);
  const progress = (line: string) => io.stderr.write(`flowwarden demo: ${line}\n`);
  const demo = await runDemoPipeline({ outboxDir, onProgress: progress });
  try {
    const findings = (await demo.app.findingStore.queryAll({})).sort(byImportance);
    const failed = demo.steps.filter((s) => !s.ok);
    for (const s of demo.steps) io.stderr.write(`  ${s.ok ? 'ok  ' : 'FAIL'} ${s.step}: ${s.ok ? s.summary : s.error}\n`);
    if (values.json) {
      io.stdout.write(JSON.stringify(findings.map(({ state: _state, ...f }) => f), null, 2) + '\n');
    } else {
      io.stdout.write(`\n${findings.length} findings on the sample tenant\n\n`);
      printFindings(findings, false, io);
      io.stdout.write(
        `\nAlert emails: ${demo.emails.length} sent through the local ACS endpoint, written to ${outboxDir}/ (.eml)\n` +
          `Log Analytics: ${demo.logAnalyticsRows} rows ingested into FlowWardenFindings_CL (local endpoint)\n` +
          `Second pass over the same tenant: ${demo.secondPass.newFindings} new findings, ${demo.secondPass.emails} new emails\n`,
      );
    }
    if (failed.length) {
      io.stderr.write(`flowwarden demo: ${failed.length} step(s) failed\n`);
      for (const l of demo.logLines.filter((l) => /"level":"error"/.test(l)).slice(0, 20)) io.stderr.write(`  ${l}\n`);
      return EXIT.usage;
    }
    return failOn && findings.some((f) => SEVERITIES.indexOf(f.severity) <= SEVERITIES.indexOf(failOn)) ? EXIT.findings : EXIT.ok;
  } finally {
    await demo.stop();
  }
}
