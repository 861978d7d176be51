import type { DataverseSource, Logger } from '../ports';
import { loadRoleNames } from './snapshotPermissions';

/**
 * Role id → name per environment for the event path (audit rows and webhooks carry only the role id),
 * cached for a while. A failed lookup yields no names (the finding says "name not resolved") and is
 * retried on the next call; it never fails the caller.
 */
export class RoleNameCache {
  private readonly byEnv = new Map<string, { at: number; names: Promise<Map<string, string>> }>();
  constructor(
    private readonly dataverse: DataverseSource,
    private readonly log: Logger,
    private readonly ttlMs = 10 * 60_000,
  ) {}

  async get(environmentId: string, now = Date.now()): Promise<Map<string, string>> {
    const hit = this.byEnv.get(environmentId);
    if (hit && now - hit.at < this.ttlMs) return hit.names;
    const names = loadRoleNames(this.dataverse, environmentId).catch((e: unknown) => {
      this.byEnv.delete(environmentId);
      this.log.warn('role names could not be read; role findings will name role ids only', { environmentId, error: e instanceof Error ? e.message : String(e) });
      return new Map<string, string>();
    });
    this.byEnv.set(environmentId, { at: now, names });
    return names;
  }
}
