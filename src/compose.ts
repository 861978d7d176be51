import type { TokenCredential } from '@azure/core-auth';
import type { Config } from './config';
import type { Policy } from './core/policy';
import { storageCredential } from './credentials';
import { createLogger } from './log';
import { systemClock, type Clock, type ConnectionSource, type DataverseSource, type EmailSender, type FindingStore, type FlowApiSource, type Logger } from './ports';
import { createIdentityResolver, type IdentityResolver } from './pipelines/identityResolver';
import { enqueueAlerts, type AlertQueueItem } from './pipelines/deliverAlerts';
import { RoleNameCache } from './pipelines/roleNames';
import { RunScanCache } from './pipelines/scanRunWorker';
import type { RunsQueueMessage } from './pipelines/scanRuns';
import { publishFindings, LogsIngestionFindingsLog } from './sinks/logAnalytics';
import { TableBacklogStore } from './sinks/backlogTable';
import { AcsEmailSender } from './sinks/acsEmail';
import { TableAlertStateStore } from './sinks/alertStateTable';
import { TableCheckpointStore } from './sinks/checkpointTable';
import { TableFindingStore } from './sinks/findingsTable';
import { CompositeEmailSender, OutboxEmailSender } from './sinks/outboxEmail';
import { TablePoisonStore } from './sinks/poisonTable';
import { TableProfileStore } from './sinks/profileTable';
import { PublishingFindingStore } from './sinks/publishingFindingStore';
import { TableSnapshotStore } from './sinks/snapshotTable';
import { QUEUES, StorageWorkQueue } from './sinks/storageQueue';
import { TableService } from './sinks/tableService';
import { DataverseClient } from './sources/dataverse';
import { FlowApiClient } from './sources/flowApi';
import { PowerAppsConnectionsClient } from './sources/connections';
import { LocalSimulatorCredential } from './sources/localCredential';

/** Everything a pipeline may need, built once per process from config (DESIGN.md §2, STYLE.md "composition root"). */
export interface App {
  config: Config;
  policy: Policy;
  log: Logger;
  clock: Clock;
  tables: TableService;
  /** The table itself (reads, state changes). */
  findingStore: TableFindingStore;
  /** The writer pipelines use: table first, then alerts queue and Log Analytics for new findings. */
  findings: FindingStore;
  checkpoints: TableCheckpointStore;
  profiles: TableProfileStore;
  snapshots: TableSnapshotStore;
  alertState: TableAlertStateStore;
  poison: TablePoisonStore;
  backlog: TableBacklogStore;
  runsQueue: StorageWorkQueue<RunsQueueMessage>;
  alertsQueue: StorageWorkQueue<AlertQueueItem>;
  flowApi: FlowApiSource;
  dataverse: DataverseSource;
  connections: ConnectionSource;
  resolver: IdentityResolver;
  roleNames: RoleNameCache;
  email?: EmailSender;
  findingsLog?: LogsIngestionFindingsLog;
  runCache: RunScanCache;
  /** Credential for the tenant APIs (Flow API, Dataverse, Power Apps). */
  tenantCredential: TokenCredential;
}

export interface ComposeOptions {
  log?: Logger;
  clock?: Clock;
  /** Table/queue name prefix (tests). */
  storageNamePrefix?: string;
  /** Override the credentials (tests). */
  credential?: TokenCredential;
}

/** Token URL of the local simulator's identity endpoint, derived from the Flow API URL in local mode. */
export function localTokenUrl(flowApiUrl: string): string {
  return `${flowApiUrl.replace(/\/+$/, '')}/flowwarden-local/oauth2/v2.0/token`;
}

export function compose(config: Config, policy: Policy, options: ComposeOptions = {}): App {
  const log = options.log ?? createLogger(config.logLevel);
  const clock = options.clock ?? systemClock;
  const local = config.credential === 'local';
  const tenantCredential: TokenCredential =
    options.credential ?? (local ? new LocalSimulatorCredential({ tokenUrl: localTokenUrl(config.flowApiUrl) }) : storageCredential(config));
  const azureCredential: TokenCredential = options.credential ?? (local ? tenantCredential : storageCredential(config));

  const storageTarget = {
    ...(config.storage.connectionString ? { connectionString: config.storage.connectionString } : {}),
    ...(!config.storage.connectionString && config.storage.tableUrl ? { tableUrl: config.storage.tableUrl, credential: storageCredential(config) } : {}),
    ...(options.storageNamePrefix ? { namePrefix: options.storageNamePrefix } : {}),
  };
  const tables = new TableService(storageTarget);
  const queueTarget = {
    ...(config.storage.connectionString ? { connectionString: config.storage.connectionString } : {}),
    ...(!config.storage.connectionString && config.storage.queueUrl ? { queueUrl: config.storage.queueUrl, credential: storageCredential(config) } : {}),
    ...(options.storageNamePrefix ? { namePrefix: options.storageNamePrefix.toLowerCase() + '-' } : {}),
  };
  const runsQueue = new StorageWorkQueue<RunsQueueMessage>(queueTarget, QUEUES.runs);
  const alertsQueue = new StorageWorkQueue<AlertQueueItem>(queueTarget, QUEUES.alerts);

  const flowApi = new FlowApiClient({ baseUrl: config.flowApiUrl, credential: tenantCredential, adminScope: policy.environments.every((e) => e.adminScope) });
  const dataverse = new DataverseClient({
    credential: tenantCredential,
    baseUrlFor: (environmentId: string) => {
      if (config.dataverseUrlOverride) return config.dataverseUrlOverride;
      const env = policy.environments.find((e) => e.id === environmentId);
      if (!env) throw new Error(`environment ${environmentId} is not in the policy`);
      return env.dataverseUrl;
    },
    scopeFor: (environmentId: string) => {
      const env = policy.environments.find((e) => e.id === environmentId);
      return `${new URL(env?.dataverseUrl ?? config.dataverseUrlOverride!).origin}/.default`;
    },
  });
  const connections = new PowerAppsConnectionsClient({ baseUrl: config.powerAppsApiUrl, credential: tenantCredential });

  const findingStore = new TableFindingStore(tables);
  const backlog = new TableBacklogStore(tables);
  const findingsLog =
    config.logs.ingestionEndpoint && config.logs.dcrId
      ? new LogsIngestionFindingsLog({ endpoint: config.logs.ingestionEndpoint, dcrId: config.logs.dcrId, stream: config.logs.stream, credential: azureCredential })
      : undefined;
  const findings = new PublishingFindingStore(
    findingStore,
    [
      { name: 'alerts-queue', critical: false, run: async (created) => void (await enqueueAlerts({ alertsQueue }, created)) },
      ...(findingsLog ? [{ name: 'log-analytics', critical: false, run: async (created: import('./core/finding').Finding[]) => void (await publishFindings({ findingsLog, backlog, clock, log }, created)) }] : []),
    ],
    log,
  );

  const senders: EmailSender[] = [];
  if (config.email.sender && config.email.acsConnectionString) {
    // A local endpoint has no quota to protect: poll its send status quickly.
    const local = /endpoint=https?:\/\/(127\.0\.0\.1|localhost)[:/]/i.test(config.email.acsConnectionString);
    senders.push(new AcsEmailSender({ connectionString: config.email.acsConnectionString, senderAddress: config.email.sender, ...(local ? { pollIntervalMs: 100 } : {}) }));
  }
  else if (config.email.sender && config.email.acsEndpoint) senders.push(new AcsEmailSender({ endpoint: config.email.acsEndpoint, credential: azureCredential, senderAddress: config.email.sender }));
  if (config.email.outboxDir) senders.push(new OutboxEmailSender(config.email.outboxDir, config.email.sender ?? 'flowwarden@flowwarden.local'));
  const email = senders.length === 0 ? undefined : senders.length === 1 ? senders[0] : new CompositeEmailSender(senders);

  return {
    config,
    policy,
    log,
    clock,
    tables,
    findingStore,
    findings,
    checkpoints: new TableCheckpointStore(tables),
    profiles: new TableProfileStore(tables),
    snapshots: new TableSnapshotStore(tables),
    alertState: new TableAlertStateStore(tables),
    poison: new TablePoisonStore(tables),
    backlog,
    runsQueue,
    alertsQueue,
    flowApi,
    dataverse,
    connections,
    resolver: createIdentityResolver(dataverse, policy),
    roleNames: new RoleNameCache(dataverse, log),
    ...(email ? { email } : {}),
    ...(findingsLog ? { findingsLog } : {}),
    runCache: new RunScanCache(),
    tenantCredential,
  };
}
