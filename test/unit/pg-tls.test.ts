// The gateway's TLS material: made once with private keys at 0600, reused, renewed by the same CA when it no longer
// fits, and accepted by OpenSSL's own verifier for every name it must cover.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateTls } from '../../src/gateway/core/tls.js';

function withDir(fn: (dir: string) => Promise<void>) {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-tls-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const mode = (p: string) => statSync(p).mode & 0o777;

test('first start makes a CA and a server certificate for localhost, 127.0.0.1 and ::1; keys are 0600', withDir(async (dir) => {
  const tls = await loadOrCreateTls(dir);
  assert.equal(tls.caPath, join(dir, 'tls', 'ca.crt'));
  assert.equal(readFileSync(tls.caPath, 'utf8'), tls.ca);
  assert.equal(mode(join(dir, 'tls', 'ca.key')), 0o600);
  assert.equal(mode(join(dir, 'tls', 'server.key')), 0o600);
  const cert = new X509Certificate(tls.cert);
  const ca = new X509Certificate(tls.ca);
  assert.ok(ca.ca);
  assert.ok(!cert.ca);
  assert.ok(cert.verify(ca.publicKey));
  assert.ok(cert.checkHost('localhost'));
  assert.ok(cert.checkIP('127.0.0.1'));
  assert.ok(cert.checkIP('::1'));
}));

test('OpenSSL verifies the server certificate against the CA for its purpose and names', withDir(async (dir) => {
  const tls = await loadOrCreateTls(dir, { hostnames: ['gw.example.test'] });
  const server = join(dir, 'tls', 'server.crt');
  for (const check of [['-verify_hostname', 'localhost'], ['-verify_hostname', 'gw.example.test'], ['-verify_ip', '127.0.0.1'], ['-verify_ip', '::1']]) {
    const out = execFileSync('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', tls.caPath, ...check, server], { encoding: 'utf8' });
    assert.match(out, /: OK/, check.join(' '));
  }
  assert.throws(() => execFileSync('openssl', ['verify', '-CAfile', tls.caPath, '-verify_hostname', 'other.example.test', server], { stdio: 'pipe' }));
}));

test('later starts reuse the files; a new host name renews only the server certificate, with the same CA', withDir(async (dir) => {
  const first = await loadOrCreateTls(dir);
  const again = await loadOrCreateTls(dir);
  assert.deepEqual(again, first);
  const renewed = await loadOrCreateTls(dir, { hostnames: ['db-gw.internal'] });
  assert.equal(renewed.ca, first.ca);
  assert.notEqual(renewed.cert, first.cert);
  assert.ok(new X509Certificate(renewed.cert).checkHost('db-gw.internal'));
  assert.ok(new X509Certificate(renewed.cert).verify(new X509Certificate(first.ca).publicKey));
}));

test('a key file left readable by others is tightened to 0600; a server key that does not match is replaced', withDir(async (dir) => {
  const first = await loadOrCreateTls(dir);
  const keyPath = join(dir, 'tls', 'server.key');
  chmodSync(keyPath, 0o644);
  await loadOrCreateTls(dir);
  assert.equal(mode(keyPath), 0o600);
  writeFileSync(keyPath, readFileSync(join(dir, 'tls', 'ca.key')));
  const fixed = await loadOrCreateTls(dir);
  assert.notEqual(fixed.cert, first.cert);
  assert.ok(new X509Certificate(fixed.cert).checkPrivateKey((await import('node:crypto')).createPrivateKey(fixed.key)));
}));
