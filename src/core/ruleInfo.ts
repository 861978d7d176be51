import type { FindingKind, Severity } from './finding';

/**
 * One catalogue entry per ruleId (modelled on Sentinel analytic rules): what it detects, why it
 * matters and how to respond. Emails, docs and `finding.detail` reuse this text.
 */
export interface RuleInfo {
  id: string;
  kind: FindingKind;
  title: string;
  severity: Severity;
  /** What the rule detects. */
  description: string;
  /** Why it matters. */
  why: string;
  /** How to fix / respond. */
  fix: string;
}
