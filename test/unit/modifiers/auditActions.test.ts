import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AUDIT_ACTIONS,
  AuditRowError,
  auditRowToEvent,
  countUnknownAction,
  mapAuditAction,
  type AuditRow,
} from '../../../src/core/modifiers/auditActions';
import { AUDIT_OPERATIONS } from '../../../src/core/records';
import { ENV, IDS, SAMPLES, who } from './helpers';

describe('audit action codes', () => {
  it.each([
    [1, 'create', 'Create'],
    [2, 'update', 'Update'],
    [3, 'delete', 'Delete'],
    [13, 'assign', 'Assign'],
    [14, 'share', 'Share'],
    [33, 'associate', 'Associate Entities'],
    [34, 'disassociate', 'Disassociate Entities'],
    [48, 'modify-share', 'Modify Share'],
    [49, 'unshare', 'Unshare'],
    [53, 'role-assign', 'Assign Role To Team'],
    [54, 'role-remove', 'Remove Role From Team'],
    [55, 'role-assign', 'Assign Role To User'],
    [56, 'role-remove', 'Remove Role From User'],
    [64, 'other', 'User Access via Web'],
  ])('action %i → %s', (code, op, name) => {
    expect(mapAuditAction(code, 2)).toEqual({ operation: op, actionName: name, known: true });
  });

  it('every mapped operation is an AuditOperation', () => {
    for (const a of Object.values(AUDIT_ACTIONS)) expect(AUDIT_OPERATIONS).toContain(a.operation);
  });

  it('unknown action falls back to the operation code, else other; never throws', () => {
    expect(mapAuditAction(999, 3)).toEqual({ operation: 'delete', known: false });
    expect(mapAuditAction(999, 77)).toEqual({ operation: 'other', known: false });
    expect(mapAuditAction(undefined, undefined)).toEqual({ operation: 'other', known: false });
    expect(mapAuditAction(null, null)).toEqual({ operation: 'other', known: false });
  });

  it('counts unknown codes', () => {
    const counts: Record<string, number> = {};
    countUnknownAction(counts, 999);
    countUnknownAction(counts, 999);
    countUnknownAction(counts, 7);
    expect(counts).toEqual({ 'action:999': 2, 'action:7': 1 });
  });
});

const row = (over: Partial<AuditRow> = {}): AuditRow => ({
  auditid: 'A0000000-0000-4000-8000-000000000001',
  createdon: '2026-11-20T10:15:30Z',
  action: 2,
  operation: 2,
  objecttypecode: 'cr5f2_invoice',
  _objectid_value: 'B0000000-0000-4000-8000-000000000001',
  _userid_value: IDS.bob,
  _callinguserid_value: null,
  ...over,
});

describe('auditRowToEvent', () => {
  it('maps the published "deleted contacts" audit row (no action column selected → other)', () => {
    const body = JSON.parse(readFileSync(path.join(SAMPLES, 'dataverse/audits-query-deleted-contacts.response.json'), 'utf8')) as { value: AuditRow[] };
    const sample = body.value[0]!;
    const e = auditRowToEvent({ ...sample, auditid: 'c0000000-0000-4000-8000-0000000000aa' }, ENV, who);
    expect(e).toMatchObject({
      environmentId: ENV,
      source: 'audit',
      table: 'contact',
      recordId: '0e76dc8a-41b5-ec11-983f-0022482bf046',
      operation: 'other',
      occurredAt: '2022-05-12T22:19:12.000Z',
      user: { id: '4026be43-6b69-e111-8f65-78e7d1620f5e', resolved: false, name: 'FirstName LastName' },
    });
    // With the action the query filtered on (3 = Delete) it is a delete.
    expect(auditRowToEvent({ ...sample, auditid: 'c1', action: 3, operation: 3 }, ENV, who).operation).toBe('delete');
  });

  it('maps an update with user, time and action code', () => {
    const e = auditRowToEvent(row(), { id: ENV }, who);
    expect(e).toEqual({
      environmentId: ENV,
      source: 'audit',
      eventId: 'a0000000-0000-4000-8000-000000000001',
      table: 'cr5f2_invoice',
      recordId: 'b0000000-0000-4000-8000-000000000001',
      operation: 'update',
      actionCode: 2,
      messageName: 'Update',
      user: who(IDS.bob),
      occurredAt: '2026-11-20T10:15:30.000Z',
    });
  });

  it('sets callingUser only when it differs from the user', () => {
    expect(auditRowToEvent(row({ _callinguserid_value: IDS.bob }), ENV, who).callingUser).toBeUndefined();
    const e = auditRowToEvent(row({ _userid_value: IDS.alice, _callinguserid_value: IDS.contactEnricher }), ENV, who);
    expect(e.user.id).toBe(IDS.alice);
    expect(e.callingUser?.id).toBe(IDS.contactEnricher);
  });

  it('role assign (55) names the principal and the role from changedata', () => {
    const role = 'd0000000-0000-4000-8000-0000000000d1';
    const e = auditRowToEvent(row({ action: 55, objecttypecode: 'systemuser', _objectid_value: IDS.bob, changedata: `role,${role}` }), ENV, who);
    expect(e).toMatchObject({ operation: 'role-assign', targetPrincipalId: IDS.bob, targetPrincipalType: 'systemuser', roleId: role, actionCode: 55 });
    const t = auditRowToEvent(row({ action: 54, objecttypecode: 'team', _objectid_value: 'e0000000-0000-4000-8000-000000000001', changedata: role }), ENV, who);
    expect(t).toMatchObject({ operation: 'role-remove', targetPrincipalType: 'team', roleId: role });
  });

  it('associate on systemuser through the roles relationship is a role assignment', () => {
    const role = 'd0000000-0000-4000-8000-0000000000d2';
    const e = auditRowToEvent(row({ action: 33, objecttypecode: 'systemuser', _objectid_value: IDS.bob, changedata: `systemuserroles_association~role~${role}` }), ENV, who);
    expect(e).toMatchObject({ operation: 'role-assign', relationship: 'systemuserroles_association', roleId: role });
    const plain = auditRowToEvent(row({ action: 33, objecttypecode: 'contact', changedata: 'contact_customer_accounts' }), ENV, who);
    expect(plain.operation).toBe('associate');
  });

  it('share (14) takes the principal from changedata', () => {
    const p = 'f0000000-0000-4000-8000-000000000001';
    const e = auditRowToEvent(row({ action: 14, changedata: `systemuser,${p},1` }), ENV, who);
    expect(e).toMatchObject({ operation: 'share', targetPrincipalId: p, targetPrincipalType: 'systemuser' });
  });

  it('reads the JSON changedata: changed columns, assign owner, relationship targets', () => {
    const upd = auditRowToEvent(row({ changedata: JSON.stringify({ changedAttributes: [{ logicalName: 'cr5f2_amount', oldValue: '1200.00', newValue: '120.00' }, { logicalName: 'cr5f2_status', oldValue: '1', newValue: '2' }] }) }), ENV, who);
    expect(upd.changedAttributes).toEqual(['cr5f2_amount', 'cr5f2_status']);
    // Values never travel into the event.
    expect(JSON.stringify(upd)).not.toContain('1200.00');
    const assign = auditRowToEvent(row({ action: 13, objecttypecode: 'workflow', changedata: JSON.stringify({ changedAttributes: [{ logicalName: 'ownerid', oldValue: IDS.svcOwner, newValue: `systemuser,${IDS.alice}` }] }) }), ENV, who);
    expect(assign).toMatchObject({ operation: 'assign', targetPrincipalId: IDS.alice, targetPrincipalType: 'systemuser', changedAttributes: ['ownerid'] });
    const role = 'd0000000-0000-4000-8000-0000000000d3';
    const viaJson = auditRowToEvent(row({ action: 56, objecttypecode: 'systemuser', _objectid_value: IDS.bob, changedata: JSON.stringify({ relationshipName: 'systemuserroles_association', targetRecords: [{ logicalName: 'role', id: role }] }) }), ENV, who);
    expect(viaJson).toMatchObject({ operation: 'role-remove', roleId: role, relationship: 'systemuserroles_association', targetPrincipalId: IDS.bob });
    const share = auditRowToEvent(row({ action: 14, changedata: JSON.stringify({ relationshipName: null, targetRecords: [{ logicalName: 'team', id: 'e0000000-0000-4000-8000-000000000009' }] }) }), ENV, who);
    expect(share).toMatchObject({ operation: 'share', targetPrincipalId: 'e0000000-0000-4000-8000-000000000009', targetPrincipalType: 'team' });
    // Broken JSON is not an error.
    expect(auditRowToEvent(row({ changedata: '{"changedAttributes": [' }), ENV, who).operation).toBe('update');
  });

  it.each([
    [{ auditid: '' }, 'auditid'],
    [{ createdon: 'yesterday' }, 'createdon'],
    [{ objecttypecode: '' }, 'objecttypecode'],
    [{ _userid_value: null }, '_userid_value'],
    [{ _userid_value: 'not-a-guid' }, '_userid_value'],
    [{ _objectid_value: null }, '_objectid_value'],
    [{ action: 'two' as unknown as number }, 'action'],
  ])('unmappable row %j → AuditRowError naming %s', (over, field) => {
    let err: unknown;
    try {
      auditRowToEvent(row(over as Partial<AuditRow>), ENV, who);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AuditRowError);
    expect((err as AuditRowError).field).toBe(field);
    expect((err as AuditRowError).message).toContain(field);
  });

  it('an unknown action code still maps (to other)', () => {
    expect(auditRowToEvent(row({ action: 4242, operation: 9 }), ENV, who).operation).toBe('other');
  });
});
