// explain() and checkRequest(): what a principal may ask for, who approves, what refuses and why; time windows by zone.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePolicy } from '../../src/policy/load.js';
import { inTimeWindow } from '../../src/policy/compile.js';
import { explain, maskExample, type ExplainEntry } from '../../src/policy/explain.js';
import { checkRequest, type RequestAsk } from '../../src/policy/decide.js';
import { AirlockError } from '../../src/domain/errors.js';
import type { TimeWindow } from '../../src/policy/schema.js';

const POLICY = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
  - { name: carol, groups: [dba] }
  - { name: dave, groups: [engineers, oncall] }
  - { name: sec, groups: [security] }
  - { name: agent-1, kind: agent, groups: [agents] }
admins: { groups: [security] }
auditors: { principals: [carol] }
resources:
  - { name: prod-orders, kind: postgres, address: "127.0.0.1:5432", labels: { env: prod, team: payments } }
  - { name: staging-orders, kind: postgres, address: "127.0.0.1:5432", labels: { env: staging } }
  - { name: bastion, kind: ssh, address: "127.0.0.1:22", labels: { env: prod } }
roles:
  - name: read
    resources: { labels: { env: prod } }
    max_duration: 4h
    requestable_by: { groups: [engineers, agents] }
    approval:
      approver_groups: [dba]
      auto_approve:
        - { requester_groups: [oncall], max_duration: 1h, time_window: { from: "09:00", to: "17:00", zone: Europe/Berlin } }
    justification: { pattern: "^[A-Z]+-[0-9]+", hint: "Start with a ticket such as OPS-123." }
  - name: write
    resources: { names: [prod-orders] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers, dba] }
    approval: { approvals: 2, approver_groups: [dba], approver_principals: [sec] }
    justification: { required: false, ticket_required: true, ticket_pattern: "^INC-[0-9]+$" }
    break_glass: true
  - name: self-ok
    resources: { names: [staging-orders] }
    max_duration: 2h
    requestable_by: { groups: [dba], principals: [alice] }
    approval: { approver_groups: [dba], allow_self_approval: true }
    justification: { required: false }
`;

const policy = parsePolicy(POLICY, 'explain.yaml');

function entry(entries: ExplainEntry[], resource: string, role: string): ExplainEntry {
  const e = entries.find((x) => x.resource === resource && x.role === role);
  assert.ok(e, `no entry for ${role} on ${resource}: ${entries.map((x) => `${x.role}@${x.resource}`).join(', ')}`);
  return e;
}

function throwsAirlock(fn: () => unknown, code: string, message?: RegExp): AirlockError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AirlockError, `expected an AirlockError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return e;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

describe('explain', () => {
  test('for a requester: the roles covering each resource, with limits, approvers and rules', () => {
    const x = explain(policy, 'alice');
    assert.deepEqual(x.principal, { name: 'alice', kind: 'user', groups: ['engineers'], group_sources: { engineers: ['file'] }, admin: false, auditor: false });
    assert.equal(x.policy_hash, policy.hash);
    // Without a resource named, only the roles that cover each resource are listed.
    assert.deepEqual(
      x.entries.map((e) => `${e.role}@${e.resource}`),
      ['read@prod-orders', 'write@prod-orders', 'self-ok@staging-orders', 'read@bastion'],
    );
    const read = entry(x.entries, 'prod-orders', 'read');
    assert.equal(read.allowed, true);
    assert.deepEqual(read.refusals, []);
    assert.equal(read.max_duration, '4h');
    assert.equal(read.max_duration_seconds, 14400);
    assert.equal(read.read_only, true);
    assert.equal(read.break_glass, false);
    assert.deepEqual(read.approval.approvers, ['bob', 'carol']);
    assert.deepEqual(read.approval.approver_groups, ['dba']);
    assert.equal(read.approval.approvals, 1);
    assert.deepEqual(read.justification, { required: true, pattern: '^[A-Z]+-[0-9]+', ticket_required: false, hint: 'Start with a ticket such as OPS-123.' });
    const write = entry(x.entries, 'prod-orders', 'write');
    assert.equal(write.allowed, true);
    assert.equal(write.read_only, false);
    assert.equal(write.break_glass, true);
    assert.equal(write.approval.approvals, 2);
    assert.deepEqual(write.approval.approvers, ['bob', 'carol', 'sec'], 'approver principals and approver groups together');
    assert.deepEqual(write.justification, { required: false, pattern: null, ticket_required: true, hint: null });
    // alice is named in requestable_by.principals of self-ok even without the dba group.
    assert.equal(entry(x.entries, 'staging-orders', 'self-ok').allowed, true);
  });

  test('for an approver: refusals carry the rule that refuses; the approvers listed exclude the requester', () => {
    const x = explain(policy, 'bob', 'prod-orders');
    // With a resource named, every role is listed, so a refusal explains itself.
    assert.deepEqual(x.entries.map((e) => e.role), ['read', 'write', 'self-ok']);
    const read = entry(x.entries, 'prod-orders', 'read');
    assert.equal(read.allowed, false);
    assert.deepEqual(read.refusals, [
      { code: 'AIRLOCK_NOT_REQUESTABLE', rule: 'roles.read.requestable_by', message: 'role "read" may be requested only by groups engineers, agents; bob is in dba' },
    ]);
    const write = entry(x.entries, 'prod-orders', 'write');
    assert.equal(write.allowed, true);
    assert.deepEqual(write.approval.approvers, ['carol', 'sec'], 'bob cannot approve his own request');
    const selfOk = entry(x.entries, 'prod-orders', 'self-ok');
    assert.deepEqual(selfOk.refusals, [{ code: 'AIRLOCK_ROLE_NOT_FOR_RESOURCE', rule: 'roles.self-ok.resources', message: 'role "self-ok" does not cover resource "prod-orders"' }]);
    // Where the role allows self-approval, the requester stays among the approvers.
    const staging = explain(policy, 'bob', 'staging-orders');
    assert.deepEqual(entry(staging.entries, 'staging-orders', 'self-ok').approval.approvers, ['bob', 'carol']);
    assert.equal(entry(staging.entries, 'staging-orders', 'self-ok').approval.self_approval, true);
  });

  test('several refusals are all listed, each with its rule', () => {
    const x = explain(policy, 'sec', 'staging-orders');
    assert.deepEqual(x.principal, { name: 'sec', kind: 'user', groups: ['security'], group_sources: { security: ['file'] }, admin: true, auditor: false });
    const read = entry(x.entries, 'staging-orders', 'read');
    assert.deepEqual(read.refusals.map((r) => [r.code, r.rule]), [
      ['AIRLOCK_ROLE_NOT_FOR_RESOURCE', 'roles.read.resources'],
      ['AIRLOCK_NOT_REQUESTABLE', 'roles.read.requestable_by'],
    ]);
    assert.match(read.refusals[1]!.message, /sec is in security$/);
    const selfOk = entry(x.entries, 'staging-orders', 'self-ok');
    assert.equal(selfOk.refusals[0]!.message, 'role "self-ok" may be requested only by groups dba or alice; sec is in security');
    assert.equal(explain(policy, 'carol').principal.auditor, true);
    const admin = explain(policy, 'admin');
    assert.equal(admin.principal.admin, true, 'the bootstrap admin');
    assert.ok(admin.entries.every((e) => !e.allowed && e.refusals[0]!.message.endsWith('admin is in no group')));
  });

  test('auto-approval: which rules apply to the principal', () => {
    const auto = (who: string) => entry(explain(policy, who, 'prod-orders').entries, 'prod-orders', 'read').approval.auto_approve;
    assert.deepEqual(auto('dave'), [{ requester_groups: ['oncall'], max_duration: '1h', time_window: 'mon,tue,wed,thu,fri 09:00-17:00 Europe/Berlin', applies_to_principal: true }]);
    assert.equal(auto('alice')[0]!.applies_to_principal, false);
    assert.deepEqual(entry(explain(policy, 'dave', 'prod-orders').entries, 'prod-orders', 'write').approval.auto_approve, []);
    // The rule itself: group, ceiling and window all have to hold.
    const dave = policy.principal('dave')!;
    const read = policy.role('read')!;
    const mondayBerlin0930 = new Date('2026-03-02T08:30:00Z');
    assert.equal(policy.autoApproveRule(dave, read, 3600, mondayBerlin0930), 0);
    assert.equal(policy.autoApproveRule(dave, read, 3601, mondayBerlin0930), -1, 'above the ceiling');
    assert.equal(policy.autoApproveRule(dave, read, 600, new Date('2026-03-02T07:30:00Z')), -1, '08:30 in Berlin: before the window');
    assert.equal(policy.autoApproveRule(dave, read, 600, new Date('2026-03-07T10:00:00Z')), -1, 'a Saturday');
    assert.equal(policy.autoApproveRule(policy.principal('alice')!, read, 600, mondayBerlin0930), -1, 'not on call');
  });

  test('unknown principal, unknown resource, and a policy without resources', () => {
    throwsAirlock(() => explain(policy, 'mallory'), 'AIRLOCK_UNKNOWN_PRINCIPAL', /no principal named "mallory" in explain\.yaml/);
    throwsAirlock(() => explain(policy, 'alice', 'nope'), 'AIRLOCK_UNKNOWN_RESOURCE', /no resource named "nope" in explain\.yaml/);
    const empty = parsePolicy('version: 1\nprincipals: [{ name: alice }]\n');
    assert.deepEqual(explain(empty, 'alice').entries, []);
  });
});

describe('explain masking', () => {
  const masked = parsePolicy(
    `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
resources:
  - { name: orders, kind: postgres, address: "127.0.0.1:5432" }
roles:
  - name: support
    resources: { names: [orders] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    masking:
      columns:
        - customers.phone
        - { column: customers.email, method: email }
        - { label: "pii:ref", method: hash, key: { env: EXPLAIN_MASK_KEY } }
  - name: plain
    resources: { names: [orders] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
`,
    'masking.yaml',
  );

  test('each entry shows what its role masks, with the method on a sample; null for a role that masks nothing', () => {
    const x = explain(masked, 'alice', 'orders');
    assert.deepEqual(entry(x.entries, 'orders', 'support').masking, {
      predicates: 'allow',
      columns: [
        { column: 'customers.phone', method: 'redact', example: 'alice@example.com → ****' },
        { column: 'customers.email', method: 'email', example: 'alice@example.com → ****@example.com' },
        { label: 'pii:ref', method: 'hash', example: 'alice@example.com → h:… (keyed HMAC-SHA256, 24 hex digits; the same value always gives the same output)' },
      ],
    });
    assert.equal(entry(x.entries, 'orders', 'plain').masking, null);
    assert.ok(!JSON.stringify(x).includes('EXPLAIN_MASK_KEY'), 'where the key is kept is not part of explain');
  });

  test('the partial example keeps the policy\'s keep on a sample long enough to show it', () => {
    assert.equal(maskExample({ method: 'partial', keep: 4 }), '4111111111111111 → ****1111 (values of 8 characters or fewer: ****)');
    assert.equal(maskExample({ method: 'partial', keep: 12 }), '012345678901234567890123456789 → ****890123456789 (values of 24 characters or fewer: ****)');
    assert.equal(maskExample({ method: 'partial', keep: 64 }).split(' → ')[1]!.split(' (')[0]!.length, 4 + 64);
    assert.equal(maskExample({ method: 'null' }), 'alice@example.com → NULL');
  });
});

describe('inTimeWindow', () => {
  const w = (over: Partial<TimeWindow> = {}): TimeWindow => ({ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00', zone: 'Europe/Berlin', ...over });

  test('reads the wall clock of the window zone', () => {
    // Monday 2 March 2026; Berlin is UTC+1 (winter time) that day.
    assert.equal(inTimeWindow(w(), new Date('2026-03-02T08:30:00Z')), true, '09:30 in Berlin');
    assert.equal(inTimeWindow(w(), new Date('2026-03-02T07:30:00Z')), false, '08:30 in Berlin');
    assert.equal(inTimeWindow(w({ zone: 'UTC' }), new Date('2026-03-02T08:30:00Z')), false, 'the same instant is 08:30 in UTC');
    assert.equal(inTimeWindow(w({ zone: 'UTC' }), new Date('2026-03-02T09:30:00Z')), true);
    assert.equal(inTimeWindow(w({ zone: 'America/New_York' }), new Date('2026-03-02T08:30:00Z')), false, '03:30 in New York');
    assert.equal(inTimeWindow(w({ zone: 'America/New_York' }), new Date('2026-03-02T14:30:00Z')), true, '09:30 in New York');
  });

  test('from is inclusive, to is exclusive', () => {
    assert.equal(inTimeWindow(w(), new Date('2026-03-02T08:00:00Z')), true, '09:00 sharp');
    assert.equal(inTimeWindow(w(), new Date('2026-03-02T07:59:59Z')), false);
    assert.equal(inTimeWindow(w(), new Date('2026-03-02T15:59:59Z')), true, '16:59');
    assert.equal(inTimeWindow(w(), new Date('2026-03-02T16:00:00Z')), false, '17:00 sharp');
    assert.equal(inTimeWindow(w({ from: '00:00', to: '24:00' }), new Date('2026-03-02T22:59:00Z')), true, '23:59 in Berlin, to 24:00');
  });

  test('the day is the day in the zone, and summer time moves the window', () => {
    const earlyMonday = w({ days: ['mon'], from: '00:00', to: '01:00' });
    const sundayNightUtc = new Date('2026-03-01T23:30:00Z');
    assert.equal(inTimeWindow(earlyMonday, sundayNightUtc), true, 'Monday 00:30 in Berlin');
    assert.equal(inTimeWindow({ ...earlyMonday, zone: 'UTC' }, sundayNightUtc), false, 'still Sunday in UTC');
    assert.equal(inTimeWindow(w(), new Date('2026-03-06T23:30:00Z')), false, 'Saturday 00:30 in Berlin');
    assert.equal(inTimeWindow(w({ zone: 'Asia/Tokyo' }), new Date('2026-03-06T01:00:00Z')), true, 'Friday 10:00 in Tokyo');
    assert.equal(inTimeWindow(w({ zone: 'Asia/Tokyo' }), new Date('2026-03-06T16:00:00Z')), false, 'Saturday 01:00 in Tokyo');
    // Monday 6 July 2026: Berlin is UTC+2.
    assert.equal(inTimeWindow(w(), new Date('2026-07-06T07:30:00Z')), true, '09:30 summer time');
    assert.equal(inTimeWindow(w(), new Date('2026-07-06T06:30:00Z')), false, '08:30 summer time');
    assert.equal(inTimeWindow(w({ days: ['sat', 'sun'] }), new Date('2026-03-07T10:00:00Z')), true);
  });
});

describe('checkRequest', () => {
  const ask: RequestAsk = { resource: 'prod-orders', role: 'read', duration_seconds: 1800, reason: 'OPS-1 look at a stuck order' };
  const alice = policy.principal('alice')!;
  const bob = policy.principal('bob')!;
  const w = { ...ask, role: 'write', reason: '', ticket: 'INC-7' };

  test('an eligible request passes and names its role and resource', () => {
    const { role, resource } = checkRequest(policy, alice, ask);
    assert.equal(role.name, 'read');
    assert.equal(resource.name, 'prod-orders');
    assert.equal(checkRequest(policy, alice, { ...w, break_glass: true }).role.name, 'write');
    assert.equal(checkRequest(policy, alice, { ...ask, duration_seconds: 4 * 3600 }).role.name, 'read', 'exactly max_duration is allowed');
  });

  test('unknown names', () => {
    throwsAirlock(() => checkRequest(policy, alice, { ...ask, resource: 'nope' }), 'AIRLOCK_UNKNOWN_RESOURCE', /^There is no resource named "nope"\. List them with: airlock resources$/);
    throwsAirlock(() => checkRequest(policy, alice, { ...ask, role: 'nope' }), 'AIRLOCK_UNKNOWN_ROLE', /^There is no role named "nope"\. Roles for prod-orders: read, write$/);
  });

  test('eligibility refusals carry their rule', () => {
    const e1 = throwsAirlock(() => checkRequest(policy, alice, { ...ask, role: 'self-ok' }), 'AIRLOCK_ROLE_NOT_FOR_RESOURCE');
    assert.equal(e1.message, 'Role "self-ok" does not cover resource "prod-orders".');
    assert.deepEqual(e1.details, { rule: 'roles.self-ok.resources' });
    const e2 = throwsAirlock(() => checkRequest(policy, bob, ask), 'AIRLOCK_NOT_REQUESTABLE');
    assert.equal(e2.message, 'Role "read" may be requested only by groups engineers, agents; bob is in dba.');
    assert.deepEqual(e2.details, { rule: 'roles.read.requestable_by' });
    // Both wrong: the resource mismatch is named first.
    throwsAirlock(() => checkRequest(policy, bob, { ...ask, resource: 'staging-orders' }), 'AIRLOCK_ROLE_NOT_FOR_RESOURCE');
  });

  test('durations', () => {
    for (const d of [0, -5, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 2]) {
      throwsAirlock(() => checkRequest(policy, alice, { ...ask, duration_seconds: d }), 'AIRLOCK_BAD_DURATION', /^The duration must be positive, e\.g\. --for 30m\.$/);
    }
    const e = throwsAirlock(() => checkRequest(policy, alice, { ...ask, duration_seconds: 5 * 3600 + 60 }), 'AIRLOCK_BAD_DURATION');
    assert.equal(e.message, 'Role "read" allows at most 4h; you asked for 5h1m. Ask for less and extend later if needed.');
    assert.deepEqual(e.details, { rule: 'roles.read.max_duration', max_seconds: 14400 });
  });

  test('justification: reason, pattern, ticket, ticket pattern; the hint when there is one', () => {
    const noReason = throwsAirlock(() => checkRequest(policy, alice, { ...ask, reason: '   ' }), 'AIRLOCK_JUSTIFICATION');
    assert.equal(noReason.message, 'Role "read" needs a reason: say why you need access. Start with a ticket such as OPS-123.');
    assert.deepEqual(noReason.details, { rule: 'roles.read.justification.required' });
    const pattern = throwsAirlock(() => checkRequest(policy, alice, { ...ask, reason: 'just looking' }), 'AIRLOCK_JUSTIFICATION');
    assert.equal(pattern.message, 'The reason does not match the rule for role "read". Start with a ticket such as OPS-123.');
    assert.deepEqual(pattern.details, { rule: 'roles.read.justification.pattern' });
    const noTicket = throwsAirlock(() => checkRequest(policy, alice, { ...w, ticket: ' ' }), 'AIRLOCK_JUSTIFICATION');
    assert.equal(noTicket.message, 'Role "write" needs a ticket (--ticket).');
    assert.deepEqual(noTicket.details, { rule: 'roles.write.justification.ticket_required' });
    const badTicket = throwsAirlock(() => checkRequest(policy, alice, { ...w, ticket: 'OPS-7' }), 'AIRLOCK_JUSTIFICATION');
    assert.equal(badTicket.message, 'The ticket "OPS-7" does not match the rule for role "write". It must match ^INC-[0-9]+$.');
    assert.deepEqual(badTicket.details, { rule: 'roles.write.justification.ticket_pattern' });
  });

  test('break-glass only where the role allows it', () => {
    const e = throwsAirlock(() => checkRequest(policy, alice, { ...ask, break_glass: true }), 'AIRLOCK_BREAK_GLASS_NOT_ALLOWED');
    assert.equal(e.message, 'Role "read" does not allow break-glass access; ask for a normal review.');
    assert.deepEqual(e.details, { rule: 'roles.read.break_glass' });
  });
});
