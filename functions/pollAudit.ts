import { app } from '@azure/functions';
import { jobPollAudit } from '../src/jobs';
import { getApp } from '../src/runtime';

// Timer: page through Dataverse audits since the checkpoint (unexpected modifiers, role/share drift).
app.timer('pollAudit', {
  schedule: '%FLOWWARDEN_AUDIT_SCHEDULE%',
  handler: async (_timer, context) => {
    const r = await jobPollAudit(await getApp());
    context.log(`pollAudit: ${r.rows} audit rows, ${r.created} new findings, ${r.poisoned} set aside`);
  },
});
