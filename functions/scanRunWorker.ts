import { app } from '@azure/functions';
import { jobScanRunsMessage, MAX_DEQUEUE, PoisonMessageError, setAsidePoisonRun } from '../src/jobs';
import { getApp } from '../src/runtime';

// Queue worker: scan the runs of one message (a flow's finished runs). Runs that fail while others succeed
// are sent again on their own; a throw (nothing got anywhere) lets the host retry; after maxDequeueCount
// the message moves to flowwarden-runs-poison and each of its runs gets a poison row.
app.storageQueue('scanRunWorker', {
  queueName: 'flowwarden-runs',
  connection: 'AzureWebJobsStorage',
  handler: async (message, context) => {
    const flowwarden = await getApp();
    const dequeueCount = Number(context.triggerMetadata?.dequeueCount ?? 1);
    try {
      const r = await jobScanRunsMessage(flowwarden, message);
      context.log(`scanRunWorker: ${r.runs} runs, ${r.actions} actions, ${r.fetched} fetched, ${r.created} new findings${r.requeued ? `, ${r.requeued} sent again` : ''}`);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      if (e instanceof PoisonMessageError || dequeueCount >= MAX_DEQUEUE) await setAsidePoisonRun(flowwarden, message, reason);
      if (e instanceof PoisonMessageError) return;
      throw e;
    }
  },
});
