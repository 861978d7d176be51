import { createHash } from 'node:crypto';

/** Finding kinds (DESIGN.md §4) plus `health` for self-monitoring findings (source stalled, poison records). */
export const FINDING_KINDS = ['secret-exposure', 'unexpected-modifier', 'permission-drift', 'health'] as const;
export type FindingKind = (typeof FINDING_KINDS)[number];

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

const RANK: Record<Severity, number> = { critical: 4, high: 3, medium: 2, low: 1, info: 0 };
export function severityRank(s: Severity): number {
  return RANK[s];
}
export function atLeast(s: Severity, floor: Severity): boolean {
  return RANK[s] >= RANK[floor];
}

export interface FindingSubject {
  /** e.g. 'flow-run-action', 'flow-definition-action', 'record', 'principal', 'flow', 'connection', 'environment-variable', 'source' */
  type: string;
  id: string;
  name?: string;
}

export type EvidenceValue = string | number | boolean;

export interface Finding {
  id: string;
  kind: FindingKind;
  ruleId: string;
  severity: Severity;
  environmentId: string;
  subject: FindingSubject;
  observedAt: string;
  detectedAt: string;
  title: string;
  detail: string;
  evidence: Record<string, EvidenceValue>;
}

/**
 * Stable finding id: sha256 over (kind, environment, subject type+id, ruleId, evidence key), hex, 32 chars.
 * The evidence key is what makes two findings on the same subject different (e.g. JSON path + fingerprint,
 * audit id, role id). Same input → same id, so re-scans are idempotent.
 */
export function findingId(parts: {
  kind: FindingKind;
  environmentId: string;
  subject: Pick<FindingSubject, 'type' | 'id'>;
  ruleId: string;
  evidenceKey: string;
}): string {
  const h = createHash('sha256');
  for (const p of [parts.kind, parts.environmentId, parts.subject.type, parts.subject.id, parts.ruleId, parts.evidenceKey]) {
    h.update(p);
    h.update('\u0000');
  }
  return h.digest('hex').slice(0, 32);
}

/** Input to `makeFinding`: everything but the id and detectedAt, plus the evidence key that the id hashes. */
export type FindingDraft = Omit<Finding, 'id' | 'detectedAt'> & { evidenceKey: string };

export function makeFinding(draft: FindingDraft, detectedAt: string): Finding {
  const { evidenceKey, ...rest } = draft;
  return {
    id: findingId({ kind: rest.kind, environmentId: rest.environmentId, subject: rest.subject, ruleId: rest.ruleId, evidenceKey }),
    ...rest,
    detectedAt,
  };
}
