/**
 * Catalogue entries for every `secret-exposure` rule id (what, why, how to fix). Emails, docs and
 * `finding.detail` reuse this text. Entries for engine rules are derived from the rule tables so a
 * new row cannot ship without one; the definition / environment-variable rules are listed by hand.
 */
import type { RuleInfo } from '../ruleInfo';
import { CONTEXT_RULES, FORMAT_RULES } from './rules';

const FIX_RUN_HISTORY =
  'Turn on Secure inputs and Secure outputs for the action (Settings → Security) so run history stops recording the value; ' +
  'rotate the secret now, because everyone who could read the run history may have copied it; ' +
  'keep the secret in Azure Key Vault (Get secret action with secure outputs) or in a Secret-type environment variable instead of in the flow.';

const WHY_RUN_HISTORY =
  'Run history keeps action inputs and outputs for up to 28 days (longer when exported), and every owner, co-owner and ' +
  'run-only user of the flow, plus environment admins, can open it. A secret shown there is as good as shared with all of them.';

function titleFor(description: string): string {
  const cut = description.split(/[(:]/)[0] ?? description;
  return `${cut.trim()} exposed`;
}

const ENGINE_ENTRIES: RuleInfo[] = [...FORMAT_RULES, ...CONTEXT_RULES].map((r) => ({
  id: r.id,
  kind: 'secret-exposure',
  title: titleFor(r.description),
  severity: r.severity,
  description: `Detects: ${r.description}. Format source: ${r.source}.`,
  why: WHY_RUN_HISTORY,
  fix: FIX_RUN_HISTORY,
}));

const DEFINITION_ENTRIES: RuleInfo[] = [
  {
    id: 'secret.keyvault-getsecret-unsecured',
    kind: 'secret-exposure',
    title: 'Key Vault "Get secret" action without secure outputs',
    severity: 'medium',
    description: 'A flow definition calls the Key Vault connector\'s Get secret operation but the action does not have Secure outputs turned on, so every run writes the secret value into run history.',
    why: 'The point of Key Vault is that the value is not stored in the flow; without secure outputs each run copies it into run history where every owner, co-owner and run-only user can read it.',
    fix: 'Turn on Secure inputs and Secure outputs for the Get secret action (and for every action that consumes its output); rotate the secret if past runs already recorded it; keep the value in Key Vault or a Secret environment variable.',
  },
  {
    id: 'secret.http-auth-unsecured',
    kind: 'secret-exposure',
    title: 'HTTP action sends credentials without secure inputs',
    severity: 'medium',
    description: 'An HTTP action carries an Authorization header, an authentication object (Basic, client secret, certificate, raw) or a credential in the URI, and Secure inputs is off, so each run records the credential.',
    why: 'Run history shows the request headers and authentication block of every run to anyone who can view the flow\'s runs.',
    fix: 'Turn on Secure inputs (and Secure outputs when the response echoes credentials) for the action; rotate the secret if runs already recorded it; reference it from Key Vault or a Secret environment variable instead of writing it into the action.',
  },
  {
    id: 'secret.hardcoded-in-definition',
    kind: 'secret-exposure',
    title: 'Secret written into the flow definition',
    severity: 'high',
    description: 'A literal secret (key, token, password, connection string, signed URL) appears in the flow definition itself.',
    why: 'Everyone who can open, export or copy the flow (owners, co-owners, solution exporters, source control) can read it, and it appears in run history on every run.',
    fix: 'Rotate the secret now; remove it from the definition; read it at run time from Azure Key Vault (Get secret with secure outputs) or a Secret-type environment variable; turn on Secure inputs/outputs for the actions that use it.',
  },
  {
    id: 'secret.plaintext-environment-variable',
    kind: 'secret-exposure',
    title: 'Secret stored in a plain-text environment variable',
    severity: 'high',
    description: 'A Dataverse environment variable of a non-secret type (Text, JSON, Data source) holds a value that looks like a secret.',
    why: 'Plain environment variable values are readable by every maker with access to the solution or the environment and travel with solution exports.',
    fix: 'Rotate the secret; move it to Azure Key Vault and replace the variable with a Secret-type environment variable that references the vault; turn on Secure inputs/outputs for actions that use it.',
  },
  {
    id: 'secret.secret-env-var-unsecured-action',
    kind: 'secret-exposure',
    title: 'Secret environment variable used by an action without secure inputs/outputs',
    severity: 'medium',
    description: 'A flow action consumes a Secret-type environment variable but the action does not have Secure inputs (or outputs) turned on, so the resolved value is written to run history.',
    why: 'The Secret type only protects the value at rest; an unsecured action records the resolved secret in every run.',
    fix: 'Turn on Secure inputs and Secure outputs for the action; rotate the secret if past runs recorded it; keep the value in Key Vault behind the Secret environment variable.',
  },
  {
    id: 'secret.content-too-large',
    kind: 'secret-exposure',
    title: 'Run content too large to scan',
    severity: 'low',
    description: 'An action\'s inputs or outputs exceeded the configured scan limit (policy secrets.maxContentBytes), so it was not checked for secrets.',
    why: 'Unscanned content may hold secrets that no other control reports.',
    fix: 'Raise secrets.maxContentBytes for this environment if the size is expected, or turn on Secure inputs/outputs for the action so no content is recorded; review the action manually.',
  },
];

export const SECRET_RULES_CATALOGUE: RuleInfo[] = [...ENGINE_ENTRIES, ...DEFINITION_ENTRIES];
