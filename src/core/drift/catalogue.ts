import type { RuleInfo } from '../ruleInfo';

/** Rule ids of the permission-drift detector (the snapshot path and the event path share them). */
export const DRIFT_RULE = {
  roleAdded: 'drift.role-added',
  roleRemoved: 'drift.role-removed',
  ownerHasDataRoles: 'drift.owner-has-data-roles',
  privilegedAppUser: 'drift.privileged-app-user',
  flowOwnerChanged: 'drift.flow-owner-changed',
  coownerAdded: 'drift.coowner-added',
  sharedBeyondPolicy: 'drift.shared-beyond-policy',
  connectionOwnedByPerson: 'drift.connection-owned-by-person',
  singleIdentityEverything: 'drift.single-identity-everything',
  unmanagedChange: 'drift.unmanaged-change',
} as const;
export type DriftRuleId = (typeof DRIFT_RULE)[keyof typeof DRIFT_RULE];

const DATA_ROLE_TEXT =
  'A role "grants data access" unless it is listed in the policy key `roles.nonDataRoles` (default: Environment Maker). ' +
  'Everything else counts, including Basic User (user-level rights on core tables) and every custom role. ' +
  "Roles listed in the identity's own baseline `roles` are treated as reviewed and are not reported by this rule.";

export const DRIFT_RULES_CATALOGUE: RuleInfo[] = [
  {
    id: DRIFT_RULE.roleAdded,
    kind: 'permission-drift',
    title: 'Security role added beyond the baseline',
    severity: 'high',
    description:
      'An identity declared in the policy with an exact `roles` list holds a role the list does not contain (directly or through a team). ' +
      'For identities the policy does not declare (or declares without `roles`), a role gained since the previous snapshot is reported at low severity as an uncovered change. ' +
      'Team role assignments are also reported on the team itself. The evidence key is the role id (audit rows and webhooks carry ids, rarely names), so a later re-grant of the same role to the same principal is the same finding (its state is tracked in the findings table) rather than a new one.',
    why: 'Least privilege drifts one role at a time; an application user that gains a role can now read or write tables outside its lane, and nobody notices until it is misused.',
    fix: "Remove the role from the user (or from the team that carries it), or, if the change is intended, add the role to the identity's `roles` in the policy file so the baseline says so.",
  },
  {
    id: DRIFT_RULE.roleRemoved,
    kind: 'permission-drift',
    title: 'Security role removed from the baseline',
    severity: 'medium',
    description:
      "A role listed in an identity's baseline `roles` is no longer held. For undeclared identities, a role lost since the previous snapshot is reported at low severity.",
    why: 'A missing role usually breaks an automation (runs start failing) or signals that someone is reshaping permissions by hand outside the release process.',
    fix: "Re-assign the role if the removal was a mistake, or remove it from the identity's `roles` in the policy if the baseline changed.",
  },
  {
    id: DRIFT_RULE.ownerHasDataRoles,
    kind: 'permission-drift',
    title: 'Flow-owner account holds a data role',
    severity: 'high',
    description: 'An identity the policy marks `dataAccess: none` (the service account that owns and manages flows) holds a role that grants data access. ' + DATA_ROLE_TEXT,
    why: 'The flow owner can edit every flow; if it can also read and write business data, one credential compromise gives both the automation and the data. The least-privilege pattern keeps them apart: application users do the data work.',
    fix: 'Remove the data role from the flow-owner account (and from teams it belongs to); give the data rights to the application user that runs the data actions instead.',
  },
  {
    id: DRIFT_RULE.privilegedAppUser,
    kind: 'permission-drift',
    title: 'Application user holds a privileged role',
    severity: 'critical',
    description:
      'An application user holds a role listed in `roles.privilegedRoles` (default System Administrator, System Customizer). ' +
      "Not reported when the identity's own baseline `roles` lists that role explicitly (a reviewed exception, e.g. a deployment pipeline).",
    why: 'An app registration secret or certificate is a long-lived credential; with System Administrator it can change security, read every table and disable auditing.',
    fix: 'Replace the privileged role with a custom role holding only the table privileges the application needs; rotate the app credential if the grant was not expected.',
  },
  {
    id: DRIFT_RULE.flowOwnerChanged,
    kind: 'permission-drift',
    title: 'Flow owner is not an allowed owner, or changed',
    severity: 'high',
    description:
      'A flow is owned by an identity that is neither in `flows.allowedOwners` nor declared with `mayOwnFlows: true` (high), or its owner changed since the previous snapshot to another allowed owner (medium). The evidence key is the new owner.',
    why: "Production flows should be owned by the service account so they survive people leaving and run under managed credentials; a flow moved to a person's account runs with that person's rights.",
    fix: 'Assign the flow back to the flow-owner service account (Dataverse: Assign on the workflow record; or add it as owner and remove the person), then review who made the change.',
  },
  {
    id: DRIFT_RULE.coownerAdded,
    kind: 'permission-drift',
    title: 'Co-owner not allowed by the policy',
    severity: 'high',
    description:
      'A flow has a co-owner (Flow API role Owner/CanEdit other than the primary owner, or a Dataverse share of the workflow) that is not in `flows.allowedCoOwners` and is not an allowed owner (high). ' +
      'A co-owner that the policy allows but that is new since the previous snapshot is reported at low severity.',
    why: 'Co-owners can edit the flow and use its connections (and so the identities behind them) for anything the connector allows.',
    fix: 'Remove the co-owner from the flow, or add the principal to `flows.allowedCoOwners` if it should have that access; prefer run-only sharing for people who only trigger the flow.',
  },
  {
    id: DRIFT_RULE.sharedBeyondPolicy,
    kind: 'permission-drift',
    title: 'Flow or connection shared beyond the policy',
    severity: 'high',
    description:
      'A flow is shared with guests (when `flows.allowSharingWithGuests` is false), with Everyone / the tenant (when `allowSharingWithEveryone` is false), with run-only users (when `allowRunOnlyUsers` is false), ' +
      'or has more co-owners than `flows.maxCoOwners`; or a connection used by flows is shared while `connections.allowSharing` is false.',
    why: 'Every principal a flow or connection is shared with can act through it; sharing with guests or everyone turns a service identity into a public one.',
    fix: 'Remove the extra permissions (flow details → Share / Run only users; connection → Share), keep co-owners within the policy limit.',
  },
  {
    id: DRIFT_RULE.connectionOwnedByPerson,
    kind: 'permission-drift',
    title: "Production flow uses a person's connection",
    severity: 'high',
    description:
      'A connection used by a flow (flow → connection reference → connection) was created by an identity whose kind is not in `connections.ownerKinds` (a person, or an identity that could not be resolved) and which is not in `connections.allowedOwners`.',
    why: "The flow acts with the person's rights and stops when the person leaves or changes password; anyone who edits the flow can use the person's access.",
    fix: 'Create the connection with the service account or an application user (service principal connection), point the connection reference at it, and delete the personal connection.',
  },
  {
    id: DRIFT_RULE.singleIdentityEverything,
    kind: 'permission-drift',
    title: 'One identity owns most flows and holds data roles',
    severity: 'high',
    description:
      'One identity owns at least `flows.singleIdentityShare` of the flows of the environment (when it has at least `flows.singleIdentityMinFlows` flows) and also holds data roles. ' +
      DATA_ROLE_TEXT,
    why: 'Do not let one account run everything: a single credential that owns the automation and holds the data rights is a single point of compromise and of failure.',
    fix: 'Keep the flow-owner account free of data roles and move the data work to application users with the minimum roles each.',
  },
  {
    id: DRIFT_RULE.unmanagedChange,
    kind: 'permission-drift',
    title: 'Permission change no policy covers',
    severity: 'low',
    description:
      'A change since the previous snapshot that no other rule covers: access to a flow removed, a run-only user added while run-only sharing is allowed, a connection added or re-owned, a flow switched to another connection, a connection share change while sharing is allowed. Never reported on a first run.',
    why: 'Nothing should change silently: these are recorded so a reviewer can see every permission change over time.',
    fix: 'Review the change; if it is expected, nothing to do. Tighten the policy if such changes should alert.',
  },
];

export function driftRuleInfo(id: DriftRuleId): RuleInfo {
  const r = DRIFT_RULES_CATALOGUE.find((x) => x.id === id);
  if (!r) throw new Error(`unknown drift rule id "${id}"`);
  return r;
}
