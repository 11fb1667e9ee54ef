// The console's statement reviews at the boundary and in its rules: every state from the wire, defaults for missing
// fields, who is offered the decision, and what a reviewer is told.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeChange, makeMe, makeRequest, makeStatementReview, type Me } from '../../web/src/api/models.js';
import { api } from '../../web/src/api/urls.js';
import { gist, mayDecide, sentenceGist, noWhereWarning, outcome, waitingWhy } from '../../web/src/lib/statement-review-rules.js';

const wire = {
  id: 'rev_1', status: 'pending', principal: 'alice', resource: 'prod-orders', role: 'write', grant_id: 'grt_1', session_id: 'ses_1', protocol: 'postgres',
  database: 'orders', statement: "update orders set item = 'x' where id = 7", parameters: null,
  summary: { kinds: ['update'], tables: ['orders'], has_where: true, writes: true }, binding: 'ab'.repeat(32), approvals_needed: 1, approvals: [],
  approver_groups: ['dba'], sponsor: null, created_at: '2026-03-02T10:00:00.000Z', expires_at: '2026-03-02T10:15:00.000Z', decided_at: null, decided_by: null,
  comment: null, executed_at: null,
};

const me = (over: Partial<Me> = {}): Me => ({ name: 'bob', kind: 'user', groups: ['dba'], admin: false, auditor: false, approverOf: ['write'], ...over });

for (const [status, extra, says] of [
  ['pending', {}, 'Waiting for a reviewer'],
  ['approved', { decided_by: 'bob', decided_at: '2026-03-02T10:01:00.000Z' }, 'Approved by bob; not run yet'],
  ['executed', { decided_by: 'bob', decided_at: '2026-03-02T10:01:00.000Z', executed_at: '2026-03-02T10:01:01.000Z' }, 'Approved by bob; it ran'],
  ['denied', { decided_by: 'bob', decided_at: '2026-03-02T10:02:00.000Z', comment: 'use the replica' }, 'Denied by bob'],
  ['timed_out', {}, 'Timed out: nobody decided in time; the client was refused'],
  ['withdrawn', { end_reason: 'the client cancelled the statement' }, 'Withdrawn: the client cancelled the statement'],
] as const) {
  test(`a ${status} statement review becomes the console's model and says what became of it`, () => {
    const r = makeStatementReview({ ...wire, status, ...extra });
    assert.equal(r.status, status);
    assert.equal(r.statement, wire.statement);
    assert.equal(r.createdAt.toISOString(), wire.created_at);
    assert.equal(r.decidedBy, (extra as { decided_by?: string }).decided_by ?? null);
    assert.equal(r.comment, (extra as { comment?: string }).comment ?? null);
    assert.equal(outcome(r), says);
    assert.equal(mayDecide(r, me()), status === 'pending', 'only a pending one is offered for decision');
  });
}

test('missing or odd fields get defaults; a sponsor marks an agent', () => {
  const r = makeStatementReview({ id: 'rev_2', status: 'odd', sponsor: 'alice', parameters: ['42', null, 7], summary: { has_where: 'maybe' } });
  assert.equal(r.status, 'pending');
  assert.equal(r.principalKind, 'agent');
  assert.deepEqual(r.parameters, ['42', null, null]);
  assert.deepEqual(r.summary, { kinds: [], tables: [], hasWhere: null, writes: true }, 'unknown reads as may write');
  assert.equal(r.approvalsNeeded, 1);
  assert.equal(r.sessionId, null);
  assert.equal(r.mayDecide, null);
  assert.equal(makeStatementReview({ ...wire, principal_kind: 'user', sponsor: 'x' }).principalKind, 'user', 'the server\'s word wins');
  const req = makeRequest({ id: 'req_1', principal: 'bot', principal_kind: 'agent', sponsor: 'alice' });
  assert.deepEqual([req.principalKind, req.sponsor], ['agent', 'alice']);
  assert.deepEqual([makeRequest({ id: 'req_2' }).principalKind, makeRequest({ id: 'req_2' }).sponsor], ['user', null]);
});

test('the decision is offered to its reviewers only: never on your own, never twice, not to agents', () => {
  const r = makeStatementReview(wire);
  assert.equal(mayDecide(r, me()), true, 'a dba');
  assert.equal(mayDecide(r, me({ name: 'alice', groups: ['engineers', 'dba'] })), false, 'your own statement');
  assert.match(waitingWhy(r, me({ name: 'alice' })), /your statement/);
  assert.equal(mayDecide(r, me({ name: 'sec', groups: ['security'], admin: true, approverOf: [] })), false, 'an admin who is not a reviewer sees it only');
  assert.equal(waitingWhy(r, me({ name: 'sec' })), 'You are not among its reviewers.');
  assert.equal(mayDecide(r, me({ kind: 'agent' })), false);
  const named = makeStatementReview({ ...wire, approver_groups: [], approver_principals: ['carol'] });
  assert.equal(mayDecide(named, me({ name: 'carol', groups: [] })), true, 'a reviewer by name');
  assert.equal(mayDecide(named, me()), false);
  const twice = makeStatementReview({ ...wire, approvals_needed: 2, approvals: [{ reviewer: 'bob', at: '2026-03-02T10:01:00Z', comment: null }] });
  assert.equal(mayDecide(twice, me()), false);
  assert.match(waitingWhy(twice, me()), /needs more approvals/);
  assert.equal(mayDecide(makeStatementReview({ ...wire, may_decide: false }), me()), false, 'the server\'s word wins');
  assert.match(waitingWhy(makeStatementReview({ ...wire, principal: 'bot', sponsor: 'alice' }), me({ name: 'alice' })), /You sponsor bot/);
});

test('an UPDATE or DELETE without WHERE is called out; the gist names who and what', () => {
  assert.equal(noWhereWarning(makeStatementReview(wire)), null);
  assert.equal(noWhereWarning(makeStatementReview({ ...wire, summary: { kinds: ['delete'], tables: ['orders'], has_where: false, writes: true } })), 'this DELETE changes every row of orders');
  assert.equal(noWhereWarning(makeStatementReview({ ...wire, summary: { kinds: ['update', 'delete', 'update'], tables: ['a', 'b'], has_where: false } })), 'this UPDATE / DELETE changes every row of a, b');
  assert.equal(noWhereWarning(makeStatementReview({ ...wire, summary: { kinds: ['select'], tables: [], has_where: null } })), null);
  assert.equal(gist(makeStatementReview(wire)), "alice's UPDATE on prod-orders");
  assert.equal(sentenceGist(makeStatementReview({ ...wire, summary: { kinds: ['update', 'update'] } }), 'alice'), 'Your UPDATE on prod-orders');
});

test('statement review changes reach the live stream; URLs are built in one place', () => {
  assert.deepEqual(makeChange({ kind: 'statement_review', id: 'rev_1', event: 'denied', status: 'denied', actor: 'bob' }), { kind: 'statement_review', id: 'rev_1', event: 'denied', status: 'denied', principal: null, resource: null, role: null, actor: 'bob' });
  assert.equal(api.statementReviews({ status: 'pending', principal: 'a b', limit: 5 }), '/api/v1/statement-reviews?status=pending&principal=a+b&limit=5');
  assert.equal(api.approveStatement('rev/1'), '/api/v1/statement-reviews/rev%2F1/approve');
  assert.equal(api.denyStatement('rev_1'), '/api/v1/statement-reviews/rev_1/deny');
  assert.equal(api.statementReview('rev_1'), '/api/v1/statement-reviews/rev_1');
  assert.equal(makeMe({ principal: { name: 'bot', kind: 'agent' } }).kind, 'agent');
});
