import type { Finding } from '../core/finding';
import type { Policy } from '../core/policy';
import type { AuditEvent, Identity } from '../core/records';
import { AuditRowError, auditRowToEvent, countUnknownAction, mapAuditAction } from '../core/modifiers/auditActions';
import { modifierFindings, MODIFYING_OPERATIONS } from '../core/modifiers/modifierFindings';
import { DriftEventError, eventDriftFindings } from '../core/drift/events';
import type { RoleNameCache } from './roleNames';
import {
  ConcurrencyError,
  type AuditRow,
  type Checkpoint,
  type CheckpointStore,
  type Clock,
  type DataverseSource,
  type FindingStore,
  type Logger,
  type ModifierProfileEntry,
  type PoisonStore,
  type ProfileStore,
} from '../ports';
import { attachTargetPrincipals, createIdentityResolver, type IdentityResolver } from './identityResolver';

/** Checkpoint / poison source name of this pipeline. */
export const AUDIT_SOURCE = 'dataverse-audit';

export interface PollAuditDeps {
  dataverse: DataverseSource;
  findings: FindingStore;
  checkpoints: CheckpointStore;
  profiles: ProfileStore;
  poison: PoisonStore;
  policy: Policy;
  log: Logger;
  clock: Clock;
  /** Every poll re-reads this many minutes before the watermark (late audit rows). */
  lookbackMinutes: number;
  /** First poll of an environment reads this far back. */
  initialLookbackHours: number;
  /** Shared resolver (cache across runs); one is created per call when omitted. */
  resolver?: IdentityResolver;
  /** Role names for role events (audit rows carry only role ids). */
  roleNames?: RoleNameCache;
}

export interface PollAuditOptions {
  environmentIds?: string[];
  pageSize?: number;
  abortSignal?: AbortSignal;
}

export interface EnvironmentPollResult {
  environmentId: string;
  status: 'ok' | 'concurrent' | 'failed';
  since?: string;
  until?: string;
  pages: number;
  rows: number;
  findings: number;
  created: number;
  poisoned: number;
  error?: string;
}

export interface PollAuditResult {
  environments: EnvironmentPollResult[];
  rows: number;
  findings: number;
  created: number;
  poisoned: number;
  /** Audit action codes not in the mapping table (`action:<code>` → count); mapped to 'other'. */
  unknownActions: Record<string, number>;
}

const MINUTE = 60_000;

/**
 * Page through Dataverse `audits` per environment, detect unexpected modifiers and role/share drift,
 * write findings, learn profiles, then advance the checkpoint (at-least-once + idempotent finding ids).
 *
 * Window: [watermark − lookback, now) — first run [now − initialLookback, now). After each durable page
 * the checkpoint stores the page's nextLink (`cursor`) and `windowEnd`, so a crash resumes from the
 * last durable page of the same window; the window's end becomes the watermark. Checkpoint writes use
 * the ETag: a ConcurrencyError means another instance owns the environment, which is then left alone.
 * A failing environment records lastError / consecutiveFailures; the error is rethrown after the
 * other environments ran.
 */
export async function pollAudit(deps: PollAuditDeps, options: PollAuditOptions = {}): Promise<PollAuditResult> {
  const resolver = deps.resolver ?? createIdentityResolver(deps.dataverse, deps.policy);
  const wanted = options.environmentIds ? new Set(options.environmentIds) : undefined;
  const envs = deps.policy.environments.filter((e) => !wanted || wanted.has(e.id));
  const result: PollAuditResult = { environments: [], rows: 0, findings: 0, created: 0, poisoned: 0, unknownActions: {} };
  const errors: unknown[] = [];

  for (const env of envs) {
    options.abortSignal?.throwIfAborted();
    const r = await pollEnvironment(deps, resolver, env.id, options, result.unknownActions).catch((e: unknown) => {
      errors.push(e);
      return (e as { envResult?: EnvironmentPollResult }).envResult ?? failed(env.id, e);
    });
    result.environments.push(r);
    result.rows += r.rows;
    result.findings += r.findings;
    result.created += r.created;
    result.poisoned += r.poisoned;
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `pollAudit failed for ${errors.length} environments`);
  return result;
}

function failed(environmentId: string, e: unknown): EnvironmentPollResult {
  return { environmentId, status: 'failed', pages: 0, rows: 0, findings: 0, created: 0, poisoned: 0, error: errorText(e) };
}

function errorText(e: unknown): string {
  return (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).slice(0, 1000);
}

async function pollEnvironment(
  deps: PollAuditDeps,
  resolver: IdentityResolver,
  environmentId: string,
  options: PollAuditOptions,
  unknownActions: Record<string, number>,
): Promise<EnvironmentPollResult> {
  const { checkpoints, log, clock, policy } = deps;
  const res: EnvironmentPollResult = { environmentId, status: 'ok', pages: 0, rows: 0, findings: 0, created: 0, poisoned: 0 };
  const startedAt = clock.now();
  const existing = await checkpoints.get(AUDIT_SOURCE, environmentId);

  const lookback = deps.lookbackMinutes * MINUTE;
  let since: string;
  let until: string;
  let resume: string | undefined;
  if (existing?.cursor && existing.windowEnd) {
    // Resume the interrupted window from its last durable page.
    since = new Date(Date.parse(existing.watermark) - lookback).toISOString();
    until = existing.windowEnd;
    resume = existing.cursor;
  } else {
    since = existing
      ? new Date(Date.parse(existing.watermark) - lookback).toISOString()
      : new Date(startedAt.getTime() - deps.initialLookbackHours * 60 * MINUTE).toISOString();
    until = startedAt.toISOString();
  }
  res.since = since;
  res.until = until;

  // Claim: write lastAttempt first, so a concurrent instance is detected before any work.
  let cp: Checkpoint;
  try {
    cp = await checkpoints.put({
      ...(existing ?? { source: AUDIT_SOURCE, environmentId, watermark: since }),
      lastAttempt: startedAt.toISOString(),
    });
  } catch (e) {
    if (e instanceof ConcurrencyError) return concurrent(res, log);
    throw e;
  }

  const learningStartedAt = await deps.profiles.learningStartedAt(environmentId);
  const roleNames = deps.roleNames ? await deps.roleNames.get(environmentId) : undefined;
  const profileCache = new Map<string, Set<string>>();
  const profileOf = async (table: string): Promise<Set<string>> => {
    let set = profileCache.get(table);
    if (!set) {
      const entries: ModifierProfileEntry[] = await deps.profiles.listTable(environmentId, table);
      set = new Set(entries.map((e) => e.identityId.toLowerCase()));
      profileCache.set(table, set);
    }
    return set;
  };

  try {
    const pageOpts: Parameters<DataverseSource['listAudits']>[1] = { since, until };
    if (options.pageSize) pageOpts.pageSize = options.pageSize;
    if (resume) pageOpts.resume = resume;
    if (options.abortSignal) pageOpts.abortSignal = options.abortSignal;

    let sawLastPage = false;
    for await (const page of deps.dataverse.listAudits(environmentId, pageOpts)) {
      res.pages++;
      res.rows += page.rows.length;
      const detectedAt = clock.now().toISOString();

      // Resolve every user of the page first, so mapping stays pure and lookups run concurrently.
      const ids = new Set<string>();
      for (const row of page.rows) {
        for (const f of ['_userid_value', '_callinguserid_value'] as const) {
          const v = row?.[f];
          if (typeof v === 'string' && v) ids.add(v.toLowerCase());
        }
      }
      const identities = await resolver.resolveMany(environmentId, ids, options.abortSignal ? { abortSignal: options.abortSignal } : undefined);
      const lookup = (id: string): Identity => identities.get(id.toLowerCase()) ?? { id: id.toLowerCase(), kind: 'unknown', resolved: false };

      const events: AuditEvent[] = [];
      for (const row of page.rows) {
        try {
          const event = auditRowToEvent(row, environmentId, lookup);
          if (!mapAuditAction(row.action, row.operation).known) countUnknownAction(unknownActions, row.action);
          events.push(event);
        } catch (e) {
          if (!(e instanceof AuditRowError)) throw e;
          res.poisoned++;
          await deps.poison.put({
            source: AUDIT_SOURCE,
            environmentId,
            key: poisonKey(row),
            reason: e.message,
            at: detectedAt,
          });
          log.warn('audit row set aside', { environmentId, field: e.field });
        }
      }

      await attachTargetPrincipals(events, resolver, environmentId, options.abortSignal);

      const findings: Finding[] = [];
      const observations: { environmentId: string; table: string; identityId: string; seenAt: string }[] = [];
      for (const event of events) {
        const isModification = MODIFYING_OPERATIONS.has(event.operation);
        if (isModification) {
          const seen = await profileOf(event.table);
          const profile = [...seen].map((identityId) => ({ identityId }));
          findings.push(
            ...modifierFindings(event, learningStartedAt ? { policy, profile, learningStartedAt, detectedAt } : { policy, profile, detectedAt }),
          );
          // Seen from now on within this run too: one first-seen per (table, identity).
          seen.add(event.user.id.toLowerCase());
          observations.push({ environmentId, table: event.table, identityId: event.user.id.toLowerCase(), seenAt: event.occurredAt });
        }
        try {
          findings.push(...eventDriftFindings(event, roleNames ? { policy, detectedAt, roleNames } : { policy, detectedAt }));
        } catch (e) {
          // A role/share row without the principal or role: set it aside, the rest of the page continues.
          if (!(e instanceof DriftEventError)) throw e;
          res.poisoned++;
          await deps.poison.put({ source: AUDIT_SOURCE, environmentId, key: event.eventId, reason: e.message, at: detectedAt });
          log.warn('audit event set aside by the drift rules', { environmentId, field: e.field });
        }
      }

      const written = findings.length ? await deps.findings.upsertMany(dedupe(findings)) : { created: [] };
      res.findings += findings.length;
      res.created += written.created.length;
      if (observations.length) await deps.profiles.record(observations);

      // Only now is the page durable: advance the checkpoint.
      const next: Checkpoint = page.nextLink
        ? { ...cp, cursor: page.nextLink, windowEnd: until }
        : endOfWindow(cp, until, clock);
      if (!page.nextLink) sawLastPage = true;
      try {
        cp = await checkpoints.put(next);
      } catch (e) {
        if (e instanceof ConcurrencyError) return concurrent(res, log);
        throw e;
      }
    }
    if (!sawLastPage) {
      // A source that yields no page at all (empty window) still completes the window.
      try {
        cp = await checkpoints.put(endOfWindow(cp, until, clock));
      } catch (e) {
        if (e instanceof ConcurrencyError) return concurrent(res, log);
        throw e;
      }
    }
    log.info('audit poll done', { environmentId, pages: res.pages, rows: res.rows, findings: res.findings, created: res.created, poisoned: res.poisoned });
    return res;
  } catch (e) {
    const msg = errorText(e);
    try {
      await checkpoints.put({ ...cp, lastError: msg, consecutiveFailures: (cp.consecutiveFailures ?? 0) + 1 });
    } catch (inner) {
      if (!(inner instanceof ConcurrencyError)) log.error('could not record the audit poll failure', { environmentId, error: errorText(inner) });
    }
    log.error('audit poll failed', { environmentId, error: msg });
    const envResult: EnvironmentPollResult = { ...res, status: 'failed', error: msg };
    throw Object.assign(e instanceof Error ? e : new Error(msg), { envResult });
  }
}

function endOfWindow(cp: Checkpoint, until: string, clock: Clock): Checkpoint {
  const { cursor: _c, windowEnd: _w, lastError: _e, ...rest } = cp;
  // Never move the watermark back (a host clock that jumped backwards would re-open old windows forever).
  const watermark = Date.parse(cp.watermark) > Date.parse(until) ? cp.watermark : until;
  return { ...rest, watermark, lastSuccess: clock.now().toISOString(), consecutiveFailures: 0 };
}

function concurrent(res: EnvironmentPollResult, log: Logger): EnvironmentPollResult {
  log.info('audit poll skipped: another instance holds the checkpoint', { environmentId: res.environmentId });
  return { ...res, status: 'concurrent' };
}

function poisonKey(row: AuditRow): string {
  const id = row && typeof row === 'object' && typeof row.auditid === 'string' ? row.auditid : '';
  return id || `row-without-auditid:${typeof row === 'object' && row ? String(row.createdon ?? '') : ''}`;
}

function dedupe(findings: Finding[]): Finding[] {
  const seen = new Map<string, Finding>();
  for (const f of findings) if (!seen.has(f.id)) seen.set(f.id, f);
  return [...seen.values()];
}
