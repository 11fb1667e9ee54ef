// SCRAM-SHA-256 as the gateway speaks it: a token verifier accepts its token and nothing else, unknown principals get
// an exchange indistinguishable from a real one, and channel binding cannot be downgraded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clientProof, postgresVerifierText, principalSalt, proofMatches, saltedPassword, scramKeys, scramVerifier, scramVerifierAsync, serverSignature, SCRAM_ITERATIONS } from '../../src/domain/scram.js';
import type { ScramCredentials } from '../../src/gateway/types.js';
import { scramServerExchange, tlsServerEndPoint, type SaslIO } from '../../src/gateway/postgres/scram-server.js';
import { ScramClient } from '../../src/gateway/postgres/upstream.js';
import { ProtocolError } from '../../src/gateway/postgres/protocol.js';
import { loadOrCreateTls } from '../../src/gateway/core/tls.js';

function creds(name: string, tokens: Record<string, string>): ScramCredentials {
  const salt = principalSalt(name);
  return {
    salt,
    iterations: SCRAM_ITERATIONS,
    keys: Object.entries(tokens).map(([id, t]) => {
      const v = scramVerifier(t, salt);
      return { token_id: id, stored_key: v.stored_key, server_key: v.server_key };
    }),
  };
}

/** Drives the server with scripted client messages; returns the server's messages (payloads after the type/length/code). */
function scripted(clientMessages: (sent: string[]) => Buffer[] | Buffer): { io: SaslIO; sent: string[] } {
  const sent: string[] = [];
  const queue: Buffer[] = [];
  const io: SaslIO = {
    send(msg) {
      sent.push(msg.toString('utf8', 9));
      const next = clientMessages(sent);
      queue.push(...(Array.isArray(next) ? next : [next]));
    },
    async receive() {
      const m = queue.shift();
      if (!m) throw new Error('the script has no more client messages');
      return m;
    },
  };
  return { io, sent };
}

function initial(mechanism: string, clientFirst: string): Buffer {
  const data = Buffer.from(clientFirst);
  const len = Buffer.alloc(4);
  len.writeInt32BE(data.length);
  return Buffer.concat([Buffer.from(`${mechanism}\0`), len, data]);
}

/** A full exchange with the real client implementation and `password`. */
async function exchange(c: ScramCredentials, password: string) {
  const client = new ScramClient(password);
  let final = '';
  const { io, sent } = scripted((s) => {
    if (s.length === 1) return initial('SCRAM-SHA-256', client.first());
    if (s.length === 2) return Buffer.from(client.final(s[1]!));
    final = s[2]!;
    return [];
  });
  const outcome = await scramServerExchange(io, 'alice', c, null);
  if (outcome.ok) client.verify(final); // the server proves it knows the verifier, too
  return { outcome, sent };
}

test('a valid token authenticates and names the matching token; the server signature verifies', async () => {
  const { outcome, sent } = await exchange(creds('alice', { tok_a: 'first-token', tok_b: 'second-token' }), 'second-token');
  assert.deepEqual(outcome, { ok: true, token_id: 'tok_b' });
  assert.match(sent[0]!, /^SCRAM-SHA-256\0\0$/);
  assert.match(sent[1]!, new RegExp(`,s=${principalSalt('alice').toString('base64').replace(/[+/]/g, '\\$&')},i=4096$`));
});

test('a wrong token fails at the proof, after a complete exchange', async () => {
  const { outcome, sent } = await exchange(creds('alice', { tok_a: 'first-token' }), 'not-the-token');
  assert.deepEqual(outcome, { ok: false });
  assert.equal(sent.length, 2, 'no SASLFinal for a failed proof');
});

test('an unknown principal sees the same salt and iterations a real one would, and fails the same way', async () => {
  const unknown: ScramCredentials = { salt: Buffer.alloc(0), iterations: 0, keys: [] };
  const { outcome, sent } = await exchange(unknown, 'anything');
  assert.deepEqual(outcome, { ok: false });
  assert.ok(sent[1]!.includes(`,s=${principalSalt('alice').toString('base64')},i=${SCRAM_ITERATIONS}`));
});

test('over TLS the server offers SCRAM-SHA-256-PLUS, and a client claiming "y" (downgrade) is refused', async () => {
  const endPoint = createHash('sha256').update('cert').digest();
  const { io, sent } = scripted(() => initial('SCRAM-SHA-256', 'y,,n=,r=abcdefgh'));
  await assert.rejects(scramServerExchange(io, 'alice', creds('alice', { t: 'x' }), endPoint), /channel binding negotiation error/);
  assert.match(sent[0]!, /^SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0$/);
  const plain = scripted(() => initial('SCRAM-SHA-256-PLUS', 'p=tls-server-end-point,,n=,r=abcdefgh'));
  await assert.rejects(scramServerExchange(plain.io, 'alice', creds('alice', { t: 'x' }), null), /was not offered/);
});

test('SCRAM-SHA-256-PLUS checks the channel-binding data against the server certificate', async () => {
  const endPoint = createHash('sha256').update('cert').digest();
  const c = creds('alice', { t: 'tok' });
  for (const [cb, expectOk] of [[endPoint, true], [createHash('sha256').update('other').digest(), false]] as const) {
    const { io } = scripted((s) => {
      if (s.length === 1) return initial('SCRAM-SHA-256-PLUS', 'p=tls-server-end-point,,n=,r=clientnonce');
      const nonce = /r=([^,]+)/.exec(s[1]!)![1]!;
      const binding = Buffer.concat([Buffer.from('p=tls-server-end-point,,'), cb]).toString('base64');
      return Buffer.from(`c=${binding},r=${nonce},p=${Buffer.alloc(32).toString('base64')}`);
    });
    if (expectOk) assert.deepEqual(await scramServerExchange(io, 'alice', c, endPoint), { ok: false }, 'binding accepted, then the (zero) proof fails');
    else await assert.rejects(scramServerExchange(io, 'alice', c, endPoint), /channel binding check failed/);
  }
});

test('malformed SCRAM messages are protocol errors', async () => {
  const bad: Buffer[] = [
    Buffer.from('SCRAM-SHA-256\0'), // no length
    initial('SCRAM-SHA-256', 'n,a=admin,n=,r=x'), // authzid
    initial('SCRAM-SHA-256', 'n,,r=x'), // no n=
    initial('SCRAM-SHA-256', 'n,,n=,r=a\x01b'), // a nonce must be printable
    initial('SCRAM-SHA-256', 'n,,n=,r=abc'), // fine, but the final message below echoes a nonce that is not the server's
    initial('MD5', 'n,,n=,r=x'),
  ];
  for (const [i, msg] of bad.entries()) {
    const { io } = scripted((s) => (s.length === 1 ? msg : Buffer.from('c=biws,r=wrong,p=AAAA')));
    await assert.rejects(scramServerExchange(io, 'alice', creds('alice', { t: 'x' }), null), ProtocolError, `case ${i}`);
  }
});

test('tls-server-end-point is the SHA-256 of the generated ECDSA-SHA256 server certificate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-cb-'));
  try {
    const tls = await loadOrCreateTls(dir);
    const der = new X509Certificate(tls.cert).raw;
    assert.deepEqual(tlsServerEndPoint(tls.cert), createHash('sha256').update(der).digest());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// RFC 7677 section 3: user "user", password "pencil", without channel binding ("biws" is base64 of "n,,").
const RFC7677 = {
  password: 'pencil',
  clientFirstBare: 'n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinalWithoutProof: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  proof: 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverSignature: '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

test('RFC 7677 test vector: the client proof and the server signature are the RFC\'s, and the proof verifies', async () => {
  const v = RFC7677;
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  const authMessage = `${v.clientFirstBare},${v.serverFirst},${v.clientFinalWithoutProof}`;
  const keys = scramKeys(saltedPassword(v.password, salt, 4096));
  assert.equal(clientProof(keys.client_key, keys.stored_key, authMessage).toString('base64'), v.proof);
  assert.equal(serverSignature(keys.server_key, authMessage).toString('base64'), v.serverSignature);
  const verifier = scramVerifier(v.password, salt, 4096);
  assert.ok(proofMatches(Buffer.from(v.proof, 'base64'), verifier.stored_key, authMessage), 'the RFC proof matches the verifier');
  assert.ok(!proofMatches(Buffer.from(v.proof, 'base64'), verifier.stored_key, authMessage + ','), 'but not another exchange');
  assert.ok(!proofMatches(Buffer.alloc(31), verifier.stored_key, authMessage), 'a short proof is refused');
  assert.equal(serverSignature(verifier.server_key, authMessage).toString('base64'), v.serverSignature);
  assert.deepEqual(await scramVerifierAsync(v.password, salt, 4096), verifier, 'the async verifier is the same');
  assert.match(postgresVerifierText(verifier), /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
});

test('RFC 7677 test vector through the client: with the RFC\'s nonce it sends the RFC\'s proof and accepts its signature', () => {
  const v = RFC7677;
  const client = new ScramClient(v.password);
  // The client sends an empty user name (PostgreSQL ignores it); put the RFC's nonce and bare message in its place.
  Object.assign(client, { nonce: 'rOprNGfwEbeRWgbNEkqO' });
  client.first();
  Object.assign(client, { bare: v.clientFirstBare });
  assert.equal(client.final(v.serverFirst), `${v.clientFinalWithoutProof},p=${v.proof}`);
  client.verify(`v=${v.serverSignature}`);
  assert.equal(client.verified, true);
  const forged = new ScramClient(v.password);
  Object.assign(forged, { nonce: 'rOprNGfwEbeRWgbNEkqO' });
  forged.first();
  forged.final(v.serverFirst);
  assert.throws(() => forged.verify(`v=${v.serverSignature}`), /server signature does not match/, 'a different AuthMessage gives a different signature');
});
