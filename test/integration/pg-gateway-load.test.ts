// The PostgreSQL gateway under load: pgbench in all three query modes, a 500 MB result to a client that stops
// reading, and 100 MB of COPY data into a server that stops reading: neither may grow the gateway's memory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startRig, runTool, waitFor, type Rig } from './pg-gateway-harness.js';
import { openUpstream } from '../../src/gateway/postgres/upstream.js';
import { BackendScanner } from '../../src/gateway/postgres/framing.js';
import { B, queryMessage, typedMessage } from '../../src/gateway/postgres/protocol.js';
import { adminUrl, urlForDatabase } from '../support/pg.js';
import { liveMemory } from '../support/live-memory.js';

let rig: Rig;
before(async () => {
  rig = await startRig({ gateway: { allowCleartextWithoutTls: true } });
});
after(async () => {
  await rig?.stop();
});

test('pgbench: initialise (COPY, DDL, VACUUM) and run select-only in simple, extended and prepared modes', async (t) => {
  const init = await runTool('pgbench', ['-i', '-s', '1', '-q', rig.conninfo()], { password: rig.token, timeoutMs: 120_000 });
  assert.equal(init.code, 0, init.stderr);
  assert.match(init.stderr, /done in/);
  for (const mode of ['simple', 'extended', 'prepared']) {
    const r = await runTool('pgbench', ['-S', '-T', '2', '-c', '2', '-j', '1', '-M', mode, '-n', rig.conninfo()], { password: rig.token, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `${mode}: ${r.stderr}`);
    const done = Number(/number of transactions actually processed: (\d+)/.exec(r.stdout)?.[1]);
    assert.ok(done > 100, `${mode}: ${done} transactions`);
    assert.match(r.stdout, /number of failed transactions: 0 /);
    t.diagnostic(`pgbench -M ${mode}: ${/tps = ([\d.]+)/.exec(r.stdout)?.[1]} tps through the gateway`);
  }
  assert.equal(rig.errors.length, 0, JSON.stringify(rig.errors));
});


test('backpressure: a 5M-row (~500 MB) result to a client that stops reading grows live memory by less than 50 MB', { timeout: 120_000 }, async (t) => {
  const conn = await openUpstream({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: 'rw' }, {});
  const base = liveMemory();
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, liveMemory())), 200);
  try {
    conn.socket.write(queryMessage("select repeat('x', 92) as pad from generate_series(1, 5000000)"));
    // The client reads nothing for 3 s: the gateway must stop reading from the server instead of buffering.
    await new Promise((r) => setTimeout(r, 3000));
    const whilePaused = liveMemory() - base;
    assert.ok(whilePaused < 50 * 1024 * 1024, `memory grew ${(whilePaused / 1048576).toFixed(1)} MB while the client was paused`);

    let rows = 0;
    let bytes = 0;
    let tag = '';
    const scanner = new BackendScanner(new Set([B.CommandComplete, B.ReadyForQuery]), 1 << 20, {
      streamed: (type) => (type === B.DataRow && rows++, false),
      whole: (msg) => {
        if (msg[0] === B.CommandComplete) tag = msg.toString('utf8', 5, msg.length - 1);
        if (msg[0] === B.ReadyForQuery) conn.socket.emit('done');
        return null;
      },
      out: () => {},
    });
    const finished = new Promise<void>((resolve) => conn.socket.once('done', () => resolve()));
    conn.read((chunk: Buffer) => {
      bytes += chunk.length;
      scanner.feed(chunk);
    });
    conn.socket.resume();
    await finished;
    assert.equal(tag, 'SELECT 5000000');
    assert.equal(rows, 5_000_000);
    assert.ok(bytes > 500_000_000, `${bytes} bytes`);
    t.diagnostic(`memory: +${(whilePaused / 1048576).toFixed(1)} MB while paused, peak +${((peak - base) / 1048576).toFixed(1)} MB over ${(bytes / 1048576).toFixed(0)} MB relayed`);
    assert.ok(peak - base < 50 * 1024 * 1024, `memory peaked ${((peak - base) / 1048576).toFixed(1)} MB above the start`);
  } finally {
    clearInterval(sampler);
    conn.socket.destroy();
  }
  await waitFor(() => rig.registry.size === 0, 3000, 'session end');
  const stmt = rig.events.filter((e) => e.action === 'statement' && String(e.details?.text).includes('generate_series')).at(-1);
  assert.equal(stmt?.details?.rows, 5_000_000);
});

test('backpressure the other way: COPY data into a server that does not read (table locked) is not buffered', { timeout: 120_000 }, async (t) => {
  const admin = new pg.Client(urlForDatabase(adminUrl(), rig.db.name));
  await admin.connect();
  await admin.query('create table copy_in (id int, pad text)');
  await admin.query('begin');
  await admin.query('lock table copy_in in access exclusive mode');
  const conn = await openUpstream({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: 'rw' }, {});
  conn.socket.resume();
  const base = liveMemory();
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, liveMemory())), 200);
  try {
    conn.socket.write(queryMessage('copy copy_in from stdin'));
    const line = (i: number) => `${i}\t${'y'.repeat(94)}\n`;
    const rows = 1_000_000;
    const batch = 500;
    let sent = 0;
    let stalled = false;
    const writer = (async () => {
      for (let i = 0; i < rows; i += batch) {
        const data = Buffer.from(Array.from({ length: batch }, (_, k) => line(i + k)).join(''));
        if (!conn.socket.write(typedMessage(0x64, data))) {
          stalled = true;
          await new Promise((r) => conn.socket.once('drain', r));
        }
        sent += batch;
      }
      conn.socket.write(typedMessage(0x63, Buffer.alloc(0)));
    })();
    await waitFor(() => stalled, 10_000, 'the client to be held back');
    await new Promise((r) => setTimeout(r, 1500));
    const held = liveMemory() - base;
    t.diagnostic(`client held back after ${sent} of ${rows} rows; gateway memory +${(held / 1048576).toFixed(1)} MB`);
    assert.ok(sent < rows, 'the client cannot push everything while the server does not read');
    assert.ok(held < 50 * 1024 * 1024, `memory grew ${(held / 1048576).toFixed(1)} MB`);
    const done = new Promise<string>((resolve) => {
      let text = '';
      conn.read((d: Buffer) => {
        text += d.toString('latin1');
        if (/COPY \d+/.test(text) && text.endsWith('Z\0\0\0\x05I')) resolve(/COPY \d+/.exec(text)![0]);
      });
    });
    await admin.query('commit');
    await writer;
    assert.equal(await done, `COPY ${rows}`);
    assert.ok(peak - base < 50 * 1024 * 1024, `memory peaked ${((peak - base) / 1048576).toFixed(1)} MB above the start`);
  } finally {
    clearInterval(sampler);
    conn.socket.destroy();
    await admin.end();
  }
});
