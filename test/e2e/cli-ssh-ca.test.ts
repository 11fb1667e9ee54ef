// `airlock ca --ssh` and `--ssh-user-ca` through the real CLI and server: the public lines and fingerprints of the keys
// the server made under <data>/ssh/ at first start (as ssh-keygen reads them), the same after a restart, never a private key.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, startServerProcess, type ServerProcess } from '../support/server-process.js';

const POLICY = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
resources:
  - { name: bastion, kind: ssh, address: "127.0.0.1:22" }
roles:
  - name: shell
    resources: { names: [bastion] }
    ssh: { login: deploy }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [engineers] }
`;

const dir = mkdtempSync(join(tmpdir(), 'airlock-cli-sshca-'));
let server: ServerProcess | undefined;

after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** "type base64" of a public line, and the fingerprint, as ssh-keygen derives them from the private key file. */
function fromKeyFile(file: string): { line: string; fingerprint: string } {
  const line = execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' ');
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' }).split(' ')[1]!;
  return { line, fingerprint };
}

test('airlock ca --ssh and --ssh-user-ca print the keys made at first start, kept across a restart; the API shows public keys only', async () => {
  server = await startServerProcess({ policy: POLICY, dir });
  const hostKey = fromKeyFile(join(dir, 'data', 'ssh', 'host_key'));
  const userCa = fromKeyFile(join(dir, 'data', 'ssh', 'user_ca'));

  const shown = await cli(server, undefined, ['ca', '--ssh']);
  assert.equal(shown.code, 0, shown.stderr);
  const [line, fp] = shown.stdout.trim().split('\n');
  assert.equal(line!.split(' ').slice(0, 2).join(' '), hostKey.line);
  assert.equal(fp, hostKey.fingerprint);

  const ca = await cli(server, undefined, ['ca', '--ssh-user-ca']);
  assert.equal(ca.code, 0, ca.stderr);
  assert.equal(ca.stdout.split('\n').length, 2, 'one line, ready for TrustedUserCAKeys');
  assert.equal(ca.stdout.trim().split(' ').slice(0, 2).join(' '), userCa.line);

  const json = await cli(server, undefined, ['ca', '--ssh-user-ca', '--json']);
  assert.deepEqual(json.json(), { user_ca: ca.stdout.trim(), fingerprint: userCa.fingerprint });
  const hostJson = await cli(server, undefined, ['ca', '--ssh', '--json']);
  assert.deepEqual(hostJson.json(), { host_key: line, fingerprint: hostKey.fingerprint });

  const gateways = (await (await fetch(`${server.url}/api/v1/gateways`)).json()) as { ssh: Record<string, string | number> };
  const { host, port, ...keys } = gateways.ssh;
  assert.equal(host, '127.0.0.1');
  assert.ok(typeof port === 'number' && port > 0, 'the SSH listener\'s port');
  assert.deepEqual(keys, { host_key: line, fingerprint: hostKey.fingerprint, host_key_fingerprint: hostKey.fingerprint, user_ca: ca.stdout.trim(), user_ca_fingerprint: userCa.fingerprint });
  assert.ok(!JSON.stringify(gateways).includes('PRIVATE KEY'));

  // Kept across restarts: hosts that trust the CA, and clients that know the host key, keep working.
  await server.stop();
  server = await startServerProcess({ policy: POLICY, dir });
  const again = await cli(server, undefined, ['ca', '--ssh-user-ca']);
  assert.equal(again.stdout, ca.stdout);
  assert.equal((await cli(server, undefined, ['ca', '--ssh'])).stdout, shown.stdout);
});
