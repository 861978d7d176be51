import { EmailClient, type EmailClientOptions, type EmailMessage as AcsEmailMessage } from '@azure/communication-email';
import type { TokenCredential } from '@azure/core-auth';
import { isRestError } from '@azure/core-rest-pipeline';
import type { EmailMessage, EmailSender, EmailSendOptions, RequestOptions } from '../ports';

/** The ACS Email api-version the SDK speaks (its default); status polls use the same. */
const API_VERSION = '2025-09-01';

export interface AcsEmailSenderOptions {
  /** ACS endpoint (https://<resource>.communication.azure.com) with `credential` (managed identity in Azure)… */
  endpoint?: string;
  credential?: TokenCredential;
  /** …or a connection string `endpoint=…;accesskey=…` (local only). */
  connectionString?: string;
  /** Sender address of a verified domain. */
  senderAddress: string;
  /** Delay between status polls. Polls count against the ACS rate limits: poll slowly (default 10 s). */
  pollIntervalMs?: number;
  /** Give up waiting after this many polls and report `Running`; the pipeline keeps the operation id and polls later (default 6). */
  maxPolls?: number;
  /** Called once per request to ACS (send or status poll), for throttle accounting. */
  onRequest?: (kind: 'send' | 'poll') => void;
  clientOptions?: EmailClientOptions;
}

/** An ACS send that the service rejected or that ended Failed/Canceled. Carries no message content. */
export class EmailSendError extends Error {
  constructor(
    message: string,
    readonly statusCode?: number,
    readonly code?: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'EmailSendError';
  }
}

/** EmailSender over the real ACS EmailClient (beginSend + the poller's operation). */
export class AcsEmailSender implements EmailSender {
  private readonly client: EmailClient;
  private readonly endpoint: string;

  constructor(private readonly options: AcsEmailSenderOptions) {
    if (!options.senderAddress) throw new Error('AcsEmailSender: senderAddress (FLOWWARDEN_EMAIL_SENDER) is required');
    if (options.connectionString) {
      const m = /endpoint=([^;]+)/i.exec(options.connectionString);
      if (!m) throw new Error('AcsEmailSender: connectionString has no endpoint=');
      this.endpoint = m[1]!.replace(/\/+$/, '');
      this.client = new EmailClient(options.connectionString, clientOptionsFor(this.endpoint, options.clientOptions));
    } else if (options.endpoint && options.credential) {
      this.endpoint = options.endpoint.replace(/\/+$/, '');
      this.client = new EmailClient(this.endpoint, options.credential, clientOptionsFor(this.endpoint, options.clientOptions));
    } else {
      throw new Error('AcsEmailSender: FLOWWARDEN_ACS_ENDPOINT with a credential, or a connection string, is required');
    }
  }

  async send(msg: EmailMessage, options: EmailSendOptions = {}): Promise<{ operationId: string; status: string }> {
    if (!msg.to.length) throw new Error('AcsEmailSender.send: to must not be empty');
    const message: AcsEmailMessage = {
      senderAddress: this.options.senderAddress,
      content: { subject: msg.subject, plainText: msg.text, html: msg.html },
      recipients: { to: msg.to.map((address) => ({ address })) },
    };
    let poller;
    try {
      // beginSend posts the message and polls the operation once.
      this.options.onRequest?.('send');
      this.options.onRequest?.('poll');
      poller = await this.client.beginSend(message, {
        operationId: options.operationId,
        updateIntervalInMs: this.options.pollIntervalMs ?? 10_000,
        abortSignal: options.abortSignal,
      });
    } catch (e) {
      throw toSendError(e, 'send');
    }
    const operationId = operationIdOf(poller.getOperationState(), options.operationId);
    return { operationId, status: await this.waitForTerminal(poller, options) };
  }

  async getStatus(operationId: string, options: RequestOptions = {}): Promise<{ status: string }> {
    // Resume the poller from the operation's location instead of posting again.
    const state = JSON.stringify({
      state: {
        status: 'running',
        config: { metadata: { mode: 'OperationLocation' }, operationLocation: `${this.endpoint}/emails/operations/${encodeURIComponent(operationId)}?api-version=${API_VERSION}` },
      },
    });
    try {
      this.options.onRequest?.('poll');
      const poller = await this.client.beginSend(
        { senderAddress: this.options.senderAddress, content: { subject: '-', plainText: '-' }, recipients: { to: [] } },
        { resumeFrom: state, abortSignal: options.abortSignal },
      );
      return { status: statusOf(poller.getOperationState()) };
    } catch (e) {
      if (isRestError(e) && e.statusCode === 404) return { status: 'NotFound' };
      const failed = failedStatus(e);
      if (failed) return { status: failed };
      throw toSendError(e, 'status');
    }
  }

  private async waitForTerminal(
    poller: Awaited<ReturnType<EmailClient['beginSend']>>,
    options: RequestOptions,
  ): Promise<string> {
    const maxPolls = this.options.maxPolls ?? 6;
    const interval = this.options.pollIntervalMs ?? 10_000;
    try {
      for (let i = 0; !poller.isDone() && i < maxPolls; i++) {
        await sleep(interval, options.abortSignal);
        this.options.onRequest?.('poll');
        await poller.poll({ abortSignal: options.abortSignal });
      }
    } catch (e) {
      const failed = failedStatus(e);
      if (failed) return failed;
      throw toSendError(e, 'status');
    }
    return statusOf(poller.getOperationState());
  }
}

/** Plain http is allowed only for a loopback endpoint (the local ACS stand-in); the SDK refuses it otherwise. */
function clientOptionsFor(endpoint: string, options: EmailClientOptions | undefined): EmailClientOptions {
  const u = new URL(endpoint);
  const loopback = u.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
  return loopback ? { ...options, allowInsecureConnection: true } : { ...options };
}

interface OperationStateLike {
  status: string;
  result?: { id?: string; status?: string };
  error?: unknown;
}

function statusOf(state: OperationStateLike): string {
  if (state.result?.status) return state.result.status;
  return { succeeded: 'Succeeded', failed: 'Failed', canceled: 'Canceled', running: 'Running', notStarted: 'NotStarted' }[state.status] ?? state.status;
}

function operationIdOf(state: OperationStateLike, fallback: string | undefined): string {
  const id = state.result?.id ?? fallback;
  if (!id) throw new EmailSendError('ACS did not return an operation id');
  return id;
}

/**
 * The poller throws the operation's own error when it ends Failed/Canceled (a plain Error, not a
 * RestError): report that as a status. HTTP and network errors are RestErrors and stay errors.
 */
function failedStatus(e: unknown): string | undefined {
  if (!(e instanceof Error) || isRestError(e) || e.name === 'AbortError') return undefined;
  return e.message === 'Operation was canceled' ? 'Canceled' : 'Failed';
}

function toSendError(e: unknown, what: 'send' | 'status'): EmailSendError {
  if (isRestError(e)) {
    const retryAfter = Number(e.response?.headers.get('retry-after'));
    const code = (e.code ?? undefined) as string | undefined;
    // RestError messages can echo the request; keep only status and error code.
    return new EmailSendError(`ACS ${what} failed: HTTP ${e.statusCode ?? '?'}${code ? ` ${code}` : ''}`, e.statusCode, code, Number.isFinite(retryAfter) ? retryAfter * 1000 : undefined);
  }
  if (e instanceof Error && e.name === 'AbortError') return new EmailSendError(`ACS ${what} aborted`);
  return new EmailSendError(`ACS ${what} failed: ${e instanceof Error ? e.name : 'unknown error'}`);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    }, { once: true });
  });
}
