import { app } from '@azure/functions';
import { jobSnapshotPermissions } from '../src/jobs';
import { getApp } from '../src/runtime';

// Timer: permission snapshot, diffed against the policy baseline and the previous snapshot.
app.timer('snapshotPermissions', {
  schedule: '%FLOWWARDEN_PERMISSIONS_SCHEDULE%',
  handler: async (_timer, context) => {
    const r = await jobSnapshotPermissions(await getApp());
    context.log(`snapshotPermissions: ${JSON.stringify(r)}`);
  },
});
