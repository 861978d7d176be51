import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePolicy, type Policy } from '../../../src/core/policy';
import type { ConnectionSnapshot, FlowPermissionSnapshot, PermissionSnapshot, PrincipalSnapshot, RoleGrant } from '../../../src/core/records';

export const ENV = '7a1c2f4e-9d3b-4c55-8e21-3b9f0d6a1c01';

export function demoPolicy(): Policy {
  const file = join(__dirname, '../../../policy/demo.policy.yaml');
  return parsePolicy(readFileSync(file, 'utf8'), file);
}

// systemuser ids
export const ID = {
  svc: '10000000-0000-4000-8000-000000000001',
  app1: '10000000-0000-4000-8000-000000000011',
  app2: '10000000-0000-4000-8000-000000000012',
  app3: '10000000-0000-4000-8000-000000000013',
  alice: '10000000-0000-4000-8000-000000000021',
  bob: '10000000-0000-4000-8000-000000000022',
  guest: '10000000-0000-4000-8000-000000000023',
  team: '20000000-0000-4000-8000-000000000001',
} as const;

export const ROLE = {
  basic: { roleId: '30000000-0000-4000-8000-000000000001', roleName: 'Basic User' },
  maker: { roleId: '30000000-0000-4000-8000-000000000002', roleName: 'Environment Maker' },
  invoice: { roleId: '30000000-0000-4000-8000-000000000003', roleName: 'Invoice Writer' },
  contact: { roleId: '30000000-0000-4000-8000-000000000004', roleName: 'Contact Writer' },
  sysadmin: { roleId: '30000000-0000-4000-8000-000000000005', roleName: 'System Administrator' },
  sales: { roleId: '30000000-0000-4000-8000-000000000006', roleName: 'Sales Manager' },
} as const;

export const grant = (r: { roleId: string; roleName: string }, via = 'direct'): RoleGrant => ({ ...r, via });

/**
 * The sample tenant as a literal snapshot: svc-flowowner holds a data role through a team and owns 4 of 5
 * flows; Contact Enricher holds System Administrator; bob (undeclared person) co-owns and owns a flow; a
 * flow is shared with everyone; alice created a connection used by a flow; a connection is shared.
 */
export function baseSnapshot(takenAt = '2025-03-01T10:00:00.000Z'): PermissionSnapshot {
  const principals: PrincipalSnapshot[] = [
    { id: ID.svc, kind: 'person', upn: 'svc-flowowner@contoso.com', name: 'Flow Owner', roles: [grant(ROLE.basic), grant(ROLE.maker), grant(ROLE.sales, `team:${ID.team}`)] },
    { id: ID.app1, kind: 'application-user', applicationId: 'a1b2c3d4-0001-4e5f-8a9b-000000000001', name: 'Invoice Sync', roles: [grant(ROLE.invoice)] },
    { id: ID.app2, kind: 'application-user', applicationId: 'a1b2c3d4-0002-4e5f-8a9b-000000000002', name: 'Contact Enricher', roles: [grant(ROLE.contact), grant(ROLE.sysadmin)] },
    { id: ID.app3, kind: 'application-user', applicationId: 'a1b2c3d4-0003-4e5f-8a9b-000000000003', name: 'Reporting Reader', roles: [grant(ROLE.basic)] },
    { id: ID.alice, kind: 'person', upn: 'alice@contoso.com', name: 'Alice Maker', roles: [grant(ROLE.basic), grant(ROLE.maker)] },
    { id: ID.bob, kind: 'person', upn: 'bob@contoso.com', name: 'Bob Dev', roles: [grant(ROLE.basic), grant(ROLE.sales, `team:${ID.team}`)] },
    { id: ID.guest, kind: 'person', upn: 'eve_fabrikam.com#EXT#@contoso.onmicrosoft.com', name: 'Eve Guest', roles: [] },
  ];
  const owner = (id: string) => ({ principalId: id, principalType: 'User', roleName: 'Owner' });
  const flows: FlowPermissionSnapshot[] = [
    {
      flowId: 'F0000000-0000-4000-8000-000000000001',
      displayName: 'Invoice sync',
      ownerId: ID.svc,
      permissions: [owner(ID.svc), owner(ID.alice)],
      connectionReferences: ['cr5f2_dataverse'],
      connectionLinks: [{ reference: 'cr5f2_dataverse', apiName: 'shared_commondataserviceforapps', connectionId: 'conn-svc', ownerId: ID.svc }],
    },
    {
      flowId: 'f0000000-0000-4000-8000-000000000002',
      displayName: 'Contact enrichment',
      ownerId: ID.svc,
      permissions: [owner(ID.svc)],
      connectionReferences: ['cr5f2_sharepoint'],
      connectionLinks: [{ reference: 'cr5f2_sharepoint', apiName: 'shared_sharepointonline', connectionId: 'conn-alice', ownerId: ID.alice }],
    },
    {
      flowId: 'f0000000-0000-4000-8000-000000000003',
      displayName: 'Report',
      ownerId: ID.svc,
      permissions: [owner(ID.svc), { principalId: ID.bob, principalType: 'User', roleName: 'CanEdit' }, { principalId: 'tenant-everyone', principalType: 'Tenant', roleName: 'CanView' }],
      connectionReferences: [],
    },
    { flowId: 'f0000000-0000-4000-8000-000000000004', displayName: 'Cleanup', ownerId: ID.svc, permissions: [owner(ID.svc)], connectionReferences: [] },
    { flowId: 'f0000000-0000-4000-8000-000000000005', displayName: 'Bob test', ownerId: ID.bob, permissions: [owner(ID.bob)], connectionReferences: [] },
  ];
  const connections: ConnectionSnapshot[] = [
    {
      connectionId: 'conn-svc',
      connectorName: 'shared_commondataserviceforapps',
      displayName: 'Dataverse (svc)',
      createdBy: { id: ID.svc, kind: 'service-account', upn: 'svc-flowowner@contoso.com' },
      sharedWith: [],
      connectionReferences: ['cr5f2_dataverse'],
      usedByFlows: ['f0000000-0000-4000-8000-000000000001'],
    },
    {
      connectionId: 'conn-alice',
      connectorName: 'shared_sharepointonline',
      displayName: 'SharePoint (alice)',
      createdBy: { id: ID.alice, kind: 'person', upn: 'alice@contoso.com' },
      sharedWith: [],
      connectionReferences: ['cr5f2_sharepoint'],
      usedByFlows: ['f0000000-0000-4000-8000-000000000002'],
    },
    {
      connectionId: 'conn-shared',
      connectorName: 'shared_office365',
      createdBy: { id: ID.svc, kind: 'service-account' },
      sharedWith: [{ principalId: ID.bob, principalType: 'User', roleName: 'CanView' }],
      connectionReferences: [],
      usedByFlows: [],
    },
  ];
  return { environmentId: ENV, takenAt, principals, flows, connections };
}

export const clone = <T>(x: T): T => structuredClone(x);
