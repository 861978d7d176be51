import { createHmac } from 'node:crypto';

/**
 * Keyed fingerprint of a secret value: HMAC-SHA256 with FLOWWARDEN_FINGERPRINT_KEY, prefixed so a reader
 * knows what it is. The same secret gives the same fingerprint across runs and flows (correlation)
 * without the value ever being stored; without the key it cannot be brute-forced from a short value.
 */
export function fingerprint(value: string, key: string): string {
  return 'hmac-sha256:' + createHmac('sha256', key).update(value, 'utf8').digest('hex').slice(0, 32);
}

/**
 * Masked preview that shows the shape but never enough to use: at most the first 4 characters for
 * values of 16+ chars (2 for 8–15, none below), then the length. Never the end of the value, which
 * for many providers is the checksum/entropy part.
 */
export function maskedPreview(value: string): string {
  const n = value.length;
  const keep = n >= 16 ? 4 : n >= 8 ? 2 : 0;
  return `${value.slice(0, keep)}${'*'.repeat(Math.min(8, n - keep))}(${n} chars)`;
}
