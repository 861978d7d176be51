import path from 'node:path';
import { z } from 'zod';
import { SETTINGS } from './settings';

/**
 * The only place that reads process.env. Parsed once; a bad or missing setting fails fast with the
 * variable's name and what was expected.
 */

const positiveInt = (name: string) =>
  z.coerce.number({ error: `${name}: expected a whole number` }).int(`${name}: expected a whole number`).positive(`${name}: expected a positive number`);
const optionalUrl = (name: string) =>
  z
    .string()
    .optional()
    .transform((v) => (v === '' ? undefined : v))
    .pipe(z.url({ protocol: /^https?$/, error: `${name}: expected an http(s) URL` }).optional());
const ncron = (name: string) =>
  z.string().regex(/^\S+( \S+){5}$/, `${name}: expected an NCRONTAB expression with six fields, e.g. "0 */5 * * * *"`);

const schema = z
  .object({
    FLOWWARDEN_POLICY: z.string({ error: 'FLOWWARDEN_POLICY: required (path of the policy YAML file)' }).min(1, 'FLOWWARDEN_POLICY: required (path of the policy YAML file)'),
    FLOWWARDEN_STORAGE_CONNECTION_STRING: z.string().optional().transform((v) => v || undefined),
    FLOWWARDEN_STORAGE_ACCOUNT_URL: optionalUrl('FLOWWARDEN_STORAGE_ACCOUNT_URL'),
    FLOWWARDEN_FINGERPRINT_KEY: z
      .string({ error: 'FLOWWARDEN_FINGERPRINT_KEY: required (at least 32 characters)' })
      .min(32, 'FLOWWARDEN_FINGERPRINT_KEY: expected at least 32 characters'),
    FLOWWARDEN_WEBHOOK_SECRET: z
      .string({ error: 'FLOWWARDEN_WEBHOOK_SECRET: required (comma-separated secrets, each at least 16 characters)' })
      .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
      .pipe(
        z
          .array(z.string().min(16, 'FLOWWARDEN_WEBHOOK_SECRET: each secret needs at least 16 characters'))
          .min(1, 'FLOWWARDEN_WEBHOOK_SECRET: at least one secret is required'),
      ),
    FLOWWARDEN_FLOW_API_URL: optionalUrl('FLOWWARDEN_FLOW_API_URL'),
    FLOWWARDEN_POWERAPPS_API_URL: optionalUrl('FLOWWARDEN_POWERAPPS_API_URL'),
    FLOWWARDEN_DATAVERSE_URL_OVERRIDE: optionalUrl('FLOWWARDEN_DATAVERSE_URL_OVERRIDE'),
    FLOWWARDEN_CREDENTIAL: z.enum(['default', 'local'], { error: 'FLOWWARDEN_CREDENTIAL: expected "default" or "local"' }),
    FLOWWARDEN_MANAGED_IDENTITY_CLIENT_ID: z.string().optional().transform((v) => v || undefined),
    FLOWWARDEN_ACS_CONNECTION_STRING: z.string().optional().transform((v) => v || undefined),
    FLOWWARDEN_ACS_ENDPOINT: optionalUrl('FLOWWARDEN_ACS_ENDPOINT'),
    FLOWWARDEN_EMAIL_SENDER: z.string().optional().transform((v) => v || undefined).pipe(z.email({ error: 'FLOWWARDEN_EMAIL_SENDER: expected an email address' }).optional()),
    FLOWWARDEN_OUTBOX_DIR: z.string().optional().transform((v) => v || undefined),
    FLOWWARDEN_LOGS_INGESTION_ENDPOINT: optionalUrl('FLOWWARDEN_LOGS_INGESTION_ENDPOINT'),
    FLOWWARDEN_LOGS_DCR_ID: z.string().optional().transform((v) => v || undefined),
    FLOWWARDEN_LOGS_STREAM: z.string().min(1),
    FLOWWARDEN_LOGS_WORKSPACE_ID: z.string().optional().transform((v) => v || undefined),
    FLOWWARDEN_LOGS_QUERY_ENDPOINT: optionalUrl('FLOWWARDEN_LOGS_QUERY_ENDPOINT'),
    FLOWWARDEN_RUNS_SCHEDULE: ncron('FLOWWARDEN_RUNS_SCHEDULE'),
    FLOWWARDEN_DEFINITIONS_SCHEDULE: ncron('FLOWWARDEN_DEFINITIONS_SCHEDULE'),
    FLOWWARDEN_AUDIT_SCHEDULE: ncron('FLOWWARDEN_AUDIT_SCHEDULE'),
    FLOWWARDEN_PERMISSIONS_SCHEDULE: ncron('FLOWWARDEN_PERMISSIONS_SCHEDULE'),
    FLOWWARDEN_ALERTS_SCHEDULE: ncron('FLOWWARDEN_ALERTS_SCHEDULE'),
    FLOWWARDEN_HEALTH_SCHEDULE: ncron('FLOWWARDEN_HEALTH_SCHEDULE'),
    FLOWWARDEN_LOOKBACK_MINUTES: positiveInt('FLOWWARDEN_LOOKBACK_MINUTES'),
    FLOWWARDEN_INITIAL_LOOKBACK_HOURS: positiveInt('FLOWWARDEN_INITIAL_LOOKBACK_HOURS'),
    FLOWWARDEN_RUNS_PER_MESSAGE: positiveInt('FLOWWARDEN_RUNS_PER_MESSAGE').max(200, 'FLOWWARDEN_RUNS_PER_MESSAGE: at most 200 (a queue message holds 64 KiB)'),
    FLOWWARDEN_STALL_INTERVALS: positiveInt('FLOWWARDEN_STALL_INTERVALS'),
    FLOWWARDEN_WEBHOOK_MAX_BYTES: positiveInt('FLOWWARDEN_WEBHOOK_MAX_BYTES'),
    FLOWWARDEN_LOG_LEVEL: z.enum(['info', 'warn', 'error'], { error: 'FLOWWARDEN_LOG_LEVEL: expected info, warn or error' }),
  })
  .superRefine((v, ctx) => {
    // An unresolved Key Vault reference stays as the literal text: never use it as a key.
    for (const name of ['FLOWWARDEN_FINGERPRINT_KEY', 'FLOWWARDEN_STORAGE_CONNECTION_STRING'] as const) {
      if (typeof v[name] === 'string' && v[name]!.startsWith('@Microsoft.KeyVault(')) {
        ctx.addIssue({ code: 'custom', path: [name], message: `${name}: the Key Vault reference did not resolve (check the app's identity has Key Vault Secrets User and the secret exists)` });
      }
    }
    if (v.FLOWWARDEN_WEBHOOK_SECRET.some((s) => s.startsWith('@Microsoft.KeyVault('))) {
      ctx.addIssue({ code: 'custom', path: ['FLOWWARDEN_WEBHOOK_SECRET'], message: 'FLOWWARDEN_WEBHOOK_SECRET: the Key Vault reference did not resolve (check the app\'s identity has Key Vault Secrets User and the secret exists)' });
    }
  });

export interface Config {
  policyPath: string;
  storage: { connectionString?: string; tableUrl?: string; queueUrl?: string };
  fingerprintKey: string;
  webhookSecrets: string[];
  flowApiUrl: string;
  powerAppsApiUrl: string;
  dataverseUrlOverride?: string;
  credential: 'default' | 'local';
  managedIdentityClientId?: string;
  email: { acsEndpoint?: string; acsConnectionString?: string; sender?: string; outboxDir?: string };
  logs: { ingestionEndpoint?: string; dcrId?: string; stream: string; workspaceId?: string; queryEndpoint: string };
  schedules: { runs: string; definitions: string; audit: string; permissions: string; alerts: string; health: string };
  lookbackMinutes: number;
  initialLookbackHours: number;
  /** Finished runs of one flow per flowwarden-runs message. */
  runsPerMessage: number;
  stallIntervals: number;
  webhookMaxBytes: number;
  logLevel: 'info' | 'warn' | 'error';
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super('invalid configuration:\n' + problems.map((p) => `  ${p}`).join('\n'));
    this.name = 'ConfigError';
  }
}

/** Parse settings from an env-like record (process.env by default). Defaults come from SETTINGS. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const withDefaults: Record<string, string | undefined> = {};
  for (const s of SETTINGS) {
    const v = env[s.name];
    withDefaults[s.name] = v === undefined || v === '' ? s.default ?? v : v;
  }
  const res = schema.safeParse(withDefaults);
  // Checked outside the schema so it is reported together with every other problem.
  const storage = withDefaults['FLOWWARDEN_STORAGE_CONNECTION_STRING'] || withDefaults['FLOWWARDEN_STORAGE_ACCOUNT_URL']
    ? []
    : ['FLOWWARDEN_STORAGE_ACCOUNT_URL or FLOWWARDEN_STORAGE_CONNECTION_STRING: one is required'];
  if (!res.success || storage.length) {
    throw new ConfigError([
      ...(res.success
        ? []
        : res.error.issues.map((i) => {
            const name = String(i.path[0] ?? '');
            return i.message.startsWith(name) && name ? i.message : `${name}: ${i.message}`;
          })),
      ...storage,
    ]);
  }
  const v = res.data;
  const tableUrl = v.FLOWWARDEN_STORAGE_ACCOUNT_URL?.replace(/\/+$/, '');
  // In Azure the working directory is not the app root: resolve a relative policy path from the script root.
  const scriptRoot = env['AzureWebJobsScriptRoot'];
  const policyPath = scriptRoot && !path.isAbsolute(v.FLOWWARDEN_POLICY) ? path.join(scriptRoot, v.FLOWWARDEN_POLICY) : v.FLOWWARDEN_POLICY;
  return {
    policyPath,
    storage: {
      connectionString: v.FLOWWARDEN_STORAGE_CONNECTION_STRING,
      tableUrl,
      queueUrl: tableUrl?.replace('.table.', '.queue.'),
    },
    fingerprintKey: v.FLOWWARDEN_FINGERPRINT_KEY,
    webhookSecrets: v.FLOWWARDEN_WEBHOOK_SECRET,
    flowApiUrl: v.FLOWWARDEN_FLOW_API_URL!,
    powerAppsApiUrl: v.FLOWWARDEN_POWERAPPS_API_URL!,
    dataverseUrlOverride: v.FLOWWARDEN_DATAVERSE_URL_OVERRIDE,
    credential: v.FLOWWARDEN_CREDENTIAL,
    managedIdentityClientId: v.FLOWWARDEN_MANAGED_IDENTITY_CLIENT_ID,
    email: { acsEndpoint: v.FLOWWARDEN_ACS_ENDPOINT, acsConnectionString: v.FLOWWARDEN_ACS_CONNECTION_STRING, sender: v.FLOWWARDEN_EMAIL_SENDER, outboxDir: v.FLOWWARDEN_OUTBOX_DIR },
    logs: {
      ingestionEndpoint: v.FLOWWARDEN_LOGS_INGESTION_ENDPOINT,
      dcrId: v.FLOWWARDEN_LOGS_DCR_ID,
      stream: v.FLOWWARDEN_LOGS_STREAM,
      workspaceId: v.FLOWWARDEN_LOGS_WORKSPACE_ID,
      queryEndpoint: v.FLOWWARDEN_LOGS_QUERY_ENDPOINT!,
    },
    schedules: {
      runs: v.FLOWWARDEN_RUNS_SCHEDULE,
      definitions: v.FLOWWARDEN_DEFINITIONS_SCHEDULE,
      audit: v.FLOWWARDEN_AUDIT_SCHEDULE,
      permissions: v.FLOWWARDEN_PERMISSIONS_SCHEDULE,
      alerts: v.FLOWWARDEN_ALERTS_SCHEDULE,
      health: v.FLOWWARDEN_HEALTH_SCHEDULE,
    },
    lookbackMinutes: v.FLOWWARDEN_LOOKBACK_MINUTES,
    initialLookbackHours: v.FLOWWARDEN_INITIAL_LOOKBACK_HOURS,
    runsPerMessage: v.FLOWWARDEN_RUNS_PER_MESSAGE,
    stallIntervals: v.FLOWWARDEN_STALL_INTERVALS,
    webhookMaxBytes: v.FLOWWARDEN_WEBHOOK_MAX_BYTES,
    logLevel: v.FLOWWARDEN_LOG_LEVEL,
  };
}

let cached: Config | undefined;
/** The process-wide config, parsed on first use. */
export function config(): Config {
  return (cached ??= loadConfig());
}
