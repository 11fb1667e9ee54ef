// `airlock ssh`, `airlock ssh-config` and `airlock ssh-key` through the real CLI, server process, OpenSSH client and
// sshd: a command's output and exit code passed through, the gateway's host key pinned, a registered key logging in
// with plain `ssh`, and private or malformed keys refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiJson, cli, startServerProcess, type ServerProcess } from '../support/server-process.js';
import { sshKeygen, startTestSshd, type TestSshd } from '../support/sshd.js';
import { sshPolicy } from '../integration/ssh-gateway-harness.js';

let server: ServerProcess;
let sshd: TestSshd;
let alice: string;
const dir = mkdtempSync(join(tmpdir(), 'airlock-cli-ssh-'));
const env = { AIRLOCK_CONFIG_DIR: dir };

before(async () => {
  sshd = await startTestSshd();
  server = await startServerProcess({ policy: sshPolicy(sshd) });
  await sshd.setTrustedUserCaKeys([execFileSync('ssh-keygen', ['-y', '-f', join(server.dir, 'data', 'ssh', 'user_ca')], { encoding: 'utf8' }).trim()]);
  alice = (await apiJson<{ token: string }>(server, server.adminToken, 'POST', '/api/v1/tokens', { principal: 'alice', ttl: '1h' })).token;
  const bob = (await apiJson<{ token: string }>(server, server.adminToken, 'POST', '/api/v1/tokens', { principal: 'bob', ttl: '1h' })).token;
  const req = await apiJson<{ id: string }>(server, alice, 'POST', '/api/v1/requests', { resource: 'bastion', role: 'shell', duration: '30m', reason: 'OPS-14 look at the host' });
  await apiJson(server, bob, 'POST', `/api/v1/requests/${req.id}/approve`, {});
});

after(async () => {
  await server?.stop();
  await sshd?.stop();
});

test('airlock ssh RESOURCE -- command: output and exit code passed through, host key pinned', async () => {
  const r = await cli(server, alice, ['ssh', 'bastion', '--', 'echo', 'from-$(hostname)-ok;', 'exit', '4'], { env: { ...env, SSH_AUTH_SOCK: '' } });
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stdout, /^from-.*-ok\n$/);
  const j = await cli(server, alice, ['ssh', 'bastion', '--json', '--', 'true'], { env });
  assert.equal(j.code, 0);
  const cmd = (j.json() as { command: string[] }).command;
  assert.ok(cmd.includes('StrictHostKeyChecking=yes'));
  assert.ok(cmd.includes('alice%bastion'));
  assert.ok(!cmd.join(' ').includes('alk_'), 'the token never appears on the command line');
  const known = cmd.find((a) => a.startsWith('UserKnownHostsFile='))!.slice('UserKnownHostsFile='.length);
  const g = await apiJson<{ ssh: { host_key: string } }>(server, alice, 'GET', '/api/v1/gateways');
  assert.ok(readFileSync(known, 'utf8').includes(g.ssh.host_key));
});

test('airlock ssh-config prints a Host block; ssh-key add lets plain ssh log in with the key; private and malformed keys are refused', async () => {
  const cfg = await cli(server, alice, ['ssh-config', 'bastion'], { env });
  assert.equal(cfg.code, 0, cfg.stderr);
  assert.match(cfg.stdout, /Host airlock-bastion\n {2}HostName 127\.0\.0\.1\n {2}Port \d+\n {2}User alice%bastion\n {2}UserKnownHostsFile .+\n {2}StrictHostKeyChecking yes/);
  const key = sshKeygen(dir, 'alice_key');
  const priv = await cli(server, alice, ['ssh-key', 'add', key.file], { env });
  assert.equal(priv.code, 2);
  assert.match(priv.stderr, /private key: never send it anywhere/);
  const bad = await apiJson(server, alice, 'POST', '/api/v1/ssh-keys', { key: 'ssh-ed25519 not-base64!' }).catch((e: Error) => e.message);
  assert.match(String(bad), /AIRLOCK_SSH_KEY_INVALID/);
  const added = await cli(server, alice, ['ssh-key', 'add', `${key.file}.pub`, '--json'], { env });
  assert.equal(added.code, 0, added.stderr);
  const k = added.json() as { id: string; fingerprint: string };
  const list = await cli(server, alice, ['ssh-key', 'list'], { env });
  assert.ok(list.stdout.includes(k.fingerprint));
  // Plain ssh with the Host block written to a file and the key: no token at all.
  const config = join(dir, 'ssh_config');
  (await import('node:fs')).writeFileSync(config, cfg.stdout);
  const r = spawnSync('ssh', ['-F', config, '-i', key.file, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', 'airlock-bastion', 'echo', 'key-login'], { encoding: 'utf8', env: { ...process.env, SSH_AUTH_SOCK: '' } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'key-login\n');
  const removed = await cli(server, alice, ['ssh-key', 'remove', k.id], { env });
  assert.equal(removed.code, 0, removed.stderr);
  const again = spawnSync('ssh', ['-F', config, '-i', key.file, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes', 'airlock-bastion', 'true'], { encoding: 'utf8', env: { ...process.env, SSH_AUTH_SOCK: '' } });
  assert.equal(again.status, 255);
  const events = await apiJson<{ events: { action: string }[] }>(server, server.adminToken, 'GET', '/api/v1/audit/events?action=ssh_key.*');
  assert.deepEqual(events.events.map((e) => e.action), ['ssh_key.added', 'ssh_key.removed']);
});
