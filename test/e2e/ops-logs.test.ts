// The server's logs and probes as an operator reads them: /readyz naming a failing check, JSON lines on stderr, a 5xx
// logged with its error and the request id its answer carries, not one secret of a whole session in any line at the
// most verbose level; and without --json, the banner alone on stdout with pretty log lines on stderr.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { startServerProcess, cli, apiJson, BIN, type ServerProcess } from '../support/server-process.js';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';
import { ordersDbPolicy } from '../support/policies.js';

let s: ServerProcess;
let db: TestDatabase;
const secrets: Record<string, string> = {};
const upstreamPassword = `upstream-${randomBytes(12).toString('hex')}`;

before(async () => {
  db = await createTestDatabase('airlock_logs');
  const c = new pg.Client(db.url);
  await c.connect();
  await c.query('create table orders (id int primary key, total int not null); insert into orders values (1, 10), (2, 20)');
  await c.end();
  const policy = ordersDbPolicy(db, 'LOGS_TEST_PG_PASSWORD');
  // Trust auth on the test server accepts any upstream password; it is a secret all the same.
  s = await startServerProcess({ policy, env: { LOGS_TEST_PG_PASSWORD: upstreamPassword, AIRLOCK_LOG_LEVEL: 'trace' } });
  secrets.admin_token = s.adminToken;
  secrets.upstream_password = upstreamPassword;
});

after(async () => {
  await s?.stop();
  await db?.drop();
});

async function call(method: string, path: string, opts: { body?: unknown; bearer?: string; cookie?: string; csrf?: string } = {}) {
  const res = await fetch(s.url + path, {
    method,
    headers: {
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(opts.bearer ? { authorization: `Bearer ${opts.bearer}` } : {}),
      ...(opts.cookie ? { cookie: opts.cookie } : {}),
      ...(opts.csrf ? { 'x-airlock-csrf': opts.csrf } : {}),
    },
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

const logLines = () => s.stderr.map((l) => JSON.parse(l) as Record<string, any>); // eslint-disable-line @typescript-eslint/no-explicit-any
/** The first log line that matches, once the server's stderr has carried it here (lines arrive after the answer that caused them). */
async function logLine(what: string, match: (l: Record<string, any>) => boolean): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const deadline = Date.now() + 5000;
  for (;;) {
    const found = logLines().find(match);
    if (found) return found;
    if (Date.now() > deadline) assert.fail(`no log line ${what} within 5 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('/readyz names the failing check: the audit log cannot commit until its table is back', async () => {
  const ready = await call('GET', '/readyz');
  assert.equal(ready.status, 200);
  assert.deepEqual(Object.keys(ready.body.checks), ['store', 'policy', 'audit_writer', 'gateways']);
  assert.ok(Object.values(ready.body.checks).every((c) => (c as { ok: boolean }).ok));
  assert.equal((await call('GET', '/healthz')).body.ok, true);

  const file = new Database(join(s.dir, 'data', 'airlock.db'));
  try {
    file.exec('ALTER TABLE audit_events RENAME TO audit_events_away');
    // A refused token is audited before the answer: with no table to append to, the call fails.
    const refused = await call('GET', '/api/v1/whoami', { bearer: `alk_${randomBytes(32).toString('base64url')}` });
    assert.ok(refused.status >= 500, `status ${refused.status}`);
    const notReady = await call('GET', '/readyz');
    assert.equal(notReady.status, 503);
    assert.equal(notReady.body.code, 'AIRLOCK_NOT_READY');
    assert.deepEqual(notReady.body.failing, ['audit_writer']);
    // Anonymous callers read which check fails; what it saw (an error, a path, a host) goes to the log, once.
    assert.deepEqual(notReady.body.checks.audit_writer, { ok: false, detail: 'failing; the server log says why' });
    assert.equal(notReady.body.detail, 'Not ready: audit_writer. The server log says why.');
    assert.doesNotMatch(JSON.stringify(notReady.body), /no such table|airlock\.yaml|\/tmp\//);
    assert.equal((await call('GET', '/readyz')).status, 503);
    await logLine('"readiness check failing"', (l) => l.msg === 'readiness check failing');
    const logged = logLines().filter((l) => l.msg === 'readiness check failing');
    assert.equal(logged.length, 1, 'logged when it started failing, not on every probe');
    assert.equal(logged[0]!.level, 40, 'at warn');
    assert.equal(logged[0]!.check, 'audit_writer');
    assert.match(logged[0]!.detail, /the last audit batch did not commit: .*no such table/);
    assert.equal((await call('GET', '/healthz')).status, 200, 'alive all the same');
  } finally {
    file.exec('ALTER TABLE audit_events_away RENAME TO audit_events');
    file.close();
  }
  assert.equal((await call('GET', '/api/v1/whoami', { bearer: `alk_${randomBytes(32).toString('base64url')}` })).status, 401);
  assert.equal((await call('GET', '/readyz')).status, 200);
  await logLine('"readiness check passes again" for audit_writer', (l) => l.msg === 'readiness check passes again' && l.check === 'audit_writer');
});

test('a whole session leaves no secret in the logs; a server error is logged with the request id its answer carries', async () => {
  const api = <T = any>(token: string, method: string, path: string, body?: unknown) => apiJson<T>(s, token, method, path, body); // eslint-disable-line @typescript-eslint/no-explicit-any
  secrets.alice_token = (await api(s.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '1h' })).token;
  secrets.bob_token = (await api(s.adminToken, 'POST', '/api/v1/tokens', { principal: 'bob', ttl: '1h' })).token;

  // A password set with the CLI, a sign-in with it (cookie, CSRF value), a wrong one, a change made with the cookie.
  secrets.alice_password = `alice-pw-${randomBytes(10).toString('hex')}`;
  const set = await cli(s, secrets.bob_token, ['passwd', '--principal', 'alice'], { stdin: `${secrets.alice_password}\n` });
  assert.equal(set.code, 0, set.stderr);
  secrets.wrong_password = `not-it-${randomBytes(10).toString('hex')}`;
  assert.equal((await call('POST', '/api/v1/console/sign-in', { body: { principal: 'alice', password: secrets.wrong_password }, csrf: 'sign-in' })).status, 401);
  const signIn = await call('POST', '/api/v1/console/sign-in', { body: { principal: 'alice', password: secrets.alice_password }, csrf: 'sign-in' });
  assert.equal(signIn.status, 200);
  secrets.session_cookie = /airlock_session=([^;]+)/.exec(signIn.headers.get('set-cookie')!)![1]!;
  secrets.csrf = signIn.body.csrf;
  const cookie = `airlock_session=${secrets.session_cookie}`;
  const request = await call('POST', '/api/v1/requests', { body: { resource: 'orders-db', role: 'read', duration: '30m', reason: 'LOGS-1 check totals' }, cookie, csrf: secrets.csrf });
  assert.equal(request.status, 201, JSON.stringify(request.body));
  await api(secrets.bob_token, 'POST', `/api/v1/requests/${request.body.id}/approve`, {});

  // A bad token, in a header and as a gateway password.
  secrets.bad_token = `alk_${randomBytes(32).toString('base64url')}`;
  assert.equal((await call('GET', '/api/v1/whoami', { bearer: secrets.bad_token })).status, 401);

  // The gateway: the access token is the database password.
  const gw = (await api(secrets.alice_token, 'GET', '/api/v1/gateways')).postgres;
  const conn = (password: string) => new pg.Client({ host: gw.host, port: gw.port, user: 'alice', database: 'orders-db', password, ssl: { ca: gw.ca, servername: 'localhost' } });
  const c = conn(secrets.alice_token);
  await c.connect();
  assert.equal((await c.query('select sum(total)::int as t from orders')).rows[0].t, 30);
  await assert.rejects(c.query('delete from orders'), /refused/);
  await c.end();
  await assert.rejects(conn(secrets.bad_token).connect(), /password must be one of your valid Airlock access tokens/);

  // A server error: the store loses a table under the running server (as a bad migration or a hand edit would).
  const file = new Database(join(s.dir, 'data', 'airlock.db'));
  file.exec('ALTER TABLE console_sessions RENAME TO console_sessions_away');
  let failed;
  try {
    failed = await call('POST', '/api/v1/console/sign-in', { body: { principal: 'alice', password: secrets.alice_password }, csrf: 'sign-in' });
  } finally {
    file.exec('ALTER TABLE console_sessions_away RENAME TO console_sessions');
    file.close();
  }
  assert.equal(failed.status, 500);
  assert.equal(failed.body.code, 'AIRLOCK_INTERNAL');
  assert.match(failed.body.request_id, /^req_[A-Za-z0-9_-]+$/);
  assert.equal(failed.headers.get('x-request-id'), failed.body.request_id);
  assert.match(failed.body.detail, /request_id/);

  assert.equal(await s.stop(), 0);
  const lines = logLines(); // every stderr line is one JSON object (this throws otherwise)
  assert.ok(lines.length > 20, 'trace level logs requests');
  const logged = lines.find((l) => l.level === 50 && l.reqId === failed.body.request_id);
  assert.ok(logged, `an error line with reqId ${failed.body.request_id}`);
  assert.match(logged.err.message, /no such table: console_sessions/);
  assert.ok(logged.err.stack, 'the stack is logged for whoever fixes it');
  assert.ok(!lines.some((l) => 'level' in l && typeof l.level !== 'number'), 'no second "level" field in any line');

  const all = s.stderr.join('\n');
  assert.equal(Object.keys(secrets).length, 9);
  for (const [name, secret] of Object.entries(secrets)) assert.ok(!all.includes(secret), `the ${name} appears in the logs`);
});

test('without --json: the banner alone on stdout, --log-format pretty lines on stderr', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-pretty-'));
  writeFileSync(join(dir, 'airlock.yaml'), 'version: 1\nprincipals: [{ name: alice }]\n');
  const child = spawn(process.execPath, [BIN, 'server', '--config', join(dir, 'airlock.yaml'), '--data', join(dir, 'data'), '--listen', '127.0.0.1:0', '--pg-listen', 'off', '--mysql-listen', 'off', '--log-format', 'pretty'], { env: { ...process.env, AIRLOCK_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (c) => (err += c));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (c) => {
      out += c;
      if (/Admin token/.test(out)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
  });
  const api = /API:\s+(\S+)\/api\/v1/.exec(out)![1]!;
  assert.equal((await fetch(`${api}/healthz`)).status, 200);
  child.kill('SIGTERM');
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 0);
  assert.match(out, /^Airlock \S+ is running\.\n {2}Console: {3}http:\/\/127\.0\.0\.1:\d+\//);
  assert.ok(!out.includes('{'), 'no log line on stdout');
  const lines = err.trim().split('\n');
  assert.ok(lines.length >= 3);
  for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) \S/);
  assert.ok(lines.some((l) => /INFO  request completed reqId=req_\S+ res=\{"statusCode":200\}/.test(l)), err);
  assert.ok(lines.some((l) => /INFO  Airlock stopped reason=SIGTERM/.test(l)), err);
});
