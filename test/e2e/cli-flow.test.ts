// A new user's path through the real CLI against a real server process: request → approve → use → expire → verify.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { startServerProcess, cli, BIN, type ServerProcess } from '../support/server-process.js';
import { E2E_POLICY } from '../support/policies.js';

let server: ServerProcess;
let alice: string;
let bob: string;

before(async () => {
  server = await startServerProcess({ policy: E2E_POLICY });
  const a = await cli(server, server.adminToken, ['token', 'create', '--principal', 'alice', '--ttl', '1h', '--json']);
  assert.equal(a.code, 0, a.stderr);
  alice = a.json().token;
  bob = (await cli(server, server.adminToken, ['token', 'create', '--principal', 'bob', '--ttl', '1h', '--json'])).json().token;
  assert.match(alice, /^alk_/);
});
after(async () => {
  await server?.stop();
});

test('whoami tells who the token belongs to', async () => {
  const r = await cli(server, alice, ['whoami', '--json']);
  assert.equal(r.code, 0);
  assert.equal(r.json().principal.name, 'alice');
  assert.equal(r.json().admin, false);
});

// The grant lasts 8 s: long enough that the CLI calls after the approval (each a new Node process, slow on a loaded
// machine) still find it active.
test('request --wait follows the request live until bob approves; the grant then expires on time', async () => {
  const waiting = new Promise<{ code: number; out: string; err: string }>((resolve) => {
    const child = spawn(process.execPath, [BIN, 'request', 'prod-orders', '--role', 'read', '--for', '8s', '--reason', 'OPS-1 check order 42', '--wait', '--json'], { env: { ...process.env, AIRLOCK_SERVER: server.url, AIRLOCK_TOKEN: alice } });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('exit', (code) => resolve({ code: code ?? -1, out, err }));
  });
  let pending: { id: string } | undefined;
  for (let i = 0; i < 50 && !pending; i++) {
    const list = (await cli(server, bob, ['requests', '--reviewable', '--json'])).json().requests as { id: string; reason: string }[];
    pending = list.find((r) => r.reason === 'OPS-1 check order 42');
    if (!pending) await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(pending, 'bob sees the pending request');
  const selfApprove = await cli(server, alice, ['approve', pending.id, '--json']);
  assert.equal(selfApprove.code, 3, 'self-approval is refused by policy');
  assert.equal(selfApprove.json().error.code, 'AIRLOCK_SELF_APPROVAL');
  const approve = await cli(server, bob, ['approve', pending.id, '--comment', 'go ahead', '--json']);
  assert.equal(approve.code, 0, approve.stderr);
  const waited = await waiting;
  assert.equal(waited.code, 0, waited.err);
  const decided = JSON.parse(waited.out);
  assert.equal(decided.status, 'approved');
  assert.ok(decided.grant_id);

  const grants = (await cli(server, alice, ['grants', '--active', '--json'])).json() as { id: string; principal: string; resource: string; role: string; status: string; starts_at: string; expires_at: string }[];
  const g = grants.find((x) => x.id === decided.grant_id);
  assert.ok(g, 'the grant is listed as active');
  assert.deepEqual([g.principal, g.resource, g.role, g.status], ['alice', 'prod-orders', 'read', 'active']);
  assert.equal(Date.parse(g.expires_at) - Date.parse(g.starts_at), 8000);

  await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(g.expires_at) - Date.now()) + 1200));
  const after = (await cli(server, alice, ['grants', '--json'])).json() as { id: string; status: string; ended_at: string; expires_at: string }[];
  const ended = after.find((x) => x.id === g.id)!;
  assert.equal(ended.status, 'expired', 'expired within about a second of expires_at, without anyone asking');
  assert.ok(Date.parse(ended.ended_at) - Date.parse(ended.expires_at) < 1000);
});

test('exit codes: 1 error, 2 usage, 3 refused by policy; --json prints only JSON', async () => {
  const bad = await cli(server, 'alk_nope', ['grants', '--json']);
  assert.equal(bad.code, 1);
  assert.equal(bad.json().error.code, 'AIRLOCK_TOKEN_INVALID');
  const usage = await cli(server, alice, ['request', 'prod-orders', '--json']);
  assert.equal(usage.code, 2);
  assert.equal(usage.json().error.code, 'AIRLOCK_USAGE');
  const duration = await cli(server, alice, ['request', 'prod-orders', '--role', 'read', '--for', 'forever', '--reason', 'OPS-1', '--json']);
  assert.equal(duration.code, 2);
  assert.match(duration.json().error.detail, /not a duration/);
  const tooLong = await cli(server, alice, ['request', 'prod-orders', '--role', 'read', '--for', '5h', '--reason', 'OPS-1', '--json']);
  assert.equal(tooLong.code, 2);
  assert.match(tooLong.json().error.detail, /at most 4h/);
  const reason = await cli(server, alice, ['request', 'prod-orders', '--role', 'read', '--for', '1h', '--reason', 'because']);
  assert.equal(reason.code, 3);
  assert.match(reason.stderr, /Start with a ticket such as OPS-123/);
  assert.equal(reason.stdout, '');
  const unknown = await cli(server, alice, ['request', 'nope', '--role', 'read', '--for', '1h', '--reason', 'OPS-1', '--json']);
  assert.equal(unknown.code, 1);
  assert.equal(unknown.json().error.code, 'AIRLOCK_UNKNOWN_RESOURCE');
});

test('deny, cancel and revoke from the CLI', async () => {
  const r1 = (await cli(server, alice, ['request', 'prod-orders', '--role', 'read', '--for', '10m', '--reason', 'OPS-2', '--json'])).json();
  const noComment = await cli(server, bob, ['deny', r1.id]);
  assert.equal(noComment.code, 2);
  const denied = await cli(server, bob, ['deny', r1.id, '--comment', 'use the replica', '--json']);
  assert.equal(denied.code, 0);
  assert.equal(denied.json().request.status, 'denied');
  const late = await cli(server, bob, ['approve', r1.id, '--json']);
  assert.equal(late.code, 1);
  assert.match(late.json().error.detail, /was denied by bob/);

  const r2 = (await cli(server, alice, ['request', 'prod-orders', '--role', 'read', '--for', '10m', '--reason', 'OPS-3', '--json'])).json();
  assert.equal((await cli(server, alice, ['cancel', r2.id, '--json'])).json().status, 'cancelled');

  const r3 = (await cli(server, alice, ['request', 'prod-orders', '--role', 'read', '--for', '10m', '--reason', 'OPS-4', '--json'])).json();
  const grantId = (await cli(server, bob, ['approve', r3.id, '--json'])).json().grant_id;
  const revoked = await cli(server, alice, ['revoke', grantId, '--reason', 'done', '--json']);
  assert.equal(revoked.code, 0);
  assert.equal(revoked.json().status, 'revoked');
});

test('a lock refuses new requests until it is lifted', async () => {
  const notAdmin = await cli(server, bob, ['lock', 'principal', 'alice', '--reason', 'x', '--json']);
  assert.equal(notAdmin.code, 3);
  const lock = await cli(server, server.adminToken, ['lock', 'principal', 'alice', '--reason', 'laptop lost', '--json']);
  assert.equal(lock.code, 0, lock.stderr);
  const refused = await cli(server, alice, ['request', 'prod-orders', '--role', 'read', '--for', '10m', '--reason', 'OPS-5']);
  assert.equal(refused.code, 3);
  assert.match(refused.stderr, /locked by admin.*laptop lost/);
  const list = (await cli(server, server.adminToken, ['lock', '--list', '--json'])).json();
  assert.equal(list.length, 1);
  assert.equal((await cli(server, server.adminToken, ['unlock', lock.json().id])).code, 0);
  assert.equal((await cli(server, alice, ['request', 'prod-orders', '--role', 'read', '--for', '10m', '--reason', 'OPS-6', '--json'])).code, 0);
});

test('policy check and explain', async () => {
  const good = await cli(server, undefined, ['policy', 'check', server.config, '--json']);
  assert.equal(good.code, 0);
  assert.equal(good.json().ok, true);
  const badFile = join(server.dir, 'bad.yaml');
  writeFileSync(badFile, 'version: 1\nroles:\n  - name: r\n    max_duration: forever\n');
  const bad = await cli(server, undefined, ['policy', 'check', badFile, '--json']);
  assert.equal(bad.code, 1);
  const problems = bad.json().problems as { line: number; field: string; message: string }[];
  assert.ok(problems.some((p) => p.line === 4 && p.field === 'roles[0].max_duration'), JSON.stringify(problems));
  assert.ok(problems.length >= 3, 'every problem is listed, not just the first');
  const ex = await cli(server, server.adminToken, ['policy', 'explain', '--principal', 'bob', '--resource', 'prod-orders', '--json']);
  assert.equal(ex.code, 0);
  const entry = ex.json().entries.find((e: { role: string }) => e.role === 'read');
  assert.equal(entry.allowed, false);
  assert.equal(entry.refusals[0].rule, 'roles.read.requestable_by');
  const text = await cli(server, server.adminToken, ['policy', 'explain', '--principal', 'alice']);
  assert.match(text.stdout, /prod-orders\s+read\s+yes\s+4h\s+1 of bob/);
});

test('audit verify, export, and offline verification that names the first edited event', async () => {
  const v = await cli(server, server.adminToken, ['audit', 'verify', '--json']);
  assert.equal(v.code, 0);
  assert.equal(v.json().ok, true);
  assert.ok(v.json().events > 15);
  const bobTries = await cli(server, bob, ['audit', 'verify', '--json']);
  assert.equal(bobTries.code, 3, 'only admins and auditors read the audit log');
  const exp = await cli(server, server.adminToken, ['audit', 'export', '--format', 'jsonl']);
  assert.equal(exp.code, 0);
  const events = exp.stdout.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; action: string; time: string });
  assert.equal(events.length, v.json().events);
  assert.ok(events.some((e) => e.action === 'grant.expire'));
  assert.ok(events.some((e) => e.action === 'review.refused'));
  const mid = events[Math.floor(events.length / 2)]!;
  const since = await cli(server, server.adminToken, ['audit', 'export', '--format', 'jsonl', '--since', mid.time]);
  assert.ok(since.stdout.trim().split('\n').every((l) => JSON.parse(l).time >= mid.time));
  const file = join(server.dir, 'export.jsonl');
  writeFileSync(file, exp.stdout);
  assert.equal((await cli(server, undefined, ['audit', 'verify', '--file', file, '--json'])).json().ok, true);

  await server.stop();
  const data = join(server.dir, 'data');
  assert.equal((await cli(server, undefined, ['audit', 'verify', '--data', data, '--json'])).json().ok, true);
  const db = new Database(join(data, 'airlock.db'));
  db.prepare("update audit_events set actor = 'mallory' where seq = 7").run();
  db.close();
  const broken = await cli(server, undefined, ['audit', 'verify', '--data', data, '--json']);
  assert.equal(broken.code, 1);
  assert.equal(broken.json().ok, false);
  assert.equal(broken.json().first_bad_seq, 7);
});
