import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parsePolicy, type Policy } from '../../../src/core/policy';
import type { Identity } from '../../../src/core/records';

export const REPO = path.resolve(__dirname, '../../..');
/** Public sample payloads shared by the project (../shared/samples next to the repository). */
export const SAMPLES = path.resolve(REPO, '../shared/samples');

export function demoPolicy(): Policy {
  return parsePolicy(readFileSync(path.join(REPO, 'policy/demo.policy.yaml'), 'utf8'), 'policy/demo.policy.yaml');
}

export const ENV = '7a1c2f4e-9d3b-4c55-8e21-3b9f0d6a1c01';
export const ORG_ID = '0b6c5a2d-1e4f-4a7b-9c3d-5e8f7a9b1c2d';
export const ORG_HOST = 'contoso-prod.crm4.dynamics.com';

/** systemuser ids of the demo identities (the policy refers to them by app id / UPN). */
export const IDS = {
  invoiceSync: '11111111-0000-4000-8000-000000000001',
  contactEnricher: '11111111-0000-4000-8000-000000000002',
  reportingReader: '11111111-0000-4000-8000-000000000003',
  alice: '22222222-0000-4000-8000-00000000000a',
  bob: '22222222-0000-4000-8000-00000000000b',
  svcOwner: '33333333-0000-4000-8000-000000000001',
  unknownApp: '44444444-0000-4000-8000-000000000001',
} as const;

export const IDENTITIES: Record<string, Identity> = {
  [IDS.invoiceSync]: { id: IDS.invoiceSync, kind: 'application-user', resolved: true, applicationId: 'a1b2c3d4-0001-4e5f-8a9b-000000000001', name: 'Invoice Sync' },
  [IDS.contactEnricher]: { id: IDS.contactEnricher, kind: 'application-user', resolved: true, applicationId: 'a1b2c3d4-0002-4e5f-8a9b-000000000002', name: 'Contact Enricher' },
  [IDS.reportingReader]: { id: IDS.reportingReader, kind: 'application-user', resolved: true, applicationId: 'a1b2c3d4-0003-4e5f-8a9b-000000000003', name: 'Reporting Reader' },
  [IDS.alice]: { id: IDS.alice, kind: 'person', resolved: true, upn: 'alice@contoso.com', name: 'Alice Maker' },
  [IDS.bob]: { id: IDS.bob, kind: 'person', resolved: true, upn: 'bob@contoso.com', name: 'Bob Person' },
  [IDS.svcOwner]: { id: IDS.svcOwner, kind: 'person', resolved: true, upn: 'svc-flowowner@contoso.com', name: 'svc flow owner' },
  [IDS.unknownApp]: { id: IDS.unknownApp, kind: 'application-user', resolved: true, applicationId: 'a1b2c3d4-0009-4e5f-8a9b-000000000009', name: 'Mystery App' },
};

export function who(id: string): Identity {
  return IDENTITIES[id] ?? { id, kind: 'unknown', resolved: false };
}
