import { makeFinding, type Finding, type FindingKind, type Severity } from '../../../src/core/finding';
import { parsePolicy, type Policy } from '../../../src/core/policy';

export const ENV = '7a1c2f4e-9d3b-4c55-8e21-3b9f0d6a1c01';
/** A planted "secret" that must never appear in any output. */
export const PLANTED = 'AccountKey=Zm9vYmFyYmF6cXV4cXV1eHF1dXhmb29iYXJiYXo0NTY3ODkwMTIzNDU2Nzg5MA==';

export function finding(over: Partial<Omit<Finding, 'id'>> & { key?: string; ruleId?: string; severity?: Severity; kind?: FindingKind } = {}): Finding {
  const { key = 'k', ...rest } = over;
  return makeFinding(
    {
      kind: rest.kind ?? 'secret-exposure',
      ruleId: rest.ruleId ?? 'secret.azure-storage-key',
      severity: rest.severity ?? 'critical',
      environmentId: rest.environmentId ?? ENV,
      subject: rest.subject ?? { type: 'flow-run-action', id: 'flow-1/runs/run-1/actions/HTTP', name: 'HTTP' },
      observedAt: rest.observedAt ?? '2025-01-02T03:04:05.000Z',
      title: rest.title ?? 'Secret (secret.azure-storage-key) in clear in the inputs of action HTTP',
      detail: rest.detail ?? 'A value matching secret.azure-storage-key (Acco********(88 chars)) is stored in clear.',
      evidence: rest.evidence ?? {
        flowId: 'flow-1',
        runId: 'run-1',
        maskedPreview: 'Acco********(88 chars)',
        fingerprint: 'hmac-sha256:0123456789abcdef0123456789abcdef',
        portalUrl: `https://make.powerautomate.com/environments/${ENV}/flows/flow-1/runs/run-1`,
      },
      evidenceKey: key,
    },
    rest.detectedAt ?? '2025-01-02T03:05:00.000Z',
  );
}

export const POLICY_YAML = `
version: 1
environments:
  - id: ${ENV}
    name: Contoso Production
    dataverseUrl: https://contoso-prod.crm4.dynamics.com
  - id: dev-env
    name: Contoso Dev
    dataverseUrl: https://contoso-dev.crm4.dynamics.com
alerts:
  immediate: high
  digestHours: 24
  routes:
    - to: ["oncall@contoso.com"]
      minSeverity: high
    - to: ["powerplatform-admins@contoso.com"]
      minSeverity: info
    - to: ["dev-team@contoso.com"]
      environments: [dev-env]
      kinds: [secret-exposure]
  fallback: ["fallback@contoso.com"]
`;

export function policy(yaml = POLICY_YAML): Policy {
  return parsePolicy(yaml, 'test.policy.yaml');
}
