import type { AccessToken, GetTokenOptions, TokenCredential } from '@azure/core-auth';

/**
 * LOCAL ONLY: a TokenCredential that gets client-credentials tokens from the tenant simulator's
 * token endpoint over http on loopback. @azure/identity refuses non-https authority hosts
 * ("The authorityHost address must use the 'https' protocol"), so the simulator cannot be used
 * with ClientSecretCredential. Never point this at a real identity provider.
 */
export interface LocalSimulatorCredentialOptions {
  /** e.g. http://127.0.0.1:PORT/<tenant>/oauth2/v2.0/token (SimulatorHandle.tokenUrl). */
  tokenUrl: string;
  clientId?: string;
  clientSecret?: string;
}

export class LocalSimulatorCredential implements TokenCredential {
  private readonly cache = new Map<string, AccessToken>();

  constructor(private readonly options: LocalSimulatorCredentialOptions) {
    const u = new URL(options.tokenUrl);
    if (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost' && u.hostname !== '::1') {
      throw new RangeError(`tokenUrl: LocalSimulatorCredential only talks to loopback, got ${u.hostname}`);
    }
  }

  async getToken(scopes: string | string[], options?: GetTokenOptions): Promise<AccessToken> {
    const scope = Array.isArray(scopes) ? scopes.join(' ') : scopes;
    const cached = this.cache.get(scope);
    if (cached && cached.expiresOnTimestamp - Date.now() > 120_000) return cached;
    const res = await fetch(this.options.tokenUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: this.options.clientId ?? 'flowwarden-local', client_secret: this.options.clientSecret ?? 'local', scope }),
      signal: options?.abortSignal as AbortSignal | undefined,
    });
    if (!res.ok) throw new Error(`local token endpoint answered ${res.status} for scope ${scope}`);
    const body = (await res.json()) as { access_token?: unknown; expires_in?: unknown };
    if (typeof body.access_token !== 'string' || typeof body.expires_in !== 'number') throw new Error('local token endpoint: access_token/expires_in missing');
    const token = { token: body.access_token, expiresOnTimestamp: Date.now() + body.expires_in * 1000 };
    this.cache.set(scope, token);
    return token;
  }
}
