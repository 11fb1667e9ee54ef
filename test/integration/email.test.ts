// E-mail notices reach a real SMTP server (smtp-server) over STARTTLS with a private CA and a checked login: who gets
// which mail, its subject and links into the console, the grant-ending warning on time, and what SMTP failures mean.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { startServer, type RunningServer } from '../../src/server.js';
import { loadOrCreateTls, type TlsMaterial } from '../../src/gateway/core/tls.js';
import { attachNotifications } from '../../src/access/notifications.js';
import { makeEmailChannel } from '../../src/notify/email.js';
import type { Notice } from '../../src/notify/webhooks.js';
import type { EmailDef } from '../../src/policy/schema.js';
import { silentLog } from '../../src/domain/log.js';
import { manualClock } from '../../src/domain/clock.js';

interface Received {
  at: number;
  from: string;
  to: string[];
  secure: boolean;
  user: string | undefined;
  subject: string;
  /** Headers unfolded, body decoded from quoted-printable: what a reader sees. */
  text: string;
}

const PASSWORD = 'smtp-pass-8d41c';
const PUBLIC_URL = 'https://airlock.example.test';
const dir = mkdtempSync(join(tmpdir(), 'airlock-email-'));
let tls: TlsMaterial;
const servers: SMTPServer[] = [];
const received: Received[] = [];
let smtpPort = 0;
let s: RunningServer;
const notices: Notice[] = [];

/** What the mail says, decoded enough to read: soft line breaks and =XX escapes of quoted-printable undone. */
function readable(raw: string): string {
  return raw.replace(/\r\n(?=[ \t])/g, '').replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

async function smtp(extra: Partial<SMTPServerOptions>): Promise<number> {
  const server = new SMTPServer({
    key: tls.key,
    cert: tls.cert,
    authMethods: ['PLAIN', 'LOGIN'],
    onAuth(auth, _session, cb) {
      if (auth.username === 'airlock' && auth.password === PASSWORD) cb(null, { user: auth.username });
      else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onData(stream, session, cb) {
      let raw = '';
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (raw += c));
      stream.on('end', () => {
        const text = readable(raw);
        received.push({
          at: Date.now(),
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address).sort(),
          secure: session.secure,
          user: session.user as string | undefined,
          subject: /^Subject: (.*)$/m.exec(text)?.[1]?.trim() ?? '',
          text,
        });
        cb();
      });
    },
    logger: false,
    ...extra,
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.server.address() as AddressInfo).port;
}

function policy(port: number, warning = '3s'): string {
  return `
version: 1
principals:
  - { name: alice, groups: [engineers, dba], email: alice@example.com }
  - { name: bob, groups: [dba], email: bob@example.com }
  - { name: carol, groups: [dba] }
  - { name: erin, groups: [security], email: erin@example.com }
  - { name: frank, groups: [engineers], email: gone@example.com }
resources:
  - { name: prod-orders, kind: postgres, address: "127.0.0.1:5432", labels: { env: prod } }
roles:
  - name: pg-write
    resources: { names: [prod-orders] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    break_glass: true
  - name: pg-read
    resources: { names: [prod-orders] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
notify:
  email:
    smtp: { host: localhost, port: ${port}, starttls: true, username: airlock, password: { env: AIRLOCK_TEST_SMTP_PASSWORD }, ca: ${JSON.stringify(tls.caPath)} }
    from: "Airlock <airlock@example.com>"
    security_group: security
    expiry_warning: ${warning}
`;
}

const channelFor = (cfg: () => EmailDef | undefined) =>
  makeEmailChannel({ config: cfg, policy: () => s.policySource.current(), publicUrl: () => s.publicUrl(), resolveSecret: (ref) => ('env' in ref ? process.env[ref.env] ?? '' : ''), log: silentLog, timeoutMs: 3000 });
const deliver = (ch: ReturnType<typeof channelFor>, n: Notice) => ch.deliver(n, { ref: null, attempt: 1, signal: new AbortController().signal });

function start(at: string, yaml: string, clock?: ReturnType<typeof manualClock>): Promise<RunningServer> {
  writeFileSync(join(at, 'airlock.yaml'), yaml);
  return startServer({ config: join(at, 'airlock.yaml'), dataDir: join(at, 'data'), listen: { host: '127.0.0.1', port: 0 }, publicUrl: `${PUBLIC_URL}/`, logger: pino({ level: 'silent' }), watchPolicy: false, pgListen: null, mysqlListen: null, clock, notify: { backoffMs: 100 } });
}

before(async () => {
  tls = await loadOrCreateTls(join(dir, 'smtp-ca'));
  // A mailbox that is gone: the server refuses it for good.
  smtpPort = await smtp({ onRcptTo: (a, _s, cb) => (a.address === 'gone@example.com' ? cb(Object.assign(new Error('mailbox unavailable'), { responseCode: 550 })) : cb()) });
  process.env.AIRLOCK_TEST_SMTP_PASSWORD = PASSWORD;
  s = await start(dir, policy(smtpPort));
  // The notices the server builds, as the outbox gets them (for the failure cases below).
  attachNotifications(s.access, (n) => notices.push(n), () => {});
});
after(async () => {
  await s?.close();
  for (const x of servers) await new Promise<void>((r) => x.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

async function until<T>(f: () => T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function untilAsync<T>(f: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

const caller = (name: string) => ({ principal: s.policySource.current().principal(name)!, source: null, token_id: null });
const mailAbout = (id: string, subject: RegExp) => until(() => received.find((m) => m.text.includes(id) && subject.test(m.subject)));

test('a new request goes to the approvers with an e-mail, never to the requester, over STARTTLS with the login checked', async () => {
  const req = await s.access.requests.create(caller('alice'), { resource: 'prod-orders', role: 'pg-write', duration_seconds: 3600, reason: 'fix order 42' });
  const m = await mailAbout(req.id, /asks for/);
  assert.equal(m.subject, '[Airlock] alice asks for pg-write on prod-orders for 1h');
  assert.deepEqual(m.to, ['bob@example.com'], 'alice is an approver too, but asked herself; carol has no address');
  assert.equal(m.from, 'airlock@example.com');
  assert.equal(m.secure, true, 'STARTTLS was used');
  assert.equal(m.user, 'airlock');
  assert.match(m.text, /fix order 42/);
  assert.ok(m.text.includes(`${PUBLIC_URL}/requests/${req.id}`), 'links to the request page of the console');
  assert.ok(m.text.includes(`href="${PUBLIC_URL}/requests/${req.id}"`), 'the HTML part links there too');
  assert.ok(!m.text.includes(PASSWORD));
  await s.access.reviews.deny(caller('bob'), req.id, 'use the runbook');
  const d = await mailAbout(req.id, /^\[Airlock\] Denied/);
  assert.equal(d.subject, '[Airlock] Denied: pg-write on prod-orders for 1h for alice');
  assert.deepEqual(d.to, ['alice@example.com']);
});

test('the decision goes to the requester, and the grant-ending warning arrives before the grant ends', async () => {
  const req = await s.access.requests.create(caller('alice'), { resource: 'prod-orders', role: 'pg-write', duration_seconds: 8, reason: 'rotate a key' });
  const { grant_id } = await s.access.reviews.approve(caller('bob'), req.id, 'ok');
  const grant = (await s.access.grants.get(grant_id!))!;
  const approved = await mailAbout(req.id, /^\[Airlock\] Approved/);
  assert.equal(approved.subject, '[Airlock] Approved: pg-write on prod-orders for 8s for alice');
  assert.deepEqual(approved.to, ['alice@example.com']);
  assert.ok(approved.text.includes(`${PUBLIC_URL}/requests/${req.id}`));

  const warning = await mailAbout(grant.id, /ends in/);
  const expiresAt = Date.parse(grant.expires_at);
  assert.match(warning.subject, /^\[Airlock\] Your access to prod-orders ends in [1-3] seconds$/);
  assert.deepEqual(warning.to, ['alice@example.com']);
  assert.ok(warning.at < expiresAt, `arrived ${warning.at - expiresAt} ms after the grant ended`);
  assert.ok(warning.at >= expiresAt - 3000 - 200, `arrived ${expiresAt - warning.at} ms before the end: too early for a 3s warning`);
  assert.ok(warning.text.includes(`${PUBLIC_URL}/`), 'links to My access');
  assert.match(warning.text, new RegExp(`--extends ${grant.id}`));
  // Once: no second warning until the grant ends (the scheduler re-reads active grants as it goes).
  await until(() => (Date.now() > expiresAt + 500 ? true : undefined));
  assert.equal(received.filter((m) => m.text.includes(grant.id) && /ends in/.test(m.subject)).length, 1);
});

test('break-glass goes to the security group and the approvers, not to who took it', async () => {
  const bg = await s.access.requests.create(caller('alice'), { resource: 'prod-orders', role: 'pg-write', duration_seconds: 600, reason: 'site down', break_glass: true });
  const m = await mailAbout(bg.id, /BREAK-GLASS/);
  assert.equal(m.subject, '[Airlock] BREAK-GLASS: alice took pg-write on prod-orders for 10m without review');
  assert.deepEqual(m.to, ['bob@example.com', 'erin@example.com']);
  assert.ok(m.text.includes(`${PUBLIC_URL}/requests/${bg.id}`));
});

test('SMTP failures: 550 is final, a server that is down is worth retrying, a refused login is final and says so', async () => {
  const notice = notices.find((n) => n.event === 'request.created');
  assert.ok(notice);
  const base = s.policySource.current().doc.notify.email!;
  const refusing = await smtp({ onRcptTo: (_a, _s, cb) => cb(Object.assign(new Error('mailbox unavailable'), { responseCode: 550 })) });
  const r550 = await deliver(channelFor(() => ({ ...base, smtp: { ...base.smtp, port: refusing } })), notice);
  assert.equal(r550.ok, false);
  assert.ok(!r550.ok && r550.retryable === false && /550/.test(r550.error), JSON.stringify(r550));

  const closed = createNetServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const downPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const down = await deliver(channelFor(() => ({ ...base, smtp: { ...base.smtp, port: downPort } })), notice);
  assert.ok(!down.ok && down.retryable === true, JSON.stringify(down));

  const wrong = await deliver(channelFor(() => ({ ...base, smtp: { ...base.smtp, username: 'intruder' } })), notice);
  assert.ok(!wrong.ok && wrong.retryable === false && /username or password/.test(wrong.error), JSON.stringify(wrong));
  assert.ok(!JSON.stringify(wrong).includes(PASSWORD));

  const plain = await smtp({ disabledCommands: ['STARTTLS'], allowInsecureAuth: true });
  const noTls = await deliver(channelFor(() => ({ ...base, smtp: { ...base.smtp, port: plain } })), notice);
  assert.ok(!noTls.ok && noTls.retryable === false && /TLS/.test(noTls.error), JSON.stringify(noTls));
});

test('through the outbox: a mailbox the server refuses (550) is a dead message at once, with the reason', async () => {
  const req = await s.access.requests.create(caller('frank'), { resource: 'prod-orders', role: 'pg-read', duration_seconds: 600, reason: 'look at order 7' });
  await s.access.reviews.deny(caller('bob'), req.id, 'not today');
  const row = await untilAsync(async () => (await s.outbox.list({ status: 'all' })).find((r) => r.key === `request.denied:request:${req.id}` && r.status === 'dead'));
  assert.equal(row.channel, 'email');
  assert.equal(row.attempts, 1, 'a permanent refusal is not retried');
  assert.match(row.last_error ?? '', /550/);
  assert.ok(!received.some((m) => m.text.includes(req.id) && /Denied/.test(m.subject)));
});

test('after a restart: a warning whose time passed while Airlock was down is sent once, and only for a grant still active', async () => {
  const at = mkdtempSync(join(tmpdir(), 'airlock-email-restart-'));
  const clock = manualClock('2026-03-02T09:00:00.000Z');
  const yaml = policy(smtpPort, '10m');
  let a = await start(at, yaml, clock);
  const as = (name: string) => ({ principal: a.policySource.current().principal(name)!, source: null, token_id: null });
  try {
    const long = await a.access.requests.create(as('alice'), { resource: 'prod-orders', role: 'pg-write', duration_seconds: 3600, reason: 'migration' });
    const short = await a.access.requests.create(as('alice'), { resource: 'prod-orders', role: 'pg-read', duration_seconds: 1200, reason: 'look' });
    const g1 = (await a.access.reviews.approve(as('bob'), long.id)).grant_id!;
    const g2 = (await a.access.reviews.approve(as('bob'), short.id)).grant_id!;
    await a.close();
    // Down from 09:00 to 09:55: g1's warning time (09:50) passed, g2 ended at 09:20.
    clock.set('2026-03-02T09:55:00.000Z');
    a = await start(at, yaml, clock);
    const m = await mailAbout(g1, /ends in/);
    assert.equal(m.subject, '[Airlock] Your access to prod-orders ends in 5 minutes');
    assert.deepEqual(m.to, ['alice@example.com']);
    assert.equal((await a.access.grants.get(g2))?.status, 'expired');
    await a.close();
    // Another restart repeats the warning in the process; the outbox keeps it to the one message.
    a = await start(at, yaml, clock);
    await a.close();
    a = await start(at, yaml, clock);
    const rows = (await a.outbox.list({ status: 'all' })).filter((r) => r.event === 'grant.expiring');
    assert.deepEqual(rows.map((r) => [r.key, r.status]), [[`grant.expiring:grant:${g1}`, 'delivered']]);
    assert.equal(received.filter((x) => x.text.includes(g1) && /ends in/.test(x.subject)).length, 1);
    assert.ok(!received.some((x) => x.text.includes(g2) && /ends in/.test(x.subject)), 'no warning for a grant that ended during the downtime');
  } finally {
    await a.close();
    rmSync(at, { recursive: true, force: true });
  }
});
