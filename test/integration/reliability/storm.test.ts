import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimRequestRecord } from '../../../src/dev/simulator/server';
import { detectionPass } from './passes';
import { findingIds, startRig, type Rig } from './rig';

/** Flow API + Dataverse + content requests (tokens are not faulted). */
const apiRequests = (log: SimRequestRecord[]) => log.filter((r) => r.kind !== 'adminScope');

describe('429 storm', () => {
  let clean: Rig;
  let stormy: Rig;
  beforeAll(async () => {
    clean = await startRig('stormClean', { recordRequests: true });
    // 30 % 429 (Retry-After alternating delta-seconds / HTTP-date, 1 s) plus 503s and connection resets.
    stormy = await startRig('storm', { recordRequests: true, faults: { rate429: 0.3, rate503: 0.04, rateReset: 0.03, retryAfterSeconds: 1, retryAfterForm: 'alternate', seed: 8 } });
  });
  afterAll(async () => {
    await clean?.stop();
    await stormy?.stop();
  });

  it('gives exactly the findings of a clean run, waiting as told, without tight loops', async () => {
    await detectionPass(clean.app);
    const expected = await findingIds(clean.app);
    expect(expected.ids.length).toBeGreaterThan(10);
    const kinds = new Set((await clean.app.findingStore.queryAll({})).map((f) => f.kind));
    expect([...kinds].sort()).toEqual(['permission-drift', 'secret-exposure', 'unexpected-modifier']);

    const started = Date.now();
    await detectionPass(stormy.app);
    const elapsed = Date.now() - started;
    const got = await findingIds(stormy.app);
    expect(got.ids).toEqual(expected.ids);
    expect(got.rows).toBe(expected.rows);

    const faults = stormy.sim.stats().faults;
    expect(faults['429']).toBeGreaterThan(20);
    expect(faults['503'] + faults.reset).toBeGreaterThan(0);

    // Retry-After honoured: the SDK retry of a throttled call (same x-ms-client-request-id) arrives no
    // earlier than the server asked (1 s; the HTTP-date form is rounded up to a whole second).
    const log = apiRequests(stormy.sim.requestLog());
    const byCall = new Map<string, SimRequestRecord[]>();
    for (const r of log) if (r.clientRequestId) byCall.set(r.clientRequestId, [...(byCall.get(r.clientRequestId) ?? []), r]);
    let checked = 0;
    let sawDate = false;
    for (const attempts of byCall.values()) {
      // No tight loop: one call is tried at most 1 + maxRetries (6) times.
      expect(attempts.length).toBeLessThanOrEqual(7);
      for (let i = 0; i + 1 < attempts.length; i++) {
        const a = attempts[i]!;
        if (a.fault !== '429') continue;
        if (a.retryAfter && !/^\d+$/.test(a.retryAfter)) sawDate = true;
        expect(attempts[i + 1]!.at - a.at).toBeGreaterThanOrEqual(950);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(10);
    expect(sawDate).toBe(true);
    // The whole pass waited: at least the longest chain of back-to-back 429s of one call.
    const longest = Math.max(...[...byCall.values()].map((a) => a.filter((r) => r.fault === '429').length));
    expect(elapsed).toBeGreaterThanOrEqual(longest * 950);

    // Bounded work: beyond the injected faults, only re-runs of failed jobs (a run message or a timer
    // that ran out of retries) add requests — never more than half again the clean run.
    const cleanCount = apiRequests(clean.sim.requestLog()).length;
    const injected = faults['429'] + faults['503'] + faults.reset;
    expect(log.length - injected).toBeGreaterThanOrEqual(cleanCount);
    expect(log.length - injected).toBeLessThanOrEqual(cleanCount * 1.5);
  });
});
