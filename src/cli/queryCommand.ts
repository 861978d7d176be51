import { LogsQueryClient } from '@azure/monitor-query-logs';
import { loadConfig } from '../config';
import { localTokenUrl } from '../compose';
import { storageCredential } from '../credentials';
import { isLoopbackUrl, loopbackHttpPolicy } from '../sinks/logAnalytics';
import { LocalSimulatorCredential } from '../sources/localCredential';
import { EXIT, type CliIO } from './io';
import { runQuery } from './query';

/** `query "<KQL>" [--timespan P1D] [--json]` against FLOWWARDEN_LOGS_WORKSPACE_ID. */
export async function runQueryCommand(argv: string[], io: CliIO): Promise<number> {
  const config = loadConfig();
  const credential = config.credential === 'local' ? new LocalSimulatorCredential({ tokenUrl: localTokenUrl(config.flowApiUrl) }) : storageCredential(config);
  const client = new LogsQueryClient(credential, { endpoint: config.logs.queryEndpoint });
  if (isLoopbackUrl(config.logs.queryEndpoint)) client.pipeline.addPolicy(loopbackHttpPolicy(), { afterPhase: 'Sign' });
  const code = await runQuery(argv, { out: (l) => io.stdout.write(l + '\n'), err: (l) => io.stderr.write(l + '\n') }, { client, ...(config.logs.workspaceId ? { workspaceId: config.logs.workspaceId } : {}) });
  // The CLI contract reserves 1 for "findings at or above --fail-on": a rejected query is bad usage.
  return code === 0 ? EXIT.ok : EXIT.usage;
}
