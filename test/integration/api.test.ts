// The HTTP API as a client sees it: problem+json errors, body limits, unknown fields, tokens, OpenAPI and SSE.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startServer, type RunningServer } from '../../src/server.js';
import { E2E_POLICY } from '../support/policies.js';

let s: RunningServer;
let admin: string;
let alice: string;
let bob: string;

async function call(token: string | null, method: string, path: string, body?: unknown, raw?: string) {
  const res = await fetch(s.apiUrl + path, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined || raw !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: raw ?? (body !== undefined ? JSON.stringify(body) : undefined),
  });
  const text = await res.text();
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: text ? JSON.parse(text) : null, text };
}

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-api-'));
  writeFileSync(join(dir, 'airlock.yaml'), E2E_POLICY);
  admin = 'alk_' + 'a'.repeat(43);
  s = await startServer({ config: join(dir, 'airlock.yaml'), dataDir: join(dir, 'data'), listen: { host: '127.0.0.1', port: 0 }, bootstrapToken: admin, logger: pino({ level: 'silent' }), watchPolicy: false, pgListen: null, mysqlListen: null });
  alice = (await call(admin, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '1h' })).body.token;
  bob = (await call(admin, 'POST', '/api/v1/tokens', { principal: 'bob', ttl: '1h' })).body.token;
});
after(async () => {
  await s?.close();
});

test('errors are problem+json with a code and a sentence', async () => {
  const r = await call(null, 'GET', '/api/v1/grants');
  assert.equal(r.status, 401);
  assert.match(r.type, /application\/problem\+json/);
  assert.equal(r.body.code, 'AIRLOCK_UNAUTHENTICATED');
  assert.match(r.body.detail, /Authorization: Bearer/);
  const nf = await call(alice, 'GET', '/api/v1/nothing-here');
  assert.equal(nf.status, 404);
  assert.equal(nf.body.code, 'AIRLOCK_NOT_FOUND');
});

test('wrong, revoked and expired tokens are refused, audited, and never echoed', async () => {
  const wrong = await call('alk_' + 'x'.repeat(43), 'GET', '/api/v1/whoami');
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.code, 'AIRLOCK_TOKEN_INVALID');
  assert.ok(!wrong.text.includes('x'.repeat(43)));
  const t = (await call(admin, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '1h' })).body;
  await call(admin, 'POST', `/api/v1/tokens/${t.id}/revoke`, {});
  const revoked = await call(t.token, 'GET', '/api/v1/whoami');
  assert.equal(revoked.status, 401);
  assert.match(revoked.body.detail, /revoked/);
  const short = (await call(admin, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '1s' })).body;
  await new Promise((r) => setTimeout(r, 1100));
  const expired = await call(short.token, 'GET', '/api/v1/whoami');
  assert.equal(expired.body.code, 'AIRLOCK_TOKEN_EXPIRED');
  const list = await call(admin, 'GET', '/api/v1/tokens');
  assert.ok(!list.text.includes(t.token), 'token values never come back');
  await s.audit.flush();
  const refused = [];
  for await (const e of s.audit.events({ action: 'auth.refused' })) refused.push(e);
  assert.ok(refused.length >= 3);
  assert.ok(!JSON.stringify(refused).includes(t.token));
});

test('revoking a revoked token again answers with it and records nothing more', async () => {
  const t = (await call(admin, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '1h' })).body;
  const revokes = async () => {
    await s.audit.flush();
    let n = 0;
    for await (const e of s.audit.events({ action: 'token.revoke' })) if (e.details?.token_id === t.id) n++;
    return n;
  };
  const first = await call(admin, 'POST', `/api/v1/tokens/${t.id}/revoke`, {});
  assert.equal(first.status, 200);
  assert.equal(await revokes(), 1);
  for (let i = 0; i < 2; i++) {
    const again = await call(admin, 'POST', `/api/v1/tokens/${t.id}/revoke`, {});
    assert.equal(again.status, 200);
    assert.equal(again.body.revoked_at, first.body.revoked_at, 'the first revocation stands');
  }
  assert.equal(await revokes(), 1, 'one token.revoke event, however often it is revoked');
});

test('bad bodies: unknown fields, wrong types, malformed JSON, oversized', async () => {
  const unknown = await call(alice, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'read', duration: '1h', reason: 'OPS-1', rolee: 'x' });
  assert.equal(unknown.status, 400);
  assert.match(unknown.body.detail, /unknown field\(s\) "rolee"/);
  const types = await call(alice, 'POST', '/api/v1/requests', { resource: 5, role: 'read', duration: '1h' });
  assert.equal(types.status, 400);
  assert.match(types.body.detail, /resource/);
  const malformed = await call(alice, 'POST', '/api/v1/requests', undefined, '{"resource": ');
  assert.equal(malformed.status, 400);
  assert.equal(malformed.body.code, 'AIRLOCK_BAD_INPUT');
  const big = await call(alice, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'read', duration: '1h', reason: 'x'.repeat(100_000) });
  assert.equal(big.status, 413);
  assert.equal(big.body.code, 'AIRLOCK_BODY_TOO_LARGE');
  const negative = await call(alice, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'read', duration: -60, reason: 'OPS-1' });
  assert.equal(negative.status, 400);
  assert.equal(negative.body.code, 'AIRLOCK_BAD_DURATION');
  const none = await s.access.requests.list({ principal: 'alice' });
  assert.equal(none.length, 0, 'nothing half-written');
});

test('capabilities come from policy', async () => {
  assert.equal((await call(alice, 'GET', '/api/v1/audit/verify')).status, 403);
  assert.equal((await call(alice, 'POST', '/api/v1/locks', { target_kind: 'principal', target: 'bob', reason: 'x' })).status, 403);
  assert.equal((await call(alice, 'POST', '/api/v1/tokens', { principal: 'bob', ttl: '1h' })).status, 403);
  const own = await call(alice, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '10m' });
  assert.equal(own.status, 201, 'a principal may mint a shorter-lived token for themselves');
  assert.equal((await call(alice, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '30d' })).status, 400, 'but not one outliving their own');
  assert.equal((await call(alice, 'GET', '/api/v1/requests?scope=all')).status, 403);
  assert.equal((await call(admin, 'GET', '/api/v1/audit/verify')).body.ok, true);
});

test('OpenAPI document lists the routes', async () => {
  const r = await call(null, 'GET', '/api/v1/openapi.json');
  assert.equal(r.status, 200);
  assert.equal(r.body.openapi, '3.1.0');
  for (const p of ['/api/v1/requests', '/api/v1/requests/{id}/approve', '/api/v1/grants/{id}/revoke', '/api/v1/audit/verify', '/api/v1/events', '/api/v1/locks']) assert.ok(r.body.paths[p], p);
  assert.ok(r.body.paths['/api/v1/requests'].post.requestBody.content['application/json'].schema.properties.duration);
});

test('the event stream tells the requester of the approval at once', async () => {
  const ac = new AbortController();
  const res = await fetch(`${s.apiUrl}/api/v1/events`, { headers: { authorization: `Bearer ${alice}` }, signal: ac.signal });
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const req = (await call(alice, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'read', duration: '10m', reason: 'OPS-7' })).body;
  const t0 = Date.now();
  await call(bob, 'POST', `/api/v1/requests/${req.id}/approve`, { comment: 'ok' });
  let buf = '';
  while (!/event: request\ndata: .*"event":"approved"/.test(buf)) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += value;
  }
  assert.match(buf, new RegExp(`"id":"${req.id}","event":"approved"`));
  assert.match(buf, /event: grant\ndata: .*"event":"activated"/);
  assert.ok(Date.now() - t0 < 1000);
  ac.abort();
});
