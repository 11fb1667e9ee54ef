// A new user's path to a host and a container, through the real CLI, server process, SSH gateway, OpenSSH client, a
// real sshd that trusts Airlock's user CA, node-pty as the user's terminal, and Chromium for the console:
// request → approve → `airlock ssh` (a shell: work) → the grant ends → the terminal says why → `airlock replay` in the
// terminal and Play in the console → `airlock audit verify --recordings`; and `airlock exec` into an exec resource.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pty from 'node-pty';
import type { Browser } from 'playwright-core';
import { startServerProcess, cli, BIN, apiJson, type ServerProcess } from '../support/server-process.js';
import { startTestSshd, type TestSshd } from '../support/sshd.js';
import { ensureConsoleBuilt, launchBrowser, person, screenshot, signInWithToken } from '../support/browser.js';

let sshd: TestSshd;
let server: ServerProcess;
let alice: string;
let bob: string;
const dir = mkdtempSync(join(tmpdir(), 'airlock-ssh-flow-'));
const env = { AIRLOCK_CONFIG_DIR: join(dir, 'config') };
/** The exec resource's targets: directories a local template enters (no container engine on this machine). */
const targets = { a: join(dir, 'pod-a'), b: join(dir, 'pod-b') };

function policy(): string {
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [sre] }
admins: { principals: [bob] }
auditors: { principals: [bob] }
resources:
  - name: bastion
    kind: ssh
    address: "${sshd.address}"
    host_key: "${sshd.hostKey}"
    credential: { username: ${sshd.user} }
  - name: pods
    kind: exec
    exec:
      command: ["/usr/bin/env", "-C", "{target}", "{command}"]
      targets: ["${targets.a}", "${targets.b}"]
roles:
  - name: shell
    resources: { names: [bastion, pods] }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [sre] }
`;
}

async function waitFor<T>(what: string, ms: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** alice requests the role on `resource` for `duration` with the CLI; bob approves with the CLI; the grant's id and end. */
async function requestAndApprove(resource: string, duration: string): Promise<{ id: string; expires_at: string }> {
  const req = await cli(server, alice, ['request', resource, '--role', 'shell', '--for', duration, '--reason', 'INC-14 look at the payments host', '--json'], { env });
  assert.equal(req.code, 0, req.stderr);
  const id = (req.json() as { id: string }).id;
  const ok = await cli(server, bob, ['approve', id, '--json'], { env });
  assert.equal(ok.code, 0, ok.stderr);
  const grantId = (ok.json() as { grant_id: string }).grant_id;
  return apiJson(server, bob, 'GET', `/api/v1/grants/${grantId}`);
}

before(async () => {
  mkdirSync(targets.a);
  mkdirSync(targets.b);
  writeFileSync(join(targets.a, 'payments.log'), 'charge accepted\n');
  sshd = await startTestSshd();
  server = await startServerProcess({ policy: policy(), env });
  // The host trusts Airlock's user CA, as docs/ssh-and-exec.md sets it up: `airlock ca --ssh-user-ca`.
  const ca = await cli(server, undefined, ['ca', '--ssh-user-ca'], { env });
  assert.equal(ca.code, 0, ca.stderr);
  await sshd.setTrustedUserCaKeys([ca.stdout.trim()]);
  alice = (await apiJson<{ token: string }>(server, server.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '1h' })).token;
  bob = (await apiJson<{ token: string }>(server, server.adminToken, 'POST', '/api/v1/tokens', { principal: 'bob', ttl: '1h' })).token;
});

after(async () => {
  await server?.stop();
  await sshd?.stop();
});

test('request → approve → airlock ssh → work → the grant ends → the terminal says why → replay in the terminal and the console; recordings verify', async () => {
  // Without a grant the gateway says how to get one.
  const none = await cli(server, alice, ['ssh', 'bastion', '--', 'true'], { env });
  assert.notEqual(none.code, 0);
  assert.match(none.stderr, /no active grant for bastion.*airlock request bastion/);

  const grant = await requestAndApprove('bastion', '25s');
  const term = pty.spawn(process.execPath, [BIN, 'ssh', 'bastion'], { cols: 100, rows: 30, env: { ...process.env, ...env, AIRLOCK_SERVER: server.url, AIRLOCK_TOKEN: alice, SSH_AUTH_SOCK: '' } });
  let screen = '';
  term.onData((d) => void (screen += d));
  const exited = new Promise<number>((resolve) => term.onExit((e) => resolve(e.exitCode)));
  try {
    // Work in the shell: a prompt, a command and its output.
    term.write('echo "work-$((6*7))-done"\r');
    await waitFor('the command\'s output in the terminal', 15_000, () => screen.includes('work-42-done'));
    term.write('sleep 120\r');
    // The grant ends while the command runs: the terminal is told why, within a second of the end.
    const told = await waitFor('the reason on the terminal', Date.parse(grant.expires_at) - Date.now() + 5000, () => (/airlock: session ended — .*grant.*expired/i.test(screen) ? Date.now() : undefined));
    const late = told - Date.parse(grant.expires_at);
    console.log(`# told ${late} ms after the grant's end`);
    assert.ok(late < 1000, `the terminal was told ${late} ms after the grant ended`);
    assert.notEqual(await exited, 0, 'ssh exits with a failure status');
  } finally {
    term.kill();
  }

  // The session is over and recorded: replay it in the terminal.
  const listed = await cli(server, alice, ['recordings', '--resource', 'bastion', '--json'], { env });
  assert.equal(listed.code, 0, listed.stderr);
  const rec = (listed.json() as { session_id: string; principal: string; protocol: string }[]).find((r) => r.principal === 'alice' && r.protocol === 'ssh');
  assert.ok(rec, `the session is listed: ${listed.stdout}`);
  const replay = await cli(server, alice, ['replay', rec.session_id, '--speed', '50'], { env });
  assert.equal(replay.code, 0, replay.stderr);
  assert.match(replay.stdout, /work-42-done/);
  assert.match(replay.stdout, /airlock: session ended/);

  // …and in the console, in the browser.
  ensureConsoleBuilt();
  let browser: Browser | undefined;
  try {
    browser = await launchBrowser();
    const p = await person(browser, 'alice');
    await signInWithToken(p, server.url, alice);
    await p.page.goto(`${server.url}/sessions`);
    await p.page.locator(`[data-testid="ended-session"][data-session-id="${rec.session_id}"]`).getByRole('button', { name: /Play/ }).click();
    await p.page.getByTestId('recording-player').getByText('work-42-done').first().waitFor({ timeout: 15_000 });
    await screenshot(p.page, 'ssh-flow-replay');
    assert.deepEqual(p.errors, []);
  } finally {
    await browser?.close();
  }

  // The audit chain and every recording verify.
  const verify = await cli(server, bob, ['audit', 'verify', '--recordings', '--json'], { env });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  assert.equal((verify.json() as { ok: boolean }).ok, true);
  // A new login after the end is refused, with the reason in the terminal.
  const after = await cli(server, alice, ['ssh', 'bastion', '--', 'true'], { env });
  assert.notEqual(after.code, 0);
});

test('airlock exec RESOURCE --target T -- command: the output and exit code of a command run in the chosen target, recorded', async () => {
  await requestAndApprove('pods', '10m');
  const ls = await cli(server, alice, ['exec', 'pods', '--target', targets.a, '--', 'cat', 'payments.log'], { env });
  assert.equal(ls.code, 0, ls.stderr);
  assert.equal(ls.stdout, 'charge accepted\n');
  const failed = await cli(server, alice, ['exec', 'pods', '--target', targets.b, '--', 'cat', 'payments.log'], { env });
  assert.notEqual(failed.code, 0, 'the file is not in the other target');
  const elsewhere = await cli(server, alice, ['exec', 'pods', '--target', '/etc', '--', 'ls'], { env });
  assert.notEqual(elsewhere.code, 0);
  assert.match(elsewhere.stderr, /AIRLOCK_EXEC_TARGET_NOT_ALLOWED/);
  const { recordings } = await apiJson<{ recordings: { principal: string; resource: string; protocol: string }[] }>(server, alice, 'GET', '/api/v1/recordings?resource=pods');
  assert.ok(recordings.some((r) => r.protocol === 'exec' && r.principal === 'alice'), 'exec sessions are recorded');
});
