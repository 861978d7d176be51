import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../../src/dev/simulator/rng';
import { findingIds, sentAlertMessages, sleep, startRig, type Rig } from './rig';

const CHILD = path.join(__dirname, 'scanChild.cjs');
const NODE = process.execPath;

interface ChildOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  requests: number;
}

/**
 * Run the pipelines in a child process; when `killAfterRequests` is set, SIGKILL it as soon as the
 * simulator and the local ACS have answered that many more requests (mid-page, mid-queue or mid-delivery).
 */
async function runChild(rig: Rig, killAfterRequests?: number): Promise<ChildOutcome> {
  // Progress = API requests the simulator answered + requests the local ACS answered (delivery phase).
  const progress = () => rig.sim.requestLog().length + rig.acs.requests.length;
  const before = progress();
  const child = spawn(NODE, [CHILD], { env: { ...process.env, ...rig.env, RELIABILITY_PREFIX: rig.prefix, RELIABILITY_VISIBILITY_SEC: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdout.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let done = false;
  void exited.then(() => (done = true));
  if (killAfterRequests !== undefined) {
    while (!done && progress() - before < killAfterRequests) await sleep(5);
    if (!done) child.kill('SIGKILL');
  }
  const r = await exited;
  return { ...r, stderr, requests: progress() - before };
}

describe('crash and resume', () => {
  let reference: Rig;
  let crashed: Rig;
  beforeAll(async () => {
    // The child runs the compiled code; `npm test` builds dist/ before vitest.
    if (!existsSync(path.resolve(__dirname, '../../../dist/src/jobs.js'))) throw new Error('dist/ is missing: run `npm run build` first');
    [reference, crashed] = await Promise.all([startRig('crashRef', { recordRequests: true }), startRig('crash', { recordRequests: true })]);
  });
  afterAll(async () => {
    await reference?.stop();
    await crashed?.stop();
  });

  it('SIGKILLed several times mid-run, then run to completion: the findings and alerts of an uninterrupted run, none twice', async () => {
    const clean = await runChild(reference);
    expect(clean.stderr).toBe('');
    expect(clean.code).toBe(0);
    const expected = await findingIds(reference.app);
    expect(expected.ids.length).toBeGreaterThan(10);
    const refMessages = await sentAlertMessages(reference.app);
    const refAlerted = refMessages.flatMap((m) => m.findingIds.map((id) => `${m.route}|${id}`)).sort();
    expect(reference.acs.sent.length).toBe(refMessages.length);

    // Seeded kill points spread over the whole run (fan-out, drain, audit pages, alert delivery).
    const rng = createRng(20250101);
    const kills: number[] = [];
    for (let i = 0; i < 5; i++) {
      const at = 5 + Math.floor(rng() * Math.max(10, clean.requests - 10));
      const r = await runChild(crashed, at);
      if (r.signal === 'SIGKILL') kills.push(at);
      else expect(r.code, r.stderr).toBe(0);
    }
    expect(kills.length).toBeGreaterThanOrEqual(3);
    const last = await runChild(crashed);
    expect(last.code, last.stderr).toBe(0);

    const got = await findingIds(crashed.app);
    expect(got.ids).toEqual(expected.ids);
    // One row per finding: nothing written twice into another partition.
    expect(got.rows).toBe(got.ids.length);
    expect(expected.rows).toBe(expected.ids.length);

    // Alerts: every email ACS received is one recorded message; no (route, finding) alerted twice;
    // and the same (route, finding) pairs as the uninterrupted run.
    const messages = await sentAlertMessages(crashed.app);
    expect(crashed.acs.sent.length).toBe(messages.length);
    expect(new Set(crashed.acs.sent.map((m) => m.operationId)).size).toBe(crashed.acs.sent.length);
    const alerted = messages.flatMap((m) => m.findingIds.map((id) => `${m.route}|${id}`)).sort();
    expect(new Set(alerted).size).toBe(alerted.length);
    expect(alerted).toEqual(refAlerted);
  }, 110_000);
});
