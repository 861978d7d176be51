import { alnum, hashBytes, hex, upperDigits } from './rng';

/**
 * Fake secrets in real formats, derived from a seed so none sits in the repository as a literal.
 * They are shaped to be caught by ordinary detectors (prefix + length + charset); none is live.
 */

const b64url = (b: Buffer) => b.toString('base64url');

export function fakeJwt(seed: number, ...parts: (number | string)[]): string {
  const header = b64url(Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: hex(16, seed, 'kid', ...parts) })));
  const payload = b64url(
    Buffer.from(
      JSON.stringify({
        aud: 'api://erp.contoso.com',
        iss: 'https://sts.windows.net/e1f2a3b4-5c6d-4e7f-8a9b-0c1d2e3f4a5b/',
        sub: hex(32, seed, 'sub', ...parts),
        scp: 'invoices.write',
        exp: 1924992000,
      }),
    ),
  );
  return `${header}.${payload}.${b64url(hashBytes(64, seed, 'jwtsig', ...parts))}`;
}

export const fakeGithubPat = (seed: number, ...p: (number | string)[]) => `ghp_${alnum(36, seed, 'ghp', ...p)}`;
export const fakeAwsAccessKeyId = (seed: number, ...p: (number | string)[]) => `AKIA${upperDigits(16, seed, 'aws', ...p)}`;
export const fakeSlackBotToken = (seed: number, ...p: (number | string)[]) =>
  `xoxb-${(BigInt('0x' + hex(10, seed, 'sl1', ...p)) % 10n ** 11n).toString().padStart(11, '1')}-${(BigInt('0x' + hex(12, seed, 'sl2', ...p)) % 10n ** 13n).toString().padStart(13, '2')}-${alnum(24, seed, 'sl3', ...p)}`;
export const fakeStripeKey = (seed: number, ...p: (number | string)[]) => `sk_live_${alnum(32, seed, 'stripe', ...p)}`;
export const fakeSendgridKey = (seed: number, ...p: (number | string)[]) => `SG.${alnum(22, seed, 'sg1', ...p)}.${alnum(43, seed, 'sg2', ...p)}`;
export function fakeStorageConnectionString(seed: number, ...p: (number | string)[]): string {
  const key = hashBytes(64, seed, 'stkey', ...p).toString('base64');
  return `DefaultEndpointsProtocol=https;AccountName=contosoerp${hex(4, seed, 'acct', ...p)};AccountKey=${key};EndpointSuffix=core.windows.net`;
}
/** Azure Functions key as it appears in `?code=` (base64url-ish, 54 chars + `==`). */
export const fakeFunctionsKey = (seed: number, ...p: (number | string)[]) => `${hashBytes(40, seed, 'fnkey', ...p).toString('base64url')}==`;
export const fakePassword = (seed: number, ...p: (number | string)[]) => `${alnum(14, seed, 'pw', ...p)}!9${alnum(4, seed, 'pw2', ...p)}`;
export const fakeApiKey = (seed: number, ...p: (number | string)[]) => `ek_live_${alnum(40, seed, 'erpkey', ...p)}`;

/** Formats a generated tenant plants, with the JSON shape that carries each one. */
export const PLANTED_FORMATS = [
  'jwt',
  'github-pat',
  'aws-access-key-id',
  'slack-bot-token',
  'stripe-secret-key',
  'sendgrid-api-key',
  'azure-storage-connection-string',
  'azure-functions-key',
] as const;
export type PlantedFormat = (typeof PLANTED_FORMATS)[number];

/** Returns where the secret goes (a dotted path under the content root) and the value placed there. */
export function plantSecret(format: PlantedFormat, seed: number, ...p: (number | string)[]): { path: string; value: string } {
  switch (format) {
    case 'jwt':
      return { path: 'headers.Authorization', value: `Bearer ${fakeJwt(seed, ...p)}` };
    case 'github-pat':
      return { path: 'body.token', value: fakeGithubPat(seed, ...p) };
    case 'aws-access-key-id':
      return { path: 'body.credentials.accessKeyId', value: fakeAwsAccessKeyId(seed, ...p) };
    case 'slack-bot-token':
      return { path: 'body.slackToken', value: fakeSlackBotToken(seed, ...p) };
    case 'stripe-secret-key':
      return { path: 'body.apiKey', value: fakeStripeKey(seed, ...p) };
    case 'sendgrid-api-key':
      return { path: 'headers.X-Api-Key', value: fakeSendgridKey(seed, ...p) };
    case 'azure-storage-connection-string':
      return { path: 'body.connectionString', value: fakeStorageConnectionString(seed, ...p) };
    case 'azure-functions-key':
      return { path: 'uri', value: `https://contoso-orders.azurewebsites.net/api/OrderIntake?code=${fakeFunctionsKey(seed, ...p)}` };
  }
}

/** Set a dotted path (keys may contain dashes) on an object, creating objects on the way. */
export function setPath(root: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let cur: Record<string, unknown> = root;
  for (const part of parts.slice(0, -1)) {
    const next = cur[part];
    if (typeof next !== 'object' || next === null) cur[part] = {};
    cur = cur[part] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}
