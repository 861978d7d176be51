import { severityRank, SEVERITIES, type EvidenceValue, type Finding, type FindingKind, type Severity } from '../finding';
import { ruleInfo as catalogueRuleInfo } from '../catalogue';
import type { RuleInfo } from '../ruleInfo';
import type { EmailMessage } from '../../ports';
import { groupFindings, worstSeverity } from './plan';

/**
 * Alert email rendering: plain text and HTML from findings. Findings carry only masked previews and
 * keyed fingerprints; this layer still drops evidence whose key names a value or secret, and any
 * signed URL, so a careless detector cannot leak through the email.
 */

export interface RenderEnvironment {
  id: string;
  name?: string;
  portalUrl?: string;
  dataverseUrl?: string;
}

export interface RenderContext {
  to: string[];
  /** Environments of the policy, for names and deep links. */
  environments?: readonly RenderEnvironment[];
  /** Catalogue lookup; defaults to the merged catalogue. */
  ruleInfo?: (ruleId: string, kind: FindingKind) => RuleInfo | undefined;
  /** Digest cadence, shown in the digest's intro. */
  digestHours?: number;
  /** When rendered (digest header). */
  now?: Date;
}

const DEFAULT_PORTAL = 'https://make.powerautomate.com';
const SUBJECT_MAX = 180;

/** Evidence keys never shown: they name raw values or credentials. */
const HIDDEN_KEY = /value|secret|password|passwd|pwd|token|credential|authorization|connectionstring|accesskey|sas|sig$/i;
const ALLOWED_KEY = /^(maskedPreview|fingerprint)$/;
/** Signed URLs (SAS `sig=`, Logic Apps `code=`/`sv=`) grant access by themselves. */
const SIGNED_URL = /[?&](sig|code|sv|se|sp)=/i;

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** One line, no control characters (a header value must not break the header block). */
function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}

function safeUrl(v: EvidenceValue | undefined): string | undefined {
  if (typeof v !== 'string') return undefined;
  if (!/^https?:\/\/[^\s]+$/i.test(v) || SIGNED_URL.test(v)) return undefined;
  return v;
}

/** Evidence safe to show: drop value/secret-named keys, signed URLs and links (listed separately). */
export function visibleEvidence(evidence: Record<string, EvidenceValue>): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(evidence).sort(([a], [b]) => a.localeCompare(b))) {
    if (!ALLOWED_KEY.test(k) && HIDDEN_KEY.test(k)) continue;
    const s = String(v);
    if (/^https?:\/\//i.test(s)) continue;
    if (SIGNED_URL.test(s)) continue;
    out.push([k, truncate(oneLine(s), 300)]);
  }
  return out;
}

/**
 * Evidence fit for other sinks (Log Analytics): the same key and signed-URL filter as the email, but
 * plain (unsigned) links are kept.
 */
export function safeEvidence(evidence: Record<string, EvidenceValue>): Record<string, EvidenceValue> {
  const out: Record<string, EvidenceValue> = {};
  for (const [k, v] of Object.entries(evidence)) {
    if (!ALLOWED_KEY.test(k) && HIDDEN_KEY.test(k)) continue;
    if (typeof v === 'string' && SIGNED_URL.test(v)) continue;
    out[k] = v;
  }
  return out;
}

export interface Link {
  label: string;
  url: string;
}

/** Deep links: portal links the detector put in evidence, plus flow/run/record links built from ids. */
export function deepLinks(f: Finding, env: RenderEnvironment | undefined): Link[] {
  const links: Link[] = [];
  const seen = new Set<string>();
  const add = (label: string, url: string | undefined) => {
    if (!url || seen.has(url)) return;
    seen.add(url);
    links.push({ label, url });
  };
  const portal = (env?.portalUrl ?? DEFAULT_PORTAL).replace(/\/+$/, '');
  const str = (k: string) => (typeof f.evidence[k] === 'string' ? (f.evidence[k] as string) : undefined);
  const flowId = str('flowId') ?? (f.subject.type === 'flow' ? f.subject.id : undefined);
  const runId = str('runId');
  const envSeg = encodeURIComponent(f.environmentId);
  if (flowId && runId) add('Flow run', `${portal}/environments/${envSeg}/flows/${encodeURIComponent(flowId)}/runs/${encodeURIComponent(runId)}`);
  if (flowId) add('Flow', `${portal}/environments/${envSeg}/flows/${encodeURIComponent(flowId)}/details`);
  const table = str('table');
  const recordId = str('recordId') ?? (f.subject.type === 'record' ? f.subject.id.split('/').pop() : undefined);
  if (env?.dataverseUrl && table && recordId) {
    add('Record', `${env.dataverseUrl.replace(/\/+$/, '')}/main.aspx?pagetype=entityrecord&etn=${encodeURIComponent(table)}&id=${encodeURIComponent(recordId)}`);
  }
  if (env?.dataverseUrl && f.subject.type === 'principal') {
    add('User', `${env.dataverseUrl.replace(/\/+$/, '')}/main.aspx?pagetype=entityrecord&etn=systemuser&id=${encodeURIComponent(f.subject.id)}`);
  }
  for (const [k, v] of Object.entries(f.evidence).sort(([a], [b]) => a.localeCompare(b))) {
    if (!/url|link/i.test(k)) continue;
    add(k === 'portalUrl' ? 'Portal' : k, safeUrl(v));
  }
  return links;
}

interface RenderedFinding {
  f: Finding;
  info: RuleInfo | undefined;
  env: RenderEnvironment | undefined;
  links: Link[];
  evidence: [string, string][];
}

function prepare(findings: readonly Finding[], ctx: RenderContext): RenderedFinding[] {
  const lookup = ctx.ruleInfo ?? ((id: string, kind: FindingKind) => catalogueRuleInfo(id, kind));
  return findings.map((f) => {
    const env = ctx.environments?.find((e) => e.id === f.environmentId);
    return { f, info: lookup(f.ruleId, f.kind), env, links: deepLinks(f, env), evidence: visibleEvidence(f.evidence) };
  });
}

function envLabel(r: RenderedFinding): string {
  return r.env?.name ? `${r.env.name} (${r.f.environmentId})` : r.f.environmentId;
}

function subjectLabel(f: Finding): string {
  return f.subject.name ? `${f.subject.type} ${f.subject.name} (${f.subject.id})` : `${f.subject.type} ${f.subject.id}`;
}

function countBySeverity(findings: readonly Finding[]): string {
  const counts = new Map<Severity, number>();
  for (const f of findings) counts.set(f.severity, (counts.get(f.severity) ?? 0) + 1);
  return SEVERITIES.filter((s) => counts.has(s))
    .map((s) => `${counts.get(s)} ${s}`)
    .join(', ');
}

function findingText(r: RenderedFinding, n: number, compact = false): string {
  const { f, info } = r;
  const lines = [
    `${n}. [${f.severity.toUpperCase()}] ${oneLine(f.title)}`,
    `   Rule: ${f.ruleId}${info ? ` — ${oneLine(info.title)}` : ''}`,
    `   Where: ${envLabel(r)}; ${oneLine(subjectLabel(f))}`,
    `   Observed: ${f.observedAt}   Detected: ${f.detectedAt}`,
    `   What: ${oneLine(f.detail)}`,
  ];
  if (info && !compact) {
    lines.push(`   Why it matters: ${oneLine(info.why)}`);
    lines.push(`   How to fix: ${oneLine(info.fix)}`);
  }
  for (const l of r.links) lines.push(`   ${l.label}: ${l.url}`);
  if (r.evidence.length) lines.push(`   Evidence: ${r.evidence.map(([k, v]) => `${k}=${v}`).join('; ')}`);
  lines.push(`   Finding id: ${f.id}`);
  return lines.join('\n');
}

const SEV_COLOUR: Record<Severity, string> = { critical: '#a4262c', high: '#d83b01', medium: '#c19c00', low: '#0078d4', info: '#605e5c' };

function findingHtml(r: RenderedFinding, compact = false): string {
  const { f, info } = r;
  const e = escapeHtml;
  const row = (label: string, value: string) => `<tr><th align="left" valign="top" style="padding:2px 8px 2px 0;white-space:nowrap">${e(label)}</th><td style="padding:2px 0">${value}</td></tr>`;
  const rows = [
    row('Rule', `<code>${e(f.ruleId)}</code>${info ? ` — ${e(info.title)}` : ''}`),
    row('Where', `${e(envLabel(r))}<br>${e(subjectLabel(f))}`),
    row('Observed', `${e(f.observedAt)} (detected ${e(f.detectedAt)})`),
    row('What', e(f.detail)),
  ];
  if (info && !compact) {
    rows.push(row('Why it matters', e(info.why)));
    rows.push(row('How to fix', e(info.fix)));
  }
  if (r.links.length) rows.push(row('Links', r.links.map((l) => `<a href="${e(l.url)}">${e(l.label)}</a>`).join(' · ')));
  if (r.evidence.length) rows.push(row('Evidence', r.evidence.map(([k, v]) => `${e(k)}: <code>${e(v)}</code>`).join('<br>')));
  rows.push(row('Finding id', `<code>${e(f.id)}</code>`));
  return (
    `<div style="border-left:4px solid ${SEV_COLOUR[f.severity]};padding:4px 12px;margin:12px 0">` +
    `<h3 style="margin:4px 0">${e(f.severity.toUpperCase())}: ${e(f.title)}</h3>` +
    `<table style="border-collapse:collapse;font-size:14px">${rows.join('')}</table></div>`
  );
}

function htmlDocument(title: string, intro: string, body: string): string {
  const e = escapeHtml;
  return (
    `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${e(title)}</title></head>` +
    `<body style="font-family:Segoe UI,Arial,sans-serif;color:#201f1e">` +
    `<h2 style="margin:0 0 8px">${e(title)}</h2><p>${e(intro)}</p>${body}` +
    `<p style="color:#605e5c;font-size:12px">Sent by flowwarden. Secret values are never included: only a masked preview and a keyed fingerprint.</p>` +
    `</body></html>`
  );
}

function whatOf(findings: readonly RenderedFinding[]): string {
  const first = findings[0]!;
  if (findings.length === 1) return oneLine(first.f.title);
  const rules = new Set(findings.map((r) => r.f.ruleId));
  const flows = new Set(findings.map((r) => r.f.evidence['flowId']));
  const what = rules.size === 1 ? (first.info?.title ?? first.f.ruleId) : `${rules.size} rules`;
  const where = flows.size === 1 && first.f.evidence['flowId'] !== undefined ? ` in flow ${String(first.f.evidence['flowId'])}` : '';
  return `${findings.length} findings${where}: ${oneLine(what)}`;
}

/** An immediate alert for related findings (same flow or same rule). */
export function renderImmediate(findings: readonly Finding[], ctx: RenderContext): EmailMessage {
  if (!findings.length) throw new RangeError('renderImmediate: findings must not be empty');
  const sorted = [...findings].sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || a.id.localeCompare(b.id));
  const rs = prepare(sorted, ctx);
  const worst = worstSeverity(sorted);
  const envs = [...new Set(rs.map((r) => r.env?.name ?? r.f.environmentId))].join(', ');
  const subject = truncate(oneLine(`[flowwarden] ${worst.toUpperCase()}: ${whatOf(rs)} (${envs})`), SUBJECT_MAX);
  const intro = `flowwarden found ${sorted.length === 1 ? 'a finding' : `${sorted.length} related findings`} at or above the immediate-alert severity (${countBySeverity(sorted)}).`;
  const text = [subject, '', intro, '', ...rs.map((r, i) => findingText(r, i + 1) + '\n'), 'Secret values are never included: only a masked preview and a keyed fingerprint.', ''].join('\n');
  const html = htmlDocument(subject, intro, rs.map((r) => findingHtml(r)).join(''));
  return { to: [...ctx.to], subject, text, html };
}

/** The digest: every not-yet-alerted finding of a route, grouped by flow / rule. */
export function renderDigest(findings: readonly Finding[], ctx: RenderContext): EmailMessage {
  if (!findings.length) throw new RangeError('renderDigest: findings must not be empty');
  const groups = groupFindings(findings);
  const all = groups.flatMap((g) => g.findings);
  const worst = worstSeverity(all);
  const envs = [...new Set(prepare(all, ctx).map((r) => r.env?.name ?? r.f.environmentId))].join(', ');
  const subject = truncate(oneLine(`[flowwarden] Digest (worst ${worst.toUpperCase()}): ${all.length} finding${all.length === 1 ? '' : 's'} — ${countBySeverity(all)} (${envs})`), SUBJECT_MAX);
  const period = ctx.digestHours ? ` in the last ${ctx.digestHours} hour${ctx.digestHours === 1 ? '' : 's'}` : '';
  const intro = `${all.length} finding${all.length === 1 ? '' : 's'} below the immediate-alert severity${period}${ctx.now ? ` (as of ${ctx.now.toISOString()})` : ''}, grouped by flow or rule.`;
  const textParts: string[] = [subject, '', intro, ''];
  const htmlParts: string[] = [];
  const rules = new Map<string, RuleInfo>();
  let n = 0;
  for (const g of groups) {
    const rs = prepare(g.findings, ctx);
    for (const r of rs) if (r.info && !rules.has(r.f.ruleId)) rules.set(r.f.ruleId, r.info);
    const heading = groupHeading(g.key, rs);
    textParts.push(`== ${heading} (${g.findings.length}) ==`, '');
    // Why/fix once per rule at the end, not per finding: a digest can hold many findings of one rule.
    for (const r of rs) textParts.push(findingText(r, ++n, true), '');
    htmlParts.push(`<h3 style="margin:18px 0 4px">${escapeHtml(heading)} (${g.findings.length})</h3>`, rs.map((r) => findingHtml(r, true)).join(''));
  }
  if (rules.size) {
    textParts.push('== Why it matters and how to fix ==', '');
    htmlParts.push('<h3 style="margin:18px 0 4px">Why it matters and how to fix</h3>');
    for (const [id, info] of rules) {
      textParts.push(`${id} — ${oneLine(info.title)}`, `   Why it matters: ${oneLine(info.why)}`, `   How to fix: ${oneLine(info.fix)}`, '');
      htmlParts.push(
        `<p><b><code>${escapeHtml(id)}</code> — ${escapeHtml(info.title)}</b><br><b>Why it matters:</b> ${escapeHtml(info.why)}<br><b>How to fix:</b> ${escapeHtml(info.fix)}</p>`,
      );
    }
  }
  textParts.push('Secret values are never included: only a masked preview and a keyed fingerprint.', '');
  return { to: [...ctx.to], subject, text: textParts.join('\n'), html: htmlDocument(subject, intro, htmlParts.join('')) };
}

function groupHeading(key: string, rs: RenderedFinding[]): string {
  const first = rs[0]!;
  if (key.startsWith('flow:')) {
    const flowId = String(first.f.evidence['flowId'] ?? first.f.subject.id);
    return `Flow ${flowId} in ${envLabel(first)}`;
  }
  return `Rule ${first.f.ruleId}${first.info ? `: ${oneLine(first.info.title)}` : ''}`;
}
