// Red-team findings against statement review, each closed and kept closed: prepared statement names changed behind
// the gateway's back, a stale function catalog, Terminate while held, the database in the binding, and review spam.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';
import { auditEvents } from '../support/harness.js';
import { waitFor } from './pg-gateway-harness.js';
import { F, typedMessage } from '../../src/gateway/postgres/protocol.js';
import { statementBinding } from '../../src/access/statement-binding.js';
import { MAX_PENDING_REVIEWS_PER_PRINCIPAL } from '../../src/access/statement-review-service.js';
import type { Caller } from '../../src/domain/model.js';
import type { StatementReviewService } from '../../src/access/statement-reviews.js';

let a: InProcessAirlock;
let db: TestDatabase;
let alice: string;
let carol: string;
let grantId: string;
let reviews: StatementReviewService;
let bob: Caller;

before(async () => {
  db = await createTestDatabase('airlock_review_attacks');
  await direct(`create table accounts (id int primary key, balance int);
    insert into accounts values (1, 100), (2, 200);
    create function f() returns int language sql as 'select 1';
    create function g() returns int language sql as 'select 2';
    create function w() returns int language sql as 'update accounts set balance = balance - 1 returning 1';
    create view v as select 1 as x;
    create function h() returns int language sql as 'select 3';
    create function k() returns int language sql as 'select 5';
    create schema evil;
    create function evil.k2() returns int language sql as 'update accounts set balance = 0 returning 1';`);
  const up = new URL(adminUrl());
  const credential = `{ username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: ATTACK_TEST_PG_PASSWORD }, mode: injected }`;
  a = await startAirlock({
    env: { ATTACK_TEST_PG_PASSWORD: decodeURIComponent(up.password) || 'unused-with-trust-auth' },
    policy: `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
  - { name: carol, groups: [engineers] }
resources:
  - { name: orders, kind: postgres, address: "${up.hostname}:${up.port || 5432}", database: ${db.name}, credential: ${credential} }
roles:
  - name: reviewed
    resources: { names: [orders] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    review: { statements: writes, approver_groups: [dba], timeout: 15m }
  - name: reader
    resources: { names: [orders] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
`,
  });
  alice = await a.token('alice');
  grantId = await a.grant(alice, await a.token('bob'), 'orders', 'reviewed');
  carol = await a.token('carol');
  await a.grant(carol, await a.token('bob'), 'orders', 'reader');
  reviews = a.server.access.statementReviews;
  bob = { principal: a.server.access.policy().principal('bob')!, source: null, token_id: null };
});

after(async () => {
  await a?.stop();
  await db?.drop();
});

async function direct(sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client(db.url);
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

const balances = async () => (await direct('select string_agg(id || \':\' || balance, \',\' order by id) as s from accounts')).rows[0].s as string;

/**
 * A gateway session whose held statements a reviewer decides by `decide(text)`: the texts it was asked about are in
 * `seen`. `sent` lets a test send a named statement's Bind/Execute without a Parse, as a client that believes the
 * name is prepared does (node-postgres skips the Parse of a name it has prepared).
 */
async function session(decide: (statement: string) => 'approve' | 'deny' | 'wait') {
  const c = a.client(alice, 'alice', 'orders');
  const seen: string[] = [];
  c.on('notice', (n) => {
    const id = /rev_[a-z0-9]+/i.exec(n.message ?? '')?.[0];
    if (!id) return;
    void reviews.get(id).then((r) => {
      seen.push(r!.statement);
      const what = decide(r!.statement);
      if (what === 'approve') void reviews.approve(bob, id, 'ok');
      else if (what === 'deny') void reviews.deny(bob, id, 'no');
    });
  });
  await c.connect();
  const parsed = (c as unknown as { connection: { parsedStatements: Record<string, string> } }).connection.parsedStatements;
  const error = (sql: string | pg.QueryConfig) => c.query(sql as string).then(() => null, (e: Error & { hint?: string }) => `${e.message} ${e.hint ?? ''}`);
  return { c, seen, parsed, error };
}

const approvePrepareAndDdl = (s: string) => (/^\s*(prepare|deallocate|discard|create|do)/i.test(s) ? 'approve' : 'deny');

for (const spelling of ['deallocate s', 'deallocate prepare s', 'deallocate all', 'discard all']) {
  test(`a protocol name changed by SQL (${spelling}, then PREPARE) is held at its next Bind/Execute, whatever was parsed before`, async () => {
    const s = await session(approvePrepareAndDdl);
    try {
      const before = await balances();
      await s.c.query({ name: 's', text: 'select $1::int as x', values: [1] });
      await s.c.query(spelling);
      await s.c.query('prepare s(int) as update accounts set balance = $1');
      // node-postgres still believes "s" is its SELECT: it sends only Bind and Execute.
      for (const v of [0, -1, 424242]) {
        const err = await s.error({ name: 's', text: 'select $1::int as x', values: [v] });
        assert.match(err ?? 'ran', /AIRLOCK_REVIEW_DENIED/, `Bind/Execute of "s" with ${v}`);
      }
      assert.equal(await balances(), before, 'the UPDATE never ran');
      const held = s.seen.filter((t) => t.includes('"s"'));
      assert.equal(held.length, 3, `each Execute was held (${s.seen.join(' | ')})`);
      assert.match(held[0]!, /did not see parsed/);
    } finally {
      await s.c.end();
    }
  });
}

test('a protocol Parse that fails (the name exists) leaves the name unknown: its Bind/Execute is held, not run as the failed text', async () => {
  const s = await session(approvePrepareAndDdl);
  try {
    const before = await balances();
    // One spelling: the name was made by SQL PREPARE; the other: by a protocol Parse of an UPDATE that never ran.
    await s.c.query('prepare p1(int) as update accounts set balance = $1');
    assert.match((await s.error({ name: 'p2', text: 'update accounts set balance = $1', values: [5] })) ?? '', /AIRLOCK_REVIEW_DENIED/);
    for (const name of ['p1', 'p2']) {
      delete s.parsed[name];
      assert.match((await s.error({ name, text: 'select $1::int', values: [1] })) ?? '', /already exists/, name);
      s.parsed[name] = 'select $1::int';
      for (const v of [7, 8]) {
        assert.match((await s.error({ name, text: 'select $1::int', values: [v] })) ?? 'ran', /AIRLOCK_REVIEW_DENIED/, `${name} with ${v}`);
      }
    }
    assert.equal(await balances(), before);
  } finally {
    await s.c.end();
  }
});

const replaceToWrite = "create or replace function f() returns int language sql as 'update accounts set balance = balance - 10 returning 1'";
const catalogChanges: [string, string[], string][] = [
  ['CREATE OR REPLACE FUNCTION', [replaceToWrite], 'select f()'],
  ['a DO block that replaces a function', [`do $$ begin execute $q$create or replace function g() returns int language sql as 'update accounts set balance = balance - 10 returning 1'$q$; end $$`], 'select g()'],
  ['CREATE OR REPLACE VIEW over a writing function, in a transaction', ['begin', 'create or replace view v as select w() as x'], 'select * from v'],
];

for (const [label, change, probe] of catalogChanges) {
  test(`after ${label}, the changed object is judged anew in this session, a session open before, and a new one`, async () => {
    const s = await session(approvePrepareAndDdl);
    const other = await session(() => 'deny');
    try {
      assert.equal((await other.error(probe)), null, 'it only reads before the change, and runs at once');
      // A protocol statement parsed before the change (its decision then: reads only).
      await other.c.query({ name: 'probe', text: probe, values: [] });
      const before = await balances();
      for (const sql of change) await s.c.query(sql);
      assert.match((await s.error(probe)) ?? 'ran', /AIRLOCK_REVIEW_DENIED/, 'the same session, before and after COMMIT');
      if (change[0] === 'begin') {
        await s.c.query('rollback');
        for (const sql of change.slice(1)) await s.c.query(sql);
      }
      assert.match((await s.error(probe)) ?? 'ran', /AIRLOCK_REVIEW_DENIED/, 'the same session, committed');
      assert.match((await other.error(probe)) ?? 'ran', /AIRLOCK_REVIEW_DENIED/, 'a session opened before the change');
      assert.match((await other.error({ name: 'probe', text: probe, values: [] })) ?? 'ran', /AIRLOCK_REVIEW_DENIED/, 'a statement prepared before the change');
      const fresh = await session(() => 'deny');
      assert.match((await fresh.error(probe)) ?? 'ran', /AIRLOCK_REVIEW_DENIED/, 'a new session');
      await fresh.c.end();
      assert.equal(await balances(), before, 'nothing ran unreviewed');
    } finally {
      await s.c.end();
      await other.c.end();
    }
  });
}

for (const setPath of ['set search_path = evil, public', "select set_config('search_path', 'evil, public', false)"]) {
  test(`after ${setPath.split(' ')[0]} of search_path, a function of another schema is still judged, and reads run at once again`, async () => {
    const s = await session((t) => (t === setPath ? 'approve' : 'deny'));
    try {
      const before = await balances();
      assert.match((await s.error('select k2()')) ?? 'ran', /AIRLOCK_REVIEW_DENIED/, 'evil.k2 writes: held before');
      await s.c.query('show search_path');
      assert.equal(await s.error('select 1'), null, 'SHOW changes nothing');
      await s.c.query(setPath);
      assert.match((await s.error('select k2()')) ?? 'ran', /AIRLOCK_REVIEW_DENIED/, 'evil.k2 is what k2() means now: held');
      assert.equal(await s.error('select k()'), null, 'public.k only reads (evil.k does not exist): it runs at once');
      assert.equal(await balances(), before);
    } finally {
      await s.c.end();
    }
  });
}

test('a read-only session open during a change refuses what now reaches a writing function, prepared before or not', async () => {
  const r = a.client(carol, 'carol', 'orders');
  await r.connect();
  const s = await session(approvePrepareAndDdl);
  try {
    assert.deepEqual((await r.query('select h() as h')).rows, [{ h: 3 }]);
    await r.query({ name: 'hq', text: 'select h() as h', values: [] });
    await s.c.query("create or replace function h() returns int language plpgsql as $$ begin update accounts set balance = balance; return 4; end $$");
    for (const q of ['select h() as h', { name: 'hq', text: 'select h() as h', values: [] }]) {
      const err = await r.query(q as string).then(() => 'ran', (e: Error & { hint?: string }) => `${e.message} ${e.hint ?? ''}`);
      assert.match(err, /read-only.*AIRLOCK_STATEMENT_REFUSED/s, JSON.stringify(q));
    }
    assert.deepEqual((await r.query('select 1 as one')).rows, [{ one: 1 }], 'the session goes on');
  } finally {
    await r.end();
    await s.c.end();
  }
});

test('Terminate while a statement is held withdraws its review: nothing runs for a client that left', async () => {
  const s = await session(() => 'wait');
  const before = await balances();
  const reply = s.error('update accounts set balance = balance + 1 where id = 1');
  await waitFor(() => s.seen.length === 1, 10_000, 'the hold');
  const id = (await reviews.list(bob, { status: 'pending' })).find((r) => r.statement.startsWith('update accounts set balance = balance + 1'))!.id;
  // Terminate, with the socket left open, as a client may do.
  const stream = (s.c as unknown as { connection: { stream: { write(b: Buffer): void; destroy(): void } } }).connection.stream;
  stream.write(typedMessage(F.Terminate, Buffer.alloc(0)));
  await waitFor(async () => (await reviews.get(id))?.status === 'withdrawn', 5000, 'the withdrawal');
  await assert.rejects(reviews.approve(bob, id, 'too late'));
  stream.destroy();
  await reply;
  assert.equal(await balances(), before);
  await waitFor(async () => (await auditEvents(a.server.audit)).some((e) => e.action === 'statement' && e.details?.review_id === id), 5000, 'the statement event');
  const ev = (await auditEvents(a.server.audit)).find((e) => e.action === 'statement' && e.details?.review_id === id)!;
  assert.deepEqual([ev.details!.decision, ev.details!.rule], ['refused', 'review_withdrawn']);
});

test('an approval is bound to the database: the same text in another database of the resource has another binding', async () => {
  const base = { statement: 'delete from accounts where id = 2', parameters: null, grant_id: grantId, policy_hash: 'h' };
  assert.notEqual(statementBinding({ ...base, database: 'orders' }), statementBinding({ ...base, database: 'orders_archive' }));
  assert.notEqual(statementBinding({ ...base, database: 'orders' }), statementBinding({ ...base, database: null }));
  assert.equal(statementBinding(base), statementBinding({ ...base, database: null }));
  // Through the gateway: the review of a held statement carries and binds the session's database.
  const s = await session(() => 'deny');
  try {
    await s.error('delete from accounts where id = 2');
    const r = (await reviews.list(bob, { status: 'denied' })).find((x) => x.statement === 'delete from accounts where id = 2')!;
    assert.equal(r.database, db.name);
    assert.equal(r.binding, statementBinding({ ...base, policy_hash: a.server.access.policy().hash, database: db.name }));
  } finally {
    await s.c.end();
  }
});

test(`at most ${MAX_PENDING_REVIEWS_PER_PRINCIPAL} pending statement reviews per principal: the service refuses more, and psql is told why`, async () => {
  const input = (i: number) => ({ grant_id: grantId, session_id: null, protocol: 'postgres', database: db.name, statement: `delete from accounts where id = ${100 + i}`, parameters: null, summary: { kinds: ['delete'], tables: ['accounts'], has_where: true, writes: true }, source: null });
  const held: string[] = [];
  try {
    for (let i = 0; i < MAX_PENDING_REVIEWS_PER_PRINCIPAL; i++) held.push((await reviews.hold('alice', input(i))).id);
    await assert.rejects(reviews.hold('alice', input(99)), (e: Error & { code?: string }) => e.code === 'AIRLOCK_STATEMENT_HELD' && /you already have 10 statements waiting for review/.test(e.message));
    const pendingBefore = (await reviews.list(bob, { status: 'pending' })).length;
    const before = await balances();
    const conninfo = `host=${a.gateway.host} port=${a.gateway.port} user=alice dbname=orders sslmode=require`;
    const psql = spawn('psql', ['-X', '-q', conninfo, '-c', 'update accounts set balance = 0 where id = 1'], { env: { PATH: process.env.PATH, HOME: tmpdir(), PSQLRC: '/dev/null', PGPASSWORD: alice } });
    let stderr = '';
    psql.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => psql.on('close', resolve));
    assert.equal(code, 1, stderr);
    assert.match(stderr, /ERROR:  airlock: you already have 10 statements waiting for review; wait for a decision \(airlock reviews\) or withdraw one \(Ctrl-C\) before sending another/);
    assert.match(stderr, /AIRLOCK_STATEMENT_HELD/);
    assert.doesNotMatch(stderr, /held for review/);
    assert.equal((await reviews.list(bob, { status: 'pending' })).length, pendingBefore, 'no review was created');
    assert.equal(await balances(), before);
    // One decided: there is room for one more.
    await reviews.deny(bob, held.shift()!, 'no');
    held.push((await reviews.hold('alice', input(50))).id);
  } finally {
    for (const id of held) await reviews.deny(bob, id, 'cleanup').catch(() => {});
  }
});
