// The console's models at the boundary: every request and grant state from the wire, defaults for missing fields,
// and the URLs and page routes built in one place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeChange, makeChainStatus, makeGateways, makeGrant, makePolicyView, makePostgresGateway, makeRequest, makeResource, makeSessionSummary, makeStatement } from '../../web/src/api/models.js';
import { api, page, routeOf } from '../../web/src/api/urls.js';

const wireRequest = {
  id: 'req_1', principal: 'alice', resource: 'prod-orders', role: 'read', duration_seconds: 1800, reason: 'OPS-1 look', ticket: null, status: 'pending',
  break_glass: false, auto_approved_by: null, extends_grant_id: null, grant_id: null, created_at: '2026-03-02T10:00:00.000Z', updated_at: '2026-03-02T10:00:00.000Z',
  timeout_at: '2026-03-02T10:30:00.000Z', decided_at: null, decided_by: null, source_addr: '127.0.0.1',
};

for (const [status, extra] of [
  ['pending', {}],
  ['approved', { grant_id: 'grt_1', decided_by: 'bob', decided_at: '2026-03-02T10:01:00.000Z' }],
  ['approved', { break_glass: true, decided_by: 'rule:roles.read.break_glass', grant_id: 'grt_2' }],
  ['approved', { auto_approved_by: 'rule:0', decided_by: 'rule:roles.read.approval.auto_approve[0]' }],
  ['denied', { decided_by: 'bob', decided_at: '2026-03-02T10:02:00.000Z' }],
  ['cancelled', { decided_by: 'alice' }],
  ['timed_out', { decided_by: 'airlock' }],
] as const) {
  test(`a ${status} request${'break_glass' in extra ? ' (break-glass)' : 'auto_approved_by' in extra ? ' (auto-approved)' : ''} becomes the console's model`, () => {
    const r = makeRequest({ ...wireRequest, status, ...extra });
    assert.equal(r.status, status);
    assert.equal(r.durationSeconds, 1800);
    assert.equal(r.createdAt.toISOString(), '2026-03-02T10:00:00.000Z');
    assert.equal(r.grantId, (extra as { grant_id?: string }).grant_id ?? null);
    assert.equal(r.decidedBy, (extra as { decided_by?: string }).decided_by ?? null);
    assert.equal(r.breakGlass, (extra as { break_glass?: boolean }).break_glass ?? false);
    assert.equal(r.autoApprovedBy, (extra as { auto_approved_by?: string }).auto_approved_by ?? null);
    assert.deepEqual(r.reviews, []);
  });
}

test('missing or odd fields get defaults instead of breaking a page', () => {
  const r = makeRequest({ id: 'req_2', status: 'weird', reviews: [{ reviewer: 'bob', decision: 'deny', comment: 'no', post_hoc: 1, created_at: '2026-03-02T10:00:00Z' }] });
  assert.equal(r.status, 'pending');
  assert.equal(r.reason, '');
  assert.equal(r.ticket, null);
  assert.ok(Number.isNaN(r.createdAt.getTime()));
  assert.deepEqual(r.reviews.map((v) => [v.reviewer, v.decision, v.postHoc]), [['bob', 'deny', true]]);
  assert.equal(makeRequest(null).id, '');
});

for (const status of ['active', 'expired', 'revoked'] as const) {
  test(`a ${status} grant`, () => {
    const g = makeGrant({ id: 'grt_1', request_id: 'req_1', principal: 'alice', resource: 'prod-orders', role: 'read', status, starts_at: '2026-03-02T10:00:00Z', expires_at: '2026-03-02T10:30:00Z', ended_at: status === 'active' ? null : '2026-03-02T10:10:00Z', end_reason: status === 'revoked' ? 'done' : null, ended_by: null, break_glass: 0, needs_review: 1 });
    assert.equal(g.status, status);
    assert.equal(g.expiresAt.getTime() - g.startsAt.getTime(), 1800_000);
    assert.equal(g.endedAt === null, status === 'active');
    assert.equal(g.breakGlass, false);
    assert.equal(g.needsReview, true);
  });
}

test('resources, sessions, statements, chain status, changes and the gateway', () => {
  const res = makeResource({ name: 'prod-orders', kind: 'postgres', labels: { env: 'prod', n: 5 }, roles: [{ role: 'read', max_duration: '4h', max_duration_seconds: 14400, approvals: 1, approvers: ['bob'], justification: { required: true, pattern: '^OPS', ticket_required: false, hint: 'a ticket' }, break_glass: false, read_only: true, auto_approve: [] }] });
  assert.deepEqual(res.labels, { env: 'prod' });
  assert.deepEqual(res.roles[0]!.justification, { required: true, pattern: '^OPS', ticketRequired: false, hint: 'a ticket' });
  const s = makeSessionSummary({ id: 'ses_1', principal: 'alice', resource: 'prod-orders', started_at: '2026-03-02T10:00:00Z', ended_at: null, statements: null, live: true });
  assert.equal(s.live, true);
  assert.equal(s.endedAt, null);
  assert.equal(s.statements, null);
  const st = makeStatement({ seq: 7, time: '2026-03-02T10:00:01Z', text: 'select 1', decision: 'refused', rule: 'read_only', rows: 0, duration_ms: 0, error: 'refused' });
  assert.deepEqual([st.decision, st.rule, st.rows], ['refused', 'read_only', 0]);
  assert.equal(makeStatement({ decision: 'nonsense' }).decision, 'allowed');
  assert.deepEqual(makeChainStatus({ ok: false, events: 9, head: { seq: 9, hash: 'x' }, first_bad_seq: 10, reason: 'event 10 was edited' }), { ok: false, events: 9, headSeq: 9, firstBadSeq: 10, reason: 'event 10 was edited' });
  assert.equal(makeChange({ kind: 'nonsense', id: 'x' }), null);
  assert.equal(makeChange({ kind: 'grant', id: 'grt_1', event: 'expired', status: 'expired', principal: 'alice' })!.status, 'expired');
  assert.deepEqual(makePostgresGateway({ postgres: { host: '127.0.0.1', port: 6432, ca: 'PEM' } }), { host: '127.0.0.1', port: 6432 });
  assert.equal(makePostgresGateway({ postgres: null }), null);
  assert.deepEqual(makeGateways({ postgres: { host: 'a', port: 6432, ca: 'PEM' }, mysql: { host: 'b', port: 3307, ca: 'PEM' }, listeners: [] }), { postgres: { host: 'a', port: 6432 }, mysql: { host: 'b', port: 3307 } });
  assert.deepEqual(makeGateways({ postgres: null }), { postgres: null, mysql: null }, 'a server without the MySQL gateway');
});

test('the policy view says how a credential works, never what it is', () => {
  const v = makePolicyView({ file: 'a.yaml', hash: 'h', policy: { resources: [{ name: 'db', kind: 'postgres', address: 'db:5432', labels: {}, credential: { username: 'airlock_admin', password: { file: '/etc/secret' }, mode: 'injected' } }], roles: [{ name: 'read', resources: { names: ['db'] }, max_duration: 5400, pending_timeout: 3600, requestable_by: { groups: ['eng'], principals: [] }, approval: { approvals: 2, approver_groups: ['dba'], approver_principals: [], allow_self_approval: false, auto_approve: [] } }] } });
  assert.equal(v.resources[0]!.credentialMode, 'injected');
  assert.ok(!JSON.stringify(v).includes('airlock_admin') && !JSON.stringify(v).includes('/etc/secret'));
  assert.equal(v.roles[0]!.maxDuration, '1h30m');
  assert.equal(v.roles[0]!.approval.approvals, 2);
  assert.deepEqual(v.notify, [], 'a policy without notify has no channels');
});

test('the policy view lists a role\'s masked columns with their methods, and none for a role without masking', () => {
  const role = { name: 'read', resources: { names: ['db'] }, max_duration: 3600, requestable_by: { groups: ['eng'] }, approval: {} };
  const v = makePolicyView({ file: 'a.yaml', hash: 'h', policy: { roles: [{ ...role, masking: { predicates: 'allow', rules: [{ column: 'customers.email', method: 'email' }, { label: 'pii:ssn', method: 'hash', key: '(reference hidden)' }] } }, { ...role, name: 'plain' }] } });
  assert.deepEqual(v.roles[0]!.maskedColumns, ['customers.email (email)', 'label pii:ssn (hash)']);
  assert.deepEqual(v.roles[1]!.maskedColumns, []);
});

test('the policy view lists webhook, Slack and e-mail channels in one line each, without their secrets', () => {
  const v = makePolicyView({ file: 'a.yaml', hash: 'h', policy: { notify: {
    webhooks: [{ name: 'chat', url: 'https://hooks.example.com/…', events: ['request.created'], secret: '(reference hidden)' }],
    slack: [{ name: 'ops', channel: '#airlock-approvals', channels: { roles: { root: '#root' }, labels: { 'team=pay': '#pay' } }, events: ['request.created'], team_id: 'T01', app_id: 'A01', bot_token: '(reference hidden)', signing_secret: '(reference hidden)' }],
    email: { smtp: { host: 'smtp.example.com', starttls: 'implicit', password: '(reference hidden)' }, from: 'airlock@example.com', events: ['grant.expiring'] },
  } } });
  assert.deepEqual(v.notify.map((c) => [c.name, c.kind, c.target, c.events]), [
    ['chat', 'webhook', 'https://hooks.example.com/…', ['request.created']],
    ['ops', 'slack', '#airlock-approvals · role root → #root · team=pay → #pay · clicks from workspace T01, app A01 only', ['request.created']],
    ['email', 'email', 'smtp.example.com:465 (implicit TLS) from airlock@example.com', ['grant.expiring']],
  ]);
  assert.ok(!JSON.stringify(v.notify).includes('reference hidden'));
});

test('API URLs are built in one place, with every part encoded', () => {
  assert.equal(api.requests('reviewable'), '/api/v1/requests?scope=reviewable');
  assert.equal(api.approve('req/../x'), '/api/v1/requests/req%2F..%2Fx/approve');
  assert.equal(api.grants({ active: true, principal: 'alice' }), '/api/v1/grants?active=true&principal=alice');
  assert.equal(api.grants(), '/api/v1/grants');
  assert.equal(api.auditEvents({ actor: 'alice', action: 'grant.*', afterSeq: 10, limit: 500 }), '/api/v1/audit/events?actor=alice&action=grant.*&after_seq=10&limit=500');
  assert.equal(api.auditExport({ target: 'prod orders' }), '/api/v1/audit/events?target=prod+orders&limit=100000&format=jsonl');
  assert.equal(api.explain('bob', 'prod-orders'), '/api/v1/policy/explain?principal=bob&resource=prod-orders');
  assert.ok(api.statements('ses_1', new Date('2026-03-02T10:00:05Z')).endsWith('?since=2026-03-02T10%3A00%3A04.000Z'));
});

test('page paths and routes are each other\'s inverse', () => {
  assert.deepEqual(routeOf(page.myAccess()), { name: 'my-access' });
  assert.deepEqual(routeOf(page.reviews()), { name: 'reviews' });
  assert.deepEqual(routeOf(page.request('req_1')), { name: 'request', id: 'req_1' });
  assert.deepEqual(routeOf(page.session('ses_a b')), { name: 'session', id: 'ses_a b' });
  assert.deepEqual(routeOf('/sessions/'), { name: 'sessions' });
  assert.deepEqual(routeOf('/audit'), { name: 'audit' });
  assert.deepEqual(routeOf('/admin'), { name: 'admin' });
  assert.deepEqual(routeOf('/nope/x/y'), { name: 'not-found', path: '/nope/x/y' });
});
