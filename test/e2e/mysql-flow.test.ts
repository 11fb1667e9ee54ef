// A new user's MySQL path through the real CLI, server process, gateway, Debian `mariadb` client and MariaDB:
// request → approve → connect → read → write refused → revoke cuts the live session → per-grant user gone → audit verifies.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { startServerProcess, cli, BIN, apiJson, type ServerProcess } from '../support/server-process.js';
import { createTestMysql, type TestMysql } from '../support/mysql.js';

let my: TestMysql;
let server: ServerProcess;
let alice: string;
let bob: string;
const env = { AIRLOCK_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'airlock-mysql-flow-')) };

function policy(m: TestMysql): string {
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
auditors: { principals: [bob] }
resources:
  - name: shop-db
    kind: mysql
    address: "${m.address}"
    database: ${m.schema}
    credential: { username: ${m.admin.user}, password: { env: SHOP_DB_ADMIN_PASSWORD }, mode: per_grant_user }
roles:
  - name: read
    resources: { names: [shop-db] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
`;
}

/** `airlock connect shop-db --exec mariadb -- ARGS` as alice; resolves with the client's exit code and output. */
function mariadbThroughAirlock(args: string[]): { done: Promise<{ code: number; out: string; err: string }> } {
  const child = spawn(process.execPath, [BIN, 'connect', 'shop-db', '--exec', 'mariadb', '--', ...args], { env: { ...process.env, ...env, AIRLOCK_SERVER: server.url, AIRLOCK_TOKEN: alice } });
  let out = '';
  let err = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (err += c));
  return { done: new Promise((resolve) => child.on('exit', (code) => resolve({ code: code ?? -1, out, err }))) };
}

async function waitFor(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  my = await createTestMysql();
  server = await startServerProcess({ policy: policy(my), env: { SHOP_DB_ADMIN_PASSWORD: my.admin.password } });
  alice = (await cli(server, server.adminToken, ['token', 'create', '--principal', 'alice', '--ttl', '1h', '--json'])).json().token;
  bob = (await cli(server, server.adminToken, ['token', 'create', '--principal', 'bob', '--ttl', '1h', '--json'])).json().token;
});

after(async () => {
  await server?.stop();
  await my?.drop({ deploymentIds: server?.info.deployment_id ? [String(server.info.deployment_id)] : [] });
});

test('request → approve → mariadb reads, a write is refused, revoke cuts the open session, the user is dropped, the audit verifies', async () => {
  const req = await cli(server, alice, ['request', 'shop-db', '--role', 'read', '--for', '30m', '--reason', 'OPS-7 look at an order', '--json'], { env });
  assert.equal(req.code, 0, req.stderr);
  const approved = await cli(server, bob, ['approve', req.json().id, '--comment', 'ok', '--json'], { env });
  assert.equal(approved.code, 0, approved.stderr);
  const grantId = approved.json().grant_id as string;

  const read = await mariadbThroughAirlock(['--batch', '--skip-column-names', '-e', 'select count(*) from orders']).done;
  assert.equal(read.code, 0, read.err);
  assert.equal(read.out.trim(), '42');

  const write = await mariadbThroughAirlock(['--batch', '-e', 'delete from orders where id = 1']).done;
  assert.notEqual(write.code, 0);
  assert.match(write.err, /airlock: statement refused by rule read_only/);
  const [count] = await my.root.query<RowDataPacket[]>(`select count(*) as n from \`${my.schema}\`.orders`);
  assert.equal(Number(count[0]!.n), 42, 'the data is unchanged');

  // The per-grant user the gateway logs in with, from the audit.
  const created = await apiJson<{ events: { details: { grant_id: string; role: string } }[] }>(server, bob, 'GET', '/api/v1/audit/events?action=credential.created');
  const user = created.events.find((e) => e.details.grant_id === grantId)?.details.role;
  assert.ok(user, 'credential.created names the per-grant user');
  const [users] = await my.root.query<RowDataPacket[]>('select user from mysql.user where user = ?', [user]);
  assert.ok(users.length > 0, 'the per-grant user exists while the grant is active');

  // A live session in the middle of a long statement; revoke cuts it within a second, with the reason.
  const long = mariadbThroughAirlock(['--batch', '-e', 'select sleep(30)']);
  await waitFor(async () => (await apiJson<{ sessions: { grant_id: string; protocol: string; statements_running?: number }[] }>(server, bob, 'GET', '/api/v1/sessions')).sessions.some((s) => s.grant_id === grantId && s.protocol === 'mysql' && (s.statements_running ?? 0) > 0), 10_000, 'the session to run its statement');
  const t0 = Date.now();
  const revoked = await cli(server, bob, ['revoke', grantId, '--reason', 'OPS-7 done', '--json'], { env });
  assert.equal(revoked.code, 0, revoked.stderr);
  const cut = await long.done;
  assert.notEqual(cut.code, 0);
  assert.match(cut.err, /revoked/);
  // Within a second of the revoke, by the server's clock: the CLI's own start-up (a new Node process on a loaded
  // machine) is not the gateway's time.
  const timeline = (await apiJson<{ events: { action: string; time: string; details: Record<string, unknown> }[] }>(server, bob, 'GET', '/api/v1/audit/events?target=shop-db&limit=1000')).events;
  const revokedAt = Date.parse(timeline.find((e) => e.action === 'grant.revoke' && e.details.grant_id === grantId)!.time);
  const endedAt = Date.parse(timeline.find((e) => e.action === 'session.end' && /revoked/.test(String(e.details.reason)))!.time);
  assert.ok(endedAt - revokedAt < 1000, `the session ended ${endedAt - revokedAt} ms after the revoke was recorded (client saw it ${Date.now() - t0} ms after the CLI started)`);
  await waitFor(async () => ((await my.root.query<RowDataPacket[]>('select user from mysql.user where user = ?', [user]))[0]).length === 0, 5000, 'the per-grant user to be dropped');

  const again = await mariadbThroughAirlock(['--batch', '-e', 'select 1']).done;
  assert.notEqual(again.code, 0, 'no grant, no session');

  const events = await apiJson<{ events: { action: string; details: Record<string, unknown> }[] }>(server, bob, 'GET', `/api/v1/audit/events?target=shop-db`);
  const actions = events.events.map((e) => e.action);
  for (const a of ['session.start', 'statement', 'session.end', 'credential.created', 'credential.dropped']) assert.ok(actions.includes(a), `audit has ${a}`);
  const statements = events.events.filter((e) => e.action === 'statement').map((e) => e.details);
  assert.ok(statements.some((d) => d.decision === 'refused' && d.rule === 'read_only'), 'the refused write is audited');
  assert.ok(statements.every((d) => !String(d.text).includes('where id = 1')), 'literals are redacted in the audit text');
  assert.ok(events.events.filter((e) => e.action === 'session.start').every((e) => e.details.protocol === 'mysql'));

  const v = await cli(server, bob, ['audit', 'verify', '--json'], { env });
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.json().ok, true);
});
