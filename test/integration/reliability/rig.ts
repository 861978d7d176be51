import path from 'node:path';
import { compose, type App } from '../../../src/compose';
import { loadConfig } from '../../../src/config';
import { startLocalAcs, type LocalAcs } from '../../../src/dev/localAcs';
import type { GeneratedTenantOptions } from '../../../src/dev/simulator/generatedTenant';
import { startSimulator, type SimulatorHandle, type StartSimulatorOptions } from '../../../src/dev/simulator/server';
import { allRoutes } from '../../../src/core/alerts/plan';
import { memoryLogger } from '../../../src/log';
import { loadPolicyFile } from '../../../src/policyFile';
import { isolatedStorage } from '../../helpers/storage';

/** The demo's public fingerprint key: finding ids must match across rigs. */
export const RIG_FINGERPRINT_KEY = 'flowwarden-reliability-test-fingerprint-key-0001';
export const RIG_WEBHOOK_SECRET = 'reliability-test-webhook-secret-0001';
export const POLICY_PATH = path.resolve(__dirname, '../../../policy/demo.policy.yaml');
/** A fixed simulator anchor shared by every rig of a test, so two simulators serve identical tenants. */
export const ANCHOR = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 10 * 60_000);

/** A small generated tenant (its Dataverse side is the sample's): every source, every kind of finding. */
export const SMALL_TENANT: GeneratedTenantOptions = { flows: 3, runs: 3, actions: 5, secretRate: 0.25, seed: 4242 };

export interface Rig {
  sim: SimulatorHandle;
  acs: LocalAcs;
  app: App;
  env: Record<string, string>;
  prefix: string;
  log: ReturnType<typeof memoryLogger>;
  stop(): Promise<void>;
}

/** Settings for an app against this simulator / ACS / Azurite (also handed to child processes). */
export function rigEnv(sim: SimulatorHandle, acs: LocalAcs, connectionString: string): Record<string, string> {
  return {
    FLOWWARDEN_POLICY: POLICY_PATH,
    FLOWWARDEN_STORAGE_CONNECTION_STRING: connectionString,
    FLOWWARDEN_FINGERPRINT_KEY: RIG_FINGERPRINT_KEY,
    FLOWWARDEN_WEBHOOK_SECRET: RIG_WEBHOOK_SECRET,
    FLOWWARDEN_FLOW_API_URL: sim.url,
    FLOWWARDEN_POWERAPPS_API_URL: sim.url,
    FLOWWARDEN_DATAVERSE_URL_OVERRIDE: sim.url,
    FLOWWARDEN_CREDENTIAL: 'local',
    FLOWWARDEN_ACS_CONNECTION_STRING: acs.connectionString,
    FLOWWARDEN_EMAIL_SENDER: 'DoNotReply@flowwarden.local',
    FLOWWARDEN_LOG_LEVEL: 'warn',
  };
}

export async function startRig(label: string, sim: Omit<StartSimulatorOptions, 'now'> = {}): Promise<Rig> {
  const [simulator, acs] = await Promise.all([startSimulator({ tenant: SMALL_TENANT, ...sim, now: () => ANCHOR }), startLocalAcs({ runningPolls: 0 })]);
  const storage = isolatedStorage(label);
  const env = rigEnv(simulator, acs, storage.connectionString);
  const config = loadConfig(env);
  const policy = await loadPolicyFile(config.policyPath);
  const log = memoryLogger();
  const app = compose(config, policy, { log, storageNamePrefix: storage.prefix });
  return {
    sim: simulator,
    acs,
    app,
    env,
    prefix: storage.prefix,
    log,
    stop: async () => {
      await simulator.stop();
      await acs.close();
    },
  };
}

/** Every finding id in the table, sorted (and the row count, to catch duplicates across partitions). */
export async function findingIds(app: App): Promise<{ ids: string[]; rows: number }> {
  const all = await app.findingStore.queryAll({});
  return { ids: [...new Set(all.map((f) => f.id))].sort(), rows: all.length };
}

/** Alert message records that were sent, per route, with the findings each carried. */
export async function sentAlertMessages(app: App): Promise<{ route: string; key: string; findingIds: string[] }[]> {
  const out: { route: string; key: string; findingIds: string[] }[] = [];
  for (const route of allRoutes(app.policy.alerts)) {
    for (const r of await app.alertState.list(route.key, 'sent')) {
      if (/^(imm|dig)-/.test(r.key)) out.push({ route: route.key, key: r.key, findingIds: r.findingIds });
    }
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
