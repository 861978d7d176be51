import { createRng } from './rng';

/** Injectable faults, each with its own rate (0..1), drawn from one seeded RNG per server. */
export interface FaultOptions {
  /** 429 Too Many Requests with Retry-After. */
  rate429?: number;
  /** 503 Service Unavailable (no Retry-After: exercises the exponential retry). */
  rate503?: number;
  /** The socket is destroyed before any response (connection reset). */
  rateReset?: number;
  /** The response is delayed by `slowMs`. */
  rateSlow?: number;
  slowMs?: number;
  /** Retry-After value in seconds (default 1). */
  retryAfterSeconds?: number;
  /** Retry-After as delta-seconds, as an HTTP-date, or alternating between both (default). */
  retryAfterForm?: 'seconds' | 'http-date' | 'alternate';
  seed?: number;
}

export type FaultKind = '429' | '503' | 'reset' | 'slow';

export class FaultInjector {
  private options: Required<FaultOptions>;
  private rng: () => number;
  private alternate = 0;
  readonly injected: Record<FaultKind, number> = { '429': 0, '503': 0, reset: 0, slow: 0 };

  constructor(options: FaultOptions = {}) {
    this.options = FaultInjector.withDefaults(options);
    this.rng = createRng(this.options.seed);
  }

  private static withDefaults(o: FaultOptions): Required<FaultOptions> {
    for (const k of ['rate429', 'rate503', 'rateReset', 'rateSlow'] as const) {
      const v = o[k];
      if (v !== undefined && (!(v >= 0) || v > 1)) throw new RangeError(`faults.${k}: expected a rate between 0 and 1, got ${String(v)}`);
    }
    return {
      rate429: o.rate429 ?? 0,
      rate503: o.rate503 ?? 0,
      rateReset: o.rateReset ?? 0,
      rateSlow: o.rateSlow ?? 0,
      slowMs: o.slowMs ?? 1500,
      retryAfterSeconds: o.retryAfterSeconds ?? 1,
      retryAfterForm: o.retryAfterForm ?? 'alternate',
      seed: o.seed ?? 42,
    };
  }

  configure(options: FaultOptions): void {
    const seedChanged = options.seed !== undefined && options.seed !== this.options.seed;
    this.options = FaultInjector.withDefaults({ ...this.options, ...options });
    if (seedChanged) this.rng = createRng(this.options.seed);
  }

  get settings(): Readonly<Required<FaultOptions>> {
    return this.options;
  }

  /** Draw the fault for one request (undefined = serve normally). */
  draw(): FaultKind | undefined {
    const o = this.options;
    const r = this.rng();
    let edge = o.rate429;
    let kind: FaultKind | undefined;
    if (r < edge) kind = '429';
    else if (r < (edge += o.rate503)) kind = '503';
    else if (r < (edge += o.rateReset)) kind = 'reset';
    else if (r < (edge += o.rateSlow)) kind = 'slow';
    if (kind) this.injected[kind]++;
    return kind;
  }

  retryAfterHeader(now: Date): string {
    const o = this.options;
    const useDate = o.retryAfterForm === 'http-date' || (o.retryAfterForm === 'alternate' && this.alternate++ % 2 === 1);
    if (!useDate) return String(o.retryAfterSeconds);
    // HTTP-date has whole seconds: round up so the client never retries early.
    return new Date(Math.ceil((now.getTime() + o.retryAfterSeconds * 1000) / 1000) * 1000).toUTCString();
  }
}
