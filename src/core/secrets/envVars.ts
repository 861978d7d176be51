/**
 * Environment-variable scanning: secrets kept in plaintext in Dataverse environment variables
 * (default values and current values of every type except Secret, whose value is a Key Vault reference).
 * Pure: the pipeline lists `environmentvariabledefinitions` / `environmentvariablevalues` and calls this.
 */
import { makeFinding, type Finding } from '../finding';
import { fingerprint, maskedPreview } from '../fingerprint';
import type { EnvironmentVariableDefinitionRecord, EnvironmentVariableValueRecord } from '../../ports';
import { detectText, scanValue } from './engine';
import { applySecretPolicy, type SecretFindingContext, type SecretFindingResult } from './findings';

export const PLAINTEXT_ENV_VAR_RULE = 'secret.plaintext-environment-variable';

/** Dataverse `environmentvariabledefinition.type` option values. */
export const ENV_VAR_TYPE = {
  String: 100000000,
  Number: 100000001,
  Boolean: 100000002,
  JSON: 100000003,
  DataSource: 100000004,
  Secret: 100000005,
} as const;

const TYPE_NAMES = new Map<number, string>(Object.entries(ENV_VAR_TYPE).map(([k, v]) => [v, k]));

export function envVarTypeName(type: number | undefined): string {
  return type === undefined ? 'unknown' : (TYPE_NAMES.get(type) ?? `unknown (${type})`);
}

/** Schema names of Secret-type variables (for `definitionFindings`' `secretEnvVars`). */
export function secretEnvVarNames(defs: EnvironmentVariableDefinitionRecord[]): Set<string> {
  return new Set(defs.filter((d) => d.type === ENV_VAR_TYPE.Secret).map((d) => d.schemaname));
}

export type EnvVarFindingContext = SecretFindingContext & { environmentId: string };

// A name that says "credential"; names that only point at one (…Name, …Url, …Id) are excluded below.
const SECRET_NAME = /(pass(word|wd)?|pwd|secret|api[-_]?key|access[-_]?key|(account|storage|shared|sas|subscription|function|master|private|signing|client|host)[-_]?key|token|conn(ection)?[-_]?str(ing)?|credential)/i;
const REFERENCE_NAME = /(name|url|uri|endpoint|id|path|type|expiry|expiration|expires|scope|audience|header|length|version)$/i;
const PLACEHOLDER = /^(change[-_ ]?me|placeholder|tbd|none|null|undefined|empty|n\/a|secret|password|\*+|x+|<[^>]*>|\{\{.*\}\}|\$\{.*\})$/i;

/** Shannon entropy in bits per character. */
function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/** A credential-named variable whose value looks like a real credential, not a pointer or placeholder. */
export function suspiciousByName(names: (string | undefined)[], value: string): boolean {
  const named = names.some((n) => !!n && SECRET_NAME.test(n.replace(/\s+/g, '')) && !REFERENCE_NAME.test(n.replace(/\s+/g, '')));
  if (!named) return false;
  const v = value.trim();
  if (v.length < 8 || PLACEHOLDER.test(v) || v.startsWith('@')) return false;
  if (/^https?:\/\/[^\s@]+$/i.test(v) && !/[?&](sig|code|key|token|api[-_]?key|password)=/i.test(v)) return false;
  return entropy(v) >= 2.5;
}

interface RawHit {
  detector: string;
  path: string;
  value: string;
  confidence?: 'high' | 'medium';
}

function scanVarValue(def: EnvironmentVariableDefinitionRecord | undefined, raw: string, disabledRules: string[]): RawHit[] {
  const hits: RawHit[] = [];
  if (def?.type === ENV_VAR_TYPE.JSON) {
    let parsed: unknown;
    let ok = true;
    try {
      parsed = JSON.parse(raw);
    } catch {
      // A JSON-type variable with invalid JSON is still scanned, as text below.
      ok = false;
    }
    if (ok) {
      for (const h of scanValue(parsed, { disabledRules })) {
        const hit: RawHit = { detector: h.ruleId, path: h.path || '$', value: h.value };
        if (h.confidence) hit.confidence = h.confidence;
        hits.push(hit);
      }
      return hits;
    }
  }
  for (const m of detectText(raw, { disabledRules })) {
    const hit: RawHit = { detector: m.ruleId, path: '$', value: raw.slice(m.start, m.end) };
    if (m.confidence) hit.confidence = m.confidence;
    hits.push(hit);
  }
  if (hits.length === 0 && (def === undefined || def.type === ENV_VAR_TYPE.String) && suspiciousByName([def?.schemaname, def?.displayname], raw)) {
    hits.push({ detector: 'context:variable-name', path: '$', value: raw.trim(), confidence: 'medium' });
  }
  return hits;
}

export function environmentVariableFindings(
  defs: EnvironmentVariableDefinitionRecord[],
  values: EnvironmentVariableValueRecord[],
  ctx: EnvVarFindingContext,
): Finding[] {
  return environmentVariableFindingsWithStats(defs, values, ctx).findings;
}

export function environmentVariableFindingsWithStats(
  defs: EnvironmentVariableDefinitionRecord[],
  values: EnvironmentVariableValueRecord[],
  ctx: EnvVarFindingContext,
): SecretFindingResult {
  const byId = new Map(defs.map((d) => [d.environmentvariabledefinitionid.toLowerCase(), d]));
  const disabled = ctx.policy.secrets.disabledRules;
  const drafts: Finding[] = [];

  const scan = (
    def: EnvironmentVariableDefinitionRecord | undefined,
    definitionId: string,
    where: 'default value' | 'current value',
    raw: string,
    valueId: string | undefined,
    modifiedon: string | undefined,
  ): void => {
    const schemaname = def?.schemaname ?? definitionId;
    const label = def?.displayname ? `${schemaname} ("${def.displayname}")` : schemaname;
    const typeName = envVarTypeName(def?.type);
    for (const hit of scanVarValue(def, raw, disabled)) {
      const fp = fingerprint(hit.value, ctx.fingerprintKey);
      const preview = maskedPreview(hit.value);
      const evidence: Record<string, string | number | boolean> = {
        schemaname,
        definitionId,
        variableType: typeName,
        where,
        path: hit.path,
        detector: hit.detector,
        maskedPreview: preview,
        fingerprint: fp,
      };
      if (def?.displayname) evidence['displayname'] = def.displayname;
      if (def?.solutionName) evidence['solution'] = def.solutionName;
      if (valueId) evidence['valueId'] = valueId;
      if (hit.confidence) evidence['confidence'] = hit.confidence;
      drafts.push(
        makeFinding(
          {
            kind: 'secret-exposure',
            ruleId: PLAINTEXT_ENV_VAR_RULE,
            severity: 'high',
            environmentId: ctx.environmentId,
            subject: { type: 'environment-variable', id: schemaname, ...(def?.displayname ? { name: def.displayname } : {}) },
            observedAt: modifiedon ?? def?.modifiedon ?? ctx.detectedAt,
            title: `Secret in plaintext in environment variable ${schemaname} (${where})`,
            detail:
              `The ${where} of the ${typeName} environment variable ${label}${def?.solutionName ? ` in solution ${def.solutionName}` : ''} ` +
              `holds a secret-looking value (${hit.detector}, ${preview}, fingerprint ${fp})${hit.path !== '$' ? ` at ${hit.path}` : ''}. ` +
              'Plaintext environment variables are readable by every maker with access to the solution, travel in solution exports, and show in run history of flows that use them. ' +
              'Fix: move it to a Secret-type environment variable backed by Azure Key Vault, remove the plaintext value (default and current), and rotate the secret.',
            evidence,
            evidenceKey: `${where}|${valueId ?? ''}|${hit.path}|${fp}`,
          },
          ctx.detectedAt,
        ),
      );
    }
  };

  for (const def of defs) {
    // Secret-type values are Key Vault references, not secrets.
    if (def.type === ENV_VAR_TYPE.Secret) continue;
    if (def.defaultvalue) scan(def, def.environmentvariabledefinitionid, 'default value', def.defaultvalue, undefined, def.modifiedon);
  }
  for (const v of values) {
    if (!v.value) continue;
    const defId = v._environmentvariabledefinitionid_value;
    const def = byId.get(defId.toLowerCase());
    if (def?.type === ENV_VAR_TYPE.Secret) continue;
    scan(def, defId, 'current value', v.value, v.environmentvariablevalueid, v.modifiedon);
  }
  return applySecretPolicy(drafts, ctx);
}
