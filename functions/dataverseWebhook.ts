import { app } from '@azure/functions';
import { fromFunctionsRequest, toFunctionsResponse } from '../src/host/functionsHttp';
import { jobWebhook } from '../src/jobs';
import { getApp } from '../src/runtime';

// HTTP: Dataverse service endpoint (webhook). The handler authenticates itself (x-flowwarden-key or ?code=).
app.http('dataverseWebhook', {
  methods: ['POST'],
  authLevel: 'anonymous',
  route: 'webhooks/dataverse',
  handler: async (request) => toFunctionsResponse(await jobWebhook(await getApp(), fromFunctionsRequest(request))),
});
