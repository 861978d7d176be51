import type { SimulatorHandle } from '../../../src/dev/simulator/server';
import { PowerAppsConnectionsClient } from '../../../src/sources/connections';
import { DataverseClient } from '../../../src/sources/dataverse';
import { FlowApiClient } from '../../../src/sources/flowApi';
import type { RetryOptions } from '../../../src/sources/httpPipeline';
import { LocalSimulatorCredential } from '../../../src/sources/localCredential';

/** Real adapters wired to a simulator, the way compose() wires them for the demo. */
export class ConnectionsFixture {
  readonly credential: LocalSimulatorCredential;
  readonly flowApi: FlowApiClient;
  readonly connections: PowerAppsConnectionsClient;
  readonly dataverse: DataverseClient;

  constructor(sim: SimulatorHandle, retry?: RetryOptions) {
    this.credential = new LocalSimulatorCredential({ tokenUrl: sim.tokenUrl });
    this.flowApi = new FlowApiClient({ baseUrl: sim.url, credential: this.credential, retry });
    this.connections = new PowerAppsConnectionsClient({ baseUrl: sim.url, credential: this.credential, retry });
    this.dataverse = new DataverseClient({ baseUrlFor: () => sim.url, scopeFor: () => 'https://contoso-prod.crm4.dynamics.com/.default', credential: this.credential, retry });
  }
}
