import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveApp } from '../../../src/cli/serve';
import type { Finding } from '../../../src/core/finding';
import type { FlowDetail, FlowApiSource, FindingStore } from '../../../src/ports';
import { ORGANIZATION_ID, USERS } from '../../../src/dev/simulator/ids';
import { fakeGithubPat } from '../../../src/dev/simulator/fakeSecrets';
import { dynamicsHeaders, remoteExecutionContext } from '../../../src/dev/webhookSamples';
import { jobWebhook } from '../../../src/jobs';
import { RunScanCache, scanRun } from '../../../src/pipelines/scanRunWorker';
import { systemClock } from '../../../src/ports';
import { memoryLogger } from '../../../src/log';
import { loadPolicyFile } from '../../../src/policyFile';
import { RIG_FINGERPRINT_KEY, RIG_WEBHOOK_SECRET, startRig, type Rig } from './rig';

/** What the webhook may answer to any input: never a 5xx for bad input (503 is storage only). */
const CLIENT_STATUSES = [202, 400, 401, 405, 413, 415];

function validBody(i: number): string {
  return remoteExecutionContext({
    message: 'Update',
    table: 'account',
    recordId: `1c0ffee0-0000-4000-8000-${String(i).padStart(12, '0')}`,
    userId: USERS.alice.systemuserid,
    attributes: { name: `fuzz ${i}` },
    organizationId: ORGANIZATION_ID,
    at: new Date(),
    correlationId: `c0ffee00-0000-4000-8000-${String(i).padStart(12, '0')}`,
  });
}

/** Bodies: random text, random JSON, valid contexts cut short, valid contexts with one field replaced, bytes. */
const bodies = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.json({ maxDepth: 6 }),
  fc.tuple(fc.nat(50), fc.double({ min: 0, max: 1, noNaN: true })).map(([i, cut]) => {
    const b = validBody(i);
    return b.slice(0, Math.floor(b.length * cut));
  }),
  fc.tuple(fc.nat(50), fc.constantFrom('MessageName', 'PrimaryEntityName', 'PrimaryEntityId', 'UserId', 'InitiatingUserId', 'OperationCreatedOn', 'InputParameters', 'OrganizationId', 'Depth', 'PreEntityImages'), fc.jsonValue({ maxDepth: 4 })).map(([i, field, value]) => {
    const o = JSON.parse(validBody(i)) as Record<string, unknown>;
    o[field] = value;
    return JSON.stringify(o);
  }),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
);
const contentTypes = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', '', 'application/xml', 'APPLICATION/JSON');

describe('fuzz: webhook handler and HTTP route', () => {
  let rig: Rig;
  let orgHost: string;
  beforeAll(async () => {
    rig = await startRig('fuzz');
    orgHost = new URL(rig.app.policy.environments[0]!.dataverseUrl).host;
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('the handler never throws and never answers 5xx, whatever the body and headers', async () => {
    await fc.assert(
      fc.asyncProperty(bodies, contentTypes, fc.boolean(), fc.constantFrom('POST', 'POST', 'GET', 'PUT'), async (body, contentType, withKey, method) => {
        const headers: Record<string, string> = { ...dynamicsHeaders({ organizationHost: orgHost, table: 'account', message: 'Update' }), 'content-type': contentType };
        if (withKey) headers['x-flowwarden-key'] = RIG_WEBHOOK_SECRET;
        const res = await jobWebhook(rig.app, { method, headers, query: {}, body: typeof body === 'string' ? body : new Uint8Array(body) });
        expect(CLIENT_STATUSES).toContain(res.status);
        expect(() => JSON.parse(res.body)).not.toThrow();
        if (!withKey) expect(res.status).toBe(401);
      }),
      { numRuns: 250, seed: 424242 },
    );
  });

  it('over real HTTP (the serve host): the same, including chunked bodies', async () => {
    const host = await serveApp(rig.app, { port: 0, timers: false, queues: false });
    try {
      await fc.assert(
        fc.asyncProperty(bodies, contentTypes, async (body, contentType) => {
          const res = await fetch(`${host.url}/api/webhooks/dataverse`, {
            method: 'POST',
            headers: { ...dynamicsHeaders({ organizationHost: orgHost, table: 'account', message: 'Update' }), 'content-type': contentType, 'x-flowwarden-key': RIG_WEBHOOK_SECRET },
            body,
          });
          const text = await res.text();
          expect(CLIENT_STATUSES).toContain(res.status);
          expect(() => JSON.parse(text)).not.toThrow();
        }),
        { numRuns: 60, seed: 171717 },
      );
    } finally {
      await host.stop();
    }
  });
});

describe('fuzz: run-content scanning path', () => {
  const policyPromise = loadPolicyFile(path.resolve(__dirname, '../../../policy/demo.policy.yaml'));

  /** A Flow API with one run of one action whose inputs are `text`. */
  function oneActionApi(text: string): FlowApiSource {
    const detail: FlowDetail = { environmentId: 'env', flowId: 'flow-1', displayName: 'Fuzz', definition: { actions: { Act: { type: 'Http' } } }, connectionReferences: [] };
    return {
      async *listFlows() {},
      async getFlow() {
        return detail;
      },
      async *listRuns() {},
      async getRunActions() {
        return { run: { environmentId: 'env', flowId: 'flow-1', runId: 'run-1', status: 'Succeeded', endTime: new Date().toISOString() }, actions: [{ name: 'Act', inputsLink: { uri: 'https://content.invalid/x', contentSize: Buffer.byteLength(text) } }] };
      },
      async fetchContent() {
        return { status: 'ok', text, size: Buffer.byteLength(text) };
      },
      async listFlowPermissions() {
        return [];
      },
    };
  }

  const collect = (): FindingStore & { all: Finding[] } => {
    const all: Finding[] = [];
    return {
      all,
      async upsertMany(f) {
        all.push(...f);
        return { created: f.map((x) => x.id) };
      },
      async query() {
        return { items: [] };
      },
      async get() {
        return undefined;
      },
    };
  };

  it('any content (text, JSON, cut-off JSON, deep nesting, with or without a secret) is scanned without a crash; a planted token is found and never stored', async () => {
    const policy = await policyPromise;
    const environmentId = policy.environments[0]!.id;
    const token = fakeGithubPat(5, 'fuzz');
    const deep = fc.nat({ max: 20_000 }).map((d) => '['.repeat(d) + '1' + ']'.repeat(d));
    const texts = fc.oneof(fc.string({ maxLength: 500 }), fc.json({ maxDepth: 8 }), fc.json({ maxDepth: 4 }).map((j) => j.slice(0, Math.max(0, j.length - 3))), deep);
    await fc.assert(
      fc.asyncProperty(texts, fc.boolean(), async (text, plant) => {
        const content = plant ? `${text}\n{"Authorization":"token ${token}"}` : text;
        const store = collect();
        const r = await scanRun(
          { flowApi: oneActionApi(content), findings: store, policy, fingerprintKey: RIG_FINGERPRINT_KEY, clock: systemClock, log: memoryLogger(), cache: new RunScanCache() },
          { environmentId, flowId: 'flow-1', runId: 'run-1' },
        );
        expect(r.fetched).toBe(1);
        if (plant) expect(store.all.some((f) => f.kind === 'secret-exposure')).toBe(true);
        expect(JSON.stringify(store.all)).not.toContain(token);
      }),
      { numRuns: 300, seed: 99 },
    );
  });
});
