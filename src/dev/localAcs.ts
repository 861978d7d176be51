import http from 'node:http';
import { randomUUID, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';

/**
 * A local endpoint speaking the Azure Communication Services Email REST API, so the real EmailClient
 * is exercised over HTTP without an Azure account:
 *   POST /emails:send?api-version=…        → 202, `Operation-Location` + `operation-id` headers, {id, status}
 *   GET  /emails/operations/{id}?api-version=… → {id, status}: `Running` for the first N polls, then `Succeeded`
 * HMAC (`HMAC-SHA256 …`) or bearer authorization must be present (it is not verified). Repeating a send
 * with the same `Operation-Id` returns the existing operation and sends nothing new, as the service does.
 * It records every request and can inject 429 with Retry-After.
 */

export interface AcsSentEmail {
  operationId: string;
  senderAddress: string;
  to: string[];
  subject: string;
  plainText?: string;
  html?: string;
  receivedAt: string;
}

export interface AcsRequestRecord {
  method: string;
  path: string;
  apiVersion: string | null;
  auth: 'hmac' | 'bearer';
  operationIdHeader?: string;
  status: number;
  /** Raw body text (the test greps it for planted secrets). */
  body: string;
}

export interface LocalAcsOptions {
  /** Polls answered `Running` before `Succeeded` (default 1). */
  runningPolls?: number;
  /** Retry-After seconds sent with Running (default 0: the test clock stays fast). */
  pollRetryAfterSec?: number;
}

export interface LocalAcs {
  endpoint: string;
  /** `endpoint=…;accesskey=…` for EmailClient (any base64 key is accepted). */
  connectionString: string;
  sent: AcsSentEmail[];
  requests: AcsRequestRecord[];
  /** Answer the next `count` requests (send or poll, per `kind`) with 429 and Retry-After. */
  inject429(count: number, retryAfterSec?: number, kind?: 'send' | 'poll' | 'any'): void;
  /** Fail the operation with this id on its next poll (status Failed). */
  failOperation(operationId: string): void;
  close(): Promise<void>;
}

const API_VERSIONS = new Set(['2023-03-31', '2024-07-01-preview', '2025-09-01']);

function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}

export async function startLocalAcs(options: LocalAcsOptions = {}): Promise<LocalAcs> {
  const runningPolls = options.runningPolls ?? 1;
  const operations = new Map<string, { polls: number; fail: boolean; email: AcsSentEmail }>();
  const sent: AcsSentEmail[] = [];
  const requests: AcsRequestRecord[] = [];
  let throttle = { count: 0, retryAfter: 1, kind: 'any' as 'send' | 'poll' | 'any' };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const apiVersion = url.searchParams.get('api-version');
      const authz = req.headers.authorization ?? '';
      const auth = /^HMAC-SHA256 /i.test(authz) ? 'hmac' : /^Bearer \S+/i.test(authz) ? 'bearer' : undefined;
      const opHeader = typeof req.headers['operation-id'] === 'string' ? req.headers['operation-id'] : undefined;
      const reply = (status: number, payload: string, headers: Record<string, string> = {}) => {
        if (auth) requests.push({ method: req.method ?? '', path: url.pathname, apiVersion, auth, operationIdHeader: opHeader, status, body });
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(payload);
      };
      if (!auth) return reply(401, errorBody('Unauthorized', 'An Authorization header (HMAC-SHA256 or Bearer) is required.'));
      if (!apiVersion || !API_VERSIONS.has(apiVersion)) return reply(400, errorBody('InvalidApiVersion', `Unsupported api-version "${apiVersion}".`));
      const isSend = req.method === 'POST' && url.pathname === '/emails:send';
      const poll = req.method === 'GET' ? /^\/emails\/operations\/([^/]+)$/.exec(url.pathname) : null;
      if (throttle.count > 0 && (throttle.kind === 'any' || (throttle.kind === 'send' && isSend) || (throttle.kind === 'poll' && poll))) {
        throttle.count--;
        return reply(429, errorBody('TooManyRequests', 'Too many requests.'), { 'retry-after': String(throttle.retryAfter) });
      }
      if (isSend) {
        let msg: {
          senderAddress?: unknown;
          content?: { subject?: unknown; plainText?: unknown; html?: unknown };
          recipients?: { to?: { address?: unknown }[] };
        };
        try {
          msg = JSON.parse(body) as typeof msg;
        } catch {
          return reply(400, errorBody('BadRequest', 'The request body is not valid JSON.'));
        }
        const to = Array.isArray(msg.recipients?.to) ? msg.recipients.to.map((r) => r?.address) : [];
        const problem =
          typeof msg.senderAddress !== 'string' || !msg.senderAddress.includes('@') ? 'senderAddress' :
          typeof msg.content?.subject !== 'string' || !msg.content.subject ? 'content.subject' :
          typeof msg.content.plainText !== 'string' && typeof msg.content.html !== 'string' ? 'content.plainText' :
          !to.length || to.some((a) => typeof a !== 'string' || !a.includes('@')) ? 'recipients.to' : undefined;
        if (problem) return reply(400, errorBody('InvalidRequest', `Invalid or missing field: ${problem}.`));
        const id = opHeader ?? randomUUID();
        if (!operations.has(id)) {
          const email: AcsSentEmail = {
            operationId: id,
            senderAddress: msg.senderAddress as string,
            to: to as string[],
            subject: msg.content!.subject as string,
            plainText: msg.content!.plainText as string | undefined,
            html: msg.content!.html as string | undefined,
            receivedAt: new Date().toISOString(),
          };
          operations.set(id, { polls: 0, fail: false, email });
          sent.push(email);
        }
        const base = `http://${req.headers.host}`;
        return reply(202, JSON.stringify({ id, status: 'Running' }), {
          'operation-location': `${base}/emails/operations/${id}?api-version=${apiVersion}`,
          'operation-id': id,
          'retry-after': String(options.pollRetryAfterSec ?? 0),
        });
      }
      if (poll) {
        const id = decodeURIComponent(poll[1]!);
        const op = operations.get(id);
        if (!op) return reply(404, errorBody('NotFound', `Operation ${id} was not found.`));
        op.polls++;
        if (op.fail) return reply(200, JSON.stringify({ id, status: 'Failed', error: { code: 'EmailDroppedAllRecipientsSuppressed', message: 'Message was dropped.' } }));
        if (op.polls <= runningPolls) {
          return reply(200, JSON.stringify({ id, status: 'Running' }), { 'retry-after': String(options.pollRetryAfterSec ?? 0) });
        }
        return reply(200, JSON.stringify({ id, status: 'Succeeded' }));
      }
      return reply(404, errorBody('NotFound', `No route for ${req.method} ${url.pathname}.`));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    connectionString: `endpoint=${endpoint}/;accesskey=${randomBytes(32).toString('base64')}`,
    sent,
    requests,
    inject429(count, retryAfterSec = 1, kind = 'any') {
      throttle = { count, retryAfter: retryAfterSec, kind };
    },
    failOperation(operationId) {
      const op = operations.get(operationId);
      if (!op) throw new Error(`localAcs: unknown operation ${operationId}`);
      op.fail = true;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  };
}
