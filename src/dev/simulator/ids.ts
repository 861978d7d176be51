import { hashGuid, hashUnit } from './rng';

/** Fixed identities of the sample tenant (policy/demo.policy.yaml refers to them). */
export const ENVIRONMENT_ID = '7a1c2f4e-9d3b-4c55-8e21-3b9f0d6a1c01';
export const TENANT_ID = 'e1f2a3b4-5c6d-4e7f-8a9b-0c1d2e3f4a5b';
export const ORGANIZATION_ID = '0b6c5a2d-1e4f-4a7b-9c3d-5e8f7a9b1c2d';
export const BUSINESS_UNIT_ID = 'b0000001-0000-4000-8000-000000000001';

export const USERS = {
  svcFlowOwner: { systemuserid: '5e0f0001-0000-4000-8000-000000000001', aad: 'aad00001-0000-4000-8000-000000000001', upn: 'svc-flowowner@contoso.com', fullname: 'Flow Owner (service)' },
  invoiceSync: { systemuserid: '5e0f0002-0000-4000-8000-000000000002', aad: 'aad00002-0000-4000-8000-000000000002', appId: 'a1b2c3d4-0001-4e5f-8a9b-000000000001', fullname: '# Invoice Sync' },
  contactEnricher: { systemuserid: '5e0f0003-0000-4000-8000-000000000003', aad: 'aad00003-0000-4000-8000-000000000003', appId: 'a1b2c3d4-0002-4e5f-8a9b-000000000002', fullname: '# Contact Enricher' },
  reportingReader: { systemuserid: '5e0f0004-0000-4000-8000-000000000004', aad: 'aad00004-0000-4000-8000-000000000004', appId: 'a1b2c3d4-0003-4e5f-8a9b-000000000003', fullname: '# Reporting Reader' },
  alice: { systemuserid: '5e0f0005-0000-4000-8000-000000000005', aad: 'aad00005-0000-4000-8000-000000000005', upn: 'alice@contoso.com', fullname: 'Alice Maker' },
  bob: { systemuserid: '5e0f0006-0000-4000-8000-000000000006', aad: 'aad00006-0000-4000-8000-000000000006', upn: 'bob@contoso.com', fullname: 'Bob Sales' },
  legacyIntegration: { systemuserid: '5e0f0007-0000-4000-8000-000000000007', aad: 'aad00007-0000-4000-8000-000000000007', appId: 'a1b2c3d4-0009-4e5f-8a9b-000000000009', fullname: '# Legacy Integration' },
} as const;

/** A guest who never got a systemuser (appears only in Flow API sharing). */
export const GUEST_MALLORY = { aad: 'aad00008-0000-4000-8000-000000000008', upn: 'mallory_fabrikam.com#EXT#@contoso.onmicrosoft.com' };

export const ROLES = {
  systemAdministrator: { roleid: '7e1e0001-0000-4000-8000-000000000001', name: 'System Administrator' },
  systemCustomizer: { roleid: '7e1e0002-0000-4000-8000-000000000002', name: 'System Customizer' },
  basicUser: { roleid: '7e1e0003-0000-4000-8000-000000000003', name: 'Basic User' },
  environmentMaker: { roleid: '7e1e0004-0000-4000-8000-000000000004', name: 'Environment Maker' },
  invoiceWriter: { roleid: '7e1e0005-0000-4000-8000-000000000005', name: 'Invoice Writer' },
  contactWriter: { roleid: '7e1e0006-0000-4000-8000-000000000006', name: 'Contact Writer' },
  salesManager: { roleid: '7e1e0007-0000-4000-8000-000000000007', name: 'Sales Manager' },
} as const;

export const TEAM_FLOW_MAKERS = { teamid: '7ea00001-0000-4000-8000-000000000001', name: 'Flow Makers' };
export const GROUP_SALES = 'aad0c001-0000-4000-8000-00000000c001';

/**
 * Run names shaped like the Flow API's (29 digits, `CU`, a number). The number after CU carries the
 * run index so a name resolves back without a lookup table.
 */
export function runName(seed: number, flowIndex: number, runIndex: number): string {
  let digits = '08585';
  for (let i = 0; digits.length < 29; i++) digits += Math.floor(hashUnit(seed, 'run', flowIndex, runIndex, i) * 1e6).toString().padStart(6, '0');
  return `${digits.slice(0, 29)}CU${runIndex + 10}`;
}

export function runIndexFromName(name: string): number | undefined {
  const m = /^\d{29}CU(\d+)$/.exec(name);
  if (!m) return undefined;
  const i = Number(m[1]) - 10;
  return i >= 0 ? i : undefined;
}

export { hashGuid };
