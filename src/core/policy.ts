import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { SEVERITIES } from './finding';

/**
 * The baseline, kept as code (DESIGN.md §6). Keys `environments[].id`, `environments[].dataverseUrl`,
 * `tables.<name>.allowedModifiers` and `tables.<name>.allowPeople` are a contract relied on outside the
 * project: keep them; everything else is an extension with safe defaults.
 */

const severity = z.enum(SEVERITIES);
const guid = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, 'expected a GUID');

/** `<systemuser id>` | `app:<application id>` | `upn:<user principal name>` */
export const identityRef = z
  .string()
  .regex(
    /^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|app:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|upn:[^\s@]+@[^\s@]+)$/,
    'expected "<systemuser id>", "app:<application id>" or "upn:<user principal name>"',
  );
export type IdentityRef = z.infer<typeof identityRef>;

const httpsUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' });

const environment = z.strictObject({
  id: z.string().min(1),
  name: z.string().optional(),
  dataverseUrl: httpsUrl,
  /** Dataverse organization id (webhook bodies carry it as OrganizationId). */
  organizationId: guid.optional(),
  /** Flow API base (default https://api.flow.microsoft.com). */
  flowApiUrl: httpsUrl.optional(),
  /** Power Automate portal base for deep links (default https://make.powerautomate.com). */
  portalUrl: httpsUrl.optional(),
  /** Use the admin scope of the Flow API (`/scopes/admin/environments/...`) to see every flow. */
  adminScope: z.boolean().default(true),
});

const table = z.strictObject({
  allowedModifiers: z.array(identityRef).default([]),
  allowPeople: z.boolean().default(true),
  /** Columns that only the listed identities may change (column → identities). */
  columns: z.record(z.string(), z.array(identityRef)).optional(),
  /** Calling user ≠ user (impersonation) is allowed on this table. */
  allowImpersonation: z.boolean().optional(),
  /** Which operations to watch; default all. */
  operations: z.array(z.enum(['create', 'update', 'delete', 'assign', 'share', 'unshare', 'modify-share', 'associate', 'disassociate'])).optional(),
});

const identity = z.strictObject({
  /** Reference as in allowedModifiers. */
  ref: identityRef,
  name: z.string().optional(),
  kind: z.enum(['application-user', 'service-account', 'person']),
  /** Exact role names (or ids) the identity must hold; a difference is drift. Omit to not check. */
  roles: z.array(z.string()).optional(),
  mayOwnFlows: z.boolean().default(false),
  /** 'none' for the flow-owner service account: holding a data role is drift. */
  dataAccess: z.enum(['none', 'read', 'write']).default('write'),
  /** Tables this application user works on (its lane); writing elsewhere is `modifier.outside-lane`. */
  lane: z.array(z.string()).optional(),
  /** Impersonating others is allowed for this identity. */
  mayImpersonate: z.boolean().default(false),
});

const flows = z
  .strictObject({
    /** Identities allowed to own production flows (besides identities with mayOwnFlows). */
    allowedOwners: z.array(identityRef).default([]),
    /** Co-owner groups/users allowed (Entra object ids or upn:). */
    allowedCoOwners: z.array(z.string()).default([]),
    maxCoOwners: z.number().int().min(0).default(3),
    allowRunOnlyUsers: z.boolean().default(true),
    allowSharingWithGuests: z.boolean().default(false),
    allowSharingWithEveryone: z.boolean().default(false),
    /** Share of flows one identity may own before `drift.single-identity-everything` (0..1). */
    singleIdentityShare: z.number().min(0).max(1).default(0.8),
    /** Below this many flows in an environment, `drift.single-identity-everything` does not apply. */
    singleIdentityMinFlows: z.number().int().min(1).default(2),
  })
  .prefault({});

const connections = z
  .strictObject({
    /** Connections used by production flows must be created by one of these kinds. */
    ownerKinds: z.array(z.enum(['application-user', 'service-account'])).default(['service-account', 'application-user']),
    allowedOwners: z.array(identityRef).default([]),
    allowSharing: z.boolean().default(false),
  })
  .prefault({});

/**
 * Role classification for drift rules (matched by role name or id, case-insensitive). A role grants data
 * access unless listed in `nonDataRoles`: Basic User is NOT a non-data role (it grants user-level rights on
 * core tables), so it counts as a data role by default.
 */
const roles = z
  .strictObject({
    nonDataRoles: z.array(z.string().min(1)).default(['Environment Maker']),
    /** Roles an application user must never hold (`drift.privileged-app-user`). */
    privilegedRoles: z.array(z.string().min(1)).default(['System Administrator', 'System Customizer']),
  })
  .prefault({});

const suppression = z.strictObject({
  /** A keyed fingerprint (`hmac-sha256:…`) of a known, accepted value. */
  fingerprint: z.string().optional(),
  ruleId: z.string().optional(),
  /** Location: flow id, table, principal… matched against the finding subject id (prefix `*` glob). */
  location: z.string().optional(),
  reason: z.string().min(1, 'a suppression needs a reason'),
  expires: z.iso.date({ error: 'expected a date YYYY-MM-DD' }),
});

const secrets = z
  .strictObject({
    /** Rule ids to turn off. */
    disabledRules: z.array(z.string()).default([]),
    /** Override a rule's severity. */
    severity: z.record(z.string(), severity).default({}),
    /** Content larger than this (bytes) is not scanned; a finding says so. */
    maxContentBytes: z.number().int().positive().default(4 * 1024 * 1024),
    suppressions: z.array(suppression).default([]),
  })
  .prefault({});

const route = z.strictObject({
  to: z.array(z.email()).min(1),
  environments: z.array(z.string()).optional(),
  kinds: z.array(z.string()).optional(),
  minSeverity: severity.default('info'),
});

const alerts = z
  .strictObject({
    /** Findings at or above this severity are emailed at once; the rest go to the digest. */
    immediate: severity.default('high'),
    /** Digest cadence in hours. */
    digestHours: z.number().positive().default(24),
    routes: z.array(route).default([]),
    /** Power Platform admins' fallback recipient when no route matches. */
    fallback: z.array(z.email()).default([]),
    /** More related groups than this in one delivery batch are merged into one message per route. */
    maxImmediateGroups: z.number().int().positive().default(3),
    /** ACS email quota of the resource (defaults: the documented 30 sends/min, 100/hour); status polls count too. */
    sendLimits: z.strictObject({ perMinute: z.number().int().positive(), perHour: z.number().int().positive() }).optional(),
  })
  .prefault({});

const modifiers = z
  .strictObject({
    learningDays: z.number().int().positive().default(30),
    /** Severity of first-seen while the profile is younger than learningDays. */
    learningSeverity: severity.default('info'),
  })
  .prefault({});

export const policySchema = z.strictObject({
  version: z.literal(1).default(1),
  environments: z.array(environment).min(1, 'at least one environment is required'),
  tables: z.record(z.string().regex(/^[a-z0-9_]+$/, 'expected a table logical name (lowercase)'), table).default({}),
  identities: z.array(identity).default([]),
  flows,
  connections,
  roles,
  secrets,
  alerts,
  modifiers,
});

export type Policy = z.infer<typeof policySchema>;
export type PolicyEnvironment = z.infer<typeof environment>;
export type PolicyTable = z.infer<typeof table>;
export type PolicyIdentity = z.infer<typeof identity>;
export type Suppression = z.infer<typeof suppression>;

export class PolicyError extends Error {
  constructor(
    readonly file: string,
    readonly issues: { path: string; message: string }[],
  ) {
    super(`invalid policy ${file}:\n` + issues.map((i) => `  ${i.path || '(root)'}: ${i.message}`).join('\n'));
    this.name = 'PolicyError';
  }
}

/** Parse and validate policy text. Errors name the file and the path inside it. */
export function parsePolicy(text: string, file: string): Policy {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (e) {
    const msg = e instanceof YAMLParseError ? e.message.split('\n')[0]! : String(e);
    throw new PolicyError(file, [{ path: '', message: `not valid YAML: ${msg}` }]);
  }
  const res = policySchema.safeParse(raw ?? {});
  if (!res.success) {
    throw new PolicyError(
      file,
      res.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    );
  }
  const policy = res.data;
  const ids = new Set<string>();
  const problems: { path: string; message: string }[] = [];
  policy.environments.forEach((e, i) => {
    if (ids.has(e.id)) problems.push({ path: `environments.${i}.id`, message: `duplicate environment id "${e.id}"` });
    ids.add(e.id);
  });
  if (problems.length) throw new PolicyError(file, problems);
  return policy;
}

/** Does a policy identity reference match this identity? */
export function refMatches(ref: string, who: { id: string; applicationId?: string; upn?: string }): boolean {
  const r = ref.toLowerCase();
  if (r.startsWith('app:')) return !!who.applicationId && who.applicationId.toLowerCase() === r.slice(4);
  if (r.startsWith('upn:')) return !!who.upn && who.upn.toLowerCase() === r.slice(4);
  return who.id.toLowerCase() === r;
}

export function findIdentity(policy: Policy, who: { id: string; applicationId?: string; upn?: string }): PolicyIdentity | undefined {
  return policy.identities.find((i) => refMatches(i.ref, who));
}

/** Environment whose dataverseUrl host equals `host` (case-insensitive). */
export function environmentByHost(policy: Policy, host: string): PolicyEnvironment | undefined {
  const h = host.toLowerCase().replace(/:\d+$/, '');
  return policy.environments.find((e) => new URL(e.dataverseUrl).hostname.toLowerCase() === h);
}
