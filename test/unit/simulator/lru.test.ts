import { describe, expect, it } from 'vitest';
import { Lru } from '../../../src/dev/simulator/lru';
import { mix32, mixGuid, mixUnit } from '../../../src/dev/simulator/rng';

describe('simulator Lru (CLOCK)', () => {
  it('stays within its bound and keeps entries used since they were added', () => {
    const lru = new Lru<number, string>(3);
    lru.set(1, 'a');
    lru.set(2, 'b');
    lru.set(3, 'c');
    expect(lru.get(1)).toBe('a'); // 1 gets a second chance
    lru.set(4, 'd'); // evicts 2, the oldest not used
    expect(lru.size).toBe(3);
    expect(lru.get(2)).toBeUndefined();
    expect(lru.get(1)).toBe('a');
    expect(lru.get(3)).toBe('c');
    expect(lru.get(4)).toBe('d');
    // Everything used: one round clears the marks, then the oldest goes.
    lru.set(5, 'e');
    expect(lru.size).toBe(3);
    expect([1, 3, 4, 5].filter((k) => lru.get(k) !== undefined)).toHaveLength(3);
  });

  it('getOrCreate creates once, set replaces in place', () => {
    const lru = new Lru<string, number>(2);
    let made = 0;
    expect(lru.getOrCreate('x', () => ++made)).toBe(1);
    expect(lru.getOrCreate('x', () => ++made)).toBe(1);
    lru.set('x', 7);
    expect(lru.get('x')).toBe(7);
    expect(lru.size).toBe(1);
    expect(() => new Lru(0)).toThrow(/max/);
  });
});

describe('simulator mix32 (cheap filler hash)', () => {
  it('is deterministic, spreads evenly and gives distinct GUID-shaped ids', () => {
    expect(mix32(1, 'a', 2, 3)).toBe(mix32(1, 'a', 2, 3));
    expect(mix32(1, 'a', 2, 3)).not.toBe(mix32(1, 'a', 3, 2));
    expect(mix32(1, 'a', 2)).not.toBe(mix32(2, 'a', 2));
    const xs = Array.from({ length: 20_000 }, (_, i) => mixUnit(7, 'plant', i, i % 10, 0));
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    expect(xs.filter((x) => x < 0.005).length).toBeGreaterThan(60);
    expect(xs.filter((x) => x < 0.005).length).toBeLessThan(140);
    const ids = new Set(Array.from({ length: 5_000 }, (_, i) => mixGuid(7, 'rq', i, 1, 2)));
    expect(ids.size).toBe(5_000);
    for (const id of [...ids].slice(0, 10)) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
