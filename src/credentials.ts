import { DefaultAzureCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/core-auth';
import type { Config } from './config';

let cached: TokenCredential | undefined;

/** The credential for Azure resources (storage, ACS, Logs): managed identity in Azure, developer login locally. */
export function storageCredential(config: Config): TokenCredential {
  cached ??= new DefaultAzureCredential(config.managedIdentityClientId ? { managedIdentityClientId: config.managedIdentityClientId } : {});
  return cached;
}
