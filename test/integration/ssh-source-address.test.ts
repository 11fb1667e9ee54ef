// `airlock server --ssh-source-address` (and AIRLOCK_SSH_SOURCE_ADDRESS), run as a user runs it: the real server
// process, a real sshd trusting its user CA, and the real ssh client through the SSH gateway. With an address the host
// does not see the gateway come from, sshd refuses the certificate; with `off` the certificate has no source-address.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestSshd, type TestSshd } from '../support/sshd.js';
import { apiJson, cli, startServerProcess, type ServerProcess } from '../support/server-process.js';

let sshd: TestSshd;
const dir = mkdtempSync(join(tmpdir(), 'airlock-ssh-src-'));

function policy(s: TestSshd): string {
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [sre] }
admins: { groups: [sre] }
auditors: { groups: [sre] }
resources:
  - { name: box, kind: ssh, address: "${s.address}", host_key: "${s.hostKey}" }
roles:
  - name: shell
    resources: { names: [box] }
    ssh: { login: ${s.user} }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [sre] }
    justification: { required: false }
`;
}

interface Issued { details: Record<string, unknown> }

/** Starts the server with `args`/`env`, trusts its CA on the host, runs `ssh alice%box echo signed-in` through it. */
async function loginThrough(name: string, o: { args?: string[]; env?: Record<string, string> }): Promise<{ code: number | null; stdout: string; stderr: string; issued: Issued[]; server: ServerProcess }> {
  mkdirSync(join(dir, name));
  const server = await startServerProcess({ policy: policy(sshd), dir: join(dir, name), extraArgs: o.args, env: o.env });
  try {
    const gw = await apiJson<{ ssh: { host: string; port: number; host_key: string; user_ca: string } }>(server, server.adminToken, 'GET', '/api/v1/gateways');
    await sshd.setTrustedUserCaKeys([gw.ssh.user_ca]);
    const token = async (principal: string) => (await apiJson<{ token: string }>(server, server.adminToken, 'POST', '/api/v1/tokens', { principal, ttl: '1h' })).token;
    const alice = await token('alice');
    const req = await apiJson<{ id: string }>(server, alice, 'POST', '/api/v1/requests', { resource: 'box', role: 'shell', duration: '30m', reason: 'source address test' });
    await apiJson(server, await token('bob'), 'POST', `/api/v1/requests/${req.id}/approve`, {});
    const known = join(dir, `${name}-known_hosts`);
    writeFileSync(known, `[${gw.ssh.host}]:${gw.ssh.port} ${gw.ssh.host_key}\n`);
    const askpass = join(dir, 'askpass');
    writeFileSync(askpass, '#!/bin/sh\nprintf "%s\\n" "$AIRLOCK_TEST_TOKEN"\n');
    chmodSync(askpass, 0o700);
    const args = ['-F', '/dev/null', '-p', String(gw.ssh.port), '-o', `UserKnownHostsFile=${known}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'PubkeyAuthentication=no', '-o', 'PreferredAuthentications=password,keyboard-interactive', '-o', 'NumberOfPasswordPrompts=1', '-l', 'alice%box', gw.ssh.host, 'echo', 'signed-in'];
    const child = spawn('ssh', args, { env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0', AIRLOCK_TEST_TOKEN: alice, SSH_AUTH_SOCK: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => void (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((r) => child.on('close', (c) => (clearTimeout(timer), r(c))));
    const { events } = await apiJson<{ events: Issued[] }>(server, server.adminToken, 'GET', '/api/v1/audit/events?action=ssh.certificate.issued&limit=100');
    return { code, stdout, stderr, issued: events, server };
  } catch (e) {
    await server.stop();
    throw e;
  }
}

before(async () => {
  sshd = await startTestSshd();
});

after(async () => {
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('--ssh-source-address 10.9.8.7: the certificate carries it, and sshd refuses it from 127.0.0.1', async () => {
  const r = await loginThrough('fixed', { args: ['--ssh-source-address', '10.9.8.7'] });
  try {
    assert.deepEqual(r.issued.map((e) => e.details.source_address), [['10.9.8.7']]);
    assert.notEqual(r.code, 0, `the host must refuse the certificate: ${r.stdout}${r.stderr}`);
    assert.doesNotMatch(r.stdout, /signed-in/);
    assert.match(sshd.log(), /source address|source-address/i);
  } finally {
    await r.server.stop();
  }
});

test('AIRLOCK_SSH_SOURCE_ADDRESS=off: the certificate has no source-address and the login works', async () => {
  const r = await loginThrough('off', { env: { AIRLOCK_SSH_SOURCE_ADDRESS: 'off' } });
  try {
    assert.equal(r.stdout, 'signed-in\n', r.stderr);
    assert.equal(r.code, 0);
    assert.deepEqual(r.issued.map((e) => e.details.source_address), [null]);
  } finally {
    await r.server.stop();
  }
});

test('by default the certificate carries the address this machine connects to the host from', async () => {
  const r = await loginThrough('default', {});
  try {
    assert.equal(r.stdout, 'signed-in\n', r.stderr);
    assert.deepEqual(r.issued.map((e) => e.details.source_address), [['127.0.0.1']]);
  } finally {
    await r.server.stop();
  }
});

test('a value that is not addresses or "off" is a usage error naming the flag or the variable', async () => {
  for (const [args, env, named] of [[['--ssh-source-address', '10.9.8.7,nope'], {}, '--ssh-source-address'], [[], { AIRLOCK_SSH_SOURCE_ADDRESS: '10.0.0.0/33' }, 'AIRLOCK_SSH_SOURCE_ADDRESS']] as const) {
    const r = await cli({ url: 'http://127.0.0.1:1' }, undefined, ['server', '--config', join(dir, 'none.yaml'), '--data', join(dir, 'unused'), ...args], { env });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(`${named} takes IP addresses or CIDR blocks, comma-separated`), r.stderr);
  }
});
