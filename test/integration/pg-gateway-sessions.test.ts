// Live sessions through the PostgreSQL gateway: cancel requests routed by the gateway's own keys, and the session
// registry ending a session mid-query or in an idle transaction within a second, upstream backend included.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import pg from 'pg';
import { startRig, waitFor, type Rig } from './pg-gateway-harness.js';
import { adminUrl, urlForDatabase } from '../support/pg.js';
import { B, cancelRequest } from '../../src/gateway/postgres/protocol.js';
import { MessageReader } from '../../src/gateway/postgres/framing.js';

let rig: Rig;
let admin: pg.Client;
before(async () => {
  rig = await startRig();
  admin = new pg.Client(urlForDatabase(adminUrl(), rig.db.name));
  await admin.connect();
});
after(async () => {
  await admin?.end();
  await rig?.stop();
});

type PgError = Error & { code?: string };
type KeyedClient = pg.Client & { processID: number; secretKey: number };

async function connectAs(app: string): Promise<{ c: KeyedClient; errors: PgError[]; sessionId: string }> {
  const before = new Set(rig.registry.list().map((s) => s.id));
  const c = new pg.Client({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: 'rw', ssl: { ca: rig.tls.ca }, application_name: app }) as KeyedClient;
  const errors: PgError[] = [];
  c.on('error', (e) => errors.push(e));
  await c.connect();
  const mine = rig.registry.list().find((s) => !before.has(s.id));
  assert.ok(mine, 'the session is in the registry');
  return { c, errors, sessionId: mine.id };
}

async function backends(app: string): Promise<{ pid: number; state: string }[]> {
  const r = await admin.query('select pid, state from pg_stat_activity where application_name = $1', [app]);
  return r.rows;
}

function sendCancel(pid: number, secret: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(rig.port, '127.0.0.1', () => s.end(cancelRequest(pid, secret)));
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

test('registry info describes the session', async () => {
  const { c, sessionId } = await connectAs('info-check');
  try {
    const info = rig.registry.list({ session_id: sessionId })[0]!;
    assert.deepEqual({ ...info, id: 'x', started_at: 'x' }, { id: 'x', protocol: 'postgres', principal: 'alice', resource: 'rw', role: 'read', grant_id: 'grt_rw', started_at: 'x', source: '127.0.0.1', statements: 0, statements_running: 0, token_id: 'tok_alice', token_expires_at: null });
    await c.query('select 1');
    assert.equal(rig.registry.list({ session_id: sessionId })[0]!.statements, 1);
    // A statement still running is told apart from one answered: the Sessions page shows it instead of nothing.
    // It runs until cancelled, so the check cannot miss it however slow the machine is.
    const running = c.query('select pg_sleep(30)');
    await waitFor(() => rig.registry.list({ session_id: sessionId })[0]!.statements_running === 1, 5000, 'the running statement');
    assert.equal(rig.registry.list({ session_id: sessionId })[0]!.statements, 1);
    await sendCancel(c.processID, c.secretKey);
    await assert.rejects(running, (e: PgError) => e.code === '57014');
    // pg rejects at the ErrorResponse; the gateway counts the statement answered at the ReadyForQuery right behind it.
    const counts = () => { const i = rig.registry.list({ session_id: sessionId })[0]!; return [i.statements, i.statements_running]; };
    await waitFor(() => counts()[1] === 0, 5000, 'the cancelled statement answered');
    assert.deepEqual(counts(), [2, 0]);
  } finally {
    await c.end();
  }
  await waitFor(() => rig.registry.list({ session_id: sessionId }).length === 0, 2000, 'unregister');
});

test("a CancelRequest with the gateway's key cancels the upstream query; a wrong key does nothing", async () => {
  const { c } = await connectAs('cancel-check');
  try {
    assert.notEqual(c.processID, (await backends('cancel-check'))[0]!.pid, 'the client never sees the real backend pid');
    const started = Date.now();
    const running = c.query('select pg_sleep(30)');
    await waitFor(async () => (await backends('cancel-check')).some((b) => b.state === 'active'), 5000, 'query running');
    await sendCancel(c.processID, c.secretKey + 1);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await backends('cancel-check'))[0]!.state, 'active', 'a wrong secret cancels nothing');
    await sendCancel(c.processID, c.secretKey);
    await assert.rejects(running, (e: PgError) => e.code === '57014');
    assert.ok(Date.now() - started < 5000);
    assert.equal((await c.query('select 1 as n')).rows[0].n, 1, 'the session goes on');
  } finally {
    await c.end();
  }
});

test('kill mid-query (pg_sleep 30): the client reads the reason within 1 s and the upstream backend is gone', async () => {
  const { c, errors, sessionId } = await connectAs('kill-busy');
  const running = c.query('select pg_sleep(30)').catch((e: PgError) => e);
  await waitFor(async () => (await backends('kill-busy')).some((b) => b.state === 'active'), 5000, 'query running');
  const reason = 'your grant for demo-orders expired at 2026-01-01T10:00:00.000Z';
  const t0 = Date.now();
  assert.equal(rig.registry.kill({ session_id: sessionId }, reason), 1);
  const err = (await running) as PgError;
  assert.ok(Date.now() - t0 < 1000, `client told within ${Date.now() - t0} ms`);
  assert.equal(err.message, `airlock: ${reason}`);
  assert.equal(err.code, '57P01');
  await waitFor(async () => (await backends('kill-busy')).length === 0, 1000, 'upstream backend gone');
  assert.ok(Date.now() - t0 < 1500);
  assert.equal(rig.registry.list({ session_id: sessionId }).length, 0);
  void errors;
  await waitFor(() => rig.events.some((e) => e.action === 'session.end' && e.details?.session_id === sessionId), 2000, 'session.end');
  const end = rig.events.find((e) => e.action === 'session.end' && e.details?.session_id === sessionId)!;
  assert.equal(end.details?.reason, reason);
  const sleep = rig.events.find((e) => e.action === 'statement' && e.details?.session_id === sessionId)!;
  assert.equal(sleep.details?.error, `session ended: ${reason}`, 'the interrupted statement is audited');
});

test('kill in an idle transaction: FATAL within 1 s, backend gone, the transaction rolled back', async () => {
  await admin.query('create table if not exists kill_t (id int)');
  const { c, errors, sessionId } = await connectAs('kill-idle-tx');
  await c.query('begin');
  await c.query('insert into kill_t values (1)');
  await waitFor(async () => (await backends('kill-idle-tx')).some((b) => b.state === 'idle in transaction'), 5000, 'idle in transaction');
  const t0 = Date.now();
  rig.registry.kill({ grant_id: 'grt_rw', session_id: sessionId }, 'revoked by sec: incident INC-7');
  await waitFor(() => errors.length > 0, 1000, 'client error');
  assert.equal(errors[0]!.message, 'airlock: revoked by sec: incident INC-7');
  await waitFor(async () => (await backends('kill-idle-tx')).length === 0, 1000, 'upstream backend gone');
  assert.ok(Date.now() - t0 < 1500);
  assert.equal((await admin.query('select count(*)::int as n from kill_t')).rows[0].n, 0);
});

test('kill while a large result streams: the FATAL arrives at a message boundary, after whole DataRows', async () => {
  const before = new Set(rig.registry.list().map((s) => s.id));
  const c = new pg.Client({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: 'rw', ssl: { ca: rig.tls.ca }, application_name: 'kill-stream' });
  c.on('error', () => {});
  await c.connect();
  const sessionId = rig.registry.list().find((s) => !before.has(s.id))!.id;
  // Read the raw stream from pg's socket: every message must be whole, and the last one our FATAL.
  const socket = (c as unknown as { connection: { stream: import('node:net').Socket } }).connection.stream;
  const reader = new MessageReader(1 << 26);
  const types: number[] = [];
  let fatal = '';
  socket.on('data', (chunk: Buffer) =>
    reader.push(chunk, (m) => {
      types.push(m[0]!);
      if (m[0] === B.ErrorResponse) fatal = m.toString('utf8');
    }),
  );
  void c.query("select repeat('z', 300) from generate_series(1, 3000000)").catch(() => {});
  await waitFor(() => types.filter((t) => t === B.DataRow).length > 1000, 5000, 'rows streaming');
  const t0 = Date.now();
  rig.registry.kill({ session_id: sessionId }, 'locked by sec: incident INC-9');
  await waitFor(() => fatal !== '', 1000, 'FATAL');
  assert.ok(Date.now() - t0 < 1000);
  assert.match(fatal, /FATAL.*57P01.*airlock: locked by sec: incident INC-9/s);
  assert.equal(types.at(-1), B.ErrorResponse);
  assert.deepEqual(reader.pending(), Buffer.alloc(0), 'no partial message before or after the FATAL');
  await waitFor(async () => (await backends('kill-stream')).length === 0, 1000, 'upstream backend gone');
});

test('stopping the gateway ends its sessions with a reason and waits for them', async () => {
  const other = await startRig();
  const c = new pg.Client({ host: '127.0.0.1', port: other.port, user: 'alice', password: other.token, database: 'rw', ssl: { ca: other.tls.ca } });
  const errors: PgError[] = [];
  c.on('error', (e) => errors.push(e));
  await c.connect();
  await other.stop();
  await waitFor(() => errors.length > 0, 1000, 'client error');
  assert.equal(errors[0]!.message, 'airlock: the Airlock gateway is shutting down');
  assert.equal(other.registry.size, 0);
  assert.ok(other.events.some((e) => e.action === 'session.end' && e.details?.reason === 'the Airlock gateway is shutting down'));
});

test('a statement the audit log cannot take ends the session with 58000 and why; nothing more runs on it', async () => {
  const failing = await startRig({ auditFailure: new Error('database or disk is full') });
  try {
    const c = new pg.Client({ host: '127.0.0.1', port: failing.port, user: 'alice', password: failing.token, database: 'rw', ssl: { ca: failing.tls.ca } });
    const errors: PgError[] = [];
    c.on('error', (e) => errors.push(e));
    await c.connect();
    // The statement itself ran (its event is written after its result); the failed event ends the session.
    await c.query('select 1').catch(() => {});
    await waitFor(() => errors.length > 0, 2000, 'the session to end');
    assert.equal(errors[0]!.code, '58000');
    assert.equal(errors[0]!.message, 'airlock: the audit log is unavailable, so the session was ended');
    await assert.rejects(c.query('select 2'));
    assert.ok(failing.errors.some((o) => String((o as { err?: string }).err).includes('database or disk is full')), 'the cause is in the log');
    await waitFor(() => failing.registry.size === 0, 2000, 'the registry to drop the session');
    await c.end().catch(() => {});
  } finally {
    await failing.stop();
  }
});
