/**
 * A small least-recently-used map. The simulator computes runs and content on demand from hashes;
 * a scan asks for the same run's actions and content several times within moments (run with actions,
 * then each content link), so recent runs are kept instead of recomputed. Bounded: big tenants stay
 * on demand.
 */
export class Lru<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max: expected a positive whole number, got ${String(max)}`);
  }

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      // Re-insert: Map keeps insertion order, so the first key is the least recently used.
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): V {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
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
