// Child process of the crash/resume test: compose the app from the environment (compiled dist/, the
// code `flowwarden scan --once` runs) and run every pipeline once, then deliver alerts. The parent
// SIGKILLs it at random points. Short visibility timeouts stand in for the platform's redelivery.
'use strict';
const path = require('node:path');
const dist = path.resolve(__dirname, '../../../dist/src');
const { appFromEnv } = require(path.join(dist, 'cli/appFromEnv.js'));
const { jobScanRuns, jobDrainRuns, jobScanDefinitions, jobPollAudit, jobSnapshotPermissions, jobCheckHealth } = require(path.join(dist, 'jobs.js'));
const { drainAlertsQueue, deliverDigest } = require(path.join(dist, 'pipelines/deliverAlerts.js'));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const app = await appFromEnv(process.env, { storageNamePrefix: process.env.RELIABILITY_PREFIX });
  const visibility = Number(process.env.RELIABILITY_VISIBILITY_SEC || '1');
  const must = (name, r) => {
    if (r && Array.isArray(r.errors) && r.errors.length) throw new Error(`${name}: ${r.errors.map((e) => e.message).join('; ')}`);
  };
  must('snapshotPermissions', await jobSnapshotPermissions(app));
  must('scanRuns', await jobScanRuns(app));
  for (let i = 0; i < 60; i++) {
    await jobDrainRuns(app, { visibilityTimeoutSec: visibility, maxIdlePolls: 1 });
    if ((await app.runsQueue.approximateCount()) === 0) break;
    await sleep(visibility * 1000);
  }
  must('scanDefinitions', await jobScanDefinitions(app));
  await jobPollAudit(app);
  await jobCheckHealth(app);
  const deps = { findings: app.findingStore, alertState: app.alertState, email: app.email, policy: app.policy, clock: app.clock, log: app.log, alertsQueue: app.alertsQueue, leaseMs: 1000, limits: { perMinute: 10000, perHour: 100000 } };
  for (let i = 0; i < 60; i++) {
    await drainAlertsQueue(deps, { visibilityTimeoutSec: visibility });
    if ((await app.alertsQueue.approximateCount()) === 0) break;
    await sleep(visibility * 1000);
  }
  await deliverDigest(deps, { force: true });
  process.stdout.write(JSON.stringify({ done: true }) + '\n');
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`scanChild failed: ${e && e.stack ? e.stack : String(e)}\n`);
    process.exit(1);
  },
);
