// The console's query runner (/api/v1/query/…) against the real server in this process and a real PostgreSQL, called
// as the console calls it (session cookie and CSRF header): rows through the gateway with types and pages, max_rows,
// refusals and errors with their codes, cancel, a held statement, Export CSV and its audit, and the gateway
// connection's life (its own token, ended by sign-out and by the grant's end).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';
import { waitFor } from './pg-gateway-harness.js';

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

let a: InProcessAirlock;
let db: TestDatabase;
let alice: string;
let bob: string;
const grants: Record<string, string> = {};

function policy(): string {
  const up = new URL(adminUrl());
  const user = decodeURIComponent(up.username) || 'postgres';
  const address = `"${up.hostname}:${up.port || 5432}"`;
  const cred = (mode: string) => `{ username: ${user}, password: { env: QR_TEST_PG_PASSWORD }, mode: ${mode} }`;
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
auditors: { principals: [bob] }
resources:
  - { name: shop, kind: postgres, address: ${address}, database: ${db.name}, credential: ${cred('per_grant_role')} }
  - { name: tiny, kind: postgres, address: ${address}, database: ${db.name}, credential: ${cred('injected')} }
  - { name: scratch, kind: postgres, address: ${address}, database: ${db.name}, credential: ${cred('injected')} }
  - { name: ledger, kind: postgres, address: ${address}, database: ${db.name}, credential: ${cred('injected')} }
  - { name: shelf, kind: mysql, address: "127.0.0.1:3306", database: shelf, credential: { username: root, password: { env: QR_TEST_PG_PASSWORD }, mode: injected } }
roles:
  - name: read
    resources: { names: [shop, shelf] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
  - name: capped
    resources: { names: [tiny] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    guardrails: { max_rows: 5, keep_literals: true }
  - name: write
    resources: { names: [scratch] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
  - name: fix
    resources: { names: [ledger] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    review: { statements: writes, approver_groups: [dba], timeout: 15m }
`;
}

before(async () => {
  db = await createTestDatabase('airlock_qr');
  const c = new pg.Client(db.url);
  await c.connect();
  await c.query('create table orders (id int primary key, item text not null, note text, price numeric(8,2), shipped boolean)');
  await c.query("insert into orders select g, 'item ' || g, null, g * 1.5, g % 2 = 0 from generate_series(1, 250) g");
  // Values a CSV writer must quote or neutralise, and NULL next to the empty string.
  await c.query(`update orders set note = case id when 1 then 'comma, here' when 2 then 'say "hi"' when 3 then E'two\\nlines' when 4 then '=1+2' when 5 then '' else null end where id <= 6`);
  await c.end();
  const up = new URL(adminUrl());
  a = await startAirlock({ policy: policy(), env: { QR_TEST_PG_PASSWORD: decodeURIComponent(up.password) || 'unused-with-trust-auth' } });
  alice = await a.token('alice');
  bob = await a.token('bob');
  for (const [resource, role] of [['shop', 'read'], ['tiny', 'capped'], ['scratch', 'write'], ['ledger', 'fix'], ['shelf', 'read']] as const) grants[resource] = await a.grant(alice, bob, resource, role, '30m');
});

after(async () => {
  await a?.dropRoles(adminUrl());
  await a?.stop();
  await db?.drop();
});

/** A console session of `token`'s principal, calling the API as the console does: the cookie, and the CSRF header on changes. */
async function consoleOf(token: string) {
  const r = await fetch(`${a.server.apiUrl}/api/v1/console/sign-in`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-airlock-csrf': 'sign-in' }, body: JSON.stringify({ token }) });
  assert.equal(r.status, 200);
  const cookie = r.headers.get('set-cookie')!.split(';')[0]!;
  const { csrf, id } = (await r.json()) as { csrf: string; id: string };
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown, opts: { csrf?: boolean } = {}) => {
    const res = await fetch(`${a.server.apiUrl}${path}`, {
      method,
      headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(method === 'POST' && opts.csrf !== false ? { 'x-airlock-csrf': csrf } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, body: (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : null) as Json };
  };
  return {
    id,
    call,
    run: async (grant: string, sql: string, extra: Record<string, unknown> = {}) => {
      const r = await call('POST', '/api/v1/query/run', { grant_id: grant, sql, ...extra });
      assert.equal(r.status, 200, r.text);
      return r.body;
    },
    signOut: () => call('POST', '/api/v1/console/sign-out'),
  };
}

async function auditOf(action: string) {
  await a.server.audit.flush();
  const out = [];
  for await (const e of a.server.audit.events({ action })) out.push(e);
  return out;
}


const liveSessions = async () => (await a.api<{ sessions: Json[] }>(bob, 'GET', '/api/v1/sessions')).sessions;

test('a statement runs through the gateway as the principal: columns with types, pages, the command tag, one kept session', async () => {
  const con = await consoleOf(alice);
  const r = await con.run(grants.shop!, 'select id, item, price, shipped, note from orders order by id');
  assert.equal(r.status, 'ok');
  assert.deepEqual(r.columns, [{ name: 'id', type: 'int4' }, { name: 'item', type: 'text' }, { name: 'price', type: 'numeric' }, { name: 'shipped', type: 'bool' }, { name: 'note', type: 'text' }]);
  assert.equal(r.rows.length, 100);
  assert.deepEqual(r.rows[0], ['1', 'item 1', '1.50', 'f', 'comma, here']);
  assert.deepEqual(r.rows[6], ['7', 'item 7', '10.50', 'f', null]);
  assert.equal(r.row_count, 250);
  assert.equal(r.more, true);
  assert.equal(r.command, 'SELECT 250');
  assert.equal(r.truncated, false);

  const p3 = (await con.call('GET', `/api/v1/query/results/${r.result_id}?offset=200&limit=100`)).body;
  assert.equal(p3.rows.length, 50);
  assert.deepEqual(p3.rows.at(-1), ['250', 'item 250', '375.00', 't', null]);
  assert.equal(p3.more, false);

  // The next statement reuses the gateway session: SET persists, and it is one live session of alice's grant.
  assert.equal((await con.run(grants.shop!, "set application_name = 'still-me'")).command, 'SET');
  assert.deepEqual((await con.run(grants.shop!, 'show application_name')).rows, [['still-me']]);
  const mine = (await liveSessions()).filter((s) => s.principal === 'alice' && s.grant_id === grants.shop);
  assert.equal(mine.length, 1, 'one gateway session for the console session and grant');
  assert.equal(mine[0].protocol, 'postgres');

  // The runner logged in with a token of its own, bound to the console session; the browser never saw it.
  const created = (await auditOf('token.create')).filter((e) => e.target === 'alice' && /console query runner/.test(String(e.details.label)));
  assert.equal(created.length, 1);
  assert.match(String(created[0]!.details.console_session_id), /^cs_/);

  // The previous result is gone once another statement ran on the grant.
  assert.equal((await con.call('GET', `/api/v1/query/results/${r.result_id}`)).status, 404);
  // Another console session cannot read this one's results.
  const other = await consoleOf(alice);
  const again = await con.run(grants.shop!, 'select 1 as one');
  assert.equal((await other.call('GET', `/api/v1/query/results/${again.result_id}`)).status, 404);
});

test('changes need the CSRF header; refusals and errors come back with their codes', async () => {
  const con = await consoleOf(alice);
  const noCsrf = await con.call('POST', '/api/v1/query/run', { grant_id: grants.shop, sql: 'select 1' }, { csrf: false });
  assert.equal(noCsrf.status, 403);
  assert.equal(noCsrf.body.code, 'AIRLOCK_FORBIDDEN');

  const write = await con.run(grants.shop!, 'delete from orders');
  assert.equal(write.status, 'error');
  assert.equal(write.code, 'AIRLOCK_STATEMENT_REFUSED');
  assert.match(write.message, /read-only/);
  const missing = await con.run(grants.shop!, 'select * from no_such_table');
  assert.deepEqual([missing.status, missing.code], ['error', 'SQLSTATE_42P01']);
  assert.match(missing.message, /no_such_table/);

  const capped = await con.run(grants.tiny!, 'select id from orders order by id');
  assert.deepEqual(capped.rows, [['1'], ['2'], ['3'], ['4'], ['5']]);
  assert.equal(capped.truncated, true);
  assert.equal(capped.truncated_by, 'max_rows');
  assert.equal(capped.max_rows, 5);

  const mysql = await con.call('POST', '/api/v1/query/run', { grant_id: grants.shelf, sql: 'select 1' });
  assert.equal(mysql.status, 400);
  assert.match(mysql.body.detail, /serves PostgreSQL resources for now; shelf is a MySQL resource/);
  const notMine = await con.call('POST', '/api/v1/query/run', { grant_id: 'grt_nothing', sql: 'select 1' });
  assert.equal(notMine.status, 404);
});

test('Cancel stops a running statement through the gateway; the next statement runs on a new session', async () => {
  const con = await consoleOf(alice);
  const running = con.run(grants.shop!, 'select pg_sleep(30)');
  await waitFor(async () => (await liveSessions()).some((s) => s.principal === 'alice' && s.grant_id === grants.shop && s.statements_running > 0), 10_000, 'the sleep running on the gateway');
  const busy = await con.call('POST', '/api/v1/query/run', { grant_id: grants.shop, sql: 'select 1' });
  assert.equal(busy.status, 409);
  assert.equal(busy.body.code, 'AIRLOCK_QUERY_RUNNING');
  const t0 = Date.now();
  const c = await con.call('POST', '/api/v1/query/cancel', { grant_id: grants.shop });
  assert.equal(c.body.cancelled, true);
  const r = await running;
  assert.ok(Date.now() - t0 < 10_000, 'the statement stopped well before its 30 s');
  assert.equal(r.status, 'cancelled');
  assert.equal(r.code, 'SQLSTATE_57014');
  assert.deepEqual((await con.run(grants.shop!, 'select 2 as two')).rows, [['2']]);
  assert.equal((await con.call('POST', '/api/v1/query/cancel', { grant_id: grants.shop })).body.cancelled, false, 'nothing runs now');
});

test('Export CSV streams every row as RFC 4180 CSV in a READ ONLY transaction, audited as results.exported', async () => {
  const con = await consoleOf(alice);
  const r = await con.call('POST', '/api/v1/query/export', { grant_id: grants.shop, sql: "select id, note, price from orders where id <= 250 and item <> 'x' order by id" });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.headers.get('content-type'), 'text/csv; charset=utf-8; header=present');
  assert.match(r.headers.get('content-disposition') ?? '', /^attachment; filename="shop-\d{8}-\d{6}\.csv"$/);
  const lines = r.text.split('\r\n');
  assert.deepEqual(lines.slice(0, 8), ['id,note,price', '1,"comma, here",1.50', '2,"say ""hi""",3.00', '3,"two\nlines",4.50', "4,'=1+2,6.00", '5,"",7.50', '6,,9.00', '7,,10.50']);
  assert.equal(lines.length, 1 + 250 + 1, 'a header, 250 rows and the final CRLF');

  const e = (await auditOf('results.exported')).at(-1)!;
  assert.equal(e.actor, 'alice');
  assert.equal(e.target, 'shop');
  assert.equal(e.details.grant_id, grants.shop);
  assert.equal(e.details.rows, 250);
  assert.equal(e.details.truncated, false);
  assert.equal(e.details.outcome, 'ok');
  assert.doesNotMatch(String(e.details.statement), /250|'x'/, 'literals masked as the statement audit masks them');
  assert.match(String(e.details.statement), /from orders where id <= \$1/);
  const statements = (await auditOf('statement')).filter((s) => s.actor === 'alice').map((s) => String(s.details.text));
  assert.ok(statements.some((t) => /BEGIN READ ONLY/i.test(t)), 'the read-only transaction is in the statement audit');

  // A role that keeps literals keeps them here too; max_rows cuts the export where the gateway cuts it.
  const capped = await con.call('POST', '/api/v1/query/export', { grant_id: grants.tiny, sql: "select id from orders where item <> 'x' order by id" });
  assert.equal(capped.text, 'id\r\n1\r\n2\r\n3\r\n4\r\n5\r\n');
  const ce = (await auditOf('results.exported')).at(-1)!;
  assert.deepEqual([ce.details.rows, ce.details.truncated, ce.details.max_rows], [5, true, 5]);
  assert.match(String(ce.details.statement), /'x'/);

  // A statement that writes is refused by PostgreSQL inside the read-only transaction, even for a write role; one the
  // role holds for review is not exported (an export cannot wait) and its review is withdrawn. Nothing changed.
  const w = await con.call('POST', '/api/v1/query/export', { grant_id: grants.scratch, sql: "update orders set item = 'gone' where id = 1 returning id" });
  assert.equal(w.status, 400);
  assert.match(w.body.detail, /READ ONLY transaction, and this statement writes/);
  const h = await con.call('POST', '/api/v1/query/export', { grant_id: grants.ledger, sql: "update orders set item = 'gone' where id = 1 returning id" });
  assert.equal(h.status, 409);
  assert.equal(h.body.code, 'AIRLOCK_STATEMENT_HELD');
  const rev = /rev_[a-z0-9]+/.exec(h.body.detail)![0];
  await waitFor(async () => (await a.api<Json>(bob, 'GET', `/api/v1/statement-reviews/${rev}`)).status === 'withdrawn', 10_000, 'the export\'s review withdrawn');
  const two = await con.call('POST', '/api/v1/query/export', { grant_id: grants.shop, sql: 'select 1; select 2' });
  assert.equal(two.status, 400);
  assert.match(two.body.detail, /SQLSTATE_42601/);
  const check = new pg.Client(db.url);
  await check.connect();
  assert.equal((await check.query('select item from orders where id = 1')).rows[0].item, 'item 1');
  await check.end();
});

test('a statement held for review answers pending_review; after approval the same statement with review_id answers its outcome', async () => {
  const con = await consoleOf(alice);
  const sql = "update orders set shipped = true where id = 3";
  const held = await con.run(grants.ledger!, sql);
  assert.equal(held.status, 'pending_review');
  assert.match(held.review_id, /^rev_/);
  assert.equal((await con.run(grants.ledger!, sql)).review_id, held.review_id, 'sending it again while held is the same review');
  assert.equal((await con.run(grants.ledger!, sql, { review_id: held.review_id })).status, 'pending_review');
  await a.api(bob, 'POST', `/api/v1/statement-reviews/${held.review_id}/approve`, { comment: 'ok' });
  await waitFor(async () => (await con.run(grants.ledger!, sql, { review_id: held.review_id })).status !== 'pending_review', 10_000, 'the approved statement to run');
  // The outcome was handed over once (the poll above took it); the review is used now.
  const used = await con.run(grants.ledger!, sql, { review_id: held.review_id });
  assert.deepEqual([used.status, used.code], ['error', 'AIRLOCK_REVIEW_USED']);

  // Cancel withdraws a held statement.
  const other = await con.run(grants.ledger!, 'update orders set shipped = false where id = 4');
  assert.equal(other.status, 'pending_review');
  assert.equal((await con.call('POST', '/api/v1/query/cancel', { grant_id: grants.ledger, review_id: other.review_id })).body.cancelled, true);
  await waitFor(async () => (await a.api<Json>(bob, 'GET', `/api/v1/statement-reviews/${other.review_id}`)).status === 'withdrawn', 10_000, 'the review withdrawn');
  const out = await con.run(grants.ledger!, 'update orders set shipped = false where id = 4', { review_id: other.review_id });
  assert.deepEqual([out.status, out.code], ['error', 'AIRLOCK_REVIEW_WITHDRAWN']);
});

test('sign-out ends the runner gateway session and revokes its token; so does the end of the grant', async () => {
  const con = await consoleOf(alice);
  await con.run(grants.tiny!, 'select 1');
  await waitFor(async () => (await liveSessions()).some((s) => s.grant_id === grants.tiny), 10_000, 'the runner session');
  const mine = new Set((await auditOf('token.create')).filter((e) => e.details.console_session_id === con.id).map((e) => e.details.token_id));
  const token = (await liveSessions()).find((s) => mine.has(s.token_id)).token_id;
  assert.equal((await con.signOut()).status, 200);
  await waitFor(async () => !(await liveSessions()).some((s) => s.token_id === token), 10_000, 'the runner session to end at sign-out');
  const t = (await a.api<{ tokens: Json[] }>(bob, 'GET', '/api/v1/tokens?principal=alice')).tokens.find((x) => x.id === token);
  assert.ok(t.revoked_at, 'the runner token is revoked');
  assert.equal((await con.call('POST', '/api/v1/query/run', { grant_id: grants.tiny, sql: 'select 1' })).status, 401);

  const again = await consoleOf(alice);
  await again.run(grants.tiny!, 'select 1');
  await a.api(alice, 'POST', `/api/v1/grants/${grants.tiny}/revoke`, { reason: 'done' });
  await waitFor(async () => !(await liveSessions()).some((s) => s.grant_id === grants.tiny), 10_000, 'the runner session to end with the grant');
  const gone = await again.call('POST', '/api/v1/query/run', { grant_id: grants.tiny, sql: 'select 1' });
  assert.equal(gone.body.code, 'AIRLOCK_GRANT_NOT_ACTIVE');
});

test('an API caller with a bearer token runs statements the same way (its own token logs in)', async () => {
  const r = await a.api<Json>(alice, 'POST', '/api/v1/query/run', { grant_id: grants.shop, sql: 'select current_user = session_user as same' });
  assert.equal(r.status, 'ok');
  assert.deepEqual(r.rows, [['t']]);
});
