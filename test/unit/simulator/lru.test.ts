import { describe, expect, it } from 'vitest';
import { Lru } from '../../../src/dev/simulator/lru';

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
