// Statement review through the MySQL gateway to the machine's MariaDB: a role's `review:` rule holds a statement
// (silently: MySQL has no notice) until a person decides. The mariadb client, mysql2's prepared statements, KILL QUERY.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import type { InProcessAirlock } from '../support/in-process-server.js';
import { startMysqlReview, type MysqlReviewSetup } from './mysql-review-harness.js';
import { auditEvents } from '../support/harness.js';
import { adminQuery, mariadbCli, until } from './mysql-gateway-harness.js';
import type { Caller } from '../../src/domain/model.js';

let a: InProcessAirlock;
let db: string;
let alice: string;
let bob: Caller;
let port: number;
let review: MysqlReviewSetup;

before(async () => {
  review = await startMysqlReview('airlock_rv', (db) => [
    `CREATE TABLE \`${db}\`.items (id INT PRIMARY KEY, name VARCHAR(100))`,
    `INSERT INTO \`${db}\`.items VALUES (1, 'apple'), (2, 'pear'), (3, 'plum')`,
  ]);
  ({ a, db, alice, bob, port } = review);
});

after(() => review?.stop());

const reviews = () => a.server.access.statementReviews;

const pendingReview = () => review.pendingReview();

async function name(id: number): Promise<string> {
  const rows = (await adminQuery(`SELECT name FROM \`${db}\`.items WHERE id = ?`, [id])) as { name: string }[];
  return rows[0]!.name;
}

const cli = ['-h', '127.0.0.1', '-P', '0', '-u', 'alice', '-D', 'shop-db', '--skip-ssl'];
const cliArgs = (sql: string) => [...cli.map((x) => (x === '0' ? String(port) : x)), `-p${alice}`, '-N', '-e', sql];

test('the mariadb client: an UPDATE waits for a person, runs once approved; a SELECT runs at once', async () => {
  const run = mariadbCli(cliArgs("UPDATE items SET name = 'apricot' WHERE id = 1"));
  const r = await pendingReview();
  assert.equal(r.statement, "UPDATE items SET name = 'apricot' WHERE id = 1");
  assert.equal(r.protocol, 'mysql');
  assert.equal(await name(1), 'apple', 'nothing ran while held');
  await reviews().approve(bob, r.id, null);
  const out = await run;
  assert.equal(out.code, 0, out.stderr);
  assert.equal(await name(1), 'apricot');
  const sel = await mariadbCli(cliArgs('SELECT name FROM items WHERE id = 2'));
  assert.equal(sel.stdout.trim(), 'pear');
  await until('statement event with review_id', async () => (await auditEvents(a.server.audit)).some((e) => e.action === 'statement' && e.details?.review_id === r.id && e.details?.decision === 'allowed'));
});

test('the mariadb client: a denial reads as ERROR 1142 with the reviewer, the comment and the code', async () => {
  const run = mariadbCli(cliArgs('DELETE FROM items WHERE id = 3'));
  const r = await pendingReview();
  await reviews().deny(bob, r.id, 'keep the plums');
  const out = await run;
  assert.notEqual(out.code, 0);
  assert.match(out.stderr, /ERROR 1142 \(42000\).*airlock: statement denied on review by bob: keep the plums \(AIRLOCK_REVIEW_DENIED\)/);
  assert.equal(await name(3), 'plum');
});

test('mysql2 prepared statement: the review holds the parameters; approval runs it', async () => {
  const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'alice', password: alice, database: 'shop-db' });
  try {
    const q = c.execute('UPDATE items SET name = ? WHERE id = ?', ['pearl', 2]);
    const r = await pendingReview();
    assert.equal(r.statement, 'UPDATE items SET name = ? WHERE id = ?');
    assert.deepEqual(r.parameters, ['pearl', '2']);
    await reviews().approve(bob, r.id, null);
    const [res] = await q;
    assert.equal((res as { affectedRows: number }).affectedRows, 1);
    assert.equal(await name(2), 'pearl');
  } finally {
    await c.end();
  }
});

test('KILL QUERY from another connection (the client\'s Ctrl-C) withdraws the held statement; the session goes on', async () => {
  const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'alice', password: alice, database: 'shop-db' });
  const k = await mysql.createConnection({ host: '127.0.0.1', port, user: 'alice', password: alice, database: 'shop-db' });
  try {
    const q = c.query("UPDATE items SET name = 'gone' WHERE id = 3").then(() => null, (e: Error & { errno?: number }) => e);
    const r = await pendingReview();
    await k.query(`KILL QUERY ${c.threadId}`);
    const err = await q;
    assert.equal(err?.errno, 1317);
    assert.match(String(err?.message), /statement withdrawn from review \(cancelled\)/);
    assert.equal((await reviews().get(r.id))?.status, 'withdrawn');
    const [rows] = await c.query('SELECT name FROM items WHERE id = 3');
    assert.deepEqual(rows, [{ name: 'plum' }]);
  } finally {
    await c.end();
    await k.end();
  }
});
