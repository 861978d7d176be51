/**
 * Ports: the small interfaces pipelines depend on. Adapters in src/sources and src/sinks implement
 * them against real services (or the local simulator / Azurite, which speak the same wire formats).
 * Pipelines receive ports from `compose()`; they never construct clients.
 */
import type { Finding, Severity } from './core/finding';
import type {
  AuditRow,
  ContentLink,
  FlowPermission,
  Identity,
  IdentityKind,
  RunAction,
  RunRef,
} from './core/records';

// ---------------- Sources ----------------

export interface FlowSummary {
  environmentId: string;
  flowId: string;
  displayName?: string;
  state?: string;
  /** Entra object id of the creator (Flow API `properties.creator.objectId`). */
  creatorObjectId?: string;
  lastModifiedTime?: string;
}

export interface FlowConnectionReference {
  /** Key in the flow's connectionReferences map, e.g. `shared_keyvault`. */
  name: string;
  /** Connection name (id), e.g. `shared-keyvault-0c1f…`. */
  connectionName?: string;
  /** Connector, e.g. `shared_keyvault`. */
  apiName?: string;
  /** Solution-aware flows: the connection reference logical name. */
  connectionReferenceLogicalName?: string;
}

export interface FlowDetail extends FlowSummary {
  /** The Logic Apps workflow definition (`properties.definition`). */
  definition: unknown;
  connectionReferences: FlowConnectionReference[];
}

export interface ContentFetchResult {
  status: 'ok' | 'too-large' | 'gone';
  /** Body text when status is ok. */
  text?: string;
  size?: number;
}

export interface RequestOptions {
  abortSignal?: AbortSignal;
}

export interface FlowApiSource {
  listFlows(environmentId: string, options?: RequestOptions): AsyncIterable<FlowSummary>;
  getFlow(environmentId: string, flowId: string, options?: RequestOptions): Promise<FlowDetail>;
  /** Runs of a flow, newest first, stopping once runs started before `startedAfter`. */
  listRuns(environmentId: string, flowId: string, options?: RequestOptions & { startedAfter?: string }): AsyncIterable<RunRef>;
  getRunActions(environmentId: string, flowId: string, runId: string, options?: RequestOptions): Promise<{ run: RunRef; actions: RunAction[] }>;
  /** Fetch a content link (SAS URL) without the bearer token; `maxBytes` caps the download. */
  fetchContent(link: ContentLink, options?: RequestOptions & { maxBytes?: number }): Promise<ContentFetchResult>;
  listFlowPermissions(environmentId: string, flowId: string, options?: RequestOptions): Promise<FlowPermission[]>;
}

export type { AuditRow };

export interface AuditPage {
  rows: AuditRow[];
  /** The @odata.nextLink to resume from, or undefined on the last page. */
  nextLink?: string;
}

export interface SystemUserRecord {
  systemuserid: string;
  fullname?: string;
  domainname?: string;
  internalemailaddress?: string;
  applicationid?: string | null;
  isdisabled?: boolean;
  /** Dataverse accessmode (0 read-write, 4 non-interactive…); azureactivedirectoryobjectid maps Flow API principals. */
  azureactivedirectoryobjectid?: string | null;
}

export interface RoleRecord { roleid: string; name: string }
export interface TeamRecord { teamid: string; name: string; teamtype?: number; azureactivedirectoryobjectid?: string | null }

export interface WorkflowRecord {
  workflowid: string;
  name: string;
  category: number;
  statecode?: number;
  _ownerid_value?: string;
  _createdby_value?: string;
  modifiedon?: string;
  /** JSON text of `{ properties: { connectionReferences, definition } }` for modern flows (category 5). */
  clientdata?: string | null;
}

export interface ConnectionReferenceRecord {
  connectionreferenceid: string;
  connectionreferencelogicalname: string;
  connectionreferencedisplayname?: string;
  connectorid?: string;
  connectionid?: string | null;
  _ownerid_value?: string;
  _createdby_value?: string;
}

export interface ConnectionRecord {
  connectionId: string;
  connectorName: string;
  displayName?: string;
  /** Entra object id or systemuser id of the creator as the service reports it. */
  createdById: string;
  createdByUpn?: string;
  sharedWith: FlowPermission[];
}

export interface EnvironmentVariableDefinitionRecord {
  environmentvariabledefinitionid: string;
  schemaname: string;
  displayname?: string;
  /** 100000000 String, 100000001 Number, 100000002 Boolean, 100000003 JSON, 100000004 Data source, 100000005 Secret */
  type: number;
  defaultvalue?: string | null;
  /** Solution unique name where known. */
  solutionName?: string;
  /** Last change (Dataverse `modifiedon`); findings use it as observedAt so their date is stable across scans. */
  modifiedon?: string;
}

export interface EnvironmentVariableValueRecord {
  environmentvariablevalueid: string;
  value?: string | null;
  _environmentvariabledefinitionid_value: string;
  /** Last change (Dataverse `modifiedon`), see EnvironmentVariableDefinitionRecord.modifiedon. */
  modifiedon?: string;
}

export interface DataverseSource {
  /** Audit rows with createdon >= since (and < until), oldest first, page by page. Pass `resume` (a nextLink) to continue. */
  listAudits(environmentId: string, options: RequestOptions & { since: string; until?: string; pageSize?: number; resume?: string }): AsyncIterable<AuditPage>;
  getSystemUser(environmentId: string, systemUserId: string, options?: RequestOptions): Promise<SystemUserRecord | undefined>;
  listSystemUsers(environmentId: string, options?: RequestOptions): AsyncIterable<SystemUserRecord>;
  listRoles(environmentId: string, options?: RequestOptions): AsyncIterable<RoleRecord>;
  /** Direct roles of a user (`systemuserroles_association`). */
  listUserRoles(environmentId: string, systemUserId: string, options?: RequestOptions): Promise<RoleRecord[]>;
  listTeams(environmentId: string, options?: RequestOptions): AsyncIterable<TeamRecord>;
  /** Members of a team (`teammembership_association`): systemuser ids. */
  listTeamMembers(environmentId: string, teamId: string, options?: RequestOptions): Promise<string[]>;
  /** Roles of a team (`teamroles_association`). */
  listTeamRoles(environmentId: string, teamId: string, options?: RequestOptions): Promise<RoleRecord[]>;
  listWorkflows(environmentId: string, options?: RequestOptions & { category?: number }): AsyncIterable<WorkflowRecord>;
  listConnectionReferences(environmentId: string, options?: RequestOptions): AsyncIterable<ConnectionReferenceRecord>;
  listEnvironmentVariableDefinitions(environmentId: string, options?: RequestOptions): AsyncIterable<EnvironmentVariableDefinitionRecord>;
  listEnvironmentVariableValues(environmentId: string, options?: RequestOptions): AsyncIterable<EnvironmentVariableValueRecord>;
}

/** Power Platform connections (Power Apps/Flow API `/connections`). */
export interface ConnectionSource {
  listConnections(environmentId: string, options?: RequestOptions): AsyncIterable<ConnectionRecord>;
}

// ---------------- Sinks and stores ----------------

export interface FindingQuery {
  environmentId?: string;
  since?: string;
  until?: string;
  kind?: string;
  severity?: Severity;
  /** Page size; `continuationToken` resumes. */
  pageSize?: number;
  continuationToken?: string;
}

export type FindingState = 'open' | 'acknowledged' | 'resolved';
export interface StoredFinding extends Finding { state: FindingState }

export interface FindingStore {
  /** Idempotent by id: writing an existing finding is a no-op. Returns the ids that were new. */
  upsertMany(findings: Finding[]): Promise<{ created: string[] }>;
  query(q: FindingQuery): Promise<{ items: StoredFinding[]; continuationToken?: string }>;
  get(id: string, environmentId: string, observedAt: string): Promise<StoredFinding | undefined>;
}

export interface Checkpoint {
  source: string;
  environmentId: string;
  /** ISO watermark: everything before it has been durably processed. */
  watermark: string;
  /** Resume point inside a window (e.g. an OData nextLink) so a crash mid-page resumes. */
  cursor?: string;
  /** ISO time of the window's upper bound while a cursor is set. */
  windowEnd?: string;
  lastSuccess?: string;
  lastAttempt?: string;
  lastError?: string;
  consecutiveFailures?: number;
  etag?: string;
}

export class ConcurrencyError extends Error {
  constructor(readonly resource: string) {
    super(`concurrent update of ${resource}: the ETag no longer matches`);
    this.name = 'ConcurrencyError';
  }
}

export interface CheckpointStore {
  get(source: string, environmentId: string): Promise<Checkpoint | undefined>;
  /** Writes with ETag optimistic concurrency: throws ConcurrencyError when `etag` is stale; no etag = must not exist. */
  put(cp: Checkpoint): Promise<Checkpoint>;
  list(): Promise<Checkpoint[]>;
}

export interface QueueMessage<T> { id: string; popReceipt: string; dequeueCount: number; body: T }

export interface WorkQueue<T> {
  readonly name: string;
  send(body: T): Promise<void>;
  sendMany(bodies: T[]): Promise<void>;
  receive(max: number, visibilityTimeoutSec?: number): Promise<QueueMessage<T>[]>;
  delete(msg: QueueMessage<T>): Promise<void>;
  /**
   * Keep a received message hidden for another `visibilityTimeoutSec` (a lease renewal, as the
   * Functions host does for long executions). Updates `msg.popReceipt` in place.
   */
  extend(msg: QueueMessage<T>, visibilityTimeoutSec: number): Promise<void>;
  /** Move to `<name>-poison` with the reason, then delete. */
  poison(msg: QueueMessage<T>, reason: string): Promise<void>;
  approximateCount(): Promise<number>;
}

export interface EmailMessage {
  to: string[];
  subject: string;
  text: string;
  html: string;
}
export interface EmailSendOptions extends RequestOptions {
  /**
   * Caller-chosen operation id (a GUID; ACS `Operation-Id` header). The alert pipeline records it
   * before sending so a retry after a crash polls this operation instead of sending again.
   */
  operationId?: string;
  /** Stable dedupe key of the message (file name of the outbox copy, so re-runs overwrite). */
  dedupeKey?: string;
}
export interface EmailSender {
  /** Sends and waits for a terminal status. Returns the operation id. */
  send(msg: EmailMessage, options?: EmailSendOptions): Promise<{ operationId: string; status: string }>;
  /**
   * Status of an earlier send by operation id: 'Succeeded' | 'Failed' | 'Canceled' | 'Running' |
   * 'NotStarted' | 'NotFound' (the service never received it). Senders that complete synchronously
   * (the outbox) may omit it.
   */
  getStatus?(operationId: string, options?: RequestOptions): Promise<{ status: string }>;
}

export interface FindingsLog {
  /** Send findings to Log Analytics (Logs Ingestion API). Throws on failure; the caller keeps a backlog. */
  upload(findings: Finding[], options?: RequestOptions): Promise<void>;
}

/** A finding that could not be sent to Log Analytics yet (table FlowWardenBacklog). */
export interface BacklogEntry {
  findingId: string;
  environmentId: string;
  observedAt: string;
  /** When it first failed; entries drain oldest first. */
  queuedAt: string;
  attempts: number;
  lastError?: string;
}

/** Re-send backlog of the Log Analytics sink: ingestion failures never block the findings table. */
export interface BacklogStore {
  /** Insert or replace (idempotent by findingId). */
  putMany(entries: BacklogEntry[]): Promise<void>;
  /** Oldest first, at most `max`. */
  list(max: number): Promise<BacklogEntry[]>;
  removeMany(findingIds: string[]): Promise<void>;
  count(): Promise<number>;
}

export interface Clock { now(): Date }
export const systemClock: Clock = { now: () => new Date() };

export type { IdentityKind, Identity };

// ---------------- Learned profiles, snapshots, alert state ----------------

/** Learned modifier profile: one entry per (environment, table, identity). */
export interface ModifierProfileEntry {
  environmentId: string;
  table: string;
  identityId: string;
  firstSeen: string;
  lastSeen: string;
  count: number;
}

export interface ProfileStore {
  /** All identities seen on a table (small: tens of entries). */
  listTable(environmentId: string, table: string): Promise<ModifierProfileEntry[]>;
  /** Record observations (idempotent per event is the caller's concern: it passes each event once after writing findings). */
  record(entries: { environmentId: string; table: string; identityId: string; seenAt: string }[]): Promise<void>;
  /** When learning started for the environment (first observation), to know whether the window is still open. */
  learningStartedAt(environmentId: string): Promise<string | undefined>;
}

/** One stored entity of a permission snapshot. `kind` is 'principal' | 'flow' | 'connection'. */
export interface SnapshotEntity {
  kind: 'principal' | 'flow' | 'connection';
  subjectId: string;
  takenAt: string;
  /** JSON of the PrincipalSnapshot / FlowPermissionSnapshot / ConnectionSnapshot. */
  data: unknown;
}

export interface SnapshotStore {
  /** The previous snapshot of an environment, or undefined on the first run. */
  load(environmentId: string): Promise<import('./core/records').PermissionSnapshot | undefined>;
  /** Replace the stored snapshot (entities of subjects that disappeared are deleted). */
  save(snapshot: import('./core/records').PermissionSnapshot): Promise<void>;
}

export type AlertDeliveryState = 'pending' | 'sending' | 'sent' | 'failed';

export interface AlertRecord {
  /** Route key (recipient list hash or route name). */
  route: string;
  /** Dedupe key: finding id (immediate) or digest id. */
  key: string;
  state: AlertDeliveryState;
  findingIds: string[];
  operationId?: string;
  attempts: number;
  updatedAt: string;
  /** Finding records: key of the message that owns this finding while it is being sent. */
  messageKey?: string;
  /** JSON (≤ 32 K chars): finding refs of a message, digest cadence state or token-bucket state. */
  payload?: string;
  /** Last failure, already free of secrets (status code / error code / message of the service). */
  lastError?: string;
  etag?: string;
  [k: string]: unknown;
}

export interface AlertStateStore {
  get(route: string, key: string): Promise<AlertRecord | undefined>;
  /** ETag-guarded write (see CheckpointStore.put). */
  put(record: AlertRecord): Promise<AlertRecord>;
  list(route: string, state?: AlertDeliveryState): Promise<AlertRecord[]>;
}

/** Records that could not be processed: set aside with the reason, counted in health. */
export interface PoisonStore {
  put(entry: { source: string; environmentId: string; key: string; reason: string; sample?: string; at: string }): Promise<void>;
  count(source?: string): Promise<number>;
}

export interface Logger {
  info(message: string, props?: Record<string, string | number | boolean | undefined>): void;
  warn(message: string, props?: Record<string, string | number | boolean | undefined>): void;
  error(message: string, props?: Record<string, string | number | boolean | undefined>): void;
}
