import { app } from '@azure/functions';
import { jobScanRun, MAX_DEQUEUE, PoisonMessageError, setAsidePoisonRun } from '../src/jobs';
import { getApp } from '../src/runtime';

// Queue worker: scan one run. A throw lets the host retry; after maxDequeueCount it moves to flowwarden-runs-poison.
app.storageQueue('scanRunWorker', {
  queueName: 'flowwarden-runs',
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    const flowwarden = await getApp();
    const dequeueCount = Number(context.triggerMetadata?.dequeueCount ?? 1);
    try {
      const r = await jobScanRun(flowwarden, message as never);
      context.log(`scanRunWorker: ${r.actions} actions, ${r.fetched} fetched, ${r.created.length} new findings`);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      if (e instanceof PoisonMessageError || dequeueCount >= MAX_DEQUEUE) await setAsidePoisonRun(flowwarden, message, reason);
      if (e instanceof PoisonMessageError) return;
      throw e;
    }
  },
});
