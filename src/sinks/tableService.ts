import { TableClient, RestError, type TableEntity } from '@azure/data-tables';
import type { TokenCredential } from '@azure/core-auth';
import { createHash } from 'node:crypto';

/** Table names of DESIGN.md §5 plus the poison and Log Analytics backlog tables. */
export const TABLES = {
  findings: 'FlowWardenFindings',
  checkpoints: 'FlowWardenCheckpoints',
  snapshots: 'FlowWardenSnapshots',
  profiles: 'FlowWardenProfiles',
  alerts: 'FlowWardenAlerts',
  poison: 'FlowWardenPoison',
  backlog: 'FlowWardenBacklog',
  /** finding id → the partition that holds it, so a finding whose observedAt moves is still written once. */
  findingIds: 'FlowWardenFindingIds',
} as const;

export interface StorageTarget {
  connectionString?: string;
  tableUrl?: string;
  credential?: TokenCredential;
  /** Prefix for table/queue names (tests isolate themselves with it). Letters and digits only. */
  namePrefix?: string;
}

/** Builds TableClients for one storage account: connection string locally, managed identity in Azure. */
export class TableService {
  private readonly created = new Map<string, Promise<void>>();
  constructor(private readonly target: StorageTarget) {
    if (target.namePrefix && !/^[A-Za-z][A-Za-z0-9]*$/.test(target.namePrefix)) {
      throw new Error(`storage name prefix "${target.namePrefix}": expected letters and digits, starting with a letter`);
    }
  }

  tableName(base: string): string {
    return (this.target.namePrefix ?? '') + base;
  }

  client(base: string): TableClient {
    const name = this.tableName(base);
    const { connectionString, tableUrl, credential } = this.target;
    const options = { allowInsecureConnection: isLoopback(connectionString ?? tableUrl ?? '') };
    if (connectionString) return TableClient.fromConnectionString(connectionString, name, options);
    if (tableUrl && credential) return new TableClient(tableUrl, name, credential, options);
    throw new Error('storage: FLOWWARDEN_STORAGE_CONNECTION_STRING or FLOWWARDEN_STORAGE_ACCOUNT_URL with a credential is required');
  }

  /** Client for a table that exists (created once per process; creating an existing table is a no-op). */
  async ready(base: string): Promise<TableClient> {
    const client = this.client(base);
    let p = this.created.get(base);
    if (!p) {
      p = client.createTable().catch((e: unknown) => {
        this.created.delete(base);
        throw e;
      });
      this.created.set(base, p);
    }
    await p;
    return client;
  }
}

function isLoopback(s: string): boolean {
  return /https?:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\])[:/]/i.test(s) || /UseDevelopmentStorage=true/i.test(s);
}

// ---------- the real service's limits (Azurite is lenient) ----------

const FORBIDDEN_KEY_CHARS = /[\/\\#?\u0000-\u001f\u007f-\u009f]/;
export const MAX_KEY_BYTES = 1024;
export const MAX_STRING_CHARS = 32 * 1024;
export const MAX_PROPERTIES = 252; // plus PartitionKey, RowKey, Timestamp = 255
export const MAX_BATCH = 100;

export class StorageLimitError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'StorageLimitError';
  }
}

/** A key as given when it is valid for the real service; otherwise an error naming the field. */
export function checkKey(field: string, key: string): string {
  if (key.length === 0) throw new StorageLimitError(field, 'empty key');
  if (FORBIDDEN_KEY_CHARS.test(key)) throw new StorageLimitError(field, 'key contains one of / \\ # ? or a control character');
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw new StorageLimitError(field, `key longer than ${MAX_KEY_BYTES} bytes`);
  return key;
}

/** A key derived from arbitrary text: kept when valid and short, else a readable prefix plus a hash. */
export function safeKey(text: string): string {
  const cleaned = text.replace(/[\/\\#?\u0000-\u001f\u007f-\u009f]/g, '_');
  if (cleaned === text && text.length > 0 && Buffer.byteLength(text, 'utf8') <= 200) return text;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 32);
  return `${cleaned.slice(0, 80)}~${hash}`;
}

/** Enforce property count and string size on an entity before writing. */
export function checkEntity(table: string, entity: TableEntity<Record<string, unknown>>): void {
  const props = Object.keys(entity).filter((k) => k !== 'partitionKey' && k !== 'rowKey' && k !== 'etag');
  if (props.length > MAX_PROPERTIES) throw new StorageLimitError(`${table}`, `entity has ${props.length} properties (max ${MAX_PROPERTIES})`);
  for (const k of props) {
    const v = entity[k];
    if (typeof v === 'string' && v.length > MAX_STRING_CHARS) {
      throw new StorageLimitError(`${table}.${k}`, `string of ${v.length} characters (max ${MAX_STRING_CHARS})`);
    }
  }
  checkKey(`${table}.PartitionKey`, entity.partitionKey);
  checkKey(`${table}.RowKey`, entity.rowKey);
}

/** Truncate text to fit a string property, marking the cut. */
export function fitString(s: string, max = MAX_STRING_CHARS): string {
  return s.length <= max ? s : s.slice(0, max - 20) + '…[truncated]';
}

export function isStatus(e: unknown, ...codes: number[]): boolean {
  return e instanceof RestError && e.statusCode !== undefined && codes.includes(e.statusCode);
}

/** Split a JSON text over several string properties (data0, data1…) to stay under the per-string limit. */
export function chunkJson(json: string, prefix = 'data'): Record<string, string> {
  const out: Record<string, string> = {};
  const size = 30_000;
  const n = Math.max(1, Math.ceil(json.length / size));
  if (n > 30) throw new StorageLimitError(prefix, `JSON of ${json.length} characters is too large for one entity`);
  for (let i = 0; i < n; i++) out[`${prefix}${i}`] = json.slice(i * size, (i + 1) * size);
  out[`${prefix}Chunks`] = String(n);
  return out;
}

export function unchunkJson(entity: Record<string, unknown>, prefix = 'data'): unknown {
  const n = Number(entity[`${prefix}Chunks`] ?? 0);
  let s = '';
  for (let i = 0; i < n; i++) s += String(entity[`${prefix}${i}`] ?? '');
  return JSON.parse(s);
}
