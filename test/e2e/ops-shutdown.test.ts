// Stopping the real server with live clients: SIGTERM ends the event stream and the database session (the client
// reads why), audits both ends and server.stop, and exits 0 at once; a step that hangs past --shutdown-timeout makes
// it exit 1 naming what was still open. The audit chain verifies afterwards.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { startServerProcess, cli, apiJson, type ServerProcess } from '../support/server-process.js';
import { createTestDatabase, adminUrl, type TestDatabase } from '../support/pg.js';
import { ordersDbPolicy } from '../support/policies.js';

let db: TestDatabase;
let policy: string;
/** A webhook receiver that accepts connections and never answers. */
let silent: Server;
const held: Socket[] = [];

before(async () => {
  db = await createTestDatabase('airlock_stop');
  const c = new pg.Client(db.url);
  await c.connect();
  await c.query('create table orders (id int primary key); insert into orders values (1)');
  await c.end();
  silent = createServer((sock) => void held.push(sock));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  policy = ordersDbPolicy(db, 'STOP_TEST_PG_PASSWORD');
});

after(async () => {
  for (const sock of held) sock.destroy();
  silent?.close();
  await db?.drop();
});

const env = { STOP_TEST_PG_PASSWORD: decodeURIComponent(new URL(adminUrl()).password) || 'unused-with-trust-auth' };

function exited(s: ServerProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (s.child.exitCode !== null) return resolve(s.child.exitCode);
    s.child.once('exit', (code) => resolve(code));
  });
}

test('SIGTERM with an open event stream and a live database session: both end with a reason, exit 0 within seconds', async () => {
  const s = await startServerProcess({ policy, env });
  try {
    const api = <T = any>(token: string, method: string, path: string, body?: unknown) => apiJson<T>(s, token, method, path, body); // eslint-disable-line @typescript-eslint/no-explicit-any
    const alice = (await api(s.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '1h' })).token;
    const req = await api(alice, 'POST', '/api/v1/requests', { resource: 'orders-db', role: 'read', duration: '30m', reason: 'STOP-1 check' });
    const bob = (await api(s.adminToken, 'POST', '/api/v1/tokens', { principal: 'bob', ttl: '1h' })).token;
    await api(bob, 'POST', `/api/v1/requests/${req.id}/approve`, {});

    // The event stream, read as a browser's EventSource would: until the server ends it.
    const sse = await fetch(`${s.url}/api/v1/events`, { headers: { accept: 'text/event-stream', authorization: `Bearer ${alice}` } });
    assert.equal(sse.status, 200);
    const reader = sse.body!.pipeThrough(new TextDecoderStream()).getReader();
    assert.match((await reader.read()).value!, /connected as alice/);
    const streamText = (async () => {
      let text = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return text;
        text += value;
      }
    })();

    const gw = (await api(alice, 'GET', '/api/v1/gateways')).postgres;
    const c = new pg.Client({ host: gw.host, port: gw.port, user: 'alice', database: 'orders-db', password: alice, ssl: { ca: gw.ca, servername: 'localhost' } });
    await c.connect();
    assert.equal((await c.query('select count(*)::int as n from orders')).rows[0].n, 1);
    const ended = new Promise<Error & { code?: string }>((resolve) => c.on('error', resolve));

    const t0 = performance.now();
    s.child.kill('SIGTERM');
    const code = await exited(s);
    const took = performance.now() - t0;
    assert.equal(code, 0, s.stderr.join('\n'));
    assert.ok(took < 5000, `stopped in ${Math.round(took)} ms`);
    const err = await ended;
    assert.equal(err.message, 'airlock: the Airlock gateway is shutting down');
    assert.equal(err.code, '57P01', 'admin_shutdown, as PostgreSQL itself says when it stops');
    assert.match(await streamText, /the server is shutting down/);

    const file = new Database(join(s.dir, 'data', 'airlock.db'), { readonly: true });
    const events = file.prepare("select action, details from audit_events where action in ('session.end', 'server.stop') order by seq").all() as { action: string; details: string }[];
    file.close();
    assert.deepEqual(events.map((e) => e.action), ['session.end', 'server.stop']);
    assert.equal(JSON.parse(events[0]!.details).reason, 'the Airlock gateway is shutting down');
    assert.deepEqual({ ...JSON.parse(events[1]!.details), version: undefined }, { reason: 'SIGTERM', sessions_ended: 1, version: undefined });

    const verify = await cli(s, undefined, ['audit', 'verify', '--data', join(s.dir, 'data'), '--json']);
    assert.equal(verify.code, 0, verify.stderr);
    assert.equal(verify.json().ok, true);
  } finally {
    await s.stop();
  }
});

test('a step that does not finish by --shutdown-timeout: exit 1, naming what was still open', async () => {
  const withWebhook = `${policy}notify:\n  webhooks:\n    - { name: silent, url: "http://127.0.0.1:${(silent.address() as { port: number }).port}/hook" }\n`;
  const deadlineMs = 1000;
  const s = await startServerProcess({ policy: withWebhook, env, extraArgs: ['--shutdown-timeout', `${deadlineMs / 1000}s`] });
  try {
    const alice = (await apiJson(s, s.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '1h' })).token;
    const connections = held.length;
    await apiJson(s, alice, 'POST', '/api/v1/requests', { resource: 'orders-db', role: 'read', duration: '30m', reason: 'STOP-2 a delivery that hangs' });
    while (held.length === connections) await new Promise((r) => setTimeout(r, 20)); // the delivery is on its way

    const t0 = performance.now();
    s.child.kill('SIGTERM');
    const code = await exited(s);
    const took = performance.now() - t0;
    assert.equal(code, 1);
    // The delivery never ends: only the deadline stops the process. It gives up at the deadline, not before, and
    // within a few deadlines however busy the machine is (without it, it would never exit).
    assert.ok(took >= deadlineMs && took < 5 * deadlineMs, `gave up after ${Math.round(took)} ms (deadline ${deadlineMs} ms)`);
    const failure = s.stderr.map((l) => JSON.parse(l) as { code?: string; still_open?: string[]; msg: string }).find((l) => l.code === 'AIRLOCK_SHUTDOWN_INCOMPLETE');
    assert.ok(failure, s.stderr.join('\n'));
    assert.deepEqual(failure.still_open, ['notification deliveries']);
    assert.match(failure.msg, /did not stop within 1 s \(--shutdown-timeout\); still open: notification deliveries/);
  } finally {
    await s.stop();
  }
});
