import type { FindingKind } from './finding';
import type { RuleInfo } from './ruleInfo';
import { SECRET_RULES_CATALOGUE } from './secrets/catalogue';
import { MODIFIER_RULES_CATALOGUE } from './modifiers/catalogue';
import { DRIFT_RULES_CATALOGUE } from './drift/catalogue';

/**
 * The merged rule catalogue: every detection area exports its RuleInfo[] and this file indexes them
 * by ruleId. Emails, docs and Log Analytics reuse the same what / why / how-to-fix text.

 */

/** Self-monitoring rules (kind `health`). */
export const HEALTH_RULES: readonly RuleInfo[] = [
  {
    id: 'health.source-stalled',
    kind: 'health',
    title: 'A flowwarden source has stopped advancing',
    severity: 'high',
    description:
      'A source (flow runs, definitions, Dataverse audit, permissions) has not moved its checkpoint forward for several of its scheduled intervals.',
    why: 'While a source is stalled nothing it watches is checked: secrets in new runs, unexpected modifiers or permission drift go unnoticed, and the silence looks like "all clear".',
    fix: 'Open GET /api/health to see the source, its last success and its last error. Typical causes: the managed identity lost its Dataverse application user or Power Platform admin role, an expired client secret or certificate, throttling (429) that never recovers, or a poisoned record blocking the page. Fix the cause; the source catches up from its checkpoint on the next run.',
  },
  {
    id: 'health.poison-records',
    kind: 'health',
    title: 'Records were set aside as unprocessable',
    severity: 'medium',
    description: 'Records (queue messages, audit rows, webhook bodies) failed processing repeatedly and were moved to the poison queue / table.',
    why: 'A set-aside record was not checked for secrets, modifiers or drift. A steady stream of poison records can also hide a parser gap or an attack with malformed input.',
    fix: 'Inspect the FlowWardenPoison table (source, key, reason). Fix the cause (parser, permissions, size limit), then re-queue the records or acknowledge them.',
  },
];

/** Fallbacks per rule-id prefix, so every finding can be explained even before its rule is catalogued. */
const GENERIC: Record<FindingKind, RuleInfo> = {
  'secret-exposure': {
    id: 'secret.generic',
    kind: 'secret-exposure',
    title: 'Secret exposed in a flow',
    severity: 'high',
    description: 'A value that looks like a credential is visible in flow run history or a flow definition.',
    why: 'Anyone who can read the flow run history (owners, co-owners, admins, support tooling) can copy the credential and use it outside the flow.',
    fix: 'Rotate the credential now. Turn on Secure inputs / Secure outputs for the action in its settings, and move the value to Azure Key Vault (Get secret with secure outputs) or an environment variable of type Secret.',
  },
  'unexpected-modifier': {
    id: 'modifier.generic',
    kind: 'unexpected-modifier',
    title: 'Unexpected identity changed Dataverse data',
    severity: 'high',
    description: 'A Dataverse record was changed by an identity the policy does not expect for that table.',
    why: 'Automation-owned data changed outside its automation breaks the least-privilege model and can mean a leaked credential or an over-privileged account.',
    fix: 'Check who made the change and why. If legitimate, add the identity to tables.<table>.allowedModifiers in the policy; otherwise revoke its roles on the table and review the changed records.',
  },
  'permission-drift': {
    id: 'drift.generic',
    kind: 'permission-drift',
    title: 'Permissions differ from the baseline',
    severity: 'medium',
    description: 'Roles, flow ownership, sharing or connection ownership differ from the policy baseline.',
    why: 'Drift widens who can run, read or change automations and data; it is how least privilege erodes over time.',
    fix: 'Restore the baseline (remove the extra role, owner or share), or update the policy file if the change was intended and approved.',
  },
  health: {
    id: 'health.generic',
    kind: 'health',
    title: 'flowwarden health problem',
    severity: 'medium',
    description: 'flowwarden itself is not working as expected.',
    why: 'While flowwarden is unhealthy, findings can be missed.',
    fix: 'Open GET /api/health and the function logs.',
  },
};

const PREFIX_KIND: Record<string, FindingKind> = {
  secret: 'secret-exposure',
  modifier: 'unexpected-modifier',
  drift: 'permission-drift',
  health: 'health',
};

/** Area catalogues merged into the index. */
const AREA_CATALOGUES: readonly (readonly RuleInfo[])[] = [SECRET_RULES_CATALOGUE, MODIFIER_RULES_CATALOGUE, DRIFT_RULES_CATALOGUE, HEALTH_RULES];

function buildIndex(lists: readonly (readonly RuleInfo[])[]): Map<string, RuleInfo> {
  const index = new Map<string, RuleInfo>();
  for (const list of lists) {
    for (const r of list) {
      // A duplicate id would make the email text depend on import order: fail loudly instead.
      if (index.has(r.id)) throw new Error(`rule catalogue: duplicate rule id "${r.id}"`);
      index.set(r.id, r);
    }
  }
  return index;
}

const INDEX = buildIndex(AREA_CATALOGUES);

/** Every catalogued rule (docs generation, tests). */
export function allRules(): RuleInfo[] {
  return [...INDEX.values()];
}

/**
 * The catalogue entry of a rule; for an uncatalogued id, the generic entry of its kind (by the id's
 * prefix `secret.` / `modifier.` / `drift.` / `health.`, or by `kind` when given). Undefined only when
 * neither tells the kind.
 */
export function ruleInfo(ruleId: string, kind?: FindingKind): RuleInfo | undefined {
  const exact = INDEX.get(ruleId);
  if (exact) return exact;
  const k = PREFIX_KIND[ruleId.split('.')[0] ?? ''] ?? kind;
  return k ? { ...GENERIC[k], id: ruleId } : undefined;
}

/** Build an index over extra lists (tests, plug-ins): same rules as the module index. */
export function catalogueOf(...lists: (readonly RuleInfo[])[]): (ruleId: string) => RuleInfo | undefined {
  const index = buildIndex(lists);
  return (id) => index.get(id);
}
