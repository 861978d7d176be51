import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_WEBHOOK_DEPTH,
  parseRemoteExecutionContext,
  parseWcfDate,
  parseWebhookHeaders,
  webhookEventId,
  webhookToEvent,
  WebhookPayloadError,
  type ParsedWebhook,
} from '../../../src/sources/webhookPayload';
import { buildRemoteExecutionContext, type ContextSpec } from '../../../bench/webhookBench';
import { ENV, IDS, ORG_HOST, ORG_ID, SAMPLES, who } from './helpers';

const DIR = path.join(SAMPLES, 'webhook');
const read = (f: string): string => readFileSync(path.join(DIR, f), 'utf8');
const RECEIVED = '2026-11-23T12:00:00.000Z';

function expectPayloadError(fn: () => unknown, field: string | RegExp): WebhookPayloadError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(WebhookPayloadError);
  const e = err as WebhookPayloadError;
  if (typeof field === 'string') expect(e.field).toBe(field);
  else expect(e.field).toMatch(field);
  expect(e.message).toContain(e.field);
  return e;
}

describe('published webhook samples', () => {
  it('the sample directory holds exactly the files these tests cover', () => {
    expect(readdirSync(DIR).sort()).toEqual([
      'fusebit-webhook-event.minimal.json',
      'fusebit-webhook-headers.json',
      'remoteexecutioncontext.contact-update.powerapps-docs.json',
    ]);
  });

  it('powerapps-docs contact Update: every field parsed', () => {
    const p = parseRemoteExecutionContext(read('remoteexecutioncontext.contact-update.powerapps-docs.json'), {});
    expect(p).toMatchObject({
      messageName: 'Update',
      primaryEntityName: 'contact',
      primaryEntityId: '6d81597f-0f9f-e711-8122-000d3aa2331c',
      secondaryEntityName: 'none',
      userId: '75c2dd85-e89e-e711-8122-000d3aa2331c',
      initiatingUserId: '75c2dd85-e89e-e711-8122-000d3aa2331c',
      businessUnitId: 'e2b9dd85-e89e-e711-8122-000d3aa2331c',
      organizationId: '4ef5b371-e89e-e711-8122-000d3aa2331c',
      organizationName: 'OrgName',
      correlationId: 'b374239d-4233-41a9-8b17-a86cb4f737b5',
      operationId: '4af10637-4ea2-e711-8122-000d3aa2331c',
      // /Date(1506409448000-0700)/: the ms are UTC; the offset does not shift them.
      operationCreatedOn: '2017-09-26T07:04:08.000Z',
      stage: 40,
      mode: 1,
      depth: 1,
      hasParentContext: true,
      sizeExceeded: false,
      changedAttributes: ['firstname', 'fullname', 'yomifullname'],
    });
    expect(p.requestId).toBeUndefined();
    expect(p.target).toMatchObject({ type: 'Entity', logicalName: 'contact', id: '6d81597f-0f9f-e711-8122-000d3aa2331c' });
    const target = p.target as Extract<ParsedWebhook['target'], { type: 'Entity' }>;
    expect(target.attributes.firstname).toBe('James');
    expect(target.attributes.modifiedon).toEqual({ type: 'Date', iso: '2017-09-26T00:04:07.000Z' });
    expect(target.attributes.modifiedby).toEqual({ type: 'EntityReference', logicalName: 'systemuser', id: '75c2dd85-e89e-e711-8122-000d3aa2331c' });
    expect(target.attributes.modifiedonbehalfby).toBeNull();
    expect(Object.keys(p.postEntityImages)).toEqual(['AsynchronousStepPrimaryName']);
    expect(p.postEntityImages.AsynchronousStepPrimaryName).toMatchObject({ logicalName: 'contact', attributes: { fullname: 'James Glynn (sample)' } });
    expect(p.preEntityImages).toEqual({});
    expect(p.outputParameters).toEqual({});

    const e = webhookToEvent(p, ENV, who, RECEIVED)!;
    expect(e).toMatchObject({
      environmentId: ENV,
      source: 'webhook',
      table: 'contact',
      recordId: '6d81597f-0f9f-e711-8122-000d3aa2331c',
      operation: 'update',
      messageName: 'Update',
      user: { id: '75c2dd85-e89e-e711-8122-000d3aa2331c', resolved: false },
      occurredAt: '2017-09-26T07:04:08.000Z',
      changedAttributes: ['firstname', 'fullname', 'yomifullname'],
    });
    expect(e.callingUser).toBeUndefined();
    expect(e.eventId).toMatch(/^wh-[0-9a-f]{32}$/);
  });

  it('fusebit minimal event: a trimmed Create without user or record — parsed, not attributable', () => {
    const p = parseRemoteExecutionContext(read('fusebit-webhook-event.minimal.json'), JSON.parse(read('fusebit-webhook-headers.json')) as Record<string, string>);
    expect(p).toMatchObject({
      messageName: 'Create',
      primaryEntityName: 'incident',
      organizationId: '73cf6a17-84a0-4f0f-8961-d5f1ec770870',
      organizationName: 'unq73cf6a1784a04f0f8961d5f1ec770',
      operationId: 'add9211d-a6a3-449e-999b-ffaf47a5ba25',
      operationCreatedOn: '2022-09-29T22:45:20.252Z',
      headers: { organization: 'org6eadd181.crm.dynamics.com', entityName: 'incident', requestName: 'Create', sizeExceeded: false },
      inputParameters: {},
      changedAttributes: [],
      hasParentContext: false,
    });
    expect(p.userId).toBeUndefined();
    expect(p.primaryEntityId).toBeUndefined();
    expect(webhookToEvent(p, ENV, who, RECEIVED)).toBeUndefined();
  });

  it('fusebit headers: parsed as headers; posted as a body it is not a context (MessageName)', () => {
    const h = parseWebhookHeaders(JSON.parse(read('fusebit-webhook-headers.json')) as Record<string, string>);
    expect(h).toEqual({ organization: 'org6eadd181.crm.dynamics.com', entityName: 'incident', requestName: 'Create', sizeExceeded: false });
    expectPayloadError(() => parseRemoteExecutionContext(read('fusebit-webhook-headers.json'), {}), 'MessageName');
  });
});

const RECORD = 'b0000000-0000-4000-8000-000000000001';
const spec = (over: Partial<ContextSpec>): ContextSpec => ({
  message: 'Update',
  table: 'cr5f2_invoice',
  recordId: RECORD,
  userId: IDS.bob,
  organizationId: ORG_ID,
  at: Date.parse('2026-11-20T10:15:30.000Z'),
  ...over,
});
const parse = (s: ContextSpec, headers: Record<string, string> = {}): ParsedWebhook => parseRemoteExecutionContext(JSON.stringify(buildRemoteExecutionContext(s)), headers);

describe('message variants', () => {
  it('Create: record from PrimaryEntityId, attributes listed, id in OutputParameters', () => {
    const p = parse(spec({ message: 'Create', attributes: { cr5f2_amount: { __type: 'Money:http://schemas.microsoft.com/xrm/2011/Contracts', Value: 12.5 }, statuscode: { __type: 'OptionSetValue:http://schemas.microsoft.com/xrm/2011/Contracts', Value: 1 } } }));
    expect(p.outputParameters.id).toBe(RECORD);
    expect(p.changedAttributes).toEqual(['cr5f2_amount', 'statuscode']);
    const t = p.target as Extract<ParsedWebhook['target'], { type: 'Entity' }>;
    expect(t.attributes.cr5f2_amount).toEqual({ type: 'Money', value: 12.5 });
    expect(t.attributes.statuscode).toEqual({ type: 'OptionSetValue', value: 1 });
    expect(webhookToEvent(p, ENV, who, RECEIVED)).toMatchObject({ operation: 'create', table: 'cr5f2_invoice', recordId: RECORD, user: { id: IDS.bob, name: 'Bob Person' } });
  });

  it('Update by an impersonating app user: InitiatingUserId becomes the calling user', () => {
    const p = parse(spec({ userId: IDS.alice, initiatingUserId: IDS.contactEnricher, table: 'account' }));
    const e = webhookToEvent(p, ENV, who, RECEIVED)!;
    expect(e.user.id).toBe(IDS.alice);
    expect(e.callingUser?.id).toBe(IDS.contactEnricher);
    expect(e.occurredAt).toBe('2026-11-20T10:15:30.000Z');
  });

  it('Delete: Target is an EntityReference', () => {
    const p = parse(spec({ message: 'Delete' }));
    expect(p.target).toEqual({ type: 'EntityReference', logicalName: 'cr5f2_invoice', id: RECORD });
    expect(webhookToEvent(p, ENV, who, RECEIVED)).toMatchObject({ operation: 'delete', recordId: RECORD });
  });

  it('SetState maps to update', () => {
    expect(webhookToEvent(parse(spec({ message: 'SetState' })), ENV, who, RECEIVED)?.operation).toBe('update');
  });

  it('Assign: the assignee is the target principal', () => {
    const p = parse(spec({ message: 'Assign', principal: { logicalName: 'team', id: 'e0000000-0000-4000-8000-000000000001' } }));
    expect(webhookToEvent(p, ENV, who, RECEIVED)).toMatchObject({ operation: 'assign', targetPrincipalId: 'e0000000-0000-4000-8000-000000000001', targetPrincipalType: 'team' });
  });

  it('GrantAccess / ModifyAccess / RevokeAccess: share, modify-share, unshare with the principal', () => {
    const principal = { logicalName: 'systemuser' as const, id: IDS.alice };
    expect(webhookToEvent(parse(spec({ message: 'GrantAccess', principal })), ENV, who, RECEIVED)).toMatchObject({ operation: 'share', targetPrincipalId: IDS.alice, targetPrincipalType: 'systemuser' });
    expect(webhookToEvent(parse(spec({ message: 'ModifyAccess', principal })), ENV, who, RECEIVED)).toMatchObject({ operation: 'modify-share', targetPrincipalId: IDS.alice });
    expect(webhookToEvent(parse(spec({ message: 'RevokeAccess', principal })), ENV, who, RECEIVED)).toMatchObject({ operation: 'unshare', targetPrincipalId: IDS.alice });
  });

  it('Associate: PrimaryEntityName "none" → the Target table; role relationship → role-assign with the role', () => {
    const role = 'd0000000-0000-4000-8000-0000000000d1';
    const plain = parse(spec({ message: 'Associate', table: 'account', relationship: 'contact_customer_accounts', related: [{ logicalName: 'contact', id: 'c0000000-0000-4000-8000-000000000001' }] }));
    expect(webhookToEvent(plain, ENV, who, RECEIVED)).toMatchObject({ operation: 'associate', table: 'account', relationship: 'contact_customer_accounts' });
    const roleAssign = parse(spec({ message: 'Associate', table: 'systemuser', recordId: IDS.bob, relationship: 'systemuserroles_association', related: [{ logicalName: 'role', id: role, name: 'System Administrator' }] }));
    expect(webhookToEvent(roleAssign, ENV, who, RECEIVED)).toMatchObject({
      operation: 'role-assign',
      table: 'systemuser',
      targetPrincipalId: IDS.bob,
      targetPrincipalType: 'systemuser',
      roleId: role,
      roleName: 'System Administrator',
      relationship: 'systemuserroles_association',
    });
    const remove = parse(spec({ message: 'Disassociate', table: 'team', recordId: 'e0000000-0000-4000-8000-000000000001', relationship: 'teamroles_association', related: [{ logicalName: 'role', id: role }] }));
    expect(webhookToEvent(remove, ENV, who, RECEIVED)).toMatchObject({ operation: 'role-remove', targetPrincipalType: 'team' });
  });

  it('msg-size-exceeded: stripped body still parses and is marked', () => {
    const full = buildRemoteExecutionContext(spec({}));
    const { InputParameters: _i, ParentContext: _p, PreEntityImages: _a, PostEntityImages: _b, ...stripped } = full;
    const p = parseRemoteExecutionContext(JSON.stringify(stripped), { 'x-ms-dynamics-msg-size-exceeded': 'true', 'x-ms-dynamics-organization': ORG_HOST });
    expect(p.sizeExceeded).toBe(true);
    expect(p.headers.organization).toBe(ORG_HOST);
    expect(p.target).toBeUndefined();
    expect(webhookToEvent(p, ENV, who, RECEIVED)).toMatchObject({ operation: 'update', recordId: RECORD, table: 'cr5f2_invoice' });
  });

  it('ParentContext, BOM and ISO OperationCreatedOn are accepted', () => {
    const p = parseRemoteExecutionContext('\ufeff' + JSON.stringify({ ...buildRemoteExecutionContext(spec({ parent: true })), OperationCreatedOn: '2026-11-20T10:15:30Z' }), {});
    expect(p.hasParentContext).toBe(true);
    expect(p.operationCreatedOn).toBe('2026-11-20T10:15:30.000Z');
  });

  it('the event id is stable for a redelivery and differs between changes', () => {
    const body = JSON.stringify(buildRemoteExecutionContext(spec({})));
    expect(webhookEventId(parseRemoteExecutionContext(body, {}))).toBe(webhookEventId(parseRemoteExecutionContext(body, {})));
    expect(webhookEventId(parse(spec({})))).not.toBe(webhookEventId(parse(spec({}))));
  });

  it('/Date()/ values', () => {
    expect(parseWcfDate('/Date(0)/')).toBe('1970-01-01T00:00:00.000Z');
    expect(parseWcfDate('/Date(1506409448000+0200)/')).toBe('2017-09-26T07:04:08.000Z');
    expect(parseWcfDate('/Date(-86400000)/')).toBe('1969-12-31T00:00:00.000Z');
    expect(parseWcfDate('/Date(abc)/')).toBeUndefined();
    expect(parseWcfDate('2017-01-01')).toBeUndefined();
  });
});

describe('malformed bodies name the field', () => {
  const good = (): Record<string, unknown> => buildRemoteExecutionContext(spec({}));
  it.each<[string, () => string, string | RegExp]>([
    ['empty', () => '', '(body)'],
    ['not JSON', () => '{"MessageName": "Upd', '(body)'],
    ['array', () => '[1,2]', '(body)'],
    ['string', () => '"hello"', '(body)'],
    ['no MessageName', () => JSON.stringify({ ...good(), MessageName: undefined }), 'MessageName'],
    ['MessageName not a string', () => JSON.stringify({ ...good(), MessageName: 42 }), 'MessageName'],
    ['no PrimaryEntityName', () => JSON.stringify({ ...good(), PrimaryEntityName: null }), 'PrimaryEntityName'],
    ['UserId not a GUID', () => JSON.stringify({ ...good(), UserId: 'bob' }), 'UserId'],
    ['PrimaryEntityId not a GUID', () => JSON.stringify({ ...good(), PrimaryEntityId: 12 }), 'PrimaryEntityId'],
    ['InputParameters not an array', () => JSON.stringify({ ...good(), InputParameters: { Target: 1 } }), 'InputParameters'],
    ['InputParameters item without key', () => JSON.stringify({ ...good(), InputParameters: [{ value: 1 }] }), 'InputParameters[0].key'],
    ['bad OperationCreatedOn', () => JSON.stringify({ ...good(), OperationCreatedOn: 'yesterday' }), 'OperationCreatedOn'],
    ['Stage not a number', () => JSON.stringify({ ...good(), Stage: 'forty' }), 'Stage'],
    ['image not an Entity', () => JSON.stringify({ ...good(), PostEntityImages: [{ key: 'img', value: 5 }] }), 'PostEntityImages.img'],
    ['ParentContext not an object', () => JSON.stringify({ ...good(), ParentContext: 'x' }), 'ParentContext'],
    ['Money without Value', () => JSON.stringify({ ...good(), InputParameters: [{ key: 'X', value: { __type: 'Money:x', Value: 'a' } }] }), 'InputParameters[0].value.Value'],
  ])('%s', (_name, body, field) => {
    const e = expectPayloadError(() => parseRemoteExecutionContext(body(), {}), field);
    // Messages never quote the input.
    expect(e.message).not.toContain('Upd');
    expect(e.message).not.toContain('hello');
  });

  it('deep nesting is refused without a stack overflow', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const body = JSON.stringify({ ...good(), InputParameters: [{ key: 'Target', value: 0 }] }).replace('"value":0', `"value":${deep}`);
    expectPayloadError(() => parseRemoteExecutionContext(body, {}), /^InputParameters\[0\]\.value/);
    const parentBomb = JSON.stringify({ ...good(), ParentContext: {} }).replace('"ParentContext":{}', `"ParentContext":{"a":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`);
    expectPayloadError(() => parseRemoteExecutionContext(parentBomb, {}), 'ParentContext');
    // Just under the limit is fine.
    const ok = '['.repeat(MAX_WEBHOOK_DEPTH - 5) + ']'.repeat(MAX_WEBHOOK_DEPTH - 5);
    expect(() => parseRemoteExecutionContext(JSON.stringify({ ...good(), InputParameters: [{ key: 'X', value: 0 }] }).replace('"value":0', `"value":${ok}`), {})).not.toThrow();
  });

  it('a huge body parses (5 MB of attributes) without crashing', () => {
    const attributes: Record<string, string> = {};
    for (let i = 0; i < 5000; i++) attributes[`cr5f2_field${i}`] = 'x'.repeat(1000);
    const p = parse(spec({ attributes }));
    expect(p.changedAttributes.length).toBe(5000);
  });

  it('__proto__ keys do not pollute', () => {
    const body = JSON.stringify({ ...good(), InputParameters: [{ key: '__proto__', value: { polluted: true } }] });
    const p = parseRemoteExecutionContext(body, {});
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.keys(p.inputParameters)).toContain('__proto__');
  });
});

describe('fuzzing: the parser throws nothing but WebhookPayloadError', () => {
  const check = (body: string): void => {
    try {
      parseRemoteExecutionContext(body, {});
    } catch (e) {
      if (!(e instanceof WebhookPayloadError)) throw e;
    }
  };

  it('arbitrary strings', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => check(s)), { numRuns: 2000 });
  });

  it('arbitrary JSON values', () => {
    fc.assert(fc.property(fc.json({ maxDepth: 8 }), (s) => check(s)), { numRuns: 2000 });
  });

  it('contexts with arbitrary values in every field', () => {
    const base = buildRemoteExecutionContext(spec({ parent: true, attributes: { a: 1 } }));
    const keys = Object.keys(base);
    fc.assert(
      fc.property(fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 6 }), fc.constantFrom(...keys), fc.jsonValue({ maxDepth: 4 }), (k1, v1, k2, v2) => {
        check(JSON.stringify({ ...base, [k1]: v1, [k2]: v2 }));
      }),
      { numRuns: 2000 },
    );
  });

  it('key/value items and typed values with arbitrary shapes', () => {
    const typed = fc.record({
      __type: fc.constantFrom('Entity:x', 'EntityReference:x', 'OptionSetValue:x', 'Money:x', 'EntityCollection:x', 'Other:x'),
      LogicalName: fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
      Id: fc.oneof(fc.uuid(), fc.string(), fc.constant(null)),
      Value: fc.jsonValue({ maxDepth: 2 }),
      Attributes: fc.oneof(fc.constant([]), fc.array(fc.record({ key: fc.oneof(fc.string(), fc.integer()), value: fc.jsonValue({ maxDepth: 3 }) })), fc.jsonValue({ maxDepth: 2 })),
      Entities: fc.jsonValue({ maxDepth: 3 }),
    }, { requiredKeys: ['__type'] });
    const base = buildRemoteExecutionContext(spec({}));
    fc.assert(
      fc.property(fc.array(fc.record({ key: fc.string(), value: fc.oneof(typed, fc.jsonValue({ maxDepth: 3 })) }), { maxLength: 5 }), (items) => {
        check(JSON.stringify({ ...base, InputParameters: items }));
        check(JSON.stringify({ ...base, PreEntityImages: items }));
      }),
      { numRuns: 2000 },
    );
  });

  it('parsed contexts always map to an event or to nothing, never throw', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<ContextSpec['message']>('Create', 'Update', 'Delete', 'Assign', 'GrantAccess', 'ModifyAccess', 'RevokeAccess', 'Associate', 'Disassociate', 'SetState'),
        fc.uuid(),
        fc.uuid(),
        fc.option(fc.uuid(), { nil: undefined }),
        (message, recordId, userId, initiatingUserId) => {
          const s: ContextSpec = { message, table: 'contact', recordId, userId, organizationId: ORG_ID, related: [{ logicalName: 'role', id: recordId }], relationship: 'systemuserroles_association' };
          if (initiatingUserId) s.initiatingUserId = initiatingUserId;
          const e = webhookToEvent(parse(s), ENV, who, RECEIVED);
          expect(e?.recordId).toBe(recordId.toLowerCase() === '00000000-0000-0000-0000-000000000000' ? undefined : recordId.toLowerCase());
        },
      ),
      { numRuns: 300 },
    );
  });
});
