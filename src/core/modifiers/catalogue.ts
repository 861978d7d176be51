import type { RuleInfo } from '../ruleInfo';

/** The unexpected-modifier rules (one entry per ruleId; emails, docs and finding.detail reuse the text). */
export const MODIFIER_RULES_CATALOGUE: RuleInfo[] = [
  {
    id: 'modifier.not-in-policy',
    kind: 'unexpected-modifier',
    title: 'Record changed by an identity the policy does not allow for the table',
    severity: 'high',
    description:
      "A Dataverse record was created, updated, deleted, assigned or shared by an identity missing from the table's `allowedModifiers` in the policy.",
    why:
      'Each automation should run as its own application user so that "modified by" and the audit history show which automation changed a value. A write by any other identity means an automation runs under the wrong account, a person edits data an automation owns, or credentials are being misused.',
    fix:
      "Check the audit history of the record and who holds the identity's credentials. If the change is legitimate, add the identity to `tables.<table>.allowedModifiers` in the policy; otherwise remove the identity's write privilege on the table and move the automation to its own application user.",
  },
  {
    id: 'modifier.column-not-in-policy',
    kind: 'unexpected-modifier',
    title: 'A protected column changed by an identity the policy does not allow for that column',
    severity: 'high',
    description:
      "A column listed under `tables.<table>.columns` was changed by an identity missing from that column's list (the changed columns come from the audit `changedata` or the webhook Target).",
    why:
      'Some columns (amounts, bank details, status) must only change through one automation even where others may edit the rest of the record; a change by anyone else bypasses that automation’s checks.',
    fix:
      "Review and, if needed, revert the value. Restrict the column with column security (field security profile) to the automation's application user, or add the identity to the column's list in the policy if the change is legitimate.",
  },
  {
    id: 'modifier.person-on-automation-table',
    kind: 'unexpected-modifier',
    title: 'A person changed a table that only automations may write',
    severity: 'high',
    description: 'A Dataverse record of a table with `allowPeople: false` was changed by an identity of kind person.',
    why:
      'Tables owned by an automation must only change through that automation; a manual edit bypasses its validation and hides in its history. It can also mean a maker runs a flow under their own connection.',
    fix:
      "Review and, if needed, revert the change. Remove write privileges on the table from people's security roles (keep read), and make sure flows writing it use a connection reference bound to the automation's application user.",
  },
  {
    id: 'modifier.outside-lane',
    kind: 'unexpected-modifier',
    title: 'An application user wrote to a table outside its lane',
    severity: 'high',
    description:
      'An identity declared for other tables (its `lane` in the policy, or the tables that list it in `allowedModifiers`) changed a record of a table that is not one of them.',
    why:
      'Least privilege gives each application user the minimum roles for its own tables. A write elsewhere means its roles are broader than needed, or its credentials are used by another automation.',
    fix:
      "Narrow the application user's security role to its tables, find which flow or integration used it for this table, and give that work its own application user. If the lane really grew, add the table to the identity's `lane`.",
  },
  {
    id: 'modifier.first-seen',
    kind: 'unexpected-modifier',
    title: 'An identity changed a table for the first time',
    severity: 'medium',
    description:
      'Learned profile per (environment, table): the identity has never been seen modifying the table before. While the learning window (policy `modifiers.learningDays`, default 30) is open the finding is informational.',
    why:
      'New writers on a table are the early sign of a new integration, a repurposed account or misuse, even when the policy does not list the table.',
    fix:
      'Confirm the new writer is expected. If so nothing is needed (it is now part of the profile); consider declaring the table and its allowed modifiers in the policy.',
  },
  {
    id: 'modifier.impersonation',
    kind: 'unexpected-modifier',
    title: 'Change made on behalf of another user (impersonation) where the policy does not allow it',
    severity: 'medium',
    description:
      'The calling user differs from the user the change is attributed to (audit `callinguserid` ≠ `userid`, webhook `InitiatingUserId` ≠ `UserId`), and neither the table (`allowImpersonation`) nor the calling identity (`mayImpersonate`) allows it.',
    why:
      "Impersonation makes a change look like another user's work: the audit's \"modified by\" no longer shows the automation that made it.",
    fix:
      "Find the integration that sets the caller id (CallerObjectId / MSCRMCallerID header or the connector's 'run as'), and stop impersonating, or declare it with `mayImpersonate: true` on the calling identity or `allowImpersonation: true` on the table.",
  },
];

export const MODIFIER_RULES: ReadonlyMap<string, RuleInfo> = new Map(MODIFIER_RULES_CATALOGUE.map((r) => [r.id, r]));
