// OpenSSH keys and certificates made by src/credentials/ssh-cert.ts, read back by the real ssh-keygen: the private key
// format it loads, the fingerprints it prints, and every certificate field `ssh-keygen -L` shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import {
  certificateExtensions, ED25519_CERT, fingerprint, formatPublicKeyLine, generateSshKeyPair, parsePrivateKey, parsePublicKeyLine, publicLineOf, signUserCertificate,
} from '../../src/credentials/ssh-cert.js';
import { loadOrCreateSshKeys } from '../../src/credentials/ssh-ca.js';
import { AirlockError } from '../../src/domain/errors.js';
import { sshKeygen } from '../support/sshd.js';

const dir = mkdtempSync(join(tmpdir(), 'airlock-sshcert-'));
const keygen = (...args: string[]): string => execFileSync('ssh-keygen', args, { encoding: 'utf8' });

test('a private key we write is the one ssh-keygen reads, with the same public line and fingerprint', () => {
  const pair = generateSshKeyPair('made-here');
  const file = join(dir, 'ours');
  writeFileSync(file, pair.privateKey, { mode: 0o600 });
  assert.equal(keygen('-y', '-f', file).trim().split(' ').slice(0, 2).join(' '), pair.publicLine.split(' ').slice(0, 2).join(' '));
  const listed = keygen('-l', '-f', file);
  assert.ok(listed.includes(fingerprint(pair.publicLine)), `${listed} should show ${fingerprint(pair.publicLine)}`);
  assert.equal(publicLineOf(parsePrivateKey(pair.privateKey), 'made-here'), pair.publicLine);
});

test('a private key ssh-keygen wrote is read, with its public line', () => {
  const k = sshKeygen(dir, 'theirs');
  const key = parsePrivateKey(readFileSync(k.file, 'utf8'));
  assert.equal(publicLineOf(key, 'theirs'), k.publicLine);
  assert.ok(keygen('-l', '-f', `${k.file}.pub`).includes(fingerprint(k.publicLine)));
});

test('public key lines: parsed, formatted, and a line whose type lies is refused', () => {
  const k = sshKeygen(dir, 'line');
  const p = parsePublicKeyLine(k.publicLine);
  assert.equal(p.type, 'ssh-ed25519');
  assert.equal(p.comment, 'line');
  assert.equal(formatPublicKeyLine(p.type, p.blob, p.comment), k.publicLine);
  assert.throws(() => parsePublicKeyLine(k.publicLine.replace('ssh-ed25519', 'ssh-rsa')), (e: unknown) => e instanceof AirlockError && /ssh-rsa/.test(e.message));
  assert.throws(() => parsePublicKeyLine('nonsense'), AirlockError);
});

test('an encrypted or non-ed25519 private key is refused without quoting it', () => {
  const file = join(dir, 'locked');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'pass phrase', '-f', file], { stdio: 'ignore' });
  const text = readFileSync(file, 'utf8');
  assert.throws(() => parsePrivateKey(text), (e: unknown) => e instanceof AirlockError && /passphrase/.test(e.message) && !e.message.includes(text.split('\n')[1]!));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  assert.throws(() => parsePrivateKey(rsa), AirlockError);
});

test('ssh-keygen -L prints back every field of a user certificate we sign', () => {
  const ca = generateSshKeyPair('ca');
  const user = generateSshKeyPair('user');
  const after = new Date('2030-01-02T03:04:00Z');
  const before = new Date('2030-01-02T04:04:05Z');
  const cert = signUserCertificate({
    publicKey: user.publicLine,
    caKey: ca.key,
    serial: 123456789012n,
    keyId: 'airlock:alice:grt_1:ses_1',
    principals: ['deploy', 'ops'],
    validAfter: after,
    validBefore: before,
    sourceAddresses: ['127.0.0.1', '10.0.0.0/8'],
    permissions: { port_forwarding: true, agent_forwarding: false, x11: true },
  });
  const file = join(dir, 'user-cert.pub');
  writeFileSync(file, formatPublicKeyLine(ED25519_CERT, cert) + '\n');
  const out = keygen('-L', '-f', file);
  const field = (name: string): string => (new RegExp(`^\\s*${name}: (.*)$`, 'm').exec(out)?.[1] ?? '').trim();
  assert.match(field('Type'), /^ssh-ed25519-cert-v01@openssh.com user certificate$/);
  assert.equal(field('Public key'), `ED25519-CERT ${fingerprint(user.publicLine)}`);
  assert.equal(field('Signing CA'), `ED25519 ${fingerprint(ca.publicLine)} (using ssh-ed25519)`);
  assert.equal(field('Key ID'), '"airlock:alice:grt_1:ses_1"');
  assert.equal(field('Serial'), '123456789012');
  // ssh-keygen prints local time; TZ=UTC is not forced, so compare with the local rendering of the same seconds.
  const local = (d: Date): string => {
    const p = (n: number): string => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  };
  assert.equal(field('Valid'), `from ${local(after)} to ${local(before)}`);
  const block = (name: string): string[] => {
    const m = new RegExp(`^\\s*${name}:\\s*\\n((?:\\s{16}.*\\n?)*)`, 'm').exec(out);
    return (m?.[1] ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
  };
  assert.deepEqual(block('Principals'), ['deploy', 'ops']);
  assert.deepEqual(block('Critical Options'), ['source-address 127.0.0.1,10.0.0.0/8']);
  assert.deepEqual(block('Extensions'), ['permit-X11-forwarding', 'permit-port-forwarding', 'permit-pty']);
});

test('a certificate carries permit-pty always, the forwardings only when the role allows, never permit-user-rc', () => {
  assert.deepEqual(certificateExtensions({ port_forwarding: false, agent_forwarding: false, x11: false }), ['permit-pty']);
  assert.deepEqual(certificateExtensions({ port_forwarding: true, agent_forwarding: true, x11: true }), ['permit-X11-forwarding', 'permit-agent-forwarding', 'permit-port-forwarding', 'permit-pty']);
});

test('the gateway SSH keys are made once (mode 0600), kept across restarts, and their lines are what ssh-keygen derives', () => {
  const data = mkdtempSync(join(tmpdir(), 'airlock-sshkeys-'));
  const first = loadOrCreateSshKeys(data);
  const again = loadOrCreateSshKeys(data);
  assert.equal(again.userCa.publicLine, first.userCa.publicLine);
  assert.equal(again.hostKey.publicLine, first.hostKey.publicLine);
  assert.notEqual(first.userCa.publicLine, first.hostKey.publicLine);
  for (const k of [first.userCa, first.hostKey]) {
    assert.equal(statSync(k.file).mode & 0o777, 0o600);
    assert.equal(keygen('-y', '-f', k.file).trim().split(' ').slice(0, 2).join(' '), k.publicLine.split(' ').slice(0, 2).join(' '));
    assert.ok(keygen('-l', '-f', k.file).includes(k.fingerprint));
  }
  assert.equal(statSync(join(data, 'ssh')).mode & 0o777, 0o700);
});
