import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { FINDINGS_COLUMNS, FINDINGS_TABLE } from '../../../src/sinks/logAnalytics';

const root = path.resolve(__dirname, '../../..');
const KQL = ['open-critical-by-flow', 'secrets-by-rule-over-time', 'modifiers-by-identity', 'drift-timeline', 'source-health'];

describe('KQL pack and workbook', () => {
  it('has exactly the expected query files, each on the findings table with known columns', () => {
    expect(readdirSync(path.join(root, 'infra/kql')).sort()).toEqual(KQL.map((k) => `${k}.kql`).sort());
    const known = new Set<string>(FINDINGS_COLUMNS.map((c) => c.name));
    for (const k of KQL) {
      const q = readFileSync(path.join(root, 'infra/kql', `${k}.kql`), 'utf8');
      const body = q.split('\n').filter((l) => !l.startsWith('//'));
      expect(body[0]).toBe(FINDINGS_TABLE);
      // Columns are PascalCase in the stream; any PascalCase name compared in a where must be a real column.
      for (const m of q.matchAll(/where\s+([A-Z][A-Za-z]+)\s*(==|>|<|!=)/g)) expect(known.has(m[1]!)).toBe(true);
      expect(q.split('(').length).toBe(q.split(')').length);
    }
  });

  it('the workbook is Notebook/1.0 with one type-3 query item per KQL file, identical text', () => {
    const wb = JSON.parse(readFileSync(path.join(root, 'infra/workbook/flowwarden.workbook.json'), 'utf8')) as {
      version: string;
      items: { type: number; name: string; content: { query?: string; version?: string; resourceType?: string } }[];
    };
    expect(wb.version).toBe('Notebook/1.0');
    const queries = wb.items.filter((i) => i.type === 3);
    expect(queries.map((i) => i.name)).toEqual(KQL);
    for (const i of queries) {
      expect(i.content.version).toBe('KqlItem/1.0');
      expect(i.content.resourceType).toBe('microsoft.operationalinsights/workspaces');
      expect(i.content.query).toBe(readFileSync(path.join(root, 'infra/kql', `${i.name}.kql`), 'utf8'));
    }
  });
});
