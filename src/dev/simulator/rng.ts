import { hash } from 'node:crypto';

/** Seeded PRNG (mulberry32): the simulator's faults and generated tenants are reproducible from a seed. */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic uniform [0,1) from a seed and a tuple of indices (no state: content is computed, not stored). */
export function hashUnit(seed: number, ...parts: (number | string)[]): number {
  // One-shot hash(): the same digest as createHash().update().digest(), at about half the cost.
  const h = hash('sha256', `${seed}|${parts.join('|')}`, 'buffer');
  return h.readUInt32BE(0) / 4294967296;
}

/**
 * A cheap deterministic 32-bit mix of a seed, a label and integers (murmur3-style finalizer). For
 * high-volume, non-secret filler (per-side request ids, ETags, which side gets a planted secret)
 * where a SHA-256 per value made the simulator the benchmark's bottleneck. Not for anything that
 * must be hard to predict.
 */
export function mix32(seed: number, label: string, ...nums: number[]): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  const step = (k: number) => {
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  };
  for (let i = 0; i < label.length; i++) step(label.charCodeAt(i));
  for (const n of nums) step(n | 0);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Uniform [0,1) from mix32. */
export const mixUnit = (seed: number, label: string, ...nums: number[]): number => mix32(seed, label, ...nums) / 4294967296;

/** A GUID-shaped id from mix32 (four lanes). */
export function mixGuid(seed: number, label: string, ...nums: number[]): string {
  const h = [0, 1, 2, 3].map((lane) => mix32(seed, label, lane, ...nums).toString(16).padStart(8, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Deterministic bytes from a seed and a tuple, expanded with a counter when more than 32 are needed. */
export function hashBytes(length: number, seed: number, ...parts: (number | string)[]): Buffer {
  const chunks: Buffer[] = [];
  for (let i = 0; chunks.length * 32 < length; i++) {
    chunks.push(hash('sha256', `${seed}|${parts.join('|')}|#${i}`, 'buffer'));
  }
  return Buffer.concat(chunks).subarray(0, length);
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const UPPER_DIGITS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const HEX = '0123456789abcdef';

/** A deterministic string over an alphabet. */
export function hashString(alphabet: string, length: number, seed: number, ...parts: (number | string)[]): string {
  const bytes = hashBytes(length, seed, ...parts);
  let s = '';
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s;
}
export const alnum = (n: number, seed: number, ...p: (number | string)[]) => hashString(ALNUM, n, seed, ...p);
export const upperDigits = (n: number, seed: number, ...p: (number | string)[]) => hashString(UPPER_DIGITS, n, seed, ...p);
export const hex = (n: number, seed: number, ...p: (number | string)[]) => hashString(HEX, n, seed, ...p);

/** A deterministic GUID-shaped id (version 4 layout). */
export function hashGuid(seed: number, ...parts: (number | string)[]): string {
  const h = hex(32, seed, 'guid', ...parts);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
