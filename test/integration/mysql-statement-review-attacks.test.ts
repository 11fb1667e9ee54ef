// Statement review in the MySQL gateway against a red team's attacks, on the machine's MariaDB: writes hidden in SET
// and SHOW … WHERE, long data the server kept after an execute the gateway refused, parameter types of an execute
// that never reached the server, and a "last prepared statement" the server no longer has.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import mysql from 'mysql2/promise';
import type { InProcessAirlock } from '../support/in-process-server.js';
import { startMysqlReview, type MysqlReviewSetup } from './mysql-review-harness.js';
import { adminQuery } from './mysql-gateway-harness.js';
import { nativeProof } from '../../src/gateway/mysql/handshake.js';
import type { Caller } from '../../src/domain/model.js';

let a: InProcessAirlock;
let db: string;
let alice: string;
let bob: Caller;
let port: number;
let review: MysqlReviewSetup;

before(async () => {
  review = await startMysqlReview('airlock_rva', (db) => [
    `CREATE TABLE \`${db}\`.items (id INT PRIMARY KEY, name VARCHAR(100))`,
    `INSERT INTO \`${db}\`.items VALUES (1, 'apple'), (2, 'pear')`,
    `CREATE TABLE \`${db}\`.bumps (n INT)`,
    `INSERT INTO \`${db}\`.bumps VALUES (0)`,
    `CREATE SEQUENCE \`${db}\`.seq`,
    `CREATE FUNCTION \`${db}\`.bump() RETURNS INT MODIFIES SQL DATA BEGIN UPDATE \`${db}\`.bumps SET n = n + 1; RETURN 1; END`,
  ]);
  ({ a, db, alice, bob, port } = review);
});

after(() => review?.stop());

const reviews = () => a.server.access.statementReviews;
const connectAlice = () => mysql.createConnection({ host: '127.0.0.1', port, user: 'alice', password: alice, database: 'shop-db' });

const pendingReview = () => review.pendingReview();

const reviewCount = async () => (await reviews().list(bob, {})).length;

/** What the writes under attack would change: the bump() counter, the sequence, the rows. */
async function state(): Promise<string> {
  return JSON.stringify(await adminQuery(`SELECT (SELECT n FROM \`${db}\`.bumps) b, (SELECT next_not_cached_value FROM \`${db}\`.seq) s, (SELECT GROUP_CONCAT(name ORDER BY id) FROM \`${db}\`.items) i`));
}

const itemName = async (id: number) => ((await adminQuery(`SELECT name FROM \`${db}\`.items WHERE id = ?`, [id])) as { name: string }[])[0]!.name;

test('SET and SHOW … WHERE that call a function which may write are held for review; denied, nothing changed', async () => {
  const spellings = [
    'SET @x = bump()',
    'SET @a = 1, @b = bump()',
    'SET @x := (SELECT bump())',
    'SET SESSION max_statement_time = (SELECT bump())',
    'SET autocommit = bump()',
    'SET @x = `bump`()',
    `SET @x = \`${db}\`.bump()`,
    'SET @x = 1 /*!50000 + bump() */',
    'SET @x = 1 /*M! + bump() */',
    'SET @x = SETVAL(seq, 1000)',
    'SET @y = NEXTVAL(seq)',
    'SET @y = (SELECT NEXT VALUE FOR seq)',
    'SHOW TABLES WHERE bump() = 1',
    'SHOW DATABASES WHERE bump() = 1',
    "SHOW VARIABLES WHERE Variable_name = 'x' OR bump()",
  ];
  const c = await connectAlice();
  try {
    for (const sql of spellings) {
      const before = await state();
      const q = c.query(sql).then(() => null, (e: Error & { errno?: number }) => e);
      const r = await pendingReview();
      assert.equal(r.statement, sql);
      await reviews().deny(bob, r.id, 'no writes here');
      const err = await q;
      assert.equal(err?.errno, 1142, `${sql}: ${String(err?.message)}`);
      assert.match(String(err?.message), /AIRLOCK_REVIEW_DENIED/);
      assert.equal(await state(), before, `${sql} changed nothing`);
    }
    // Approved, it runs: the hold is a review, not a refusal.
    const before = JSON.parse(await state()) as [{ b: number }];
    const q = c.query('SET @x = bump()');
    await reviews().approve(bob, (await pendingReview()).id, null);
    await q;
    assert.equal((JSON.parse(await state()) as [{ b: number }])[0].b, before[0].b + 1);
  } finally {
    await c.end();
  }
});

test('SET and SHOW with only literals, variables and built-ins that only read still run at once', async () => {
  const c = await connectAlice();
  try {
    const n = await reviewCount();
    for (const sql of ["SET @a = 1, @b = CONCAT('x', @a)", 'SET SESSION max_statement_time = 5', 'SET autocommit = 1', 'SET @c = (SELECT COUNT(*) FROM items)', 'SHOW TABLES', "SHOW TABLES WHERE Tables_in_" + db + " LIKE 'i%'", "SHOW VARIABLES LIKE 'autocommit'"]) {
      await c.query(sql);
    }
    assert.equal(await reviewCount(), n, 'no review was created');
  } finally {
    await c.end();
  }
});

/** A bare client that logs in and exchanges single packets, for what drivers do not send (long data, id -1, no types). */
async function bareClient(): Promise<{ threadId: number; send(payload: Buffer): void; next(): Promise<Buffer>; end(): void }> {
  const sock: Socket = connect({ host: '127.0.0.1', port });
  sock.on('error', () => {});
  const packets: Buffer[] = [];
  let buf = Buffer.alloc(0);
  let wake: (() => void) | null = null;
  sock.on('data', (c: Buffer) => {
    buf = Buffer.concat([buf, c]);
    while (buf.length >= 4 && buf.length >= 4 + buf.readUIntLE(0, 3)) {
      const len = buf.readUIntLE(0, 3);
      packets.push(buf.subarray(4, 4 + len));
      buf = buf.subarray(4 + len);
    }
    wake?.();
  });
  sock.on('close', () => wake?.());
  const next = async (): Promise<Buffer> => {
    for (;;) {
      const p = packets.shift();
      if (p) return p;
      if (sock.destroyed) throw new Error('the gateway closed the connection');
      await new Promise<void>((r) => (wake = r));
    }
  };
  const write = (payload: Buffer, seq: number) => {
    const head = Buffer.alloc(4);
    head.writeUIntLE(payload.length, 0, 3);
    head[3] = seq;
    sock.write(Buffer.concat([head, payload]));
  };
  const hello = await next();
  const verEnd = hello.indexOf(0, 1);
  const threadId = hello.readUInt32LE(verEnd + 1);
  const proof = nativeProof(alice, Buffer.concat([hello.subarray(verEnd + 5, verEnd + 13), hello.subarray(verEnd + 32, verEnd + 44)]));
  const fixed = Buffer.alloc(32);
  fixed.writeUInt32LE(0x0008 | 0x0200 | 0x8000 | 0x80000, 0);
  fixed.writeUInt32LE(1 << 24, 4);
  fixed[8] = 45;
  write(Buffer.concat([fixed, Buffer.from('alice\0'), Buffer.from([proof.length]), proof, Buffer.from('shop-db\0'), Buffer.from('mysql_native_password\0')]), 1);
  const ok = await next();
  if (ok[0] !== 0) throw new Error(`login refused: ${ok.subarray(9).toString()}`);
  return { threadId, send: (p) => write(p, 0), next, end: () => sock.destroy() };
}

type Bare = Awaited<ReturnType<typeof bareClient>>;

/** COM_STMT_PREPARE; its statement id (the response's parameter and column definitions are read past). */
async function prepare(c: Bare, sql: string): Promise<number> {
  c.send(Buffer.concat([Buffer.from([0x16]), Buffer.from(sql)]));
  const ok = await c.next();
  if (ok[0] !== 0) throw Object.assign(new Error(ok.subarray(9).toString()), { errno: ok.readUInt16LE(1) });
  const params = ok.readUInt16LE(7);
  const cols = ok.readUInt16LE(5);
  for (let i = 0; i < params + (params ? 1 : 0) + cols + (cols ? 1 : 0); i++) await c.next();
  return ok.readUInt32LE(1);
}

const idBytes = (id: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(id);
  return b;
};
/** COM_STMT_EXECUTE of a one-parameter statement: `types` null sends none (new-params-bound flag 0). */
const execute = (id: number, types: Buffer | null, value: Buffer) =>
  Buffer.concat([Buffer.from([0x17]), idBytes(id), Buffer.from([0, 1, 0, 0, 0, 0, types ? 1 : 0]), types ?? Buffer.alloc(0), value]);
const str = (s: string) => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);
const STRING = Buffer.from([0xfe, 0]);
const LONGLONG = Buffer.from([0x08, 0]);
const longData = (id: number, s: string) => Buffer.concat([Buffer.from([0x18]), idBytes(id), Buffer.from([0, 0]), Buffer.from(s)]);
/** The gateway's immediate answer; fails at once, rather than waiting forever, if the command was held for review instead. */
async function answered(c: Bare): Promise<Buffer> {
  let done = false;
  const held = (async () => {
    while (!done) {
      const r = (await reviews().list(bob, { status: 'pending' }))[0];
      if (r) throw new Error(`held for review (${r.statement} ${JSON.stringify(r.parameters)}) instead of answered`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return Buffer.alloc(0);
  })();
  try {
    return await Promise.race([c.next(), held]);
  } finally {
    done = true;
  }
}
const errText = (p: Buffer) => (p[0] === 0xff ? `${p.readUInt16LE(1)} ${p.subarray(9).toString()}` : 'OK');

const tag = (viaLast: boolean) => (viaLast ? 'last' : 'id');

test('long data the server still holds keeps every reviewed execute refused until COM_STMT_RESET drops it', async () => {
  await adminQuery(`UPDATE \`${db}\`.items SET name = 'apple' WHERE id = 1`);
  for (const viaLast of [false, true]) {
    const c = await bareClient();
    try {
      const id = await prepare(c, 'UPDATE items SET name = ? WHERE id = 1');
      // Sent for the statement by its id, or by MariaDB's "last prepared statement" id.
      c.send(longData(viaLast ? 0xffffffff : id, 'EVIL-FROM-LONG-DATA'));
      const n = await reviewCount();
      for (let i = 0; i < 2; i++) {
        c.send(execute(id, STRING, str('benign')));
        assert.match(errText(await answered(c)), /^1142 .*COM_STMT_SEND_LONG_DATA cannot be shown to the reviewer/);
      }
      assert.equal(await reviewCount(), n, 'nothing was put to a reviewer');
      c.send(Buffer.concat([Buffer.from([0x1a]), idBytes(id)]));
      assert.equal(errText(await c.next()), 'OK');
      c.send(execute(id, STRING, str(`benign-${tag(viaLast)}`)));
      const r = await pendingReview();
      assert.deepEqual(r.parameters, [`benign-${tag(viaLast)}`]);
      await reviews().approve(bob, r.id, null);
      assert.equal(errText(await c.next()), 'OK');
      assert.equal(await itemName(1), `benign-${tag(viaLast)}`, 'the server ran what the reviewer saw');
    } finally {
      c.end();
    }
  }
});

for (const how of ['withdrawn by KILL QUERY', 'denied'] as const) {
  test(`an execute ${how} leaves the parameter types the server holds: the next execute is shown with them`, async () => {
    const c = await bareClient();
    try {
      const id = await prepare(c, 'UPDATE items SET name = ? WHERE id = 2');
      c.send(execute(id, STRING, str('first')));
      await reviews().approve(bob, (await pendingReview()).id, null);
      assert.equal(errText(await c.next()), 'OK');
      // B binds LONGLONG types and never reaches the server.
      const v = Buffer.alloc(8);
      v.writeBigInt64LE(1n);
      c.send(execute(id, LONGLONG, v));
      const b = await pendingReview();
      assert.deepEqual(b.parameters, ['1']);
      if (how === 'denied') {
        await reviews().deny(bob, b.id, 'no');
      } else {
        const k = await connectAlice();
        await k.query(`KILL QUERY ${c.threadId}`);
        await k.end();
      }
      assert.match(errText(await c.next()), how === 'denied' ? /^1142 / : /^1317 /);
      // C sends no types: the server reads it with A's STRING types, and so must the reviewer.
      c.send(execute(id, null, str('EVIL!!!')));
      const r = await pendingReview();
      assert.deepEqual(r.parameters, ['EVIL!!!']);
      await reviews().approve(bob, r.id, null);
      assert.equal(errText(await c.next()), 'OK');
      assert.equal(await itemName(2), 'EVIL!!!', 'the server ran what the reviewer saw');
    } finally {
      c.end();
    }
  });
}

test('after a prepare the server refused, "the last prepared statement" (id 0xffffffff) is none, as on the server', async () => {
  const c = await bareClient();
  try {
    await prepare(c, 'UPDATE items SET name = ? WHERE id = 1');
    await assert.rejects(prepare(c, 'SELECT * FROM no_such_table WHERE id = ?'), /no_such_table/);
    const n = await reviewCount();
    c.send(execute(0xffffffff, STRING, str('x')));
    assert.match(errText(await answered(c)), /^1243 /);
    // A closed last statement is none either.
    const id = await prepare(c, 'UPDATE items SET name = ? WHERE id = 1');
    c.send(Buffer.concat([Buffer.from([0x19]), idBytes(0xffffffff)]));
    c.send(execute(id, STRING, str('y')));
    assert.match(errText(await answered(c)), /^1243 /);
    assert.equal(await reviewCount(), n, 'nothing was put to a reviewer');
  } finally {
    c.end();
  }
});
