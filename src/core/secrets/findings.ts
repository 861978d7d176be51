/**
 * Pure builders that turn detector hits into `secret-exposure` findings, plus the policy pass
 * (disabled rules, severity overrides, suppressions with expiry) shared by the run-history,
 * definition and environment-variable scanners. The secret value itself is only ever handed to
 * `fingerprint()` / `maskedPreview()`; it never reaches a finding.
 */
import { makeFinding, type Finding, type FindingDraft, type Severity } from '../finding';
import { fingerprint, maskedPreview } from '../fingerprint';
import type { Policy, Suppression } from '../policy';
import type { RunActionContent } from '../records';
import { SECRET_RULES_CATALOGUE } from './catalogue';
import { scanValue } from './engine';

export const DEFAULT_PORTAL_URL = 'https://make.powerautomate.com';

export interface SecretFindingContext {
  /** HMAC key for fingerprints (FLOWWARDEN_FINGERPRINT_KEY). */
  fingerprintKey: string;
  policy: Policy;
  /** ISO time of this scan; also decides whether a suppression has expired. */
  detectedAt: string;
  /** Who can see the run history, e.g. ["owner: svc-flowowner@contoso.com", "co-owner: alice@contoso.com", "run-only: …"]. */
  viewers?: string[];
  /**
   * Power Automate portal base for deep links. Default: the policy environment's `portalUrl`,
   * else https://make.powerautomate.com.
   */
  portalUrl?: string;
}

/** Findings after the policy pass, and how many the policy's suppressions hid. */
export interface SecretFindingResult {
  findings: Finding[];
  suppressed: number;
}

// ---------------------------------------------------------------- policy pass

/**
 * A suppression applies through the end of its `expires` day (UTC); from the next day on it no
 * longer hides anything, so an accepted risk resurfaces instead of being forgotten.
 */
export function suppressionActive(s: Suppression, detectedAt: string): boolean {
  return detectedAt.slice(0, 10) <= s.expires;
}

/** `*` is a wildcard; a bare location also matches everything below it (`<flowId>` matches `<flowId>/runs/…`). */
export function locationMatches(pattern: string, subjectId: string): boolean {
  const p = pattern.toLowerCase();
  const id = subjectId.toLowerCase();
  if (!p.includes('*')) return id === p || id.startsWith(p + '/');
  const re = new RegExp('^' + p.split('*').map(escapeRegExp).join('.*') + '$');
  return re.test(id);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Every criterion a suppression states must match (fingerprint, ruleId, location). A suppression that
 * states none matches nothing: an empty entry must not silence the whole scanner.
 */
export function suppressionMatches(s: Suppression, f: Finding): boolean {
  if (s.fingerprint === undefined && s.ruleId === undefined && s.location === undefined) return false;
  if (s.fingerprint !== undefined && f.evidence['fingerprint'] !== s.fingerprint) return false;
  if (s.ruleId !== undefined && s.ruleId !== f.ruleId) return false;
  if (s.location !== undefined && !locationMatches(s.location, f.subject.id)) return false;
  return true;
}

export function isRuleDisabled(policy: Policy, ruleId: string): boolean {
  return policy.secrets.disabledRules.includes(ruleId);
}

export function effectiveSeverity(policy: Policy, ruleId: string, detected: Severity): Severity {
  return policy.secrets.severity[ruleId] ?? detected;
}

/** Drop disabled rules and suppressed findings, apply severity overrides, dedupe by id (first wins). */
export function applySecretPolicy(findings: Finding[], ctx: Pick<SecretFindingContext, 'policy' | 'detectedAt'>): SecretFindingResult {
  const { policy, detectedAt } = ctx;
  const active = policy.secrets.suppressions.filter((s) => suppressionActive(s, detectedAt));
  const seen = new Set<string>();
  const out: Finding[] = [];
  let suppressed = 0;
  for (const f of findings) {
    if (isRuleDisabled(policy, f.ruleId) || seen.has(f.id)) continue;
    seen.add(f.id);
    if (active.some((s) => suppressionMatches(s, f))) {
      suppressed++;
      continue;
    }
    out.push({ ...f, severity: effectiveSeverity(policy, f.ruleId, f.severity) });
  }
  return { findings: out, suppressed };
}

/** Portal base for an environment: ctx.portalUrl, else the policy's, else the public portal. */
export function portalBase(ctx: Pick<SecretFindingContext, 'policy' | 'portalUrl'>, environmentId: string): string {
  const base = ctx.portalUrl ?? ctx.policy.environments.find((e) => e.id === environmentId)?.portalUrl ?? DEFAULT_PORTAL_URL;
  return base.replace(/\/+$/, '');
}

export function flowPortalUrl(base: string, environmentId: string, flowId: string): string {
  return `${base}/environments/${encodeURIComponent(environmentId)}/flows/${encodeURIComponent(flowId)}`;
}

export function runPortalUrl(base: string, environmentId: string, flowId: string, runId: string): string {
  return `${flowPortalUrl(base, environmentId, flowId)}/runs/${encodeURIComponent(runId)}`;
}

const SEVERITY_ORDER: Record<Severity, number> = { critical: 4, high: 3, medium: 2, low: 1, info: 0 };

/**
 * When several rules match the same value at the same place, keep one hit, deterministically
 * (highest severity, then ruleId), so re-scans give the same finding id.
 */
export function bestHitPerKey<T extends { ruleId: string; severity: Severity }>(hits: { key: string; hit: T }[]): Map<string, T> {
  const best = new Map<string, T>();
  for (const { key, hit } of hits) {
    const cur = best.get(key);
    if (
      !cur ||
      SEVERITY_ORDER[hit.severity] > SEVERITY_ORDER[cur.severity] ||
      (SEVERITY_ORDER[hit.severity] === SEVERITY_ORDER[cur.severity] && hit.ruleId < cur.ruleId)
    ) {
      best.set(key, hit);
    }
  }
  return best;
}

const RULE_LABELS = new Map(SECRET_RULES_CATALOGUE.map((r) => [r.id, r.title.replace(/ exposed$/, '')]));

/** Short human name of a rule ("Microsoft Entra ID application client secret"), the id when unknown. */
export function ruleLabel(ruleId: string): string {
  return RULE_LABELS.get(ruleId) ?? ruleId;
}

function viewersText(viewers: string[] | undefined): string {
  if (viewers && viewers.length > 0) return `Who can see this run history: ${viewers.join('; ')}.`;
  return 'Everyone who can open the run history of this flow can read it: its owners and co-owners, and run-only users for the runs they start.';
}

// ---------------------------------------------------------------- run history content

function runSubject(c: Pick<RunActionContent, 'flowId' | 'runId' | 'actionName'>) {
  return { type: 'flow-run-action', id: `${c.flowId}/runs/${c.runId}/actions/${c.actionName}`, name: c.actionName };
}

/**
 * Findings for secrets in clear in one action's inputs or outputs. One finding per (action, direction,
 * JSON path, fingerprint): the finding id hashes `direction|path|fingerprint`, so the same secret in the
 * same place of the same run gives the same id on every scan. A different fingerprint key gives a
 * different fingerprint and therefore a different id (ids are only stable for a fixed key).
 */
export function runContentFindingsWithStats(content: RunActionContent, ctx: SecretFindingContext): SecretFindingResult {
  return runContentFindingsFromHits(content, contentHits(content.content, ctx), ctx);
}

/**
 * What the detector found in one content value, without the values: rule, place, keyed fingerprint and
 * masked preview only. Safe to keep in memory and reuse for other content with the same hash.
 */
export interface ContentHit {
  ruleId: string;
  severity: Severity;
  confidence?: string;
  path: string;
  fp: string;
  preview: string;
}

export function contentHits(value: unknown, ctx: Pick<SecretFindingContext, 'policy' | 'fingerprintKey'>): ContentHit[] {
  return scanValue(value, { disabledRules: ctx.policy.secrets.disabledRules }).map((hit) => ({
    ruleId: hit.ruleId,
    severity: hit.severity,
    ...(hit.confidence ? { confidence: hit.confidence } : {}),
    path: hit.path || '$',
    fp: fingerprint(hit.value, ctx.fingerprintKey),
    preview: maskedPreview(hit.value),
  }));
}

/** Findings for one action side from the hits of its content (fresh or cached by content hash). */
export function runContentFindingsFromHits(content: Omit<RunActionContent, 'content'>, hits: readonly ContentHit[], ctx: SecretFindingContext): SecretFindingResult {
  const keyed = hits.map((hit) => ({ key: `${content.direction}|${hit.path}|${hit.fp}`, hit }));
  const base = portalBase(ctx, content.environmentId);
  const portalUrl = runPortalUrl(base, content.environmentId, content.flowId, content.runId);
  const flowLabel = content.flowName ? `"${content.flowName}" (${content.flowId})` : content.flowId;
  const drafts: Finding[] = [];
  for (const [evidenceKey, h] of bestHitPerKey(keyed)) {
    const secure = content.direction === 'inputs' ? 'Secure Inputs' : 'Secure Outputs';
    const evidence: Record<string, string | number | boolean> = {
      path: h.path,
      direction: content.direction,
      maskedPreview: h.preview,
      fingerprint: h.fp,
      flowId: content.flowId,
      runId: content.runId,
      actionName: content.actionName,
      portalUrl,
    };
    if (content.actionType) evidence['actionType'] = content.actionType;
    if (content.apiName) evidence['apiName'] = content.apiName;
    if (content.operationId) evidence['operationId'] = content.operationId;
    if (h.confidence) evidence['confidence'] = h.confidence;
    const draft: FindingDraft = {
      kind: 'secret-exposure',
      ruleId: h.ruleId,
      severity: h.severity,
      environmentId: content.environmentId,
      subject: runSubject(content),
      observedAt: content.observedAt,
      title: `${ruleLabel(h.ruleId)} in clear in run history: ${content.direction} of ${content.actionName} (flow ${content.flowName ?? content.flowId})`,
      detail: [
        `Found: ${ruleLabel(h.ruleId)} (rule ${h.ruleId}, ${h.preview}, fingerprint ${h.fp}), stored in clear in the run history:`,
        `flow ${flowLabel}, run ${content.runId} (${portalUrl}), action ${content.actionName}${content.actionType ? ` (${content.actionType})` : ''}, ${content.direction} at ${h.path}.`,
        viewersText(ctx.viewers),
        `Fix: turn on ${secure} in the action's settings (runtimeConfiguration.secureData) so the run history no longer keeps it,`,
        'then rotate the secret, because every earlier run still shows it until the run history expires.',
      ].join(' '),
      evidence,
      evidenceKey,
    };
    drafts.push(makeFinding(draft, ctx.detectedAt));
  }
  return applySecretPolicy(drafts, ctx);
}

export function runContentFindings(content: RunActionContent, ctx: SecretFindingContext): Finding[] {
  return runContentFindingsWithStats(content, ctx).findings;
}

export const CONTENT_TOO_LARGE_RULE = 'secret.content-too-large';

/**
 * The content behind a link was larger than `policy.secrets.maxContentBytes` and was not scanned:
 * say so (low) instead of staying silent. Returns undefined when the rule is disabled or suppressed.
 */
export function contentTooLargeFinding(
  content: Omit<RunActionContent, 'content'> & { size: number },
  ctx: SecretFindingContext,
): Finding | undefined {
  const limit = ctx.policy.secrets.maxContentBytes;
  const portalUrl = runPortalUrl(portalBase(ctx, content.environmentId), content.environmentId, content.flowId, content.runId);
  const evidence: Record<string, string | number | boolean> = {
    direction: content.direction,
    size: content.size,
    maxContentBytes: limit,
    flowId: content.flowId,
    runId: content.runId,
    actionName: content.actionName,
    portalUrl,
  };
  if (content.actionType) evidence['actionType'] = content.actionType;
  const f = makeFinding(
    {
      kind: 'secret-exposure',
      ruleId: CONTENT_TOO_LARGE_RULE,
      severity: 'low',
      environmentId: content.environmentId,
      subject: runSubject(content),
      observedAt: content.observedAt,
      title: `Run history content too large to scan: ${content.direction} of action ${content.actionName} (${content.size} bytes)`,
      detail:
        `The ${content.direction} of action ${content.actionName} in run ${content.runId} of flow ${content.flowName ?? content.flowId} (${portalUrl}) ` +
        `is ${content.size} bytes, above the scan limit of ${limit} bytes (policy secrets.maxContentBytes), so it was not checked for secrets. ` +
        `Review it by hand, turn on secure ${content.direction} if it can carry credentials, or raise the limit.`,
      evidence,
      evidenceKey: `${content.direction}|too-large`,
    },
    ctx.detectedAt,
  );
  return applySecretPolicy([f], ctx).findings[0];
}
