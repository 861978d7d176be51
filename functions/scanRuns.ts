import { app } from '@azure/functions';
import { jobScanRuns } from '../src/jobs';
import { getApp } from '../src/runtime';

// Timer: discover finished runs since the checkpoint and fan out one queue message per run.
app.timer('scanRuns', {
  schedule: '%FLOWWARDEN_RUNS_SCHEDULE%',
  handler: async (_timer, context) => {
    const result = await jobScanRuns(await getApp());
    context.log(`scanRuns: ${result.enqueued} runs enqueued from ${result.flows} flows`);
    if (result.errors.length) throw new Error(`scanRuns failed for ${result.errors.map((e) => e.environmentId).join(', ')}`);
  },
});
