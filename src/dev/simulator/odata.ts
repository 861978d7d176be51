/**
 * The small OData subset the simulator honours: `$filter` as `field op value` clauses joined by
 * `and` (eq, ne, gt, ge, lt, le; strings, numbers, GUIDs, ISO dates, null, true/false) and
 * `$orderby field [asc|desc]`. Anything else is rejected with the Dataverse error shape.
 */

export class ODataQueryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ODataQueryError';
  }
}

type Op = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
interface Clause { field: string; op: Op; value: string | number | boolean | null }

const CLAUSE = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s+(eq|ne|gt|ge|lt|le)\s+('(?:[^']|'')*'|[^\s)]+)\s*$/;

export function parseFilter(filter: string | null): Clause[] {
  if (!filter || !filter.trim()) return [];
  return filter.split(/\s+and\s+/i).map((part) => {
    const m = CLAUSE.exec(part.replace(/^\(+|\)+$/g, ''));
    if (!m) throw new ODataQueryError(`$filter: unsupported clause "${part.trim()}"`);
    const raw = m[3]!;
    let value: Clause['value'];
    if (raw.startsWith("'")) value = raw.slice(1, -1).replace(/''/g, "'");
    else if (raw === 'null') value = null;
    else if (raw === 'true' || raw === 'false') value = raw === 'true';
    else if (/^-?\d+(\.\d+)?$/.test(raw)) value = Number(raw);
    else value = raw; // GUIDs and ISO dates are written unquoted in OData
    return { field: m[1]!, op: m[2] as Op, value };
  });
}

function compare(a: unknown, b: Clause['value']): number {
  if (typeof a === 'string' && typeof b === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(a) && /^\d{4}-\d{2}-\d{2}T/.test(b)) return Date.parse(a) - Date.parse(b);
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const sa = String(a).toLowerCase();
  const sb = String(b).toLowerCase();
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

export function matches(row: Record<string, unknown>, clauses: Clause[]): boolean {
  return clauses.every((c) => {
    const v = row[c.field];
    if (c.value === null) return c.op === 'eq' ? v === null || v === undefined : c.op === 'ne' ? v !== null && v !== undefined : false;
    if (v === null || v === undefined) return c.op === 'ne';
    const d = compare(v, c.value);
    switch (c.op) {
      case 'eq': return d === 0;
      case 'ne': return d !== 0;
      case 'gt': return d > 0;
      case 'ge': return d >= 0;
      case 'lt': return d < 0;
      case 'le': return d <= 0;
    }
  });
}

export function applyOrderBy(rows: Record<string, unknown>[], orderby: string | null): Record<string, unknown>[] {
  if (!orderby) return rows;
  const [field, dir] = orderby.trim().split(/\s+/);
  if (!field || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(field) || (dir && !/^(asc|desc)$/i.test(dir))) throw new ODataQueryError(`$orderby: unsupported "${orderby}"`);
  const sign = dir?.toLowerCase() === 'desc' ? -1 : 1;
  return [...rows].sort((a, b) => sign * compare(a[field], b[field] as Clause['value']));
}
