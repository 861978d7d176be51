import { app } from '@azure/functions';
import { jobScanDefinitions } from '../src/jobs';
import { getApp } from '../src/runtime';

// Timer: flow definitions that will leak on their next run, and plain-text environment variables.
app.timer('scanDefinitions', {
  schedule: '%FLOWWARDEN_DEFINITIONS_SCHEDULE%',
  handler: async (_timer, context) => {
    const r = await jobScanDefinitions(await getApp());
    context.log(`scanDefinitions: ${r.flows + r.solutionFlows} flows, ${r.created.length} new findings`);
    if (r.errors.length) throw new Error(`scanDefinitions failed for ${r.errors.map((e) => e.environmentId).join(', ')}`);
  },
});
