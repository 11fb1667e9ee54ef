// A resource's tls and auth settings: what the policy accepts and refuses (with the words an operator reads), the
// defaults by address, and the connection options and password rules they turn into.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyError, parsePolicy } from '../../src/policy/load.js';
import { resourceSchema } from '../../src/policy/schema.js';
import { passwordRefusal, pgUpstreamSecurity } from '../../src/credentials/pg-upstream-security.js';
import { isLoopback } from '../../src/domain/addresses.js';
import { AirlockError } from '../../src/domain/errors.js';

function policyWith(resourceYaml: string): string {
  return `version: 1\nresources:\n  - name: orders\n    kind: postgres\n    address: db.internal:5432\n${resourceYaml}`;
}

function problems(yaml: string): string {
  try {
    parsePolicy(policyWith(yaml));
  } catch (e) {
    assert.ok(e instanceof PolicyError, String(e));
    return e.message;
  }
  throw new Error('the policy was accepted');
}

test('the policy refuses unknown modes, a CA with a mode that checks no certificate, clear text without TLS, and tls on non-PostgreSQL resources', () => {
  assert.match(problems('    tls: { mode: prefer }\n'), /tls\.mode is one of verify-full, verify-ca, require, disable/);
  assert.match(problems('    tls: { ca: { file: /etc/ca.pem } }\n'), /resources\[0\]\.tls\.mode: required field "mode" is missing/);
  assert.match(problems('    tls: { mode: require, ca: { file: /etc/ca.pem } }\n'), /with tls\.mode require no certificate is checked, so tls\.ca would be ignored/);
  assert.match(problems('    tls: { mode: disable }\n    auth: { allow_cleartext: true }\n'), /a clear-text password is only ever sent over TLS, and tls\.mode is disable/);
  assert.match(problems('    auth: { allow_sha1: true }\n'), /unknown field "allow_sha1"/);
  const ssh = 'version: 1\nresources:\n  - name: box\n    kind: ssh\n    address: box:22\n    tls: { mode: require }\n';
  assert.throws(() => parsePolicy(ssh), /tls and auth are read for postgres resources only, not ssh/);
  parsePolicy(policyWith('    tls: { mode: verify-ca, ca: { file: /etc/ca.pem } }\n    auth: { allow_md5: true }\n'));
});

test('defaults: verify-full for any address that leaves the machine, TLS-if-offered on loopback; disable and require when written', () => {
  const mode = (address: string, tls?: object) => {
    const host = address.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    return pgUpstreamSecurity(resourceSchema.parse({ name: 'r', kind: 'postgres', address, tls }), host).mode;
  };
  assert.equal(mode('db.internal:5432'), 'verify-full');
  assert.equal(mode('10.0.0.5:5432'), 'verify-full');
  assert.equal(mode('[2001:db8::1]:5432'), 'verify-full');
  assert.equal(mode('localhost.example.com:5432'), 'verify-full');
  for (const a of ['127.0.0.1:5432', '127.1.2.3:5432', 'localhost:5432', '[::1]:5432']) assert.equal(mode(a), 'prefer', a);
  assert.equal(mode('127.0.0.1:5432', { mode: 'disable' }), 'disable');
  assert.equal(mode('db.internal:5432', { mode: 'require' }), 'require');
  assert.ok(isLoopback('::ffff:127.0.0.1'));
  assert.ok(!isLoopback('128.0.0.1'));
  for (const h of ['LOCALHOST', 'localhost.', 'app.localhost', '127.0.0.2', '::1']) assert.ok(isLoopback(h), h);
  assert.ok(!isLoopback('localhost.example.com') && !isLoopback('127.example.com') && !isLoopback('0.0.0.0'));
});

test('connection options: verify-full checks the address host (SNI only for names); verify-ca the chain only; require nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-ca-'));
  try {
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, '-----BEGIN CERTIFICATE-----\n');
    const sec = (address: string, tls: object) => pgUpstreamSecurity(resourceSchema.parse({ name: 'r', kind: 'postgres', address, tls }), address.split(':')[0]!);
    const full = sec('db.internal:5432', { mode: 'verify-full', ca: { file: caFile } }).tls!;
    assert.equal(full.rejectUnauthorized, true);
    assert.equal(full.servername, 'db.internal');
    assert.equal(String(full.ca), '-----BEGIN CERTIFICATE-----\n');
    const fakeCert = { subject: { CN: 'other.internal' }, subjectaltname: 'DNS:other.internal' } as never;
    assert.match(String(full.checkServerIdentity!('anything', fakeCert)), /does not match certificate's altnames/);
    const byIp = sec('10.0.0.5:5432', { mode: 'verify-full' }).tls!;
    assert.equal(byIp.servername, undefined, 'no SNI for an IP address');
    const ca = sec('10.0.0.5:5432', { mode: 'verify-ca' }).tls!;
    assert.equal(ca.rejectUnauthorized, true);
    assert.equal(ca.checkServerIdentity!('10.0.0.5', fakeCert), undefined);
    assert.equal(sec('10.0.0.5:5432', { mode: 'require' }).tls!.rejectUnauthorized, false);
    assert.equal(sec('10.0.0.5:5432', { mode: 'disable' }).tls, null);
    assert.throws(() => sec('db.internal:5432', { mode: 'verify-full', ca: { file: join(dir, 'missing.pem') } }), (e: unknown) => {
      assert.ok(e instanceof AirlockError);
      assert.equal(e.code, 'AIRLOCK_UPSTREAM_TLS');
      assert.match(e.message, /the CA file ".*missing\.pem" named in tls\.ca\.file of resource r cannot be read \(ENOENT\); fix the path in the policy/);
      return true;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('password methods: MD5 only with allow_md5; clear text only with allow_cleartext and only over TLS', () => {
  const sec = (auth?: object) => pgUpstreamSecurity(resourceSchema.parse({ name: 'orders', kind: 'postgres', address: 'db:5432', tls: { mode: 'require' }, auth }), 'db');
  assert.match(passwordRefusal(sec(), 'md5', true)!, /auth: \{ allow_md5: true \}/);
  assert.equal(passwordRefusal(sec({ allow_md5: true }), 'md5', false), null);
  assert.match(passwordRefusal(sec(), 'cleartext', true)!, /auth: \{ allow_cleartext: true \}/);
  assert.equal(passwordRefusal(sec({ allow_cleartext: true }), 'cleartext', true), null);
  assert.match(passwordRefusal(sec({ allow_cleartext: true }), 'cleartext', false)!, /without TLS, which Airlock never answers/);
});
