// Well-framed but hostile command packets after login: every command byte, with random and truncated bodies (prepared
// statement ids, parameter blocks, option values, schema names), sent to the MySQL gateway through a logged-in raw
// connection. Each may be answered or end its own session; none may crash the gateway, reach the server as a write, or
// disturb another session. Seeded, so a failure names the case that caused it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import mysql from 'mysql2/promise';
import { startMysqlHarness, adminQuery, rawLogin, type MysqlHarness } from './mysql-gateway-harness.js';

let h: MysqlHarness;
before(async () => {
  h = await startMysqlHarness();
});
after(async () => {
  await h?.close();
});

/** A small deterministic generator (mulberry32), so every run sends the same cases. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function frame(payload: Buffer, seq = 0): Buffer {
  const head = Buffer.alloc(4);
  head.writeUIntLE(payload.length, 0, 3);
  head[3] = seq;
  return Buffer.concat([head, payload]);
}

/** Sends one packet and waits for an answer or the end of the session; true when the session is still open. */
function exchange(s: Socket, packet: Buffer): Promise<'answered' | 'closed' | 'silent'> {
  return new Promise((resolve) => {
    const done = (r: 'answered' | 'closed' | 'silent') => {
      clearTimeout(timer);
      s.off('data', onData);
      s.off('close', onClose);
      resolve(r);
    };
    const onData = () => done('answered');
    const onClose = () => done('closed');
    // Some commands have no answer (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA): the session is simply still there.
    const timer = setTimeout(() => done('silent'), 200);
    s.on('data', onData);
    s.once('close', onClose);
    s.write(packet);
  });
}

test('hostile command packets of every kind end at most their own session; the gateway and other sessions go on, the data unchanged', async () => {
  const token = await h.token();
  await h.grant('read', token);
  const bystander = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'alice', password: token, database: 'shop-db', ssl: { ca: h.gw.ca } });
  const rnd = random(13);
  const byte = () => Math.floor(rnd() * 256);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, byte));
  const outcomes = { answered: 0, closed: 0, silent: 0 };
  try {
    let s = await rawLogin(h.gw.port, 'alice', token, 'shop-db');
    const commands = [...Array.from({ length: 0x22 }, (_, i) => i), 0xfe, 0xff, ...Array.from({ length: 20 }, byte)];
    for (const [i, cmd] of commands.entries()) {
      for (let k = 0; k < 4; k++) {
        const len = [0, 1, 4, 9 + Math.floor(rnd() * 300)][k]!;
        // Prepared-statement commands get a plausible id (1 or -1) half the time, so the parsers behind them run.
        const body = bytes(len);
        if ((cmd === 0x17 || cmd === 0x18 || cmd === 0x19 || cmd === 0x1a || cmd === 0x1c) && len >= 4 && rnd() < 0.5) body.writeInt32LE(rnd() < 0.5 ? 1 : -1, 0);
        const r = await exchange(s, frame(Buffer.concat([Buffer.from([cmd]), body])));
        outcomes[r]++;
        if (r === 'closed' || s.destroyed) s = await rawLogin(h.gw.port, 'alice', token, 'shop-db');
        assert.deepEqual((await bystander.query('SELECT 1 AS n'))[0], [{ n: 1 }], `the other session answers after command 0x${cmd.toString(16)} case ${i}/${k}`);
      }
    }
    s.destroy();
    // Every outcome happened at least once: the cases reached the gateway's parsers, not only its first check.
    assert.ok(outcomes.answered > 0 && outcomes.closed > 0, JSON.stringify(outcomes));
    const rows = (await adminQuery(`SELECT id, name, note FROM \`${h.db}\`.items ORDER BY id`)) as unknown[];
    assert.deepEqual(rows, [{ id: 1, name: 'apple', note: 'red' }, { id: 2, name: 'pear', note: 'green' }, { id: 3, name: 'plum', note: 'blue' }]);
    const fresh = await mysql.createConnection({ host: '127.0.0.1', port: h.gw.port, user: 'alice', password: token, database: 'shop-db', ssl: { ca: h.gw.ca } });
    assert.deepEqual((await fresh.query('SELECT 2 AS n'))[0], [{ n: 2 }], 'new logins still work');
    await fresh.end();
  } finally {
    await bystander.end();
  }
});
