// The MySQL gateway's login to the upstream server, against a scripted server that asks for caching_sha2_password
// full authentication (which sends the password itself): refused over plain TCP and over unverified TLS, with
// AIRLOCK_UPSTREAM_AUTH and without the password ever reaching the server; sent only over TLS whose certificate checks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { openUpstream, UpstreamLoginError } from '../../src/gateway/mysql/upstream.js';
import { handshakeV10 } from '../../src/gateway/mysql/handshake.js';
import { PacketReader, framePacket, okPayload, type Packet } from '../../src/gateway/mysql/packets.js';
import { loadOrCreateTls, type TlsMaterial } from '../../src/gateway/core/tls.js';
import type { UpstreamLogin } from '../../src/gateway/types.js';

const PASSWORD = 'per-grant-pw-0123456789';
let dir: string;
let tls: TlsMaterial;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-mysql-upstream-'));
  tls = await loadOrCreateTls(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** One connection: handshake (TLS offered or not), switch to caching_sha2_password, then ask for full authentication. */
async function fullAuthServer(offerTls: boolean): Promise<{ port: number; received: Buffer[] }> {
  const received: Buffer[] = [];
  const server = createServer((raw) => {
    let s: Socket = raw;
    const reader = new PacketReader(1 << 20);
    const queue: Packet[] = [];
    let wake: (() => void) | null = null;
    const onData = (d: Buffer) => {
      received.push(d);
      reader.push(d, (p) => queue.push(p));
      wake?.();
    };
    let closed = false;
    const next = async (): Promise<Packet> => {
      while (queue.length === 0) {
        if (closed) throw new Error('the gateway closed the connection');
        await new Promise<void>((r) => (wake = r));
      }
      return queue.shift()!;
    };
    raw.on('close', () => {
      closed = true;
      wake?.();
    });
    // The first packet by hand: an SSLRequest (32 bytes) may arrive in one chunk with the TLS ClientHello after it.
    let first = Buffer.alloc(0);
    const onFirst = (d: Buffer) => {
      received.push(d);
      first = Buffer.concat([first, d]);
      if (first.length < 4 || first.length < 4 + first.readUIntLE(0, 3)) return;
      raw.off('data', onFirst);
      if (first.readUIntLE(0, 3) !== 32) {
        raw.on('data', onData);
        reader.push(first, (p) => queue.push(p));
        wake?.();
        return;
      }
      raw.pause();
      if (first.length > 36) raw.unshift(first.subarray(36));
      const secure = new TLSSocket(raw, { isServer: true, key: tls.key, cert: tls.cert });
      secure.on('data', onData);
      secure.on('error', () => {});
      s = secure;
    };
    raw.on('data', onFirst);
    raw.on('error', () => {});
    void (async () => {
      s.write(framePacket(handshakeV10({ version: '8.0.36', connectionId: 7, scramble: randomBytes(20), tls: offerTls }), 0));
      const p0 = await next();
      s.write(framePacket(Buffer.concat([Buffer.from([0xfe]), Buffer.from('caching_sha2_password\0'), randomBytes(20), Buffer.from([0])]), p0.seq + 1));
      const p1 = await next();
      s.write(framePacket(Buffer.from([0x01, 0x04]), p1.seq + 1));
      const p2 = await next();
      // Only reached when the gateway sent the password: accept it.
      if (p2.payload.toString('utf8') === `${PASSWORD}\0`) s.write(framePacket(okPayload(0x0002), p2.seq + 1));
    })().catch(() => {}).finally(() => server.close());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, received };
}

const login = (port: number, extra: Partial<UpstreamLogin> = {}): UpstreamLogin => ({ host: '127.0.0.1', port, database: 'shop', user: 'airlock_alice_abcdefgh', password: PASSWORD, ...extra }) as UpstreamLogin;

async function refusal(p: Promise<unknown>): Promise<UpstreamLoginError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof UpstreamLoginError, String(e));
    return e;
  }
  assert.fail('the login went through');
}

for (const offerTls of [true, false]) {
  test(`full caching_sha2 authentication over ${offerTls ? 'unverified TLS' : 'plain TCP'} is refused with AIRLOCK_UPSTREAM_AUTH; the password never leaves`, async () => {
    const { port, received } = await fullAuthServer(offerTls);
    const e = await refusal(openUpstream(login(port), { clientCapabilities: 0, charset: 45 }));
    assert.equal(e.airlockCode, 'AIRLOCK_UPSTREAM_AUTH');
    assert.match(e.message, /sends the password itself; the gateway sends it only over TLS with a verified server certificate/);
    assert.ok(!e.message.includes(PASSWORD));
    // Over plain TCP the bytes are readable here; the password is in none of them.
    if (!offerTls) assert.ok(!Buffer.concat(received).includes(PASSWORD), 'the password reached the server');
  });
}

test('over TLS whose certificate checks, full authentication sends the password and logs in', async () => {
  const { port } = await fullAuthServer(true);
  const security = { resource: 'shop', mode: 'verify-full', tls: { host: '127.0.0.1', servername: 'localhost', ca: tls.ca, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, allowMd5: false, allowCleartext: false };
  const up = await openUpstream(login(port, { security } as Partial<UpstreamLogin>), { clientCapabilities: 0, charset: 45 });
  assert.equal(up.threadId, 7);
  up.socket.destroy();
});
