export interface CliIO {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export const processIO: CliIO = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };

/** Exit codes of the CLI contract (DESIGN.md §9). */
export const EXIT = { ok: 0, findings: 1, usage: 2 } as const;

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** "24h", "30m", "7d" → milliseconds. */
export function parseDuration(flag: string, s: string): number {
  const m = /^(\d+)\s*(s|m|h|d)$/.exec(s.trim());
  if (!m) throw new UsageError(`${flag}: expected a duration like 30m, 24h or 7d, got "${s}"`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's' | 'm' | 'h' | 'd'];
}

/** Fixed-width text table. */
export function table(headers: string[], rows: string[][], maxWidth = 60): string {
  const cut = (s: string) => (s.length > maxWidth ? s.slice(0, maxWidth - 1) + '…' : s);
  const cells = [headers, ...rows].map((r) => r.map((c) => cut(c ?? '')));
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n') + '\n';
}
