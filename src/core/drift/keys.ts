import type { FindingSubject } from '../finding';

/**
 * Subjects and evidence keys shared by the snapshot path (driftFindings) and the event path
 * (eventDriftFindings). Both paths must build the same (subject, ruleId, evidence key) for the same
 * change so the finding id agrees and the next snapshot does not alert again. No timestamps in keys.
 *
 * Ids are systemuser / team / workflow ids (Dataverse GUIDs), lower-cased; the snapshot maps Flow API
 * Entra object ids to systemuser ids so both paths speak the same id.
 */

export function normId(id: string): string {
  return id.trim().toLowerCase();
}

/**
 * Role evidence key: the role id (both paths know it: the snapshot from the grant, an audit row or webhook
 * from the related role reference, which rarely carries the name). The name only when no id is known.
 */
export function roleKey(role: { roleName?: string; roleId?: string }): string {
  if (role.roleId?.trim()) return `role:${normId(role.roleId)}`;
  const name = role.roleName?.trim();
  if (name) return `rolename:${name.toLowerCase()}`;
  throw new Error('role: neither roleId nor roleName given');
}

export const principalSubject = (p: { id: string; name?: string; upn?: string }): FindingSubject => {
  const name = p.name ?? p.upn;
  return name ? { type: 'principal', id: normId(p.id), name } : { type: 'principal', id: normId(p.id) };
};

export const teamSubject = (teamId: string, name?: string): FindingSubject =>
  name ? { type: 'team', id: normId(teamId), name } : { type: 'team', id: normId(teamId) };

export const flowSubject = (flowId: string, name?: string): FindingSubject =>
  name ? { type: 'flow', id: normId(flowId), name } : { type: 'flow', id: normId(flowId) };

export const connectionSubject = (connectionId: string, name?: string): FindingSubject =>
  name ? { type: 'connection', id: normId(connectionId), name } : { type: 'connection', id: normId(connectionId) };

/** Evidence keys, one function per kind of change. */
export const KEY = {
  /** drift.flow-owner-changed: the (new) owner. */
  owner: (ownerId: string) => `owner:${normId(ownerId)}`,
  /** drift.coowner-added. */
  coowner: (principalId: string) => `coowner:${normId(principalId)}`,
  guest: (principalId: string) => `guest:${normId(principalId)}`,
  everyone: () => 'everyone',
  runOnly: (principalId: string) => `run-only:${normId(principalId)}`,
  maxCoOwners: () => 'max-coowners',
  connectionShare: (principalId: string) => `share:${normId(principalId)}`,
  singleIdentity: () => 'owns-most-flows',
  /** drift.unmanaged-change keys. */
  accessRemoved: (principalId: string) => `access-removed:${normId(principalId)}`,
  accessAdded: (principalId: string) => `access-added:${normId(principalId)}`,
  connectionAdded: () => 'connection-added',
  connectionOwner: (ownerId: string) => `owner:${normId(ownerId)}`,
  flowConnection: (connectionId: string) => `uses-connection:${normId(connectionId)}`,
  connectionShareRemoved: (principalId: string) => `share-removed:${normId(principalId)}`,
} as const;
