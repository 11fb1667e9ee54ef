// Hostile bytes at the PostgreSQL gateway (fast-check): garbage before and instead of a startup packet, mutated
// startup packets, and random messages after login each end only their own session; the process and others go on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import fc from 'fast-check';
import pg from 'pg';
import { startRig, waitFor, type Rig } from './pg-gateway-harness.js';
import { openUpstream, type UpstreamConnection } from '../../src/gateway/postgres/upstream.js';
import { startupMessage, typedMessage, queryMessage, SSL_REQUEST } from '../../src/gateway/postgres/protocol.js';
import { parseExposition, sampleValue } from '../support/metrics.js';

let rig: Rig;
let bystander: pg.Client;
before(async () => {
  rig = await startRig({ gateway: { allowCleartextWithoutTls: true, loginTimeoutMs: 2000, maxMessageBytes: 64 * 1024 } });
  bystander = new pg.Client({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: 'rw', ssl: { ca: rig.tls.ca } });
  await bystander.connect();
});
after(async () => {
  await bystander?.end();
  await rig?.stop();
});

/** Sends `bytes`, half-closes, and resolves when the gateway has closed the connection (or rejects after `ms`). */
function sendAndAwaitClose(bytes: Buffer, ms = 4000, upstream?: UpstreamConnection): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = upstream?.socket;
    const s = socket ?? connect(rig.port, '127.0.0.1');
    const got: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`the gateway kept the connection open after ${bytes.length} bytes: ${bytes.subarray(0, 40).toString('hex')}`));
    }, ms);
    // An upstream connection's bytes come through `read`, as views of a shared buffer.
    if (upstream) upstream.read((d) => got.push(Buffer.from(d)));
    else s.on('data', (d: Buffer) => got.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(got));
    });
    const go = () => s.end(bytes);
    if (socket) {
      s.resume();
      go();
    } else s.once('connect', go);
  });
}

async function stillServing(): Promise<void> {
  assert.equal((await bystander.query('select 1 as n')).rows[0].n, 1);
  assert.deepEqual(rig.errors.filter((e) => /unexpectedly|relay failed|connection failed/.test(JSON.stringify(e))), [], 'no internal errors');
}

const anyStartup = fc.record({
  user: fc.constantFrom('alice', 'mallory', ''),
  database: fc.constantFrom('rw', 'ro', 'x/y', ''),
}).map((p) => startupMessage(p));

test('garbage before (or instead of) a startup packet ends that connection only', { timeout: 120_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 300 }), anyStartup, fc.boolean(), async (garbage, startup, prefix) => {
      const bytes = prefix ? Buffer.concat([Buffer.from(garbage), startup]) : Buffer.from(garbage);
      await sendAndAwaitClose(bytes);
    }),
    { numRuns: 150 },
  );
  await stillServing();
});

test('mutated startup packets (flipped, truncated, extended, bad lengths) end that connection only', { timeout: 120_000 }, async () => {
  const mutation = fc.record({
    at: fc.nat(),
    byte: fc.integer({ min: 0, max: 255 }),
    cut: fc.nat(),
    extra: fc.uint8Array({ maxLength: 40 }),
    length: fc.constantFrom(null, 0, 3, 7, 8, 9, 10_001, 0x7fffffff, -1),
    ssl: fc.boolean(),
  });
  await fc.assert(
    fc.asyncProperty(anyStartup, mutation, async (startup, m) => {
      const b = Buffer.from(startup);
      b[m.at % b.length] = m.byte;
      if (m.length !== null) b.writeInt32BE(m.length, 0);
      let bytes = Buffer.concat([b.subarray(0, b.length - (m.cut % 4)), Buffer.from(m.extra)]);
      if (m.ssl) {
        const ssl = Buffer.alloc(8);
        ssl.writeInt32BE(8, 0);
        ssl.writeInt32BE(SSL_REQUEST, 4);
        bytes = Buffer.concat([ssl, bytes]); // plaintext right behind SSLRequest: must never be read as TLS
      }
      const reply = await sendAndAwaitClose(bytes);
      if (m.ssl) assert.ok(reply.length === 0 || reply[0] === 0x45, 'no TLS answer when plaintext followed the SSLRequest');
    }),
    { numRuns: 150 },
  );
  await stillServing();
});

test('random messages after login end that session with an error (or are answered), never the process', { timeout: 180_000 }, async () => {
  const message = fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 64 })).map(([t, body]) => typedMessage(t, Buffer.from(body))),
    fc.tuple(fc.constantFrom(0x50, 0x42, 0x44, 0x45, 0x43, 0x53, 0x48, 0x64, 0x63, 0x66), fc.uint8Array({ maxLength: 64 })).map(([t, body]) => typedMessage(t, Buffer.from(body))),
    fc.string({ maxLength: 80 }).map((s) => queryMessage(s)),
    fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: -5, max: 1 << 20 }), fc.uint8Array({ maxLength: 16 })).map(([t, len, body]) => {
      const h = Buffer.alloc(5);
      h[0] = t;
      h.writeInt32BE(len, 1);
      return Buffer.concat([h, Buffer.from(body)]); // a length that lies
    }),
  );
  const sessionsBefore = rig.registry.size;
  await fc.assert(
    fc.asyncProperty(fc.constantFrom('rw', 'ro'), fc.array(message, { minLength: 1, maxLength: 6 }), async (resource, msgs) => {
      const conn = await openUpstream({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: resource }, {});
      await sendAndAwaitClose(Buffer.concat(msgs), 8000, conn);
    }),
    { numRuns: 40 },
  );
  await waitFor(() => rig.registry.size === sessionsBefore, 3000, 'fuzzed sessions to end');
  await stillServing();
});

test('a message over maxMessageBytes ends the session with a FATAL that says so', async () => {
  const conn = await openUpstream({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: 'rw' }, {});
  const header = Buffer.alloc(5);
  header[0] = 0x51;
  header.writeInt32BE(100 * 1024 * 1024, 1);
  const reply = await sendAndAwaitClose(header, 4000, conn);
  assert.equal(reply[0], 0x45);
  assert.match(reply.toString('utf8'), /FATAL.*08P01.*airlock: message 'Q' of 104857596 bytes exceeds the gateway's limit of 65536 bytes/s);
  await stillServing();
});

/** Sends `bytes` and keeps the socket open: the gateway itself must answer with a FATAL and close. */
async function gatewayCloses(bytes: Buffer, upstream?: UpstreamConnection): Promise<string> {
  const socket = upstream?.socket;
  const s = socket ?? connect(rig.port, '127.0.0.1');
  if (!socket) await new Promise((r) => s.once('connect', r));
  const got: Buffer[] = [];
  if (upstream) upstream.read((d) => got.push(Buffer.from(d)));
  else s.on('data', (d: Buffer) => got.push(d));
  s.resume();
  const closed = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the gateway did not close the connection')), 1500);
    s.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  s.write(bytes);
  await closed;
  return Buffer.concat(got).toString('utf8');
}

test('the gateway itself ends a connection that is not PostgreSQL, and a session that sends an unknown or forbidden message', async () => {
  assert.match(await gatewayCloses(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), /FATAL.*08P01.*airlock: protocol error: invalid startup packet/s);
  for (const [type, why] of [[0x5a, /unexpected message type 'Z'/], [0x00, /unexpected message type 0x00/], [0x46, /fast-path function call protocol is not allowed/]] as const) {
    const conn = await openUpstream({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: 'rw' }, {});
    const reply = await gatewayCloses(Buffer.concat([queryMessage('select 1'), typedMessage(type, Buffer.from('xyz'))]), conn);
    assert.match(reply, /FATAL.*08P01.*airlock: protocol error: /s);
    assert.match(reply, why);
  }
  await stillServing();
});

test('a client that connects and says nothing is refused at the login timeout, and counted as AIRLOCK_LOGIN_TIMEOUT', async () => {
  const refused = async () => sampleValue(parseExposition(await rig.metrics.api.exposition()), 'airlock_sessions_refused_total', { code: 'AIRLOCK_LOGIN_TIMEOUT' });
  const before = await refused();
  const s = connect(rig.port, '127.0.0.1');
  const got: Buffer[] = [];
  s.on('data', (d: Buffer) => got.push(d));
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the gateway kept a silent connection past its 2 s login timeout')), 6000);
    s.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  assert.match(Buffer.concat(got).toString('utf8'), /FATAL.*08P01.*airlock: the login did not complete within 2 s/s);
  assert.equal(await refused(), before + 1);
});
