import type { TokenCredential } from '@azure/core-auth';
import type {
  AuditPage,
  AuditRow,
  ConnectionReferenceRecord,
  DataverseSource,
  EnvironmentVariableDefinitionRecord,
  EnvironmentVariableValueRecord,
  RequestOptions,
  RoleRecord,
  SystemUserRecord,
  TeamRecord,
  WorkflowRecord,
} from '../ports';
import { HttpError, ResponseShapeError, createPipeline, sendJson, type FlowwardenPipeline, type RetryOptions } from './httpPipeline';

export interface DataverseClientOptions {
  /** Web API host of an environment, e.g. https://contoso-prod.crm4.dynamics.com (or the simulator URL). */
  baseUrlFor(environmentId: string): string;
  credential?: TokenCredential;
  /** Token scope per environment; default `<origin of baseUrlFor>/.default`. Set it when the base URL is a proxy/simulator. */
  scopeFor?(environmentId: string): string;
  /** One pipeline for every environment (tests); otherwise one per scope is built from credential. */
  pipeline?: FlowwardenPipeline;
  retry?: RetryOptions;
  /** Default page size for audits (Prefer odata.maxpagesize). */
  auditPageSize?: number;
}

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

const AUDIT_SELECT = 'auditid,createdon,action,operation,objecttypecode,_objectid_value,_userid_value,_callinguserid_value,attributemask,changedata';

function guid(field: string, v: string): string {
  if (!GUID.test(v)) throw new TypeError(`${field}: expected a GUID, got ${JSON.stringify(v)}`);
  return v;
}

export class DataverseClient implements DataverseSource {
  private readonly pipelines = new Map<string, FlowwardenPipeline>();

  constructor(private readonly options: DataverseClientOptions) {
    if (!options.pipeline && !options.credential) throw new TypeError('DataverseClient: credential or pipeline is required');
  }

  private base(environmentId: string): string {
    return `${this.options.baseUrlFor(environmentId).replace(/\/+$/, '')}/api/data/v9.2`;
  }

  private pipelineFor(environmentId: string): FlowwardenPipeline {
    if (this.options.pipeline) return this.options.pipeline;
    const scope = this.options.scopeFor?.(environmentId) ?? `${new URL(this.options.baseUrlFor(environmentId)).origin}/.default`;
    let p = this.pipelines.get(scope);
    if (!p) {
      p = createPipeline({ credential: this.options.credential, scopes: scope, retry: this.options.retry });
      this.pipelines.set(scope, p);
    }
    return p;
  }

  private headers(pageSize?: number): Record<string, string> {
    return {
      'OData-Version': '4.0',
      'OData-MaxVersion': '4.0',
      Prefer: `odata.include-annotations="*"${pageSize ? `,odata.maxpagesize=${pageSize}` : ''}`,
    };
  }

  /** Page through an entity set, following @odata.nextLink unchanged (same origin only). */
  private async *pages<T>(environmentId: string, url: string, options?: RequestOptions & { pageSize?: number }): AsyncGenerator<{ rows: T[]; nextLink?: string }> {
    const origin = new URL(this.base(environmentId)).origin;
    let next: string | undefined = url;
    while (next) {
      if (new URL(next).origin !== origin) throw new ResponseShapeError(next, '@odata.nextLink', 'points to another host');
      const current: string = next;
      const { body } = await sendJson<Record<string, unknown>>(this.pipelineFor(environmentId), current, { headers: this.headers(options?.pageSize), abortSignal: options?.abortSignal });
      if (!Array.isArray(body?.value)) throw new ResponseShapeError(current, 'value', 'expected an array');
      const link = body['@odata.nextLink'];
      next = typeof link === 'string' ? link : undefined;
      yield { rows: body.value as T[], nextLink: next };
    }
  }

  private async *rows<T>(environmentId: string, url: string, options?: RequestOptions): AsyncGenerator<T> {
    for await (const page of this.pages<T>(environmentId, url, options)) yield* page.rows;
  }

  private async all<T>(environmentId: string, url: string, options?: RequestOptions): Promise<T[]> {
    const out: T[] = [];
    for await (const r of this.rows<T>(environmentId, url, options)) out.push(r);
    return out;
  }

  async *listAudits(environmentId: string, options: RequestOptions & { since: string; until?: string; pageSize?: number; resume?: string }): AsyncIterable<AuditPage> {
    if (!ISO.test(options.since)) throw new TypeError(`since: expected an ISO 8601 date-time, got ${JSON.stringify(options.since)}`);
    if (options.until !== undefined && !ISO.test(options.until)) throw new TypeError(`until: expected an ISO 8601 date-time, got ${JSON.stringify(options.until)}`);
    const pageSize = options.pageSize ?? this.options.auditPageSize ?? 500;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 5000) throw new TypeError(`pageSize: expected 1..5000, got ${pageSize}`);
    const filter = `createdon ge ${options.since}${options.until ? ` and createdon lt ${options.until}` : ''}`;
    const first = options.resume ?? `${this.base(environmentId)}/audits?$select=${AUDIT_SELECT}&$filter=${encodeURIComponent(filter)}&$orderby=${encodeURIComponent('createdon asc')}`;
    for await (const page of this.pages<AuditRow>(environmentId, first, { ...options, pageSize })) {
      yield { rows: page.rows, ...(page.nextLink ? { nextLink: page.nextLink } : {}) };
    }
  }

  async getSystemUser(environmentId: string, systemUserId: string, options?: RequestOptions): Promise<SystemUserRecord | undefined> {
    const url = `${this.base(environmentId)}/systemusers(${guid('systemUserId', systemUserId)})?$select=systemuserid,fullname,domainname,internalemailaddress,applicationid,isdisabled,azureactivedirectoryobjectid,accessmode`;
    try {
      const { body } = await sendJson<SystemUserRecord>(this.pipelineFor(environmentId), url, { headers: this.headers(), abortSignal: options?.abortSignal });
      return body;
    } catch (e) {
      if (e instanceof HttpError && e.status === 404) return undefined;
      throw e;
    }
  }

  listSystemUsers(environmentId: string, options?: RequestOptions): AsyncIterable<SystemUserRecord> {
    return this.rows(environmentId, `${this.base(environmentId)}/systemusers?$select=systemuserid,fullname,domainname,internalemailaddress,applicationid,isdisabled,azureactivedirectoryobjectid,accessmode`, options);
  }

  listRoles(environmentId: string, options?: RequestOptions): AsyncIterable<RoleRecord> {
    return this.rows(environmentId, `${this.base(environmentId)}/roles?$select=roleid,name`, options);
  }

  listUserRoles(environmentId: string, systemUserId: string, options?: RequestOptions): Promise<RoleRecord[]> {
    return this.all(environmentId, `${this.base(environmentId)}/systemusers(${guid('systemUserId', systemUserId)})/systemuserroles_association?$select=roleid,name`, options);
  }

  listTeams(environmentId: string, options?: RequestOptions): AsyncIterable<TeamRecord> {
    return this.rows(environmentId, `${this.base(environmentId)}/teams?$select=teamid,name,teamtype,azureactivedirectoryobjectid`, options);
  }

  async listTeamMembers(environmentId: string, teamId: string, options?: RequestOptions): Promise<string[]> {
    const rows = await this.all<{ systemuserid?: unknown }>(environmentId, `${this.base(environmentId)}/teams(${guid('teamId', teamId)})/teammembership_association?$select=systemuserid`, options);
    return rows.map((r, i) => {
      if (typeof r.systemuserid !== 'string') throw new ResponseShapeError(this.base(environmentId), `value[${i}].systemuserid`, 'expected a string');
      return r.systemuserid;
    });
  }

  listTeamRoles(environmentId: string, teamId: string, options?: RequestOptions): Promise<RoleRecord[]> {
    return this.all(environmentId, `${this.base(environmentId)}/teams(${guid('teamId', teamId)})/teamroles_association?$select=roleid,name`, options);
  }

  listWorkflows(environmentId: string, options?: RequestOptions & { category?: number }): AsyncIterable<WorkflowRecord> {
    if (options?.category !== undefined && !Number.isInteger(options.category)) throw new TypeError(`category: expected a whole number, got ${options.category}`);
    const filter = options?.category !== undefined ? `&$filter=${encodeURIComponent(`category eq ${options.category}`)}` : '';
    return this.rows(environmentId, `${this.base(environmentId)}/workflows?$select=workflowid,name,category,statecode,_ownerid_value,_createdby_value,modifiedon,clientdata${filter}`, options);
  }

  listConnectionReferences(environmentId: string, options?: RequestOptions): AsyncIterable<ConnectionReferenceRecord> {
    return this.rows(environmentId, `${this.base(environmentId)}/connectionreferences?$select=connectionreferenceid,connectionreferencelogicalname,connectionreferencedisplayname,connectorid,connectionid,_ownerid_value,_createdby_value`, options);
  }

  listEnvironmentVariableDefinitions(environmentId: string, options?: RequestOptions): AsyncIterable<EnvironmentVariableDefinitionRecord> {
    return this.rows(environmentId, `${this.base(environmentId)}/environmentvariabledefinitions?$select=environmentvariabledefinitionid,schemaname,displayname,type,defaultvalue`, options);
  }

  listEnvironmentVariableValues(environmentId: string, options?: RequestOptions): AsyncIterable<EnvironmentVariableValueRecord> {
    return this.rows(environmentId, `${this.base(environmentId)}/environmentvariablevalues?$select=environmentvariablevalueid,value,_environmentvariabledefinitionid_value`, options);
  }
}
