import type { Identity, IdentityKind } from '../records';
import { findIdentity, type Policy, type PolicyIdentity } from '../policy';

/**
 * Kind of an identity as the rules see it: the policy's declared kind first (a service account is a
 * licensed user in Dataverse, indistinguishable from a person without the policy), else
 * application-user when Dataverse reports an application id, else person; unknown when unresolved.
 */
export function effectiveKind(identity: Identity, declared: PolicyIdentity | undefined): IdentityKind {
  if (declared) return declared.kind;
  if (identity.applicationId) return 'application-user';
  if (!identity.resolved) return 'unknown';
  return 'person';
}

/** The identity with its policy entry and effective kind. */
export function classifyIdentity(identity: Identity, policy: Policy): { identity: Identity; declared?: PolicyIdentity; kind: IdentityKind } {
  const declared = findIdentity(policy, identity);
  const kind = effectiveKind(identity, declared);
  return declared ? { identity, declared, kind } : { identity, kind };
}

/** How a person reads a policy reference: the declared name when there is one. */
export function refLabel(policy: Policy, ref: string): string {
  const declared = policy.identities.find((i) => i.ref.toLowerCase() === ref.toLowerCase());
  return declared?.name ? `${declared.name} (${ref})` : ref;
}

export function identityLabel(identity: Identity, declared?: PolicyIdentity): string {
  return declared?.name ?? identity.name ?? identity.upn ?? identity.id;
}
