import type { AuditEvent, Identity } from '../core/records';
import { findIdentity, type Policy } from '../core/policy';
import type { DataverseSource, RequestOptions, SystemUserRecord } from '../ports';

export interface IdentityResolver {
  /** Never throws: a failed or empty lookup gives `{ resolved: false, kind: 'unknown' | declared kind }`. */
  resolve(environmentId: string, systemUserId: string, options?: RequestOptions): Promise<Identity>;
  /** Resolve many ids at once (deduplicated), as a map id → identity. */
  resolveMany(environmentId: string, systemUserIds: Iterable<string>, options?: RequestOptions): Promise<Map<string, Identity>>;
  /** Identities cached so far (resolved ones only). */
  readonly size: number;
}

/**
 * systemuser id → Identity with an in-memory cache per (environment, id). Only successful lookups are
 * cached: a failure (Dataverse unreachable, user not found) is answered as unresolved and retried the
 * next time the id comes up, so a finding raised meanwhile carries the raw id and `resolved: false`.
 * Concurrent lookups of the same id share one request.
 */
export function createIdentityResolver(dataverse: DataverseSource, policy: Policy): IdentityResolver {
  const cache = new Map<string, Identity>();
  const inflight = new Map<string, Promise<Identity>>();

  const resolve = async (environmentId: string, systemUserId: string, options?: RequestOptions): Promise<Identity> => {
    const id = systemUserId.toLowerCase();
    const key = `${environmentId}\u0000${id}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const pending = inflight.get(key);
    if (pending) return pending;
    const p = (async (): Promise<Identity> => {
      let rec: SystemUserRecord | undefined;
      try {
        rec = await dataverse.getSystemUser(environmentId, id, options);
      } catch {
        // The caller sees resolved:false; the reason is transient by assumption and retried next time.
        return unresolved(policy, id);
      }
      if (!rec) return unresolved(policy, id);
      const identity = toIdentity(policy, id, rec);
      cache.set(key, identity);
      return identity;
    })().finally(() => inflight.delete(key));
    inflight.set(key, p);
    return p;
  };

  return {
    resolve,
    async resolveMany(environmentId, ids, options) {
      const unique = [...new Set([...ids].map((i) => i.toLowerCase()))];
      const out = new Map<string, Identity>();
      const resolved = await Promise.all(unique.map((id) => resolve(environmentId, id, options)));
      unique.forEach((id, i) => out.set(id, resolved[i]!));
      return out;
    },
    get size() {
      return cache.size;
    },
  };
}

function unresolved(policy: Policy, id: string): Identity {
  const declared = findIdentity(policy, { id });
  const identity: Identity = { id, kind: declared?.kind ?? 'unknown', resolved: false };
  if (declared?.name) identity.name = declared.name;
  return identity;
}

/** Kind: the policy's declared kind first, else application user when applicationid is set, else person. */
function toIdentity(policy: Policy, id: string, rec: SystemUserRecord): Identity {
  const identity: Identity = { id, kind: 'person', resolved: true };
  if (rec.applicationid) identity.applicationId = rec.applicationid.toLowerCase();
  const upn = rec.domainname || rec.internalemailaddress;
  if (upn) identity.upn = upn;
  if (rec.fullname) identity.name = rec.fullname;
  const declared = findIdentity(policy, identity);
  identity.kind = declared?.kind ?? (identity.applicationId ? 'application-user' : 'person');
  return identity;
}

/** Share/role events: resolve the user that gained or lost access (drift rules judge by its kind). */
export async function attachTargetPrincipals(events: AuditEvent[], resolver: IdentityResolver, environmentId: string, abortSignal?: AbortSignal): Promise<void> {
  const targets = events.filter((e) => e.targetPrincipalId && e.targetPrincipalType !== 'team' && !e.targetPrincipal);
  if (!targets.length) return;
  const found = await resolver.resolveMany(environmentId, targets.map((e) => e.targetPrincipalId!), abortSignal ? { abortSignal } : undefined);
  for (const e of targets) {
    const id = found.get(e.targetPrincipalId!.toLowerCase());
    // Unknown principal type may be a team: only a successful systemuser lookup says it is a user.
    if (id && (id.resolved || e.targetPrincipalType === 'systemuser')) e.targetPrincipal = id;
  }
}
