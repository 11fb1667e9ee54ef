// The notification outbox on SQLite and PostgreSQL, through the real server and real HTTP receivers: retries with
// back-off, Retry-After honoured, a refusal dead at once (seen in the API and `airlock notifications`, audited,
// retried by an admin), one message per event per channel from two outboxes on one store, the order of a subject's
// messages, pending messages kept across a restart, and a lapsed lease taken over.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { startServer, type RunningServer } from '../../src/server.js';
import { openStore, type Store } from '../../src/store/store.js';
import { makeAuditLog } from '../../src/audit/audit-log.js';
import { makeOutbox } from '../../src/notify/outbox.js';
import { makeChannelRegistry } from '../../src/notify/channels.js';
import { resolveSecret } from '../../src/credentials/secret-ref.js';
import { manualClock, systemClock } from '../../src/domain/clock.js';
import { silentLog } from '../../src/domain/log.js';
import type { Notice } from '../../src/notify/webhooks.js';
import { signBody, webhookChannel } from '../../src/notify/webhooks.js';
import { parsePolicy } from '../../src/policy/load.js';
import { NOTIFY_EVENTS } from '../../src/policy/schema.js';
import type { Channel, DeliveryResult } from '../../src/notify/channel.js';
import { STORE_KINDS, auditEvents, openTestStore } from '../support/harness.js';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';
import { cli } from '../support/server-process.js';

const SECRET = 'outbox-test-secret-value';
const BACKOFF_MS = 300;

interface Hit {
  path: string;
  event: string;
  id: string;
  status: number;
  at: number;
  raw: string;
  signature: string | undefined;
}

/** A receiver with one behaviour per path; it records every attempt it answers. */
function makeReceiver() {
  const hits: Hit[] = [];
  const state = { rejecting: true, down: false };
  const seen = (path: string, event: string, id: string) => hits.filter((h) => h.path === path && h.event === event && h.id === id).length;
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw) as { event: string; request_id?: string; lock_id?: string; grant_id?: string; file?: string };
      const id = body.request_id ?? body.lock_id ?? body.grant_id ?? body.file ?? '';
      const path = req.url ?? '';
      let status = 200;
      const headers: Record<string, string> = {};
      if (path === '/flaky' && body.event === 'request.created' && seen(path, body.event, id) < 2) status = 503;
      if (path === '/limited' && seen(path, body.event, id) === 0) {
        status = 429;
        headers['retry-after'] = '2';
      }
      if (path === '/reject' && state.rejecting) status = 400;
      if (path === '/down' && state.down) status = 503;
      hits.push({ path, event: body.event, id, status, at: Date.now(), raw, signature: req.headers['x-airlock-signature'] as string | undefined });
      res.writeHead(status, headers).end();
    });
  });
  return { server, hits, state };
}

function policy(port: number): string {
  const url = (p: string) => `"http://127.0.0.1:${port}/${p}"`;
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
  - { name: carol, groups: [engineers] }
  - { name: sec, groups: [security] }
  - { name: aud, groups: [audit] }
admins: { groups: [security] }
auditors: { groups: [audit] }
resources:
  - { name: prod-orders, kind: postgres, address: "127.0.0.1:5432", labels: { env: prod } }
roles:
  - name: write
    resources: { names: [prod-orders] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: false }
notify:
  webhooks:
    - { name: flaky, url: ${url('flaky')}, events: [request.created, request.denied], secret: { env: OUTBOX_TEST_SECRET } }
    - { name: limited, url: ${url('limited')}, events: [request.approved] }
    - { name: reject, url: ${url('reject')}, events: [lock.created], secret: { env: OUTBOX_TEST_SECRET } }
    - { name: down, url: ${url('down')}, events: [grant.revoked] }
    - { name: ok, url: ${url('ok')} }
`;
}

async function until<T>(what: string, f: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface NotificationJson {
  id: string;
  channel: string;
  event: string;
  key: string;
  status: string;
  attempts: number;
  last_error: string | null;
  next_attempt_at: string | null;
  subject: { kind: string; id: string } | null;
}

for (const kind of STORE_KINDS) {
  describe(`notification outbox on ${kind}`, () => {
    const rx = makeReceiver();
    let dir: string;
    let pgDb: TestDatabase | undefined;
    let storeUrl: string | undefined;
    let s: RunningServer;
    const adminToken = `alk_${randomBytes(32).toString('base64url')}`;
    const tokens: Record<string, string> = {};

    async function start(): Promise<RunningServer> {
      return startServer({
        config: join(dir, 'airlock.yaml'), dataDir: join(dir, 'data'), storeUrl, listen: { host: '127.0.0.1', port: 0 },
        logger: pino({ level: 'silent' }), watchPolicy: false, pgListen: null, mysqlListen: null, bootstrapToken: adminToken,
        // Short back-off so the test runs in seconds; five attempts leave the restart test seconds before a message dies.
        notify: { backoffMs: BACKOFF_MS, maxAttempts: 5 },
      });
    }

    async function call<T = unknown>(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
      const r = await fetch(`${s.apiUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as T };
    }
    async function ok<T = any>(token: string, method: string, path: string, body?: unknown): Promise<T> { // eslint-disable-line @typescript-eslint/no-explicit-any
      const r = await call<T>(token, method, path, body);
      assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
      return r.body;
    }
    const notifications = async (status = 'all') => (await ok<{ notifications: NotificationJson[] }>(tokens.aud!, 'GET', `/api/v1/notifications?status=${status}&limit=1000`)).notifications;
    const messageOf = async (channel: string, key: string) => (await notifications()).find((n) => n.channel === channel && n.key === key);

    before(async () => {
      await new Promise<void>((r) => rx.server.listen(0, '127.0.0.1', r));
      process.env.OUTBOX_TEST_SECRET = SECRET;
      dir = mkdtempSync(join(tmpdir(), 'airlock-outbox-'));
      writeFileSync(join(dir, 'airlock.yaml'), policy((rx.server.address() as AddressInfo).port));
      if (kind === 'postgres') {
        pgDb = await createTestDatabase('airlock_outbox');
        storeUrl = pgDb.url;
      }
      s = await start();
      for (const p of ['alice', 'bob', 'sec', 'aud']) tokens[p] = (await ok<{ token: string }>(adminToken, 'POST', '/api/v1/tokens', { principal: p, ttl: '1h' })).token;
    });
    after(async () => {
      await s?.close();
      rx.server.close();
      await pgDb?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    test('a receiver that answers 503 twice gets the message on the third attempt, after growing waits; a decision on the same request waits for it', async () => {
      const req = await ok<{ id: string }>(tokens.alice!, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'write', duration: '30m', reason: 'outbox retries' });
      // Denied while the first message still fails: on this channel the denial must come after it.
      await ok(tokens.bob!, 'POST', `/api/v1/requests/${req.id}/deny`, { comment: 'not now' });
      const flaky = await until('the denial on /flaky', () => {
        const h = rx.hits.filter((x) => x.path === '/flaky' && x.id === req.id);
        return h.some((x) => x.event === 'request.denied') ? h : undefined;
      });
      assert.deepEqual(flaky.map((h) => `${h.event} ${h.status}`), ['request.created 503', 'request.created 503', 'request.created 200', 'request.denied 200']);
      const [a, b, c] = flaky;
      assert.ok(b!.at - a!.at >= BACKOFF_MS, `first wait ${b!.at - a!.at} ms`);
      assert.ok(c!.at - b!.at >= 2 * BACKOFF_MS, `second wait ${c!.at - b!.at} ms (doubled)`);
      // Every attempt carries the same body and signature.
      assert.equal(new Set(flaky.slice(0, 3).map((h) => h.raw)).size, 1);
      for (const h of flaky) assert.equal(h.signature, signBody(SECRET, h.raw));
      // Another channel is not held up by /flaky's retries.
      const okDenied = rx.hits.find((x) => x.path === '/ok' && x.id === req.id && x.event === 'request.denied')!;
      assert.ok(okDenied.at < c!.at, 'the /ok channel got the denial before /flaky got the request');

      const created = await until('the delivered row', async () => {
        const n = await messageOf('flaky', `request.created:request:${req.id}`);
        return n?.status === 'delivered' ? n : undefined;
      });
      assert.equal(created.attempts, 3);
      assert.deepEqual(created.subject, { kind: 'request', id: req.id });
    });

    test('429 with Retry-After: 2 is retried no sooner than 2 s later', async () => {
      const req = await ok<{ id: string }>(tokens.alice!, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'write', duration: '30m', reason: 'rate limited' });
      const approved = await ok<{ grant_id: string }>(tokens.bob!, 'POST', `/api/v1/requests/${req.id}/approve`, {});
      const [first, second] = await until('two attempts on /limited', () => {
        const h = rx.hits.filter((x) => x.path === '/limited' && x.id === req.id);
        return h.length >= 2 ? h : undefined;
      });
      assert.deepEqual([first!.status, second!.status], [429, 200]);
      assert.ok(second!.at - first!.at >= 2000, `retried after ${second!.at - first!.at} ms`);
      await ok(tokens.alice!, 'POST', `/api/v1/grants/${approved.grant_id}/revoke`, { reason: 'done' });
    });

    test('a 400 is dead at once: seen by the API and `airlock notifications --status dead`, audited, and an admin\'s retry delivers it', async () => {
      rx.state.rejecting = true;
      const lock = await ok<{ id: string }>(tokens.sec!, 'POST', '/api/v1/locks', { target_kind: 'principal', target: 'carol', reason: 'outbox test' });
      const key = `lock.created:lock:${lock.id}`;
      const dead = await until('the dead message', async () => {
        const n = await messageOf('reject', key);
        return n?.status === 'dead' ? n : undefined;
      });
      assert.equal(dead.attempts, 1);
      assert.equal(dead.last_error, 'HTTP 400');
      assert.equal(rx.hits.filter((h) => h.path === '/reject' && h.id === lock.id).length, 1, 'no second attempt for a refusal');
      assert.ok((await notifications('dead')).some((n) => n.id === dead.id));
      assert.ok(!(await notifications('pending')).some((n) => n.id === dead.id));

      const listed = await cli({ url: s.apiUrl }, tokens.aud, ['notifications', '--status', 'dead', '--json']);
      assert.equal(listed.code, 0, listed.stderr);
      assert.deepEqual(listed.json<{ notifications: NotificationJson[] }>().notifications.filter((n) => n.id === dead.id).map((n) => [n.channel, n.event, n.status, n.last_error]), [['reject', 'lock.created', 'dead', 'HTTP 400']]);
      const table = await cli({ url: s.apiUrl }, tokens.aud, ['notifications', '--status', 'dead']);
      assert.match(table.stdout, new RegExp(`${dead.id}\\s+reject \\(webhook\\)\\s+lock\\.created\\s+${lock.id}\\s+dead\\s+1\\s+HTTP 400`));
      assert.match(table.stdout, /airlock notifications retry ntf_/);

      await s.audit.flush();
      const audited = (await auditEvents(s.audit)).filter((e) => e.action === 'notify.dead' && e.details.notification_id === dead.id);
      assert.equal(audited.length, 1);
      assert.equal(audited[0]!.target, 'reject');
      assert.deepEqual(audited[0]!.details, { notification_id: dead.id, kind: 'webhook', event: 'lock.created', key, attempts: 1, error: 'HTTP 400' });
      assert.ok(!JSON.stringify(audited[0]).includes(SECRET));

      // An auditor reads but may not retry; a message that is not dead cannot be retried.
      assert.equal((await call(tokens.aud!, 'POST', `/api/v1/notifications/${dead.id}/retry`)).status, 403);
      rx.state.rejecting = false;
      const retried = await cli({ url: s.apiUrl }, tokens.sec, ['notifications', 'retry', dead.id]);
      assert.equal(retried.code, 0, retried.stderr);
      assert.match(retried.stdout, new RegExp(`Queued ${dead.id} \\(lock.created to reject\\) again`));
      const delivered = await until('the retried message delivered', async () => {
        const n = await messageOf('reject', key);
        return n?.status === 'delivered' ? n : undefined;
      });
      assert.equal(delivered.attempts, 1, 'a fresh set of attempts');
      assert.equal(rx.hits.filter((h) => h.path === '/reject' && h.id === lock.id).map((h) => h.status).join(), '400,200');
      const again = await call<{ code: string }>(tokens.sec!, 'POST', `/api/v1/notifications/${dead.id}/retry`);
      assert.deepEqual([again.status, again.body.code], [400, 'AIRLOCK_BAD_INPUT']);
      await s.audit.flush();
      const retries = (await auditEvents(s.audit)).filter((e) => e.action === 'notify.retry' && e.details.notification_id === dead.id);
      assert.deepEqual(retries.map((e) => [e.actor, e.target]), [['sec', 'reject']]);
      await ok(tokens.sec!, 'POST', `/api/v1/locks/${lock.id}/lift`, {});
    });

    test('two outboxes on one store (two processes) send each notice once per channel', async () => {
      // The second "process": its own store connection, audit log, channels and worker, racing this server's.
      const other: Store = await openStore({ url: storeUrl ?? join(dir, 'data', 'airlock.db') });
      const channels = makeChannelRegistry(() => s.policySource.current(), { resolveSecret: (r) => resolveSecret(r), log: silentLog, clock: systemClock, publicUrl: () => s.apiUrl });
      const second = makeOutbox({ store: other, clock: systemClock, channels: () => channels.current(), audit: makeAuditLog({ store: other, clock: systemClock }), log: silentLog }, { backoffMs: BACKOFF_MS });
      second.start();
      try {
        const run = randomBytes(4).toString('hex');
        const notices: Notice[] = Array.from({ length: 12 }, (_, i) => ({
          event: 'policy.reload_refused', subject: { kind: 'policy', id: `${run}-${i}` }, time: new Date().toISOString(),
          text: `refusal ${i}`, data: { file: `${run}-${i}` },
        }));
        // Each process builds the same notices from the same changes, and may do so more than once.
        const inserted = await Promise.all(notices.flatMap((n) => [s.outbox.enqueue(n), second.enqueue({ ...n }), s.outbox.enqueue({ ...n })]));
        assert.equal(inserted.reduce((a, b) => a + b, 0), 12, 'one row per notice for the one channel that wants it');
        await until('every notice delivered', async () => {
          const rows = (await notifications()).filter((n) => n.channel === 'ok' && n.key.includes(run));
          return rows.length === 12 && rows.every((n) => n.status === 'delivered') ? rows : undefined;
        });
        const got = rx.hits.filter((h) => h.path === '/ok' && h.id.startsWith(run)).map((h) => h.id).sort();
        assert.deepEqual(got, notices.map((n) => n.data.file as string).sort(), 'each once');
      } finally {
        await second.stop();
        await other.close();
      }
    });

    test('a restart keeps a pending message and delivers it', async () => {
      const req = await ok<{ id: string }>(tokens.alice!, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'write', duration: '30m', reason: 'restart' });
      const { grant_id: grantId } = await ok<{ grant_id: string }>(tokens.bob!, 'POST', `/api/v1/requests/${req.id}/approve`, {});
      rx.state.down = true;
      await ok(tokens.alice!, 'POST', `/api/v1/grants/${grantId}/revoke`, { reason: 'restart test' });
      const key = `grant.revoked:grant:${grantId}`;
      await until('a failed attempt', async () => {
        const n = await messageOf('down', key);
        return n?.status === 'pending' && n.attempts >= 1 ? n : undefined;
      });
      await s.close();
      rx.state.down = false;
      s = await start();
      const n = await until('the message delivered after the restart', async () => {
        const m = await messageOf('down', key);
        return m?.status === 'delivered' ? m : undefined;
      });
      const attempts = rx.hits.filter((h) => h.path === '/down' && h.id === grantId);
      assert.equal(attempts.at(-1)!.status, 200);
      assert.equal(attempts.filter((h) => h.status === 200).length, 1);
      assert.equal(n.attempts, attempts.length);
    });
  });
}

for (const kind of STORE_KINDS) {
  test(`a message whose sender died mid-send is sent again once its lease has lapsed (${kind})`, async () => {
    const { store, cleanup } = await openTestStore(kind);
    const clock = manualClock(new Date());
    const audit = makeAuditLog({ store, clock });
    let begun = 0;
    // The first process's channel never answers: the process is gone before it could record anything.
    const hung: Channel = { name: 'chat', kind: 'webhook', wants: () => true, deliver: () => { begun++; return new Promise<DeliveryResult>(() => {}); } };
    const sent: number[] = [];
    const live: Channel = { name: 'chat', kind: 'webhook', wants: () => true, deliver: async (_n, ctx) => { sent.push(ctx.attempt); return { ok: true }; } };
    const first = makeOutbox({ store, clock, channels: () => [hung], audit, log: silentLog }, { timeoutMs: 60_000, drainMs: 0 });
    const second = makeOutbox({ store, clock, channels: () => [live], audit, log: silentLog });
    try {
      first.start();
      await first.enqueue({ event: 'lock.created', subject: { kind: 'lock', id: 'lck_lease' }, time: clock.now().toISOString(), text: 'locked', data: {} });
      await until('the first attempt', () => (begun === 1 ? true : undefined));
      second.start();
      const [row] = await second.list({ status: 'pending' });
      assert.equal(row?.status, 'sending', 'held under the first process\'s lease');
      assert.deepEqual(sent, []);
      // The lease (the attempt's limit plus a margin) runs out; the second process takes the message over.
      clock.advance(60_000 + 31_000);
      await second.enqueue({ event: 'lock.created', subject: { kind: 'lock', id: 'lck_other' }, time: clock.now().toISOString(), text: 'wake', data: {} });
      await until('the message sent by the second process', async () => ((await second.list({ status: 'delivered' })).length === 2 ? true : undefined));
      assert.deepEqual(sent.sort(), [1, 2], 'the taken-over message counts its second attempt');
    } finally {
      await first.stop();
      await second.stop();
      await audit.flush();
      await cleanup();
    }
  });
}

test('a URL\'s user, password or token never reaches last_error (what the API lists) or the notify.dead audit', async () => {
  const policyWith = (url: string) => `version: 1\nnotify:\n  webhooks:\n    - { name: chat, url: "${url}" }\n`;
  assert.throws(() => parsePolicy(policyWith('https://user:s3cret-pw@hooks.example.com/x')), (e: Error) => /webhook URLs cannot carry a user or password; use the signing secret/.test(e.message) && !e.message.includes('s3cret'));
  assert.doesNotThrow(() => parsePolicy(policyWith('https://hooks.example.com/x')));

  const { store, cleanup } = await openTestStore('sqlite');
  const clock = manualClock(new Date());
  const audit = makeAuditLog({ store, clock });
  // Channels the policy schema now refuses to build (as an older policy had them): fetch quotes the URL it refuses.
  const creds = webhookChannel({ name: 'creds', url: 'http://user:s3cret-pw@127.0.0.1:1/hook', events: [...NOTIFY_EVENTS] }, { resolveSecret: () => '' });
  const quoting: Channel = { name: 'quoting', kind: 'webhook', wants: () => true, deliver: async () => ({ ok: false, retryable: false, error: 'refused by https://hooks.example.com/services/T1/B2/s3cret-path?token=s3cret-query' }) };
  const outbox = makeOutbox({ store, clock, channels: () => [creds, quoting], audit, log: silentLog }, { maxAttempts: 1 });
  try {
    outbox.start();
    await outbox.enqueue({ event: 'lock.created', subject: { kind: 'lock', id: 'lck_creds' }, time: clock.now().toISOString(), text: 'locked', data: {} });
    const dead = await until('both messages dead', async () => {
      const rows = await outbox.list({ status: 'dead' });
      return rows.length === 2 ? rows : undefined;
    });
    const errors = Object.fromEntries(dead.map((n) => [n.channel, n.last_error ?? '']));
    assert.match(errors.creds!, /includes credentials: http:\/\/127\.0\.0\.1:1\/…$/, 'the error still says what is wrong, and where');
    assert.equal(errors.quoting, 'refused by https://hooks.example.com/…');
    await audit.flush();
    const audited = (await auditEvents(audit)).filter((e) => e.action === 'notify.dead');
    assert.equal(audited.length, 2);
    for (const text of [JSON.stringify(dead), JSON.stringify(audited)]) {
      assert.ok(!/s3cret|user:/.test(text), `no credentials in ${text}`);
    }
    // A row written before errors were redacted: listed and audited on retry without its password.
    const old = dead.find((n) => n.channel === 'quoting')!;
    await store.db.updateTable('notification_outbox').set({ last_error: 'Request cannot be constructed from a URL that includes credentials: https://user:s3cret-old@hooks.example.com/x' }).where('id', '=', old.id).execute();
    assert.equal((await outbox.list({ status: 'dead' })).find((n) => n.id === old.id)!.last_error, 'Request cannot be constructed from a URL that includes credentials: https://hooks.example.com/…');
    await outbox.retry(old.id, { actor: 'admin', source: null });
    await audit.flush();
    const retried = (await auditEvents(audit)).filter((e) => e.action === 'notify.retry');
    assert.equal(retried.length, 1);
    assert.ok(!JSON.stringify(retried).includes('s3cret'));
  } finally {
    await outbox.stop();
    await audit.flush();
    await cleanup();
  }
});
