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
