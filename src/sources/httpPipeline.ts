import type { TokenCredential } from '@azure/core-auth';
import {
  bearerTokenAuthenticationPolicy,
  createEmptyPipeline,
  createHttpHeaders,
  createPipelineRequest,
  defaultRetryPolicy,
  isRestError,
  setClientRequestIdPolicy,
  userAgentPolicy,
  type HttpClient,
  type HttpHeaders,
  type Pipeline,
  type PipelinePolicy,
} from '@azure/core-rest-pipeline';
import { LocalSimulatorCredential } from './localCredential';
import { createDefaultHttpClient } from '@azure/core-rest-pipeline';

/**
 * The one way flowwarden does HTTP: an Azure SDK pipeline with bearer auth (when a credential is
 * given), throttling retries that honour Retry-After (delta-seconds and HTTP-date) on 429/503,
 * exponential retries for other 5xx, timeouts and connection resets, and a flowwarden user agent.
 */

/** Kept in step with package.json (a unit test checks it). */
export const FLOWWARDEN_VERSION = '0.1.0';

export interface RetryOptions {
  /** Retries after the first attempt (default 6: a short 429 storm must not lose data). */
  maxRetries?: number;
  /** Base delay of the exponential back-off (default 500 ms). */
  retryDelayInMs?: number;
  /** Cap of one back-off delay (default 30 s). */
  maxRetryDelayInMs?: number;
}

export interface CreatePipelineOptions {
  /** Omit for content links: they are SAS-authorized and must not carry the bearer token. */
  credential?: TokenCredential;
  scopes?: string | string[];
  retry?: RetryOptions;
  httpClient?: HttpClient;
}

export interface FlowwardenPipeline {
  pipeline: Pipeline;
  httpClient: HttpClient;
}

export function createPipeline(options: CreatePipelineOptions = {}): FlowwardenPipeline {
  if (options.credential && !options.scopes) throw new TypeError('scopes: required when a credential is given');
  const pipeline = createEmptyPipeline();
  pipeline.addPolicy(userAgentPolicy({ userAgentPrefix: `flowwarden/${FLOWWARDEN_VERSION}` }));
  pipeline.addPolicy(setClientRequestIdPolicy());
  // defaultRetryPolicy = throttlingRetryStrategy (Retry-After on 429/503) + exponentialRetryStrategy
  // (5xx, 408, ECONNRESET/ETIMEDOUT…) sharing one retry budget.
  pipeline.addPolicy(
    defaultRetryPolicy({
      maxRetries: options.retry?.maxRetries ?? 6,
      retryDelayInMs: options.retry?.retryDelayInMs ?? 500,
      maxRetryDelayInMs: options.retry?.maxRetryDelayInMs ?? 30_000,
    }),
    { phase: 'Retry' },
  );
  if (options.credential) {
    const bearer = bearerTokenAuthenticationPolicy({ credential: options.credential, scopes: options.scopes! });
    // The SDK's bearer policy refuses http. The local simulator is http on loopback, so tokens of the
    // LocalSimulatorCredential (and only those) may go to http://127.0.0.1; real tokens never do.
    pipeline.addPolicy(options.credential instanceof LocalSimulatorCredential ? loopbackBearerPolicy(options.credential, options.scopes!, bearer) : bearer, { phase: 'Sign' });
  }
  return { pipeline, httpClient: options.httpClient ?? createDefaultHttpClient() };
}

export function isLoopbackHttp(url: string): boolean {
  const u = new URL(url);
  return u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]');
}

function loopbackBearerPolicy(credential: TokenCredential, scopes: string | string[], https: PipelinePolicy): PipelinePolicy {
  return {
    name: 'flowwardenLoopbackBearerPolicy',
    async sendRequest(request, next) {
      if (!isLoopbackHttp(request.url)) return https.sendRequest(request, next);
      const token = await credential.getToken(scopes, { abortSignal: request.abortSignal });
      if (!token) throw new Error('local credential returned no token');
      request.headers.set('Authorization', `Bearer ${token.token}`);
      return next(request);
    },
  };
}

/** A failed HTTP call: status, the service's request id and the URL without its query (no SAS). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly url: string,
    readonly requestId: string | undefined,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** A response body that is not the JSON the caller expected; names the URL and what was wrong. */
export class ResponseShapeError extends Error {
  constructor(readonly url: string, readonly field: string, message: string) {
    super(`${stripQuery(url)}: ${field}: ${message}`);
    this.name = 'ResponseShapeError';
  }
}

export function stripQuery(url: string): string {
  const i = url.indexOf('?');
  return i < 0 ? url : url.slice(0, i);
}

export interface SendOptions {
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  body?: unknown;
  abortSignal?: AbortSignal;
  timeoutMs?: number;
}

export interface SendResult<T> {
  status: number;
  body: T;
  /** The response headers as the SDK gives them (case-insensitive `get`); not copied per response. */
  headers: HttpHeaders;
}

function requestIdOf(headers: { get(name: string): string | undefined }): string | undefined {
  return headers.get('x-ms-service-request-id') ?? headers.get('x-ms-request-id') ?? headers.get('req_id') ?? undefined;
}

/** Send a request through the pipeline and parse a JSON body; non-2xx → HttpError. */
export async function sendJson<T = unknown>(p: FlowwardenPipeline, url: string, options: SendOptions = {}): Promise<SendResult<T>> {
  const res = await sendRaw(p, url, options);
  let body: T;
  try {
    body = (res.text ? JSON.parse(res.text) : undefined) as T;
  } catch {
    throw new ResponseShapeError(url, 'body', 'expected JSON');
  }
  return { status: res.status, body, headers: res.headers };
}

/** Send a request and return the body text (`maxBytes` stops reading early: `truncated` is set). */
export async function sendRaw(
  p: FlowwardenPipeline,
  url: string,
  options: SendOptions & { maxBytes?: number } = {},
): Promise<{ status: number; text: string; headers: HttpHeaders; truncated?: boolean; size?: number }> {
  const request = createPipelineRequest({
    url,
    method: options.method ?? 'GET',
    headers: createHttpHeaders({ Accept: 'application/json', ...(options.body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...options.headers }),
    body: options.body !== undefined ? JSON.stringify(options.body) : undefined,
    abortSignal: options.abortSignal,
    timeout: options.timeoutMs ?? 60_000,
    streamResponseStatusCodes: options.maxBytes !== undefined ? new Set([200]) : undefined,
    // Plain http is allowed for loopback only (the local simulator); everything else must be https.
    allowInsecureConnection: isLoopbackHttp(url),
  });
  let response;
  try {
    response = await p.pipeline.sendRequest(p.httpClient, request);
  } catch (e) {
    if (isRestError(e) && e.response) {
      throw new HttpError(e.response.status, stripQuery(url), requestIdOf(e.response.headers), e.code, `${options.method ?? 'GET'} ${stripQuery(url)} failed: ${e.response.status}`);
    }
    if (isRestError(e)) throw new HttpError(0, stripQuery(url), undefined, e.code, `${options.method ?? 'GET'} ${stripQuery(url)} failed: ${e.code ?? 'network error'}`);
    throw e;
  }
  const headers = response.headers;
  if (response.readableStreamBody) {
    // Stream with a cap: content links can be large and we never need more than maxBytes.
    const { text, truncated, size } = await readCapped(response.readableStreamBody, options.maxBytes!);
    return { status: response.status, text, headers, truncated, size };
  }
  const text = response.bodyAsText ?? '';
  if (response.status < 200 || response.status >= 300) {
    let code: string | undefined;
    try {
      const parsed = JSON.parse(text) as { error?: { code?: unknown } };
      code = typeof parsed.error?.code === 'string' ? parsed.error.code : undefined;
    } catch {
      code = undefined;
    }
    throw new HttpError(response.status, stripQuery(url), requestIdOf(response.headers), code, `${options.method ?? 'GET'} ${stripQuery(url)} failed: ${response.status}${code ? ` ${code}` : ''}`);
  }
  return { status: response.status, text, headers };
}

/**
 * Read a response stream up to `max` bytes (events, not an async iterator: this runs once per content
 * link). Past the cap the stream is destroyed and `truncated` set; the text is then empty.
 */
function readCapped(stream: NodeJS.ReadableStream, max: number): Promise<{ text: string; truncated: boolean; size: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (r: { text: string; truncated: boolean; size: number } | Error) => {
      if (done) return;
      done = true;
      stream.removeListener('data', onData);
      stream.removeListener('end', onEnd);
      stream.removeListener('error', onError);
      if (r instanceof Error) reject(r);
      else resolve(r);
    };
    const onData = (chunk: Buffer | string) => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += b.length;
      if (size > max) {
        finish({ text: '', truncated: true, size });
        // Whatever the socket says after we hang up is of no interest; without a listener it would throw.
        stream.on('error', () => undefined);
        (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        return;
      }
      chunks.push(b);
    };
    const onEnd = () => finish({ text: chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'), truncated: false, size });
    const onError = (e: Error) => finish(e);
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}
