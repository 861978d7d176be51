import type { Logger } from './ports';

type Props = Record<string, string | number | boolean | undefined>;

/** Keys whose values are never written, whatever a caller passes. */
const SENSITIVE_KEY = /secret|password|token|key|authorization|sig|code|connectionstring|uri|url/i;

/** Strips values that look like credentials or signed URLs from a log line's properties. */
export function redactProps(props: Props | undefined): Props | undefined {
  if (!props) return props;
  const out: Props = {};
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined) continue;
    if (typeof v === 'string' && (SENSITIVE_KEY.test(k) && !/^(ruleId|fingerprint|findingId|id)$/i.test(k))) out[k] = '[redacted]';
    else if (typeof v === 'string' && /[?&](sig|code|sv)=/i.test(v)) out[k] = '[redacted-url]';
    else out[k] = v;
  }
  return out;
}

const LEVELS = { info: 0, warn: 1, error: 2 } as const;

/** JSON lines on stderr (stdout stays clean for `--json` output). */
export function createLogger(level: keyof typeof LEVELS = 'info', sink: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const emit = (lvl: keyof typeof LEVELS, message: string, props?: Props) => {
    if (LEVELS[lvl] < LEVELS[level]) return;
    sink(JSON.stringify({ t: new Date().toISOString(), level: lvl, msg: message, ...redactProps(props) }));
  };
  return {
    info: (m, p) => emit('info', m, p),
    warn: (m, p) => emit('warn', m, p),
    error: (m, p) => emit('error', m, p),
  };
}

/** A logger that keeps lines in memory (tests, demo's quiet mode). */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const l = createLogger('info', (s) => lines.push(s));
  return Object.assign(l, { lines });
}
