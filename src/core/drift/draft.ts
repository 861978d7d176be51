import { makeFinding, type EvidenceValue, type Finding, type FindingSubject, type Severity } from '../finding';
import { driftRuleInfo, type DriftRuleId } from './catalogue';

export interface DriftDraft {
  ruleId: DriftRuleId;
  severity: Severity;
  environmentId: string;
  subject: FindingSubject;
  evidenceKey: string;
  observedAt: string;
  title: string;
  /** What changed, from what, to what (and who, when known). The fix is appended from the catalogue. */
  what: string;
  evidence: Record<string, EvidenceValue | undefined>;
}

/** Build a drift finding: detail = what happened + the catalogue fix; undefined evidence values dropped. */
export function driftFinding(d: DriftDraft, detectedAt: string): Finding {
  const evidence: Record<string, EvidenceValue> = {};
  for (const [k, v] of Object.entries(d.evidence)) if (v !== undefined && v !== '') evidence[k] = v;
  return makeFinding(
    {
      kind: 'permission-drift',
      ruleId: d.ruleId,
      severity: d.severity,
      environmentId: d.environmentId,
      subject: d.subject,
      observedAt: d.observedAt,
      title: d.title,
      detail: `${d.what} Fix: ${driftRuleInfo(d.ruleId).fix}`,
      evidence,
      evidenceKey: d.evidenceKey,
    },
    detectedAt,
  );
}

/** Collects findings, one per id (the first wins: callers emit the most specific first). */
export class FindingBag {
  private readonly byId = new Map<string, Finding>();
  constructor(private readonly detectedAt: string) {}

  add(d: DriftDraft): Finding {
    const f = driftFinding(d, this.detectedAt);
    if (!this.byId.has(f.id)) this.byId.set(f.id, f);
    return this.byId.get(f.id)!;
  }

  list(): Finding[] {
    return [...this.byId.values()];
  }
}

export const whoText = (who: { id: string; name?: string; upn?: string }): string =>
  who.name && who.upn ? `${who.name} (${who.upn})` : who.name ?? who.upn ?? who.id;

export const listText = (xs: string[]): string => (xs.length ? xs.map((x) => `"${x}"`).join(', ') : 'none');
