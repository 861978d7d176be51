import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LogsQueryClient } from '@azure/monitor-query-logs';
import type { TokenCredential } from '@azure/core-auth';
import { startLocalLogs, type LocalLogs } from '../../../src/dev/localLogs';
import { drainBacklog, FINDINGS_COLUMNS, LogsIngestionFindingsLog, loopbackHttpPolicy, publishFindings } from '../../../src/sinks/logAnalytics';
import { TableBacklogStore } from '../../../src/sinks/backlogTable';
import { TableFindingStore } from '../../../src/sinks/findingsTable';
import { runQuery } from '../../../src/cli/query';
import { isolatedStorage } from '../../helpers/storage';
import { finding, PLANTED } from '../../unit/alerts/fixtures';
import { captureLogger, FakeClock } from '../alerts/helpers';

const credential: TokenCredential = { getToken: async () => ({ token: 'local-test-token', expiresOnTimestamp: Date.now() + 3_600_000 }) };
let logs: LocalLogs;
beforeAll(async () => {
  logs = await startLocalLogs();
});
afterAll(async () => {
  await logs.close();
});

function sink() {
  return new LogsIngestionFindingsLog({
    endpoint: logs.ingestionEndpoint,
    dcrId: logs.dcrId,
    credential,
    clientOptions: { retryOptions: { maxRetries: 1, retryDelayInMs: 5, maxRetryDelayInMs: 10 } },
  });
}

const now = new Date().toISOString();
function findings(tag: string, n: number) {
  return Array.from({ length: n }, (_, i) =>
    finding({
      key: `${tag}-${i}`,
      severity: i % 3 === 0 ? 'critical' : 'medium',
      ruleId: i % 2 ? 'secret.github-pat' : 'secret.azure-storage-key',
      detectedAt: now,
      evidence: { flowId: `flow-${tag}`, maskedPreview: 'ghp_********(40 chars)', fingerprint: 'hmac-sha256:aa', secretValue: PLANTED, contentUrl: `https://x.logic.azure.com/a?sig=${PLANTED}` },
    }),
  );
}

describe('Logs Ingestion (real LogsIngestionClient ↔ local endpoint)', () => {
  it('uploads gzip JSON rows with the declared columns to the DCR stream, without secret values', async () => {
    const before = logs.rows.length;
    const fs = findings('up', 7);
    await sink().upload(fs);
    const rows = logs.rows.slice(before);
    expect(rows).toHaveLength(7);
    const req = logs.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/dataCollectionRules/')).at(-1)!;
    expect(req.path).toBe(`/dataCollectionRules/${logs.dcrId}/streams/Custom-FlowWardenFindings`);
    expect(req.apiVersion).toBe('2023-01-01');
    expect(req.contentEncoding).toBe('gzip');
    expect(req.status).toBe(204);
    expect(Object.keys(rows[0]!).sort()).toEqual(FINDINGS_COLUMNS.map((c) => c.name).sort());
    expect(rows.map((r) => r['FindingId'])).toEqual(fs.map((f) => f.id));
    expect(rows[0]!['Evidence']).toMatchObject({ flowId: 'flow-up', fingerprint: 'hmac-sha256:aa' });
    for (const r of logs.requests) expect(r.body).not.toContain(PLANTED);
  });

  it('rejects a wrong stream with the service error shape', async () => {
    const s = new LogsIngestionFindingsLog({ endpoint: logs.ingestionEndpoint, dcrId: logs.dcrId, stream: 'Custom-Other', credential, clientOptions: { retryOptions: { maxRetries: 0 } } });
    await expect(s.upload(findings('bad', 1))).rejects.toThrow(/1 row\(s\) \(HTTP 400\)/);
  });

  it('keeps failed uploads in the backlog and catches up once ingestion recovers', async () => {
    const storage = isolatedStorage('logsbacklog');
    const store = new TableFindingStore(storage.tables);
    const backlog = new TableBacklogStore(storage.tables);
    const log = captureLogger();
    const deps = { findingsLog: sink(), backlog, clock: new FakeClock(), log, findings: store };
    const fs = findings('bl', 5);
    await store.upsertMany(fs); // the table write happens first and is never blocked
    logs.failIngestion(100, 503);
    expect(await publishFindings(deps, fs)).toEqual({ uploaded: 0, backlogged: 5 });
    expect(await backlog.count()).toBe(5);
    expect((await drainBacklog(deps)).remaining).toBe(5);
    expect((await backlog.list(10))[0]!.attempts).toBe(2);
    logs.failIngestion(0);
    const before = logs.rows.length;
    expect(await drainBacklog(deps, { max: 3 })).toEqual({ uploaded: 3, remaining: 2, dropped: 0 });
    expect(await drainBacklog(deps)).toEqual({ uploaded: 2, remaining: 0, dropped: 0 });
    expect(logs.rows.slice(before).map((r) => r['FindingId']).sort()).toEqual(fs.map((f) => f.id).sort());
    for (const l of log.lines) expect(l).not.toContain(PLANTED);
  });
});

describe('Log Analytics query (real LogsQueryClient ↔ local endpoint) and `flowwarden query`', () => {
  function client() {
    const c = new LogsQueryClient(credential, { endpoint: logs.queryEndpoint, retryOptions: { maxRetries: 0 } });
    c.pipeline.addPolicy(loopbackHttpPolicy(), { afterPhase: 'Sign' });
    return c;
  }

  it('answers where / summarize / order / take in the real response shape', async () => {
    await sink().upload(findings('q', 6));
    const res = await client().queryWorkspace(
      logs.workspaceId,
      "FlowWardenFindings_CL | where Severity == 'critical' and Title contains 'secret' | summarize n = count() by RuleId | order by n desc | take 5",
      { duration: 'P1D' },
    );
    expect(res.status).toBe('Success');
    if (res.status !== 'Success') return;
    const t = res.tables[0]!;
    expect(t.columnDescriptors.map((c) => c.name)).toEqual(['RuleId', 'n']);
    const total = t.rows.reduce((s, r) => s + Number(r[1]), 0);
    expect(total).toBe(logs.rows.filter((r) => r['Severity'] === 'critical' && String(r['Title']).toLowerCase().includes('secret')).length);
  });

  it('prints a table, JSON, and a clear error for unsupported KQL', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    const deps = { client: client(), workspaceId: logs.workspaceId };
    expect(await runQuery(["FlowWardenFindings_CL | where RuleId == 'secret.github-pat' | summarize count() by Severity | order by Severity asc"], io, deps)).toBe(0);
    expect(out[0]).toMatch(/^Severity\s+count_$/);
    expect(out.at(-1)).toMatch(/^\(\d+ rows?\)$/);
    out.length = 0;
    expect(await runQuery(['FlowWardenFindings_CL | project FindingId, Severity | take 2', '--json'], io, deps)).toBe(0);
    const parsed = JSON.parse(out.join('\n')) as { columns: string[]; rows: unknown[][] }[];
    expect(parsed[0]!.columns).toEqual(['FindingId', 'Severity']);
    expect(parsed[0]!.rows).toHaveLength(2);
    expect(await runQuery(['FlowWardenFindings_CL | join kind=inner (Other) on X'], io, deps)).toBe(1);
    expect(err.at(-1)).toMatch(/query failed: HTTP 400.*Unsupported operator/);
    expect(await runQuery([], io, deps)).toBe(2);
    expect(await runQuery(['x', '--timespan', 'yesterday'], io, deps)).toBe(2);
    expect(await runQuery(['x'], io, { client: deps.client })).toBe(2);
  });
});
