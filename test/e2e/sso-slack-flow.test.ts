// The whole flow a company gets by pointing Airlock at its IdP and Slack (docs/identity.md, docs/notifications.md),
// through real processes: alice signs in with `airlock login --sso` (device flow at a real OIDC provider), her IdP
// group gives her the role, her request appears in Slack with buttons, bob approves it there, the message is
// updated, she queries the database through the gateway, and the grant ends by itself — also in her session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { BIN, cli, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';
import { startTestIdp, browse, type TestIdp } from '../support/oidc-provider.js';
import { startFakeSlack, type FakeSlack, type FakeSlackUser } from '../support/fake-slack.js';

const BOT_TOKEN = 'xoxb-e2e-bot-token';
const SIGNING_SECRET = 'e2e-slack-signing-secret';
const bobSlack: FakeSlackUser = { id: 'U0BOB', name: 'bob', email: 'Bob@Example.com', emailConfirmed: true };

let idp: TestIdp;
let slack: FakeSlack;
let server: ServerProcess;
let db: TestDatabase;

async function until<T>(get: () => T | undefined | Promise<T | undefined>, what: string, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  db = await createTestDatabase('airlock_ssoslack');
  const c = new pg.Client(db.url);
  await c.connect();
  await c.query("create table payments (id int primary key, state text); insert into payments values (1, 'settled')");
  await c.end();
  idp = await startTestIdp({ users: { alice: { password: 'alice-pw', email: 'alice@example.com', groups: ['Payments'] } } });
  slack = await startFakeSlack({ botToken: BOT_TOKEN, signingSecret: SIGNING_SECRET, users: [bobSlack], channels: ['#payments-approvals'] });
  const up = new URL(adminUrl());
  server = await startServerProcess({
    env: {
      E2E_PG_PASSWORD: decodeURIComponent(up.password) || 'unused-with-trust-auth',
      E2E_OIDC_SECRET: idp.clientSecret,
      E2E_SLACK_BOT: BOT_TOKEN,
      E2E_SLACK_SIGNING: SIGNING_SECRET,
    },
    policy: `
version: 1
principals:
  - { name: alice, email: alice@example.com }
  - { name: bob, email: bob@example.com, groups: [payments-leads] }
resources:
  - name: payments-db
    kind: postgres
    address: "${up.hostname}:${up.port || 5432}"
    database: ${db.name}
    labels: { team: payments }
    credential: { username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: E2E_PG_PASSWORD } }
roles:
  - name: pg-read
    resources: { labels: { team: payments } }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [payments-oncall] }
    approval: { approver_groups: [payments-leads] }
identity:
  oidc:
    issuer: ${idp.issuer}
    client_id: ${idp.clientId}
    client_secret: { env: E2E_OIDC_SECRET }
    group_mapping: { Payments: [payments-oncall] }
    display_name: Acme SSO
notify:
  slack:
    - name: payments-slack
      bot_token: { env: E2E_SLACK_BOT }
      signing_secret: { env: E2E_SLACK_SIGNING }
      channels: { labels: { "team=payments": "#payments-approvals" } }
      api_url: ${slack.apiUrl}
`,
  });
  idp.serve(server.url);
});

after(async () => {
  await server?.stop();
  await slack?.close();
  await idp?.stop();
  await db?.drop();
});

/** `airlock login --sso` as alice types it: the CLI shows a URL and code; she confirms them at the IdP. */
async function ssoLogin(configDir: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'login', '--sso', '--json'], { env: { ...process.env, AIRLOCK_SERVER: server.url, AIRLOCK_CONFIG_DIR: configDir, AIRLOCK_TOKEN: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((r) => child.on('exit', (code) => r({ code, stdout, stderr })));
  const m = await until(() => /open (http\S+)\s+and confirm the code (\S+?)\./.exec(stderr) ?? undefined, 'the device code on stderr');
  await browse(m[1]!, { user: 'alice', password: 'alice-pw' });
  return done;
}

test('sign in with SSO → request → approve in Slack → use → expire', async () => {
  const home = mkdtempSync(join(tmpdir(), 'airlock-sso-slack-'));
  const env = { AIRLOCK_CONFIG_DIR: home };

  // Sign in: the IdP's Payments group becomes payments-oncall, which may request pg-read.
  const login = await ssoLogin(home);
  assert.equal(login.code, 0, login.stderr);
  const signedIn = JSON.parse(login.stdout) as { principal: string; groups: string[] };
  assert.equal(signedIn.principal, 'alice');
  assert.ok(signedIn.groups.includes('payments-oncall'), JSON.stringify(signedIn));

  // Request: a Block Kit message with Approve / Deny in the payments channel (routed by the resource's label).
  const req = await cli(server, undefined, ['request', 'payments-db', '--role', 'pg-read', '--for', '30s', '--reason', 'INC-7 check a settlement', '--json'], { env });
  assert.equal(req.code, 0, req.stderr);
  const requestId = (JSON.parse(req.stdout) as { id: string }).id;
  const message = await until(() => slack.messages.find((m) => JSON.stringify(m.blocks).includes(requestId)), 'the Slack message');
  const posted = slack.calls.find((c) => c.method === 'chat.postMessage' && JSON.stringify(c.args).includes(requestId))!;
  assert.equal(posted.args.channel, '#payments-approvals');
  assert.equal(posted.authorization, `Bearer ${BOT_TOKEN}`);
  assert.match(JSON.stringify(message.blocks), /airlock_approve/);
  assert.match(JSON.stringify(message.blocks), /INC-7 check a settlement/);

  // Approve in Slack: bob's verified Slack e-mail maps him to the approver bob; the message shows who decided.
  const click = await slack.send(`${server.url}/api/v1/slack/interactions`, slack.click(bobSlack, message, 'airlock_approve'));
  assert.equal(click.status, 200, click.text);
  await until(() => message.updates.find((u) => /bob/.test(JSON.stringify(u.blocks)) && !JSON.stringify(u.blocks).includes('airlock_approve')), 'the updated Slack message');
  const grants = await cli(server, undefined, ['grants', '--json'], { env });
  const grant = (JSON.parse(grants.stdout) as { id: string; resource: string; status: string; expires_at: string }[]).find((g) => g.resource === 'payments-db' && g.status === 'active');
  assert.ok(grant, grants.stdout);

  // Use: psql's libpq settings from `airlock connect`, a real query through the gateway with the SSO-bound token.
  const connect = await cli(server, undefined, ['connect', 'payments-db', '--json'], { env });
  assert.equal(connect.code, 0, connect.stderr);
  const settings = JSON.parse(connect.stdout) as { env: Record<string, string> };
  const client = new pg.Client({ host: settings.env.PGHOST, port: Number(settings.env.PGPORT), user: settings.env.PGUSER, database: settings.env.PGDATABASE, password: settings.env.PGPASSWORD, ssl: settings.env.PGSSLROOTCERT ? { ca: (await import('node:fs')).readFileSync(settings.env.PGSSLROOTCERT, 'utf8'), rejectUnauthorized: true } : false });
  const ended = new Promise<Error>((resolve) => client.on('error', resolve));
  await client.connect();
  assert.deepEqual((await client.query('select state from payments where id = 1')).rows, [{ state: 'settled' }]);

  // Expire: the session is cut when the grant ends, with the reason, and the audit chain verifies.
  const err = await ended;
  assert.match(err.message, /expired|ended/i);
  const after = await cli(server, server.adminToken, ['grants', '--principal', 'alice', '--json']);
  assert.equal((JSON.parse(after.stdout) as { id: string; status: string }[]).find((g) => g.id === grant.id)?.status, 'expired', after.stdout);
  const verify = await cli(server, server.adminToken, ['audit', 'verify', '--json']);
  assert.equal(verify.code, 0, verify.stderr);
  const events = await cli(server, server.adminToken, ['audit', 'export']);
  for (const action of ['sso.sign_in', 'request.create', 'review.approve', 'grant.expire']) assert.ok(events.stdout.includes(`"${action}"`), `audited: ${action}`);
  assert.match(events.stdout, /"action":"review\.approve"[^\n]*"source":"slack"|"source":"slack"[^\n]*"action":"review\.approve"/);
});
