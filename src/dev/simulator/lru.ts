/**
 * A small bounded map that keeps recently used entries (CLOCK, an LRU approximation). The simulator computes runs and content on demand from hashes;
 * a scan asks for the same run's actions and content several times within moments (run with actions,
 * then each content link), so recent runs are kept instead of recomputed. Bounded: big tenants stay
 * on demand.
 */
export class Lru<K, V> {
  // CLOCK (second chance): a hit only sets `used`; eviction walks from the oldest entry, giving used
  // ones another round at the back. A hit costs one Map lookup, not a delete and re-insert.
  private readonly map = new Map<K, { value: V; used: boolean }>();
  constructor(private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max: expected a positive whole number, got ${String(max)}`);
  }

  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    e.used = true;
    return e.value;
  }

  set(key: K, value: V): V {
    const e = this.map.get(key);
    if (e) {
      e.value = value;
      e.used = true;
      return value;
    }
    this.map.set(key, { value, used: false });
    while (this.map.size > this.max) {
      const [oldest, entry] = this.map.entries().next().value as [K, { value: V; used: boolean }];
      this.map.delete(oldest);
      if (entry.used && oldest !== key) {
        entry.used = false;
        this.map.set(oldest, entry);
      }
    }
    return value;
  }

  getOrCreate(key: K, create: () => V): V {
    const hit = this.get(key);
    return hit !== undefined ? hit : this.set(key, create());
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}
