/**
 * The one list of app settings flowwarden reads. `config.ts` builds its zod schema from it,
 * `local.settings.sample.json` and infra/main.bicep are checked against it by tests, and the README
 * table is generated from it. Add a setting here and nowhere else.
 */
export interface SettingSpec {
  name: string;
  description: string;
  /** Required in Azure (the app fails fast without it). */
  required: boolean;
  /** Holds a secret: comes from Key Vault in Azure, never logged. */
  secret: boolean;
  /** Safe value for local.settings.sample.json (never a real secret). */
  sample: string;
  /** Default applied when unset. */
  default?: string;
  /**
   * Whether infra/main.bicep sets it on the Function App: 'set', or 'omit' for local-only settings
   * (test/unit/infra checks both directions and records why each omitted one has no value in Azure).
   */
  azure: 'set' | 'omit';
}

export const SETTINGS: readonly SettingSpec[] = [
  { name: 'FLOWWARDEN_POLICY', description: 'Path of the policy YAML file (baseline as code).', required: true, secret: false, sample: 'policy/demo.policy.yaml', azure: 'set' },
  { name: 'FLOWWARDEN_STORAGE_CONNECTION_STRING', description: 'Storage connection string (local/Azurite only). In Azure leave empty and set FLOWWARDEN_STORAGE_ACCOUNT_URL (managed identity).', required: false, secret: true, sample: 'UseDevelopmentStorage=true', azure: 'omit' },
  { name: 'FLOWWARDEN_STORAGE_ACCOUNT_URL', description: 'Table service URL of the storage account, e.g. https://<account>.table.core.windows.net; the queue URL is derived (.queue.). Used with managed identity.', required: false, secret: false, sample: '', azure: 'set' },
  { name: 'FLOWWARDEN_FINGERPRINT_KEY', description: 'HMAC key for secret fingerprints (at least 32 characters). Key Vault reference in Azure.', required: true, secret: true, sample: 'local-only-fingerprint-key-change-me-0000', azure: 'set' },
  { name: 'FLOWWARDEN_WEBHOOK_SECRET', description: 'Shared secret(s) of the Dataverse webhook, comma-separated for rotation (each at least 16 characters). Key Vault reference in Azure.', required: true, secret: true, sample: 'local-only-webhook-secret-0000', azure: 'set' },
  { name: 'FLOWWARDEN_FLOW_API_URL', description: 'Flow management API base URL.', required: false, secret: false, sample: 'https://api.flow.microsoft.com', default: 'https://api.flow.microsoft.com', azure: 'set' },
  { name: 'FLOWWARDEN_POWERAPPS_API_URL', description: 'Power Apps API base URL (connections).', required: false, secret: false, sample: 'https://api.powerapps.com', default: 'https://api.powerapps.com', azure: 'set' },
  { name: 'FLOWWARDEN_DATAVERSE_URL_OVERRIDE', description: 'Send Dataverse Web API calls to this base URL instead of the policy dataverseUrl (local simulator, proxies).', required: false, secret: false, sample: '', azure: 'omit' },
  { name: 'FLOWWARDEN_CREDENTIAL', description: 'How to get tokens: "default" (DefaultAzureCredential: managed identity in Azure, az login locally) or "local" (the tenant simulator\'s token endpoint).', required: false, secret: false, sample: 'default', default: 'default', azure: 'set' },
  { name: 'FLOWWARDEN_MANAGED_IDENTITY_CLIENT_ID', description: 'Client id of the user-assigned managed identity.', required: false, secret: false, sample: '', azure: 'set' },
  { name: 'FLOWWARDEN_ACS_CONNECTION_STRING', description: 'ACS connection string (endpoint=…;accesskey=…), local endpoints only. In Azure leave empty: the managed identity signs in to FLOWWARDEN_ACS_ENDPOINT.', required: false, secret: true, sample: '', azure: 'omit' },
  { name: 'FLOWWARDEN_ACS_ENDPOINT', description: 'Azure Communication Services endpoint, e.g. https://<resource>.communication.azure.com.', required: false, secret: false, sample: '', azure: 'set' },
  { name: 'FLOWWARDEN_EMAIL_SENDER', description: 'Sender address of the ACS email domain, e.g. DoNotReply@<domain>.', required: false, secret: false, sample: 'DoNotReply@flowwarden.local', azure: 'set' },
  { name: 'FLOWWARDEN_OUTBOX_DIR', description: 'Also write every alert email as an .eml file here (demo, local).', required: false, secret: false, sample: 'outbox', azure: 'omit' },
  { name: 'FLOWWARDEN_LOGS_INGESTION_ENDPOINT', description: 'Data Collection Endpoint (or DCR ingestion endpoint) for the Logs Ingestion API.', required: false, secret: false, sample: '', azure: 'set' },
  { name: 'FLOWWARDEN_LOGS_DCR_ID', description: 'Immutable id of the Data Collection Rule (dcr-…).', required: false, secret: false, sample: '', azure: 'set' },
  { name: 'FLOWWARDEN_LOGS_STREAM', description: 'DCR stream name.', required: false, secret: false, sample: 'Custom-FlowWardenFindings', default: 'Custom-FlowWardenFindings', azure: 'set' },
  { name: 'FLOWWARDEN_LOGS_WORKSPACE_ID', description: 'Log Analytics workspace id (GUID) that `flowwarden query` reads.', required: false, secret: false, sample: '', azure: 'set' },
  { name: 'FLOWWARDEN_LOGS_QUERY_ENDPOINT', description: 'Log Analytics query endpoint (sovereign clouds, local).', required: false, secret: false, sample: 'https://api.loganalytics.azure.com/v1', default: 'https://api.loganalytics.azure.com/v1', azure: 'set' },
  { name: 'FLOWWARDEN_RUNS_SCHEDULE', description: 'NCRONTAB of scanRuns.', required: false, secret: false, sample: '0 */5 * * * *', default: '0 */5 * * * *', azure: 'set' },
  { name: 'FLOWWARDEN_DEFINITIONS_SCHEDULE', description: 'NCRONTAB of scanDefinitions and the environment-variable scan.', required: false, secret: false, sample: '0 7 * * * *', default: '0 7 * * * *', azure: 'set' },
  { name: 'FLOWWARDEN_AUDIT_SCHEDULE', description: 'NCRONTAB of pollAudit.', required: false, secret: false, sample: '0 */5 * * * *', default: '0 */5 * * * *', azure: 'set' },
  { name: 'FLOWWARDEN_PERMISSIONS_SCHEDULE', description: 'NCRONTAB of snapshotPermissions.', required: false, secret: false, sample: '0 17 * * * *', default: '0 17 * * * *', azure: 'set' },
  { name: 'FLOWWARDEN_ALERTS_SCHEDULE', description: 'NCRONTAB of the alert digest / retry timer.', required: false, secret: false, sample: '0 */10 * * * *', default: '0 */10 * * * *', azure: 'set' },
  { name: 'FLOWWARDEN_HEALTH_SCHEDULE', description: 'NCRONTAB of the health check.', required: false, secret: false, sample: '0 */15 * * * *', default: '0 */15 * * * *', azure: 'set' },
  { name: 'FLOWWARDEN_LOOKBACK_MINUTES', description: 'Every poll re-reads this many minutes before its checkpoint for late-arriving records.', required: false, secret: false, sample: '30', default: '30', azure: 'set' },
  { name: 'FLOWWARDEN_INITIAL_LOOKBACK_HOURS', description: 'How far back the first poll of a source reads.', required: false, secret: false, sample: '24', default: '24', azure: 'set' },
  { name: 'FLOWWARDEN_RUNS_PER_MESSAGE', description: 'Finished runs of one flow carried by one flowwarden-runs queue message (1-200). Fewer, larger messages cost fewer queue operations; 1 gives one message per run.', required: false, secret: false, sample: '25', default: '25', azure: 'set' },
  { name: 'FLOWWARDEN_STALL_INTERVALS', description: 'A source that has not advanced for this many of its intervals raises health.source-stalled.', required: false, secret: false, sample: '3', default: '3', azure: 'set' },
  { name: 'FLOWWARDEN_WEBHOOK_MAX_BYTES', description: 'Largest webhook body accepted (413 above).', required: false, secret: false, sample: '1048576', default: '1048576', azure: 'set' },
  { name: 'FLOWWARDEN_LOG_LEVEL', description: 'info | warn | error.', required: false, secret: false, sample: 'info', default: 'info', azure: 'set' },
];
