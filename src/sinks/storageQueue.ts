import { QueueClient, QueueServiceClient } from '@azure/storage-queue';
import type { TokenCredential } from '@azure/core-auth';
import type { QueueMessage, WorkQueue } from '../ports';

/** Queue names (DESIGN.md §3); the Functions host adds `-poison` after its retry budget. */
export const QUEUES = { runs: 'flowwarden-runs', alerts: 'flowwarden-alerts' } as const;

export interface QueueTarget {
  connectionString?: string;
  queueUrl?: string;
  credential?: TokenCredential;
  /** Lower-case prefix for isolation in tests. */
  namePrefix?: string;
}

/** Max message size is 64 KiB; base64 adds a third, so keep bodies under 48 KiB. */
const MAX_BODY_BYTES = 48 * 1024;

/**
 * A work queue on Azure Queue Storage. Bodies are JSON, base64-encoded: the Functions queue trigger's
 * default message encoding, so messages sent here are read by `scanRunWorker` / `deliverAlerts` as is.
 */
export class StorageWorkQueue<T> implements WorkQueue<T> {
  readonly name: string;
  private readonly client: QueueClient;
  private readonly poisonClient: QueueClient;
  private ready?: Promise<void>;

  constructor(target: QueueTarget, baseName: string) {
    this.name = (target.namePrefix ?? '') + baseName;
    const service = target.connectionString
      ? QueueServiceClient.fromConnectionString(target.connectionString)
      : target.queueUrl && target.credential
        ? new QueueServiceClient(target.queueUrl, target.credential)
        : undefined;
    if (!service) throw new Error('queues: FLOWWARDEN_STORAGE_CONNECTION_STRING or FLOWWARDEN_STORAGE_ACCOUNT_URL with a credential is required');
    this.client = service.getQueueClient(this.name);
    this.poisonClient = service.getQueueClient(`${this.name}-poison`);
  }

  private ensure(): Promise<void> {
    this.ready ??= Promise.all([this.client.createIfNotExists(), this.poisonClient.createIfNotExists()]).then(
      () => undefined,
      (e: unknown) => {
        this.ready = undefined;
        throw e;
      },
    );
    return this.ready;
  }

  async send(body: T): Promise<void> {
    await this.ensure();
    await this.client.sendMessage(encode(body, this.name));
  }

  async sendMany(bodies: T[]): Promise<void> {
    await this.ensure();
    // Bounded parallelism: the service takes one message per call.
    const limit = 16;
    let i = 0;
    const workers = Array.from({ length: Math.min(limit, bodies.length) }, async () => {
      while (i < bodies.length) {
        const b = bodies[i++]!;
        await this.client.sendMessage(encode(b, this.name));
      }
    });
    await Promise.all(workers);
  }

  async receive(max: number, visibilityTimeoutSec = 60): Promise<QueueMessage<T>[]> {
    await this.ensure();
    const res = await this.client.receiveMessages({ numberOfMessages: Math.min(32, Math.max(1, max)), visibilityTimeout: visibilityTimeoutSec });
    return res.receivedMessageItems.map((m) => ({
      id: m.messageId,
      popReceipt: m.popReceipt,
      dequeueCount: m.dequeueCount,
      body: decode<T>(m.messageText),
    }));
  }

  async delete(msg: QueueMessage<T>): Promise<void> {
    await this.client.deleteMessage(msg.id, msg.popReceipt);
  }

  async extend(msg: QueueMessage<T>, visibilityTimeoutSec: number): Promise<void> {
    const res = await this.client.updateMessage(msg.id, msg.popReceipt, undefined, visibilityTimeoutSec);
    if (res.popReceipt) msg.popReceipt = res.popReceipt;
  }

  async poison(msg: QueueMessage<T>, reason: string): Promise<void> {
    await this.ensure();
    await this.poisonClient.sendMessage(Buffer.from(JSON.stringify({ reason: reason.slice(0, 2000), body: msg.body })).toString('base64'));
    await this.delete(msg);
  }

  async approximateCount(): Promise<number> {
    await this.ensure();
    return (await this.client.getProperties()).approximateMessagesCount ?? 0;
  }

  async poisonCount(): Promise<number> {
    await this.ensure();
    return (await this.poisonClient.getProperties()).approximateMessagesCount ?? 0;
  }
}

function encode(body: unknown, queue: string): string {
  const json = JSON.stringify(body);
  if (Buffer.byteLength(json) > MAX_BODY_BYTES) throw new Error(`queue ${queue}: message of ${Buffer.byteLength(json)} bytes exceeds ${MAX_BODY_BYTES}`);
  return Buffer.from(json, 'utf8').toString('base64');
}

/**
 * A body that is not JSON is handed on as its text: one garbage message must not make `receive` throw
 * for the whole batch (it would come back forever and block the queue). The consumer's validation
 * rejects it by field and sets it aside.
 */
function decode<T>(text: string): T {
  const raw = /^[A-Za-z0-9+/=\s]+$/.test(text) ? Buffer.from(text, 'base64').toString('utf8') : text;
  try {
    return JSON.parse(raw) as T;
  } catch {
    return raw as unknown as T;
  }
}
