import type { FlowPermission, IdentityKind } from '../records';
import { findIdentity, refMatches, type Policy, type PolicyIdentity } from '../policy';
import { normId } from './keys';

/** Policy questions the drift rules ask, in one place so both paths answer them the same way. */

export interface Who {
  id: string;
  applicationId?: string;
  upn?: string;
  /** Entra object id when known (Flow API principals, group teams). */
  objectId?: string;
}

export interface RoleLike {
  roleId?: string;
  roleName?: string;
}

const eq = (a: string | undefined, b: string | undefined) => !!a && !!b && a.trim().toLowerCase() === b.trim().toLowerCase();

/** A policy role entry (name or id) matches a held role. */
export function roleMatches(entry: string, role: RoleLike): boolean {
  return eq(entry, role.roleName) || eq(entry, role.roleId);
}

export function identityFor(policy: Policy, who: Who): PolicyIdentity | undefined {
  return findIdentity(policy, who);
}

/** Declared kind wins over what the source inferred. */
export function effectiveKind(policy: Policy, who: Who, inferred: IdentityKind | undefined): IdentityKind {
  return identityFor(policy, who)?.kind ?? inferred ?? 'unknown';
}

export function declaresRole(identity: PolicyIdentity | undefined, role: RoleLike): boolean {
  return !!identity?.roles?.some((r) => roleMatches(r, role));
}

/** Everything not listed in `roles.nonDataRoles` grants data access (see the catalogue text). */
export function isDataRole(policy: Policy, role: RoleLike): boolean {
  return !policy.roles.nonDataRoles.some((r) => roleMatches(r, role));
}

export function isPrivilegedRole(policy: Policy, role: RoleLike): boolean {
  return policy.roles.privilegedRoles.some((r) => roleMatches(r, role));
}

/** Data roles that count against an identity: data roles its own baseline does not list. */
export function unreviewedDataRole(policy: Policy, identity: PolicyIdentity | undefined, role: RoleLike): boolean {
  return isDataRole(policy, role) && !declaresRole(identity, role);
}

function refOrObjectMatches(ref: string, who: Who): boolean {
  return refMatches(ref, who) || (!!who.objectId && normId(ref) === normId(who.objectId));
}

export function mayOwnFlows(policy: Policy, who: Who): boolean {
  if (policy.flows.allowedOwners.some((r) => refOrObjectMatches(r, who))) return true;
  return identityFor(policy, who)?.mayOwnFlows === true;
}

export function coOwnerAllowed(policy: Policy, who: Who): boolean {
  return policy.flows.allowedCoOwners.some((r) => refOrObjectMatches(r, who)) || mayOwnFlows(policy, who);
}

export function connectionOwnerAllowed(policy: Policy, who: Who, kind: IdentityKind): boolean {
  if (policy.connections.allowedOwners.some((r) => refOrObjectMatches(r, who))) return true;
  return (policy.connections.ownerKinds as readonly string[]).includes(kind);
}

// Flow API permission shapes: roleName Owner | CanEdit (co-owner level) | CanView | CanViewWithShare (run-only);
// principal.type User | Group | Tenant | Guest (guests also show as UPNs with #EXT#).
export function isEveryone(p: FlowPermission): boolean {
  const t = p.principalType.toLowerCase();
  return t === 'tenant' || t === 'everyone';
}

export function isGuest(p: { principalType?: string; upn?: string }): boolean {
  return p.principalType?.toLowerCase() === 'guest' || !!p.upn?.toLowerCase().includes('#ext#');
}

export function isCoOwnerLevel(p: FlowPermission): boolean {
  const r = p.roleName.toLowerCase();
  return r === 'owner' || r === 'canedit';
}

export function isRunOnly(p: FlowPermission): boolean {
  return !isCoOwnerLevel(p);
}
