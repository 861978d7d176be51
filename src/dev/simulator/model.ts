/**
 * The simulator's tenant model. The HTTP server renders it in the real wire formats; tenants (the
 * sample story, generated benchmark tenants) only describe data. Runs, actions and content are
 * functions of (flow, run, action) indices so a large tenant is computed on demand, never stored.
 */

export type Direction = 'inputs' | 'outputs';

export interface SimRun {
  /** Run name as the Flow API spells it, e.g. 08585236861638480597867166179CU104. */
  name: string;
  startTime: string;
  endTime: string;
  status: 'Succeeded' | 'Failed';
}

export interface SimRunAction {
  name: string;
  type: string;
  status: 'Succeeded' | 'Failed' | 'Skipped';
  startTime: string;
  endTime: string;
  /** From the definition's runtimeConfiguration.secureData.properties. */
  secureInputs: boolean;
  secureOutputs: boolean;
}

export interface SimConnectionReference {
  /** Key in the flow's connectionReferences map, e.g. shared_keyvault. */
  key: string;
  apiName: string;
  connectionName: string;
  displayName: string;
  connectionReferenceLogicalName?: string;
}

export interface SimPrincipal {
  /** Entra object id (or the tenant id for type Tenant). */
  id: string;
  type: 'User' | 'Group' | 'Tenant' | 'ServicePrincipal';
}

export interface SimFlowPermission {
  principal: SimPrincipal;
  roleName: 'Owner' | 'CanView' | 'CanEdit';
}

export interface SimFlow {
  index: number;
  id: string;
  displayName: string;
  state: 'Started' | 'Stopped' | 'Suspended';
  creatorObjectId: string;
  createdTime: string;
  lastModifiedTime: string;
  definition: Record<string, unknown>;
  connectionReferences: SimConnectionReference[];
  runCount: number;
}

export interface SimConnection {
  name: string;
  apiName: string;
  displayName: string;
  createdBy: { id: string; displayName: string; email?: string; userPrincipalName?: string; type: 'User' | 'ServicePrincipal' };
  createdTime: string;
  sharedWith: SimFlowPermission[];
}

/** Dataverse rows as the Web API returns them (logical names), per entity set. */
export interface SimDataverse {
  sets: Record<string, Record<string, unknown>[]>;
  /** Primary key column per entity set. */
  keys: Record<string, string>;
  /** Many-to-many: systemuserid → role ids, teamid → role ids, teamid → systemuser ids. */
  userRoles: Map<string, Set<string>>;
  teamRoles: Map<string, Set<string>>;
  teamMembers: Map<string, Set<string>>;
}

export interface PlantedSecret {
  flowIndex: number;
  flowId: string;
  runIndex: number;
  runId: string;
  actionName: string;
  direction: Direction;
  /** Format id, e.g. github-pat, aws-access-key-id, azure-storage-connection-string, jwt. */
  format: string;
  /** JSON path inside the content where the secret sits. */
  path: string;
}

export interface SimTenant {
  environmentId: string;
  tenantId: string;
  /** 0 = baseline; advance() moves to the next epoch of the story. */
  epoch: number;
  flows: SimFlow[];
  run(flow: SimFlow, runIndex: number): SimRun;
  /** Resolve a run name to its index (or undefined). */
  runIndex(flow: SimFlow, runName: string): number | undefined;
  runActions(flow: SimFlow, runIndex: number): SimRunAction[];
  /** The JSON behind an action's inputs/outputs; undefined when the action has none. */
  content(flow: SimFlow, runIndex: number, actionName: string, direction: Direction): unknown;
  permissions(flow: SimFlow): SimFlowPermission[];
  connections: SimConnection[];
  dataverse: SimDataverse;
  advance(now: Date): void;
}
