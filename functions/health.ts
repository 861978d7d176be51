import { app } from '@azure/functions';
import { toFunctionsResponse } from '../src/host/functionsHttp';
import { jobCheckHealth, jobHealthHttp } from '../src/jobs';
import { getApp } from '../src/runtime';

// HTTP: per-source lag and last success (503 when a source is stalled).
app.http('health', {
  methods: ['GET'],
  authLevel: 'function',
  route: 'health',
  handler: async () => toFunctionsResponse(await jobHealthHttp(await getApp())),
});

// Timer: a source that stopped advancing raises health.source-stalled (and an alert).
app.timer('healthCheck', {
  schedule: '%FLOWWARDEN_HEALTH_SCHEDULE%',
  handler: async (_timer, context) => {
    const r = await jobCheckHealth(await getApp());
    context.log(`healthCheck: ${JSON.stringify(r)}`);
  },
});
