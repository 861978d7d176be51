import { app } from '@azure/functions';
import { jobDeliverAlerts, jobDigest, jobDrainBacklog } from '../src/jobs';
import { getApp } from '../src/runtime';

// Queue: immediate alerts for new findings (deduped by finding id, throttled under ACS limits).
app.storageQueue('deliverAlerts', {
  queueName: 'flowwarden-alerts',
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    const r = await jobDeliverAlerts(await getApp(), [message]);
    context.log(`deliverAlerts: ${r.sent.length} sent, ${r.pending.length} for the digest`);
    // Throttled sends go back to the queue; sends still running or retrying are finished by the digest timer.
    if (r.throttled.length) throw new Error(`alert throttled by the ACS quota; the queue retries it`);
  },
});

// Timer: the digest on the policy's cadence, retries of deferred alerts, and the Log Analytics backlog.
app.timer('deliverDigest', {
  schedule: '%FLOWWARDEN_ALERTS_SCHEDULE%',
  handler: async (_timer, context) => {
    const flowwarden = await getApp();
    const r = await jobDigest(flowwarden);
    const b = await jobDrainBacklog(flowwarden);
    context.log(`deliverDigest: ${r.sent.length} sent; Log Analytics backlog ${JSON.stringify(b)}`);
  },
});
