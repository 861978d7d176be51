import type { TokenCredential } from '@azure/core-auth';
import type { FlowPermission } from '../core/records';
import type { ConnectionRecord, ConnectionSource, RequestOptions } from '../ports';
import { toPermission } from './flowApi';
import { ResponseShapeError, createPipeline, sendJson, type FlowwardenPipeline, type RetryOptions } from './httpPipeline';

/** Audience of the Power Apps API (registered with a trailing slash, hence `//`). */
export const POWERAPPS_SCOPE = 'https://service.powerapps.com//.default';
export const POWERAPPS_API_VERSION = '2016-11-01';

export interface PowerAppsConnectionsClientOptions {
  /** e.g. https://api.powerapps.com (or the simulator URL). */
  baseUrl: string;
  credential?: TokenCredential;
  pipeline?: FlowwardenPipeline;
  scope?: string;
  retry?: RetryOptions;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const obj = (v: unknown): Record<string, unknown> | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/**
 * Connections of an environment through the Power Apps admin API
 * (`/providers/Microsoft.PowerApps/scopes/admin/environments/{env}/connections`), with each
 * connection's permissions (who it is shared with besides its creator).
 */
export class PowerAppsConnectionsClient implements ConnectionSource {
  private readonly base: string;
  private readonly api: FlowwardenPipeline;

  constructor(options: PowerAppsConnectionsClientOptions) {
    if (!options.pipeline && !options.credential) throw new TypeError('PowerAppsConnectionsClient: credential or pipeline is required');
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.api = options.pipeline ?? createPipeline({ credential: options.credential, scopes: options.scope ?? POWERAPPS_SCOPE, retry: options.retry });
  }

  private async *items(first: string, options?: RequestOptions): AsyncGenerator<Record<string, unknown>> {
    let url: string | undefined = first;
    while (url) {
      const current: string = url;
      const { body } = await sendJson<Record<string, unknown>>(this.api, current, { abortSignal: options?.abortSignal });
      if (!Array.isArray(body?.value)) throw new ResponseShapeError(current, 'value', 'expected an array');
      for (const v of body.value) yield obj(v) ?? {};
      const next = str(body.nextLink);
      if (next && new URL(next).origin !== new URL(this.base).origin) throw new ResponseShapeError(current, 'nextLink', 'points to another host');
      url = next;
    }
  }

  async *listConnections(environmentId: string, options?: RequestOptions): AsyncIterable<ConnectionRecord> {
    const envBase = `${this.base}/providers/Microsoft.PowerApps/scopes/admin/environments/${encodeURIComponent(environmentId)}`;
    for await (const item of this.items(`${envBase}/connections?api-version=${POWERAPPS_API_VERSION}`, options)) {
      const name = str(item.name);
      const p = obj(item.properties) ?? {};
      const createdBy = obj(p.createdBy) ?? {};
      const connectorName = str(p.apiId)?.split('/').pop();
      const createdById = str(createdBy.id);
      if (!name || !connectorName || !createdById) throw new ResponseShapeError(`${envBase}/connections`, !name ? 'name' : !connectorName ? 'properties.apiId' : 'properties.createdBy.id', 'missing');
      const perms: FlowPermission[] = [];
      for await (const perm of this.items(`${envBase}/apis/${encodeURIComponent(connectorName)}/connections/${encodeURIComponent(name)}/permissions?api-version=${POWERAPPS_API_VERSION}`, options)) {
        perms.push(toPermission(perm));
      }
      const upn = str(createdBy.userPrincipalName) ?? str(createdBy.email);
      yield {
        connectionId: name,
        connectorName,
        displayName: str(p.displayName),
        createdById,
        ...(upn ? { createdByUpn: upn } : {}),
        // The creator's own Owner entry is not sharing.
        sharedWith: perms.filter((x) => !(x.principalId === createdById && x.roleName === 'Owner')),
      };
    }
  }
}
