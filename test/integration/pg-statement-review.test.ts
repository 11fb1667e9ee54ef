// Statement review through the real server and its PostgreSQL gateway: a role's `review:` rule holds single statements
// until a person decides. psql (simple protocol, Ctrl-C), node-postgres and postgres.js (extended protocol), the
// real review service, and the audit trail.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';
import postgres from 'postgres';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';
import { auditEvents } from '../support/harness.js';
import { waitFor } from './pg-gateway-harness.js';
import type { Caller } from '../../src/domain/model.js';
import type { StatementReview, StatementReviewService } from '../../src/access/statement-reviews.js';

let a: InProcessAirlock;
let db: TestDatabase;
let alice: string;
let sec: string;
let reviews: StatementReviewService;
let bob: Caller;

before(async () => {
  db = await createTestDatabase('airlock_review');
  const c = new pg.Client(db.url);
  await c.connect();
  await c.query(`create table accounts (id int primary key, owner text, balance int);
    insert into accounts values (1, 'ann', 100), (2, 'ben', 200), (3, 'cy', 300);
    create function touch() returns int language plpgsql as $$ begin return 1; end $$;
    create procedure noop() language sql as $$ select 1 $$;`);
  await c.end();
  const up = new URL(adminUrl());
  const credential = `{ username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: REVIEW_TEST_PG_PASSWORD }, mode: injected }`;
  const address = `"${up.hostname}:${up.port || 5432}"`;
  a = await startAirlock({
    env: { REVIEW_TEST_PG_PASSWORD: decodeURIComponent(up.password) || 'unused-with-trust-auth' },
    policy: `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
  - { name: sec, groups: [security] }
admins: { principals: [sec] }
auditors: { principals: [sec] }
resources:
  - { name: orders, kind: postgres, address: ${address}, database: ${db.name}, credential: ${credential} }
  - { name: orders-quick, kind: postgres, address: ${address}, database: ${db.name}, credential: ${credential} }
  - { name: orders-all, kind: postgres, address: ${address}, database: ${db.name}, credential: ${credential} }
roles:
  - name: reviewed
    resources: { names: [orders] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    review: { statements: writes, approver_groups: [dba], timeout: 15m }
  - name: reviewed-quick
    resources: { names: [orders-quick] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    review: { statements: writes, approver_groups: [dba], timeout: 2s }
  - name: reviewed-all
    resources: { names: [orders-all] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    review: { statements: all, approver_groups: [dba], timeout: 15m }
`,
  });
  alice = await a.token('alice');
  const bobToken = await a.token('bob');
  sec = await a.token('sec');
  await a.grant(alice, bobToken, 'orders', 'reviewed');
  await a.grant(alice, bobToken, 'orders-quick', 'reviewed-quick');
  await a.grant(alice, bobToken, 'orders-all', 'reviewed-all');
  reviews = a.server.access.statementReviews;
  bob = { principal: a.server.access.policy().principal('bob')!, source: null, token_id: null };
});

after(async () => {
  await a?.stop();
  await db?.drop();
});

async function balance(id: number): Promise<number> {
  const c = new pg.Client(db.url);
  await c.connect();
  try {
    return (await c.query<{ balance: number }>('select balance from accounts where id = $1', [id])).rows[0]!.balance;
  } finally {
    await c.end();
  }
}

const REVIEW_ID = /rev_[a-z0-9]+/i;

/** psql reading a script from stdin, its output read as it comes (notices and errors are on stderr). */
class Psql {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(dbname: string, script: string) {
    const conninfo = `host=${a.gateway.host} port=${a.gateway.port} user=alice dbname=${dbname} sslmode=require`;
    this.child = spawn('psql', ['-X', '-q', conninfo], { env: { PATH: process.env.PATH, HOME: tmpdir(), PSQLRC: '/dev/null', PGPASSWORD: alice, PGCONNECT_TIMEOUT: '10' } });
    this.child.stdout.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('close', resolve));
    this.child.stdin.end(script);
  }

  /** The id in the hold notice, once psql has printed it. */
  async heldReview(nth = 1): Promise<string> {
    await waitFor(() => (this.stderr.match(/statement held for review/g) ?? []).length >= nth, 10_000, `hold notice #${nth} (stderr: ${this.stderr})`);
    const ids = [...this.stderr.matchAll(/held for review (rev_[a-z0-9]+)/gi)].map((m) => m[1]!);
    return ids[nth - 1]!;
  }
}

async function pending(id: string): Promise<StatementReview> {
  await waitFor(async () => (await reviews.get(id))?.status === 'pending', 5000, `review ${id} pending`);
  return (await reviews.get(id))!;
}

async function statementEvents(reviewId: string) {
  return (await auditEvents(a.server.audit)).filter((e) => e.action === 'statement' && e.details?.review_id === reviewId);
}

test('psql: an UPDATE is held with a notice, runs once when another person approves, and a second run needs a new review', async () => {
  const p = new Psql('orders', "update accounts set balance = balance + 1 where id = 1;\nselect 'after';\n");
  const id = await p.heldReview();
  assert.match(p.stderr, new RegExp(`NOTICE:  airlock: statement held for review ${id} by dba; waiting up to 15m`));
  const r = await pending(id);
  assert.equal(r.statement, 'update accounts set balance = balance + 1 where id = 1;');
  assert.deepEqual(r.summary, { kinds: ['update'], tables: ['accounts'], has_where: true, writes: true });
  assert.equal(await balance(1), 100, 'nothing ran while held');
  await reviews.approve(bob, id, 'ok');
  assert.equal(await p.exited, 0, p.stderr);
  assert.match(p.stdout, /after/);
  assert.equal(await balance(1), 101, 'ran exactly once');
  await waitFor(async () => (await statementEvents(id)).length === 1, 5000, 'statement event with review_id');
  const [ev] = await statementEvents(id);
  assert.equal(ev!.details!.decision, 'allowed');
  assert.equal(ev!.details!.rows, 1);
  const starts = (await auditEvents(a.server.audit)).filter((e) => e.action === 'statement.start' && e.details?.review_id === id);
  assert.equal(starts.length, 1, 'statement.start before the database saw it, with review_id');
  await waitFor(async () => (await reviews.get(id))?.executed_at != null, 5000, 'review executed');

  // The approval was single-use: the same text again is held again, under a new review.
  const again = new Psql('orders', 'update accounts set balance = balance + 1 where id = 1;\n');
  const id2 = await again.heldReview();
  assert.notEqual(id2, id);
  await reviews.deny(bob, id2, 'once is enough');
  await again.exited;
  assert.equal(await balance(1), 101);
});

test('psql: a denial reads as an error with the reviewer and comment; in a transaction the transaction is aborted', async () => {
  const p = new Psql('orders', 'begin;\nupdate accounts set balance = 0 where id = 2;\nselect 1;\nrollback;\nselect 2 as two;\n');
  const id = await p.heldReview();
  await reviews.deny(bob, id, 'not during business hours');
  await p.exited;
  assert.match(p.stderr, /ERROR:  airlock: statement denied on review by bob: not during business hours/);
  assert.match(p.stderr, /AIRLOCK_REVIEW_DENIED/);
  assert.match(p.stderr, /current transaction is aborted/);
  assert.match(p.stdout, /two\s*\n-+\n\s+2\n/);
  assert.equal(await balance(2), 200);
  await waitFor(async () => (await statementEvents(id)).length === 1, 5000, 'refused statement event');
  const [ev] = await statementEvents(id);
  assert.deepEqual([ev!.details!.decision, ev!.details!.rule], ['refused', 'review_denied']);
});

test('psql: a review nobody decides times out with AIRLOCK_REVIEW_TIMED_OUT', async () => {
  const p = new Psql('orders-quick', 'update accounts set balance = 0 where id = 3;\n');
  const id = await p.heldReview();
  assert.match(p.stderr, /waiting up to 2s/);
  await p.exited;
  assert.match(p.stderr, new RegExp(`ERROR:  airlock: statement review ${id} timed out`));
  assert.match(p.stderr, /AIRLOCK_REVIEW_TIMED_OUT/);
  assert.equal((await reviews.get(id))?.status, 'timed_out');
  assert.equal(await balance(3), 300);
});

test('psql Ctrl-C withdraws the held statement; psql goes on and the next statement runs', async () => {
  // Interactive psql on a terminal (script(1) makes one), where Ctrl-C is the byte 0x03 typed at it.
  const conninfo = `host=${a.gateway.host} port=${a.gateway.port} user=alice dbname=orders sslmode=require`;
  const child = spawn('script', ['-qfec', `psql -X -P pager=off '${conninfo}'`, '/dev/null'], { env: { PATH: process.env.PATH, HOME: tmpdir(), PSQLRC: '/dev/null', PGPASSWORD: alice, TERM: 'dumb' } });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((resolve) => child.on('close', resolve));
  try {
    await waitFor(() => /orders=/.test(out), 10_000, `psql prompt (${out})`);
    child.stdin.write('update accounts set balance = 0 where id = 3;\n');
    await waitFor(() => /held for review rev_/.test(out), 10_000, `hold notice (${out})`);
    const id = /held for review (rev_[a-z0-9]+)/i.exec(out)![1]!;
    child.stdin.write('\x03');
    await waitFor(() => /AIRLOCK_REVIEW_WITHDRAWN/.test(out), 10_000, `withdrawal (${out})`);
    assert.match(out, /ERROR:  airlock: statement withdrawn from review \(cancelled\)/);
    assert.equal((await reviews.get(id))?.status, 'withdrawn');
    child.stdin.write('select 40 + 2 as answer;\n');
    await waitFor(() => /\n\s+42\r?\n/.test(out), 10_000, `the next statement's result (${out})`);
    child.stdin.write('\\q\n');
    await exited;
  } finally {
    child.kill();
  }
  assert.equal(await balance(3), 300);
});

test('another session runs while one is held', async () => {
  const p = new Psql('orders', 'delete from accounts where id = 3;\n');
  const id = await p.heldReview();
  const c = a.client(alice, 'alice', 'orders');
  await c.connect();
  try {
    assert.deepEqual((await c.query('select owner from accounts order by id')).rows.map((r) => r.owner), ['ann', 'ben', 'cy']);
  } finally {
    await c.end();
  }
  await reviews.deny(bob, id, 'no');
  await p.exited;
  assert.equal(await balance(3), 300);
});

test('which statements are held under statements: writes, and which run at once', async () => {
  const c = a.client(alice, 'alice', 'orders');
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(n.message ?? ''));
  await c.connect();
  try {
    const held = [
      'update accounts set balance = balance where id = 1',
      'delete from accounts where id = 99',
      "insert into accounts values (9, 'x', 0) returning id",
      'with x as (update accounts set balance = balance where id = 1 returning id) select * from x',
      'merge into accounts t using (select 1 as id) s on t.id = s.id when matched then update set balance = t.balance',
      'copy accounts from stdin',
      'do $$ begin perform 1; end $$',
      'call noop()',
      'select touch()',
      'select 1; update accounts set balance = balance where id = 1',
    ];
    for (const sql of held) {
      const before = notices.length;
      const q = c.query(sql).then(() => null, (e: Error & { hint?: string }) => e);
      await waitFor(() => notices.length > before, 5000, `hold notice for ${sql}`);
      const id = REVIEW_ID.exec(notices[notices.length - 1]!)![0];
      assert.equal((await pending(id)).statement, sql);
      await reviews.deny(bob, id, 'test');
      const err = await q;
      assert.ok(err && /AIRLOCK_REVIEW_DENIED/.test(err.hint ?? ''), `${sql}: ${String(err)}`);
    }
    const before = notices.length;
    for (const sql of ['select 1', 'select owner from accounts where id = 1', 'begin', 'show search_path', 'commit']) await c.query(sql);
    assert.equal(notices.length, before, 'nothing held for reads and transaction control');
  } finally {
    await c.end();
  }
});

test('statements: all holds reads too, but not transaction control', async () => {
  const c = a.client(alice, 'alice', 'orders-all');
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(n.message ?? ''));
  await c.connect();
  try {
    await c.query('begin');
    const q = c.query('select owner from accounts where id = 1');
    await waitFor(() => notices.length === 1, 5000, 'hold notice for a select');
    await reviews.approve(bob, REVIEW_ID.exec(notices[0]!)![0], null);
    assert.deepEqual((await q).rows, [{ owner: 'ann' }]);
    await c.query('commit');
    assert.equal(notices.length, 1);
  } finally {
    await c.end();
  }
});

test('node-postgres: a parameterized UPDATE is held at Execute with its parameters; approval runs it', async () => {
  const c = a.client(alice, 'alice', 'orders');
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(n.message ?? ''));
  await c.connect();
  try {
    const q = c.query('update accounts set owner = $1 where id = $2', ['ann-2', 1]);
    await waitFor(() => notices.length === 1, 5000, 'hold notice');
    const id = REVIEW_ID.exec(notices[0]!)![0];
    const r = await pending(id);
    assert.equal(r.statement, 'update accounts set owner = $1 where id = $2');
    assert.deepEqual(r.parameters, ['ann-2', '1']);
    await reviews.approve(bob, id, null);
    assert.equal((await q).rowCount, 1);
    // Denied at Execute: the error, and the session skips to Sync and stays usable.
    const q2 = c.query('update accounts set owner = $1 where id = $2', ['nobody', 1]).then(() => null, (e: Error & { hint?: string }) => e);
    await waitFor(() => notices.length === 2, 5000, 'second hold notice');
    await reviews.deny(bob, REVIEW_ID.exec(notices[1]!)![0], 'no renames');
    const err = await q2;
    assert.match(String(err?.message), /statement denied on review by bob: no renames/);
    assert.equal((await c.query('select owner from accounts where id = 1')).rows[0].owner, 'ann-2');
  } finally {
    await c.end();
  }
});

test('postgres.js: a held statement with parameters runs once approved', async () => {
  const notices: string[] = [];
  const sql = postgres({ host: a.gateway.host, port: a.gateway.port, user: 'alice', pass: alice, database: 'orders', ssl: { ca: a.gateway.ca, servername: 'localhost' }, max: 1, onnotice: (n) => notices.push(String(n.message)) });
  try {
    const q = sql`update accounts set owner = ${'ann-3'} where id = ${1}`;
    const done = q.then((r) => r.count);
    await waitFor(() => notices.length === 1, 5000, 'hold notice');
    const id = REVIEW_ID.exec(notices[0]!)![0];
    assert.deepEqual((await pending(id)).parameters, ['ann-3', '1']);
    await reviews.approve(bob, id, null);
    assert.equal(await done, 1);
    assert.deepEqual([...(await sql`select owner from accounts where id = 1`)], [{ owner: 'ann-3' }]);
  } finally {
    await sql.end();
  }
});

test('an approval given after the policy changed does not run: AIRLOCK_REVIEW_MISMATCH, and the statement can be sent again', async () => {
  const c = a.client(alice, 'alice', 'orders');
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(n.message ?? ''));
  await c.connect();
  try {
    const q = c.query('update accounts set balance = 7 where id = 2').then(() => null, (e: Error & { hint?: string }) => e);
    await waitFor(() => notices.length === 1, 5000, 'hold notice');
    const file = join(a.dir, 'airlock.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('  - { name: sec, groups: [security] }', '  - { name: sec, groups: [security] }\n  - { name: zed, groups: [engineers] }'));
    await a.server.reloadPolicy('sec', null);
    await reviews.approve(bob, REVIEW_ID.exec(notices[0]!)![0], null);
    const err = await q;
    assert.match(err?.hint ?? '', /AIRLOCK_REVIEW_MISMATCH/);
    assert.equal(await balance(2), 200);
    const again = c.query('update accounts set balance = 7 where id = 2');
    await waitFor(() => notices.length === 2, 5000, 'second hold notice');
    await reviews.approve(bob, REVIEW_ID.exec(notices[1]!)![0], null);
    assert.equal((await again).rowCount, 1);
    assert.equal(await balance(2), 7);
  } finally {
    await c.end();
  }
});

// Last: it ends the grant the tests above use.
test('revoking the grant while a statement is held ends the session and withdraws the review', async () => {
  const p = new Psql('orders', 'update accounts set balance = 0 where id = 2;\n');
  const id = await p.heldReview();
  const { grants } = await a.api<{ grants: { id: string; resource: string }[] }>(sec, 'GET', '/api/v1/grants?active=true');
  const g = grants.find((x) => x.resource === 'orders')!;
  await a.api(sec, 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'drill' });
  await p.exited;
  assert.match(p.stderr, /FATAL:  airlock: .*revoked/);
  await waitFor(async () => (await reviews.get(id))?.status === 'withdrawn', 5000, 'review withdrawn');
  assert.equal(await balance(2), 7);
  await waitFor(async () => (await statementEvents(id)).length === 1, 5000, 'statement event of the withdrawn review');
  assert.match(String((await statementEvents(id))[0]!.details!.error), /session ended/);
});
