import type { Finding } from '../core/finding';
import type { Policy } from '../core/policy';
import { definitionFindings, parseClientData } from '../core/secrets/definitions';
import { environmentVariableFindings, secretEnvVarNames } from '../core/secrets/envVars';
import type {
  CheckpointStore,
  Clock,
  DataverseSource,
  EnvironmentVariableDefinitionRecord,
  EnvironmentVariableValueRecord,
  FindingStore,
  FlowApiSource,
  Logger,
  PoisonStore,
} from '../ports';
import { recordFailure } from './scanRuns';

export const DEFINITIONS_SOURCE = 'flow-definitions';

export interface ScanDefinitionsDeps {
  flowApi: FlowApiSource;
  dataverse: DataverseSource;
  findings: FindingStore;
  checkpoints: CheckpointStore;
  poison: PoisonStore;
  policy: Policy;
  fingerprintKey: string;
  clock: Clock;
  log: Logger;
  initialLookbackHours: number;
}

export interface ScanDefinitionsResult {
  flows: number;
  solutionFlows: number;
  environmentVariables: number;
  findings: number;
  created: string[];
  poisoned: number;
  errors: { environmentId: string; message: string }[];
}

/**
 * Flow definitions that will leak on their next run (Key Vault GetSecret without secure outputs, HTTP
 * auth not secured, hard-coded secrets, Secret environment variables in unsecured actions) and secrets
 * kept in plain-text environment variables. Reads both the Flow API (every flow the admin scope sees)
 * and Dataverse `workflows.clientdata` (solution flows); a flow present in both is reported once, since
 * the finding id depends on the flow id and the action path, not on the source.
 */
export async function scanDefinitions(deps: ScanDefinitionsDeps, options: { environmentIds?: string[]; abortSignal?: AbortSignal } = {}): Promise<ScanDefinitionsResult> {
  const res: ScanDefinitionsResult = { flows: 0, solutionFlows: 0, environmentVariables: 0, findings: 0, created: [], poisoned: 0, errors: [] };
  const envs = deps.policy.environments.filter((e) => !options.environmentIds || options.environmentIds.includes(e.id));
  for (const env of envs) {
    const started = deps.clock.now();
    const detectedAt = started.toISOString();
    const ctxBase = { fingerprintKey: deps.fingerprintKey, policy: deps.policy, detectedAt, ...(env.portalUrl ? { portalUrl: env.portalUrl } : {}) };
    try {
      const defs: EnvironmentVariableDefinitionRecord[] = [];
      for await (const d of deps.dataverse.listEnvironmentVariableDefinitions(env.id, options)) defs.push(d);
      const values: EnvironmentVariableValueRecord[] = [];
      for await (const v of deps.dataverse.listEnvironmentVariableValues(env.id, options)) values.push(v);
      res.environmentVariables += defs.length;
      const secretVars = secretEnvVarNames(defs);
      const findings: Finding[] = [...environmentVariableFindings(defs, values, { ...ctxBase, environmentId: env.id })];

      const seen = new Set<string>();
      for await (const summary of deps.flowApi.listFlows(env.id, options)) {
        res.flows++;
        const flow = await deps.flowApi.getFlow(env.id, summary.flowId, options);
        seen.add(flow.flowId.toLowerCase());
        findings.push(
          ...definitionFindings(
            {
              environmentId: env.id,
              flowId: flow.flowId,
              ...(flow.displayName ? { displayName: flow.displayName } : {}),
              definition: flow.definition,
              source: 'flow-api',
              connectionReferences: Object.fromEntries(flow.connectionReferences.map((r) => [r.name, r])),
              ...(flow.lastModifiedTime ? { observedAt: flow.lastModifiedTime } : {}),
            },
            { ...ctxBase, secretEnvVars: secretVars },
          ),
        );
      }
      // Solution flows (category 5) the Flow API did not list, e.g. without admin scope.
      for await (const wf of deps.dataverse.listWorkflows(env.id, { ...options, category: 5 })) {
        if (seen.has(wf.workflowid.toLowerCase()) || !wf.clientdata) continue;
        res.solutionFlows++;
        let parsed: ReturnType<typeof parseClientData>;
        try {
          parsed = parseClientData(wf.clientdata);
        } catch (e) {
          res.poisoned++;
          await deps.poison.put({
            source: DEFINITIONS_SOURCE,
            environmentId: env.id,
            key: `workflow:${wf.workflowid}`,
            reason: e instanceof Error ? e.message : String(e),
            at: detectedAt,
          });
          continue;
        }
        findings.push(
          ...definitionFindings(
            {
              environmentId: env.id,
              flowId: wf.workflowid,
              displayName: wf.name,
              definition: parsed.definition,
              connectionReferences: parsed.connectionReferences,
              source: 'dataverse',
              ...(wf.modifiedon ? { observedAt: wf.modifiedon } : {}),
            },
            { ...ctxBase, secretEnvVars: secretVars },
          ),
        );
      }
      res.findings += findings.length;
      const { created } = await deps.findings.upsertMany(findings);
      res.created.push(...created);
      const cp = await deps.checkpoints.get(DEFINITIONS_SOURCE, env.id);
      await deps.checkpoints.put({
        ...(cp ?? {}),
        source: DEFINITIONS_SOURCE,
        environmentId: env.id,
        watermark: detectedAt,
        lastSuccess: detectedAt,
        lastAttempt: detectedAt,
        lastError: undefined,
        consecutiveFailures: 0,
      });
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      res.errors.push({ environmentId: env.id, message });
      deps.log.error('scanDefinitions failed', { environmentId: env.id, error: message });
      await recordFailure(deps.checkpoints, DEFINITIONS_SOURCE, env.id, message, started, deps.initialLookbackHours, deps.log);
    }
  }
  return res;
}
