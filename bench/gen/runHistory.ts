/**
 * Seeded generator of run-history-like JSONL for the detect benchmark: one `{"id","text"}` line per
 * action input/output, where `text` is the JSON an action would show (HTTP headers and bodies,
 * Dataverse rows with GUIDs and ETags, SharePoint file content in base64, content links…). About
 * `secretRate` of the lines carry one planted secret, of varied formats, whose offsets are recorded
 * so recall can be measured. All planted values are random, shape-valid fakes.
 */
import { crc32 } from 'node:zlib';
import { createRng } from '../../src/dev/simulator/rng';

/** mulberry32, the simulator's seeded PRNG: small, fast, deterministic. */
export const rng = createRng;

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';
const BASE62 = DIGITS + UPPER + LOWER;
const B64 = UPPER + LOWER + DIGITS + '+/';
const B64URL = UPPER + LOWER + DIGITS + '-_';
const HEX = '0123456789abcdef';
const WORDS =
  'invoice order customer payment shipment contoso fabrikam northwind approved pending review total amount due date region account contact lead opportunity quote product price quantity discount tax currency warehouse delivery status update create delete sync batch report monthly weekly team project task owner manager notes description reference number'.split(
    ' ',
  );

export class Gen {
  constructor(readonly r: () => number) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.r() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }
  chars(alphabet: string, n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(this.r() * alphabet.length)];
    return s;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.r() * 256);
    return b;
  }
  guid(): string {
    const h = this.chars(HEX, 32);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20)}`;
  }
  words(n: number): string {
    const w: string[] = [];
    for (let i = 0; i < n; i++) w.push(this.pick(WORDS));
    return w.join(' ');
  }
  iso(): string {
    const d = new Date(Date.UTC(2024, this.int(0, 11), this.int(1, 28), this.int(0, 23), this.int(0, 59), this.int(0, 59), this.int(0, 999)));
    return d.toISOString();
  }
  email(): string {
    return `${this.pick(['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'svc-flow', 'ops'])}.${this.chars(LOWER, 4)}@${this.pick(['contoso.com', 'fabrikam.com', 'northwind.example'])}`;
  }
}

// ---------------------------------------------------------------- planted secrets

function base62(n: number, width: number): string {
  let s = '';
  do {
    s = BASE62[n % 62] + s;
    n = Math.floor(n / 62);
  } while (n > 0);
  return s.padStart(width, '0');
}

export interface PlantedFormat {
  name: string;
  /** The secret value itself, and how it sits in an action payload. */
  make(g: Gen): { secret: string; place(payload: Record<string, unknown>): void };
}

const header = (name: string, value: (s: string) => string) => (secret: string) => (p: Record<string, unknown>) => {
  const h = (p['headers'] ??= {}) as Record<string, string>;
  h[name] = value(secret);
};
const bodyField = (name: string) => (secret: string) => (p: Record<string, unknown>) => {
  const b = (p['body'] ??= {}) as Record<string, unknown>;
  b[name] = secret;
};

export const PLANTED_FORMATS: PlantedFormat[] = [
  {
    name: 'aws-access-key-id',
    make: (g) => {
      const s = 'AKIA' + g.chars(UPPER + '234567', 16);
      return { secret: s, place: bodyField('aws_access_key_id')(s) };
    },
  },
  {
    name: 'github-pat',
    make: (g) => {
      const body = g.chars(BASE62, 30);
      const s = 'ghp_' + body + base62(crc32(body), 6);
      return { secret: s, place: header('Authorization', (x) => `token ${x}`)(s) };
    },
  },
  {
    name: 'slack-bot-token',
    make: (g) => {
      const s = `xoxb-${g.chars(DIGITS, 12)}-${g.chars(DIGITS, 13)}-${g.chars(BASE62, 24)}`;
      return { secret: s, place: bodyField('token')(s) };
    },
  },
  {
    name: 'stripe-secret-key',
    make: (g) => {
      const s = 'sk_live_' + g.chars(BASE62, 24);
      return { secret: s, place: header('Authorization', (x) => `Bearer ${x}`)(s) };
    },
  },
  {
    name: 'sendgrid-api-key',
    make: (g) => {
      const s = `SG.${g.chars(B64URL, 22)}.${g.chars(B64URL, 43)}`;
      return { secret: s, place: header('Authorization', (x) => `Bearer ${x}`)(s) };
    },
  },
  {
    name: 'google-api-key',
    make: (g) => {
      const s = 'AIza' + g.chars(B64URL, 35);
      return { secret: s, place: bodyField('key')(s) };
    },
  },
  {
    name: 'azure-storage-connection-string',
    make: (g) => {
      const key = g.chars(B64, 86) + '==';
      const s = `DefaultEndpointsProtocol=https;AccountName=contoso${g.chars(LOWER + DIGITS, 6)};AccountKey=${key};EndpointSuffix=core.windows.net`;
      return { secret: s, place: bodyField('connectionString')(s) };
    },
  },
  {
    name: 'azure-ad-client-secret',
    make: (g) => {
      const s = g.chars(BASE62, 3) + '8Q~' + g.chars(BASE62 + '_~.-', 34);
      return { secret: s, place: bodyField('client_secret')(s) };
    },
  },
  {
    name: 'jwt-bearer',
    make: (g) => {
      const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const jwt = `${enc({ alg: 'RS256', typ: 'JWT', kid: g.chars(B64URL, 27) })}.${enc({
        aud: 'https://graph.microsoft.com',
        iss: `https://sts.windows.net/${g.guid()}/`,
        iat: 1700000000 + g.int(0, 1e7),
        exp: 1700003600 + g.int(0, 1e7),
        appid: g.guid(),
        oid: g.guid(),
        tid: g.guid(),
      })}.${g.chars(B64URL, 342)}`;
      return { secret: jwt, place: header('Authorization', (x) => `Bearer ${x}`)(jwt) };
    },
  },
  {
    name: 'private-key-pem',
    make: (g) => {
      const lines: string[] = [];
      for (let i = 0; i < 12; i++) lines.push(g.chars(B64, 64));
      const s = `-----BEGIN RSA PRIVATE KEY-----\nMIIEow${lines.join('\n')}\n-----END RSA PRIVATE KEY-----`;
      return { secret: s, place: bodyField('privateKey')(s) };
    },
  },
  {
    name: 'sql-connection-string-password',
    make: (g) => {
      const pw = g.chars(BASE62 + '!#%', 18);
      const s = `Server=tcp:contoso-sql.database.windows.net,1433;Database=crm;User ID=svc_flow;Password=${pw};Encrypt=True;`;
      return { secret: s, place: bodyField('sqlConnection')(s) };
    },
  },
  {
    name: 'logic-apps-trigger-url',
    make: (g) => {
      const sig = g.bytes(32).toString('base64url');
      const url = `https://prod-${g.int(10, 99)}.westeurope.logic.azure.com:443/workflows/${g.chars(HEX, 32)}/triggers/manual/paths/invoke?api-version=2016-10-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${sig}`;
      return { secret: sig, place: bodyField('callbackUrl')(url) };
    },
  },
  {
    name: 'azure-blob-sas-url',
    make: (g) => {
      const sig = encodeURIComponent(g.bytes(32).toString('base64'));
      const url = `https://contoso${g.chars(LOWER, 5)}.blob.core.windows.net/exports/report-${g.int(1, 999)}.csv?sv=2022-11-02&ss=b&srt=o&sp=r&se=2025-0${g.int(1, 9)}-01T00:00:00Z&st=2024-01-01T00:00:00Z&spr=https&sig=${sig}`;
      return { secret: sig, place: bodyField('downloadUrl')(url) };
    },
  },
  {
    name: 'azure-functions-key-url',
    make: (g) => {
      const code = encodeURIComponent(g.bytes(40).toString('base64'));
      const url = `https://contoso-fn-${g.chars(LOWER, 4)}.azurewebsites.net/api/ProcessOrder?code=${code}`;
      return { secret: code, place: (p) => void (p['uri'] = url) };
    },
  },
  {
    name: 'basic-auth-header',
    make: (g) => {
      const cred = Buffer.from(`svc-${g.chars(LOWER, 5)}:${g.chars(BASE62 + '!#$', 16)}`).toString('base64');
      return { secret: cred, place: header('Authorization', (x) => `Basic ${x}`)(cred) };
    },
  },
  {
    name: 'password-field',
    make: (g) => {
      const pw = g.chars(BASE62, 6) + g.pick(['!', '#', '$', '%']) + g.chars(BASE62, 7);
      return {
        secret: pw,
        place: (p) => {
          const b = (p['body'] ??= {}) as Record<string, unknown>;
          b['username'] = `svc-${g.chars(LOWER, 5)}@contoso.com`;
          b['password'] = pw;
        },
      };
    },
  },
  {
    name: 'npm-token',
    make: (g) => {
      const s = 'npm_' + g.chars(BASE62, 36);
      return { secret: s, place: bodyField('npmToken')(s) };
    },
  },
];

// ---------------------------------------------------------------- ordinary payloads

function httpInputs(g: Gen): Record<string, unknown> {
  return {
    method: g.pick(['GET', 'POST', 'PATCH']),
    uri: `https://api.${g.pick(['contoso.com', 'fabrikam.net', 'northwind.example'])}/v${g.int(1, 3)}/${g.pick(['orders', 'invoices', 'customers'])}/${g.guid()}?api-version=2021-0${g.int(1, 9)}-01`,
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json',
      'x-ms-client-request-id': g.guid(),
      'x-correlation-id': g.guid(),
    },
    body: {
      orderId: g.int(100000, 999999),
      customer: { name: g.words(2), email: g.email(), accountId: g.guid() },
      lines: Array.from({ length: g.int(1, 8) }, () => ({ sku: g.chars(UPPER + DIGITS, 8), qty: g.int(1, 50), price: g.int(100, 99999) / 100, note: g.words(g.int(2, 8)) })),
      notes: g.words(g.int(5, 40)),
    },
  };
}

function httpOutputs(g: Gen): Record<string, unknown> {
  return {
    statusCode: g.pick([200, 200, 201, 204, 400, 404]),
    headers: {
      'Transfer-Encoding': 'chunked',
      Vary: 'Accept-Encoding',
      'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
      'x-ms-request-id': g.guid(),
      ETag: `"0x8DB${g.chars('0123456789ABCDEF', 12)}"`,
      'Cache-Control': 'no-cache',
      Date: new Date(g.iso()).toUTCString(),
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': String(g.int(20, 20000)),
    },
    body: { id: g.guid(), status: g.pick(['Succeeded', 'Pending', 'Failed']), message: g.words(g.int(3, 20)), updatedAt: g.iso() },
  };
}

function dataverseRows(g: Gen): Record<string, unknown> {
  const rows = Array.from({ length: g.int(1, 10) }, () => ({
    '@odata.etag': `W/"${g.int(1000000, 99999999)}"`,
    contactid: g.guid(),
    fullname: g.words(2),
    emailaddress1: g.email(),
    telephone1: `+44 20 ${g.chars(DIGITS, 4)} ${g.chars(DIGITS, 4)}`,
    createdon: g.iso(),
    modifiedon: g.iso(),
    _ownerid_value: g.guid(),
    'statecode@OData.Community.Display.V1.FormattedValue': 'Active',
    statecode: 0,
  }));
  return {
    statusCode: 200,
    headers: { 'OData-Version': '4.0', 'Preference-Applied': 'odata.include-annotations="*"', 'x-ms-service-request-id': g.guid() },
    body: { '@odata.context': 'https://contoso-prod.crm4.dynamics.com/api/data/v9.2/$metadata#contacts', value: rows },
  };
}

function fileContent(g: Gen): Record<string, unknown> {
  return {
    statusCode: 200,
    headers: { 'Content-Type': 'application/pdf', ETag: `"{${g.guid().toUpperCase()},${g.int(1, 40)}}"` },
    body: { '$content-type': 'application/pdf', $content: g.chars(B64, g.int(50, 700) * 4) },
  };
}

function contentLinks(g: Gen): Record<string, unknown> {
  const link = (kind: string) => ({
    uri: `https://prod-${g.int(10, 99)}.westeurope.logic.azure.com:443/workflows/${g.chars(HEX, 32)}/runs/08585${g.chars(DIGITS, 21)}CU${g.int(10, 99)}/actions/${g.pick(['Send_an_HTTP_request', 'List_rows', 'Compose'])}/contents/${kind}?api-version=2016-06-01&se=2024-0${g.int(1, 9)}-1${g.int(0, 9)}T0${g.int(0, 9)}%3A00%3A00.0000000Z&sp=%2Fruns%2F08585${g.chars(DIGITS, 21)}CU${g.int(10, 99)}%2Factions%2FCompose%2Fcontents%2F${kind}%2Fread&sv=1.0&sig=${g.chars(B64URL, 43)}`,
    contentVersion: g.chars(B64, 22) + '==',
    contentSize: g.int(2, 50000),
    contentHash: { algorithm: 'md5', value: g.chars(B64, 22) + '==' },
  });
  return {
    name: g.pick(['Send_an_HTTP_request', 'List_rows', 'Compose', 'Get_file_content']),
    properties: { startTime: g.iso(), endTime: g.iso(), correlation: { actionTrackingId: g.guid(), clientTrackingId: `08585${g.chars(DIGITS, 21)}CU${g.int(10, 99)}` }, status: 'Succeeded', code: 'OK', inputsLink: link('ActionInputs'), outputsLink: link('ActionOutputs') },
  };
}

function emailInputs(g: Gen): Record<string, unknown> {
  return {
    host: { apiId: '/providers/Microsoft.PowerApps/apis/shared_office365', connectionName: 'shared_office365', operationId: 'SendEmailV2' },
    parameters: {
      'emailMessage/To': g.email(),
      'emailMessage/Subject': `${g.words(4)} #${g.int(1000, 9999)}`,
      'emailMessage/Body': `<p>${g.words(g.int(20, 120))}</p><p>Regards,<br>${g.words(2)}</p>`,
      'emailMessage/Importance': 'Normal',
    },
  };
}

const TEMPLATES = [httpInputs, httpOutputs, dataverseRows, fileContent, contentLinks, emailInputs] as const;

export interface PlantedLine {
  format: string;
  /** UTF-16 offsets of the secret in the line's `text`. */
  start: number;
  end: number;
}

export interface RunHistoryCorpus {
  lines: string[];
  /** UTF-8 bytes of all lines including newlines. */
  bytes: number;
  planted: Map<number, PlantedLine>;
}

/** Generate ≥ `megabytes` MB (10^6 bytes) of JSONL. Same seed → same corpus. */
export function generateRunHistory(opts: { megabytes: number; secretRate?: number; seed?: number }): RunHistoryCorpus {
  const g = new Gen(rng(opts.seed ?? 20240611));
  const rate = opts.secretRate ?? 0.005;
  const target = opts.megabytes * 1e6;
  const lines: string[] = [];
  const planted = new Map<number, PlantedLine>();
  let bytes = 0;
  let formatIdx = 0;
  while (bytes < target) {
    const i = lines.length;
    const payload = g.pick(TEMPLATES)(g);
    let secret: string | undefined;
    let format = '';
    if (g.r() < rate) {
      // Round-robin over formats so each format is planted about equally often.
      const f = PLANTED_FORMATS[formatIdx++ % PLANTED_FORMATS.length]!;
      const made = f.make(g);
      made.place(payload);
      secret = made.secret;
      format = f.name;
    }
    const text = JSON.stringify(payload);
    if (secret !== undefined) {
      // The secret sits in `text` JSON-escaped (PEM newlines become \n).
      const escaped = JSON.stringify(secret).slice(1, -1);
      const start = text.indexOf(escaped);
      if (start < 0) throw new Error(`generator: planted ${format} not found in line ${i}`);
      planted.set(i, { format, start, end: start + escaped.length });
    }
    const line = JSON.stringify({ id: `run-${i.toString(36)}`, text });
    lines.push(line);
    bytes += Buffer.byteLength(line) + 1;
  }
  return { lines, bytes, planted };
}
