// Webhook notices reach a real HTTP receiver: a pending request for approvers, a break-glass alert, signed bodies,
// and failed deliveries retried through the outbox, then dead-lettered and audited.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { startServer, type RunningServer } from '../../src/server.js';
import { signBody } from '../../src/notify/webhooks.js';

interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  body: { text: string; event: string; request_id?: string };
}

let receiver: Server;
const received: Received[] = [];
let failing = 0;
let s: RunningServer;

function policy(port: number): string {
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
resources:
  - { name: prod-orders, kind: postgres, address: "127.0.0.1:5432", labels: { env: prod } }
roles:
  - name: write
    resources: { names: [prod-orders] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: true }
    break_glass: true
notify:
  webhooks:
    - { name: chat, url: "http://127.0.0.1:${port}/hook", secret: { env: NOTIFY_TEST_SECRET } }
    - { name: broken, url: "http://127.0.0.1:${port}/fail", events: [request.break_glass] }
`;
}

before(async () => {
  receiver = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      if (req.url === '/fail') {
        failing++;
        res.writeHead(503).end('busy');
        return;
      }
      received.push({ path: req.url ?? '', headers: req.headers, raw, body: JSON.parse(raw) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  process.env.NOTIFY_TEST_SECRET = 'test-secret-value';
  const dir = mkdtempSync(join(tmpdir(), 'airlock-notify-'));
  writeFileSync(join(dir, 'airlock.yaml'), policy((receiver.address() as AddressInfo).port));
  s = await startServer({ config: join(dir, 'airlock.yaml'), dataDir: join(dir, 'data'), listen: { host: '127.0.0.1', port: 0 }, logger: pino({ level: 'silent' }), watchPolicy: false, pgListen: null, mysqlListen: null, notify: { maxAttempts: 3, backoffMs: 100 } });
});
after(async () => {
  await s?.close();
  receiver?.close();
});

async function until<T>(f: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('approvers hear of a pending request, in a signed, Slack-compatible body', async () => {
  const alice = { principal: s.policySource.current().principal('alice')!, source: null, token_id: null };
  const req = await s.access.requests.create(alice, { resource: 'prod-orders', role: 'write', duration_seconds: 1800, reason: 'fix order 42' });
  const got = await until(() => received.find((r) => r.body.event === 'request.created' && r.body.request_id === req.id));
  assert.match(got.body.text, /alice asks for write on prod-orders for 30m: "fix order 42"/);
  assert.match(got.body.text, new RegExp(`airlock approve ${req.id}`));
  assert.equal(got.headers['x-airlock-signature'], signBody('test-secret-value', got.raw));
  assert.ok(!got.raw.includes('test-secret-value'));
});

test('break-glass raises an alert; a failing receiver is retried, then dead-lettered and audited', async () => {
  const alice = { principal: s.policySource.current().principal('alice')!, source: null, token_id: null };
  const req = await s.access.requests.create(alice, { resource: 'prod-orders', role: 'write', duration_seconds: 600, reason: 'site down', break_glass: true });
  const alert = await until(() => received.find((r) => r.body.event === 'request.break_glass' && r.body.request_id === req.id));
  assert.match(alert.body.text, /^BREAK-GLASS: alice took write on prod-orders/);
  const failed = await until(() => (failing >= 3 ? failing : undefined), 15_000);
  assert.equal(failed, 3, 'three attempts');
  await s.audit.flush();
  const events = [];
  for (let i = 0; i < 100 && events.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    await s.audit.flush();
    for await (const e of s.audit.events({ action: 'notify.dead' })) events.push(e);
  }
  assert.equal(events.length, 1);
  assert.equal(events[0]!.target, 'broken');
});
