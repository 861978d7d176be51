import { describe, expect, it } from 'vitest';
import { escapeHtml, renderDigest, renderImmediate, visibleEvidence } from '../../../src/core/alerts/render';
import { ENV, finding, PLANTED } from './fixtures';

const ctx = {
  to: ['oncall@contoso.com'],
  environments: [{ id: ENV, name: 'Contoso Production', dataverseUrl: 'https://contoso-prod.crm4.dynamics.com' }],
};

describe('renderImmediate', () => {
  it('has a subject with severity and what, and both text and HTML with what/where/why/fix/id', () => {
    const f = finding();
    const msg = renderImmediate([f], ctx);
    expect(msg.to).toEqual(['oncall@contoso.com']);
    expect(msg.subject).toContain('CRITICAL');
    expect(msg.subject).toContain('secret.azure-storage-key');
    expect(msg.subject).toContain('Contoso Production');
    for (const body of [msg.text, msg.html]) {
      expect(body).toContain(f.id);
      expect(body).toContain('Why it matters');
      expect(body).toContain('How to fix');
      expect(body).toContain(`https://make.powerautomate.com/environments/${ENV}/flows/flow-1/runs/run-1`);
      expect(body).toContain('hmac-sha256:0123456789abcdef0123456789abcdef');
    }
    expect(msg.html).toMatch(/^<!DOCTYPE html>/);
    expect(msg.text).not.toMatch(/<[a-z]/i);
  });

  it('escapes everything in HTML and keeps headers on one line', () => {
    const f = finding({ title: 'Evil <script>alert("x")</script>\r\nBcc: victim@example.com', detail: 'a & b <img src=x onerror=1>' });
    const msg = renderImmediate([f], ctx);
    expect(msg.html).not.toContain('<script>');
    expect(msg.html).not.toContain('<img');
    expect(msg.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(msg.html).toContain('a &amp; b');
    expect(msg.subject).not.toMatch(/[\r\n]/);
  });

  it('never prints evidence named like a value or secret, nor signed URLs', () => {
    const f = finding({
      evidence: {
        flowId: 'flow-1',
        value: PLANTED,
        secretValue: PLANTED,
        clientSecret: PLANTED,
        rawToken: PLANTED,
        contentUrl: `https://prod-00.westeurope.logic.azure.com/x?sv=1&sig=${encodeURIComponent(PLANTED)}`,
        note: `see https://x.blob.core.windows.net/c?sig=${PLANTED}`,
        maskedPreview: 'Acco********(88 chars)',
      },
    });
    for (const msg of [renderImmediate([f], ctx), renderDigest([f], ctx)]) {
      for (const s of [msg.subject, msg.text, msg.html]) {
        expect(s).not.toContain(PLANTED);
        expect(s).not.toContain(encodeURIComponent(PLANTED));
        expect(s).not.toContain('sig=');
      }
      expect(msg.text).toContain('Acco********(88 chars)');
    }
  });

  it('groups related findings in one message, worst first', () => {
    const a = finding({ key: 'a', severity: 'high' });
    const b = finding({ key: 'b', severity: 'critical', ruleId: 'secret.github-pat' });
    const msg = renderImmediate([a, b], ctx);
    expect(msg.subject).toContain('CRITICAL');
    expect(msg.subject).toContain('2 findings in flow flow-1');
    expect(msg.text.indexOf(b.id)).toBeLessThan(msg.text.indexOf(a.id));
  });

  it('builds Dataverse record links for record subjects', () => {
    const f = finding({
      kind: 'unexpected-modifier',
      ruleId: 'modifier.not-in-policy',
      subject: { type: 'record', id: 'account/11111111-2222-3333-4444-555555555555' },
      evidence: { table: 'account', recordId: '11111111-2222-3333-4444-555555555555' },
    });
    const msg = renderImmediate([f], ctx);
    expect(msg.text).toContain('https://contoso-prod.crm4.dynamics.com/main.aspx?pagetype=entityrecord&etn=account&id=11111111-2222-3333-4444-555555555555');
    expect(msg.html).toContain('etn=account&amp;id=');
  });

  it('rejects an empty list', () => {
    expect(() => renderImmediate([], ctx)).toThrow(/must not be empty/);
  });
});

describe('renderDigest', () => {
  it('sections by flow/rule with counts and uses the generic catalogue entry for unknown rules', () => {
    const fs = [
      finding({ key: '1', severity: 'medium' }),
      finding({ key: '2', severity: 'low', kind: 'permission-drift', ruleId: 'drift.some-future-rule', subject: { type: 'principal', id: 'u1' }, evidence: { roleName: 'System Administrator' } }),
    ];
    const msg = renderDigest(fs, { ...ctx, digestHours: 24, now: new Date('2025-01-03T00:00:00Z') });
    expect(msg.subject).toContain('Digest');
    expect(msg.subject).toContain('2 findings');
    expect(msg.subject).toContain('1 medium, 1 low');
    expect(msg.text).toContain('== Flow flow-1');
    expect(msg.text).toContain('== Rule drift.some-future-rule');
    expect(msg.text).toContain('last 24 hours');
    expect(msg.text).toContain('Restore the baseline');
    // Why/fix appear once per rule, not once per finding.
    expect(msg.text.split('Why it matters:').length - 1).toBe(2);
    expect(msg.html).toContain('<h3');
  });
});

describe('helpers', () => {
  it('escapeHtml escapes the five characters', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });
  it('visibleEvidence keeps fingerprint and preview, drops value-like keys', () => {
    const ev = visibleEvidence({ fingerprint: 'hmac-sha256:ab', maskedPreview: 'ab**', value: 'x', password: 'y', path: '$.a' });
    expect(ev.map(([k]) => k)).toEqual(['fingerprint', 'maskedPreview', 'path']);
  });
});
