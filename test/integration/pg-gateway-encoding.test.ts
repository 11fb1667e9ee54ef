// Client encodings through the real gateway: every non-UTF8 encoding (any spelling, at login or by SET, from psql or
// a raw wire client) is refused, the classic SJIS quote-swallowing payload cannot run a second statement, and a
// server that reports another encoding or standard_conforming_strings off ends the session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startRig, runTool, waitFor, type Rig } from './pg-gateway-harness.js';
import { rawStartup, WireSession } from './pg-wire-client.js';
import { openUpstream } from '../../src/gateway/postgres/upstream.js';
import { typedMessage } from '../../src/gateway/postgres/protocol.js';
import { adminUrl } from '../support/pg.js';

let rig: Rig;
before(async () => {
  rig = await startRig({ extra: { guarded: { guardrails: { require_where: true } } }, gateway: { allowCleartextWithoutTls: true } });
  const setup = await runTool('psql', [rig.conninfo(), '-X', '-v', 'ON_ERROR_STOP=1', '-c', 'create table t (id int)', '-c', 'insert into t values (1), (2)',
    '-c', "create function flip_encoding() returns text language plpgsql as $$ begin perform set_config('client_encoding', 'SJIS', false); return 'flipped'; end $$"], { password: rig.token });
  assert.equal(setup.code, 0, setup.stderr);
});
after(async () => {
  await rig?.stop();
});

const REFUSED_NAMES = ['SJIS', 'sjis ', 'S.JIS', 's_jis', 'Shift_JIS', 'WIN932', 'windows-932', 'win936', 'GBK', 'WIN 950', 'Big-5', 'UHC', 'GB18030', 'JOHAB', 'SHIFT_JIS_2004', 'LATIN1', 'EUC_JP'];

/** The classic payload: in SJIS, 0x95 0x5C is one character, so the backslash no longer escapes the quote after it. */
const PAYLOAD = Buffer.concat([Buffer.from("SELECT E'", 'latin1'), Buffer.of(0x95), Buffer.from("\\'; DELETE FROM t; --'", 'latin1')]);

async function count(): Promise<number> {
  const r = await runTool('psql', [rig.conninfo(), '-XAt', '-c', 'select count(*) from t'], { password: rig.token });
  return Number(r.stdout.trim());
}

test('the payload is real: straight to PostgreSQL in SJIS it runs a DELETE that the UTF-8 reading hides in a string', async () => {
  const up = new URL(adminUrl());
  const direct = await openUpstream({ host: up.hostname, port: Number(up.port || 5432), user: decodeURIComponent(up.username || 'postgres'), password: decodeURIComponent(up.password), database: rig.db.name }, { client_encoding: 'SJIS' });
  const s = WireSession.over(direct);
  try {
    await s.query('create temp table victim as select 1 as id');
    const r = await s.queryBytes(Buffer.from(PAYLOAD.toString('latin1').replace('FROM t', 'FROM victim'), 'latin1'));
    assert.deepEqual(r.errors, []);
    assert.match(r.types, /C.*C/, 'two statements completed');
    assert.deepEqual((await s.query('select count(*) from victim')).rows, [['0']]);
  } finally {
    s.close();
  }
});

test('raw startup packets with any spelling of a non-UTF8 client_encoding (or in options) are refused before login', async () => {
  for (const name of REFUSED_NAMES) {
    for (const params of [{ user: 'alice', database: 'rw', client_encoding: name } as Record<string, string>, { user: 'alice', database: 'rw', options: `-c client_encoding=${name.replace(/[\\\s]/g, (c) => `\\${c}`)}` }]) {
      const r = await rawStartup(rig.port, params);
      assert.equal(r.errors.length, 1, `${JSON.stringify(params)}: ${r.types}`);
      const e = r.errors[0]!;
      assert.equal(e.severity, 'FATAL');
      assert.match(e.message, /^airlock: client encoding ".*" is not allowed through the gateway.*client_encoding=UTF8/);
      assert.match(e.hint, /Airlock error code AIRLOCK_ENCODING_REFUSED/);
    }
  }
  for (const ok of ['UTF8', 'utf-8', 'Unicode', 'SQL_ASCII']) {
    const r = await rawStartup(rig.port, { user: 'alice', database: 'rw', client_encoding: ok });
    assert.match(r.types, /^R/, `${ok} goes on to authentication`);
  }
});

test('psql: PGCLIENTENCODING and PGOPTIONS with a non-UTF8 encoding are refused; a C-locale psql (SQL_ASCII) gets UTF8', async () => {
  for (const name of ['SJIS', 'WIN932', 'win936', 'BIG5', 'S.JIS']) {
    const r = await runTool('psql', [rig.conninfo('guarded'), '-XAt', '-c', 'select 1'], { password: rig.token, env: { PGCLIENTENCODING: name } });
    assert.notEqual(r.code, 0, name);
    assert.match(r.stderr, /FATAL:  airlock: client encoding .* is not allowed through the gateway/, name);
    assert.match(r.stderr, /HINT:  Airlock error code AIRLOCK_ENCODING_REFUSED/, name);
    const o = await runTool('psql', [rig.conninfo('guarded'), '-XAt', '-c', 'select 1'], { password: rig.token, env: { PGOPTIONS: `-c client_encoding=${name}` } });
    assert.match(o.stderr, /AIRLOCK_ENCODING_REFUSED/, name);
  }
  const c = await runTool('psql', [rig.conninfo('guarded', 'options=-c\\ client_encoding=win936'), '-XAt', '-c', 'select 1'], { password: rig.token });
  assert.match(c.stderr, /AIRLOCK_ENCODING_REFUSED/);
  const plain = await runTool('psql', [rig.conninfo('guarded'), '-XAt', '-c', 'show client_encoding'], { password: rig.token, env: { LC_ALL: 'C' } });
  assert.equal(plain.stdout, 'UTF8\n', plain.stderr);
});

test('psql: SET client_encoding, SET NAMES, set_config() and \\encoding to another encoding are refused; the session stays UTF8', async () => {
  const script = [
    "SET client_encoding = 'SJIS';", "SET NAMES 'win936';", "SET client_encoding TO 'S.JIS';", "SELECT set_config('client_encoding', 'Big-5', false);",
    '\\encoding WIN932', 'SHOW client_encoding;',
  ].join('\n');
  const r = await runTool('psql', [rig.conninfo('guarded'), '-XAt', '-v', 'VERBOSITY=verbose'], { password: rig.token, input: script });
  assert.equal((r.stderr.match(/ERROR:  42501: airlock: statement refused by rule text_setting/g) ?? []).length, 4, r.stderr);
  assert.equal((r.stderr.match(/HINT:  Airlock error code AIRLOCK_STATEMENT_REFUSED/g) ?? []).length, 4, r.stderr);
  // psql's \encoding sends the same SET and reports the refusal as its own failure.
  assert.match(r.stderr, /WIN932: invalid encoding name or conversion procedure not found/);
  assert.equal(r.stdout.trim().split('\n').at(-1), 'UTF8');
});

test('raw wire: the SJIS payload sent in the (UTF8) session cannot run its DELETE; SET to SJIS is refused on the wire too', async () => {
  const s = await WireSession.open(rig.port, rig.token, 'guarded');
  try {
    assert.equal(s.conn.greeting.length > 0, true);
    const set = await s.query("SET client_encoding = 'sjis'");
    assert.equal(set.errors[0]?.code, '42501');
    assert.match(set.errors[0]!.hint, /AIRLOCK_STATEMENT_REFUSED/);
    const r = await s.queryBytes(PAYLOAD);
    assert.equal(r.errors[0]?.code, '22021', 'the server rejects the byte that is not UTF-8');
    assert.ok(!r.types.includes('C'), `nothing completed: ${r.types}`);
    assert.deepEqual((await s.query('show client_encoding')).rows, [['UTF8']]);
  } finally {
    s.close();
  }
  assert.equal(await count(), 2);
});

test('a server that reports another client_encoding (a function changed it) ends the session at once, audited', async () => {
  for (const [resource, sql] of [['guarded', 'select flip_encoding()'], ['rw', "set client_encoding = 'SJIS'"], ['rw', 'set standard_conforming_strings = off']] as const) {
    const c = new pg.Client({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: resource, ssl: { ca: rig.tls.ca } });
    const errors: (Error & { code?: string; hint?: string })[] = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    const failed = await c.query(sql).then(() => null, (e: Error & { code?: string; hint?: string }) => e);
    const e = failed ?? errors[0];
    assert.ok(e, `${sql}: the client hears why`);
    assert.equal(e.code, '55000', sql);
    assert.match(e.message, /airlock: the database server reported (client_encoding SJIS|standard_conforming_strings off).*the session was ended/, sql);
    assert.match(e.hint ?? '', /AIRLOCK_TEXT_SETTING_CHANGED/);
    await c.end().catch(() => {});
    await waitFor(() => rig.events.some((ev) => ev.action === 'session.end' && /the database server reported/.test(String(ev.details?.reason))), 3000, 'session.end with the reason');
  }
});

test('an unknown message type after login still ends the session with a coded protocol error', async () => {
  const s = await WireSession.open(rig.port, rig.token, 'guarded');
  const r = await s.send(typedMessage(0x7a, Buffer.alloc(0)));
  assert.equal(r.errors[0]?.code, '08P01');
  assert.match(r.errors[0]!.hint, /AIRLOCK_PROTOCOL_ERROR/);
  assert.equal(r.closed, true);
});
