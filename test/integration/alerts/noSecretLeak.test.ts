import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TableClient } from '@azure/data-tables';
import type { TokenCredential } from '@azure/core-auth';
import { runContentFindings } from '../../../src/core/secrets/findings';
import { fakeAwsAccessKeyId, fakeGithubPat, fakeJwt, fakeStorageConnectionString } from '../../../src/dev/simulator/fakeSecrets';
import { startLocalAcs, type LocalAcs } from '../../../src/dev/localAcs';
import { startLocalLogs, type LocalLogs } from '../../../src/dev/localLogs';
import { AcsEmailSender } from '../../../src/sinks/acsEmail';
import { CompositeEmailSender, decodeQuotedPrintable, OutboxEmailSender } from '../../../src/sinks/outboxEmail';
import { LogsIngestionFindingsLog, publishFindings } from '../../../src/sinks/logAnalytics';
import { TableBacklogStore } from '../../../src/sinks/backlogTable';
import { deliverDigest, drainAlertsQueue, enqueueAlerts } from '../../../src/pipelines/deliverAlerts';
import { allRoutes } from '../../../src/core/alerts/plan';
import { ENV } from '../../unit/alerts/fixtures';
import { alertDeps } from './helpers';

let acs: LocalAcs;
let logs: LocalLogs;
let outbox: string;
beforeAll(async () => {
  acs = await startLocalAcs();
  logs = await startLocalLogs();
  outbox = await mkdtemp(path.join(os.tmpdir(), 'fw-leak-'));
});
afterAll(async () => {
  await acs.close();
  await logs.close();
  await rm(outbox, { recursive: true, force: true });
});

const credential: TokenCredential = { getToken: async () => ({ token: 'local', expiresOnTimestamp: Date.now() + 3_600_000 }) };

it('no planted secret value reaches an email, a table row, the ingestion payload or a log line', async () => {
  const secrets = [fakeGithubPat(7, 'leak'), fakeAwsAccessKeyId(7, 'leak'), fakeStorageConnectionString(7, 'leak'), fakeJwt(7, 'leak')];
  const email = new CompositeEmailSender([
    new AcsEmailSender({ connectionString: acs.connectionString, senderAddress: 'DoNotReply@flowwarden.local', pollIntervalMs: 5 }),
    new OutboxEmailSender(outbox),
  ]);
  const { deps, log, storage } = alertDeps('leak', email);
  const content = {
    environmentId: ENV,
    flowId: 'flow-leak',
    flowName: 'Leaky flow',
    runId: 'run-leak',
    actionName: 'HTTP',
    actionType: 'Http',
    direction: 'inputs' as const,
    content: { headers: { Authorization: `Bearer ${secrets[3]}`, 'x-gh': secrets[0] }, body: { aws: secrets[1], storage: secrets[2] }, note: `token=${secrets[0]}` },
    observedAt: '2025-01-02T03:00:00.000Z',
  };
  const findings = runContentFindings(content, { fingerprintKey: 'test-fingerprint-key-0123456789abcdef', policy: deps.policy, detectedAt: new Date().toISOString() });
  expect(findings.length).toBeGreaterThanOrEqual(3);

  const { created } = await deps.findings.upsertMany(findings);
  await publishFindings(
    { findingsLog: new LogsIngestionFindingsLog({ endpoint: logs.ingestionEndpoint, dcrId: logs.dcrId, credential }), backlog: new TableBacklogStore(storage.tables), clock: deps.clock, log: deps.log },
    findings,
  );
  await enqueueAlerts(deps, findings.filter((f) => created.includes(f.id)));
  await drainAlertsQueue(deps);
  await deliverDigest(deps, { force: true });
  expect(acs.sent.length).toBeGreaterThan(0);
  expect(logs.rows.length).toBe(findings.length);

  const haystacks: [string, string][] = [];
  for (const q of acs.requests) haystacks.push(['acs request', q.body]);
  for (const n of await readdir(outbox)) {
    const raw = await readFile(path.join(outbox, n), 'utf8');
    haystacks.push([`eml ${n}`, raw], [`eml decoded ${n}`, decodeQuotedPrintable(raw)]);
  }
  for (const r of logs.requests) haystacks.push(['ingestion request', r.body]);
  for (const table of ['FlowWardenFindings', 'FlowWardenAlerts', 'FlowWardenBacklog']) {
    const client = TableClient.fromConnectionString(storage.connectionString, storage.tables.tableName(table), { allowInsecureConnection: true });
    try {
      for await (const e of client.listEntities()) haystacks.push([`table ${table}`, JSON.stringify(e)]);
    } catch (e) {
      if (!(e as { statusCode?: number }).statusCode || (e as { statusCode?: number }).statusCode !== 404) throw e;
    }
  }
  for (const route of allRoutes(deps.policy.alerts)) for (const r of await deps.alertState.list(route.key)) haystacks.push(['alert state', JSON.stringify(r)]);
  for (const l of log.lines) haystacks.push(['log', l]);
  expect(haystacks.filter(([k]) => k.startsWith('table FlowWardenFindings')).length).toBeGreaterThan(0);

  // The data did flow everywhere (so the negative checks below are meaningful): the keyed fingerprint is there.
  const fp = String(findings[0]!.evidence['fingerprint']);
  for (const kind of ['acs request', 'eml decoded', 'ingestion request', 'table FlowWardenFindings']) {
    expect(haystacks.some(([k, t]) => k.startsWith(kind) && t.includes(fp)), kind).toBe(true);
  }

  for (const s of secrets) {
    // The whole value, and its distinctive tail (a masked preview may show only the first few characters).
    const tail = s.slice(-16);
    for (const [where, text] of haystacks) {
      expect(text.includes(s), `${where} contains a planted secret`).toBe(false);
      expect(text.includes(tail), `${where} contains the tail of a planted secret`).toBe(false);
    }
  }
});
