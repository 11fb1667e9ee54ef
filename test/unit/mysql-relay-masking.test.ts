// The MySQL relay masking rows on real loopback sockets, from byte fixtures a server could send: a masked row longer
// than one 16 MiB wire packet is joined, masked and sent as fewer packets, a row that grows past the boundary as more,
// and every later packet's sequence id follows, in classic EOF framing and with CLIENT_DEPRECATE_EOF, whatever the
// chunking. (MariaDB on this machine allows 16 MiB packets, so a real server cannot send such rows in the tests.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { Relay } from '../../src/gateway/mysql/relay.js';
import { CAP, MAX_PACKET_PAYLOAD, PacketReader, framePacket, lenencInt } from '../../src/gateway/mysql/packets.js';
import { ResultMasker, type ApplyMask } from '../../src/gateway/mysql/result-masking.js';
import { silentLog } from '../../src/domain/log.js';
import { REDACT } from '../support/mysql-mask-catalog.js';

const lenStr = (b: Buffer) => Buffer.concat([lenencInt(b.length), b]);

function columnDef(orgTable: string, orgName: string): Buffer {
  const fixed = Buffer.alloc(13);
  fixed[0] = 0x0c;
  fixed.writeUInt16LE(45, 1);
  fixed[7] = 252;
  return Buffer.concat(['def', 'shop', orgTable, orgTable, orgName, orgName].map((s) => lenStr(Buffer.from(s))).concat(fixed));
}

const catalog = { maskOf: (_s: string, t: string, c: string) => (t === 'customers' && c === 'email' ? { schema: 'shop', table: 'customers', column: 'email', name: 'shop.customers.email', mask: REDACT, kind: 'text' as const } : null) };

async function pair(): Promise<[Socket, Socket, () => void]> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const outer = connect(port, '127.0.0.1');
  const [inner] = (await once(server, 'connection')) as [Socket];
  await once(outer, 'connect');
  return [outer, inner, () => server.close()];
}

/** Wire packets of a response as a server numbers them (from 1), then the same payloads as the client must get them. */
async function relayed(payloads: Buffer[], apply: ApplyMask, deprecateEof: boolean, chunk: number): Promise<{ seq: number; payload: Buffer }[]> {
  const [client, relayClient, closeA] = await pair();
  const [server, relayUpstream, closeB] = await pair();
  const relay = new Relay({
    client: relayClient,
    clientReader: new PacketReader(1 << 26),
    clientQueued: [],
    upstream: relayUpstream,
    upstreamQueued: [],
    capabilities: CAP.PROTOCOL_41 | (deprecateEof ? CAP.DEPRECATE_EOF : 0),
    killUpstreamQuery: async () => {},
    onEnd() {},
    log: silentLog,
  });
  relay.start();
  const got: { seq: number; payload: Buffer }[] = [];
  // Wire packets, not logical ones: the client's reader joins continuations, so the sequence ids are read per part.
  let raw = Buffer.alloc(0);
  client.on('data', (c: Buffer) => {
    raw = Buffer.concat([raw, c]);
    while (raw.length >= 4 && raw.length >= 4 + raw.readUIntLE(0, 3)) {
      const n = raw.readUIntLE(0, 3);
      got.push({ seq: raw[3]!, payload: raw.subarray(4, 4 + n) });
      raw = raw.subarray(4 + n);
    }
  });
  server.once('data', () => {
    let seq = 1;
    const wire = Buffer.concat(payloads.map((p) => {
      const f = framePacket(p, seq);
      seq += Math.floor(p.length / MAX_PACKET_PAYLOAD) + 1;
      return f;
    }));
    for (let i = 0; i < wire.length; i += chunk) server.write(wire.subarray(i, i + chunk));
  });
  const outcome = await relay.forward(Buffer.from([0x03, 0x53]), 'result', null, new ResultMasker(catalog, false, apply));
  assert.equal(outcome.error, null);
  await new Promise<void>((resolve) => {
    const ends = deprecateEof ? 1 : 2;
    const check = () => (got.filter((p) => p.payload[0] === 0xfe && p.payload.length < 9).length === ends ? resolve() : setTimeout(check, 5));
    check();
  });
  relay.end('done');
  for (const s of [client, server]) s.destroy();
  closeA();
  closeB();
  return got;
}

const eof = Buffer.from([0xfe, 0, 0, 2, 0]);
const okEof = Buffer.from([0xfe, 0, 0, 2, 0, 0, 0]);

function response(rows: Buffer[], deprecateEof: boolean): Buffer[] {
  const head = [Buffer.from([2]), columnDef('customers', 'email'), columnDef('orders', 'note')];
  return deprecateEof ? [...head, ...rows, okEof] : [...head, eof, ...rows, eof];
}

/** The client's wire packets joined into logical payloads, after checking their sequence ids run 1, 2, 3, … */
function logical(got: { seq: number; payload: Buffer }[]): Buffer[] {
  got.forEach((p, i) => assert.equal(p.seq, (i + 1) & 0xff, `packet ${i} has sequence id ${p.seq}`));
  const out: Buffer[] = [];
  let parts: Buffer[] = [];
  for (const p of got) {
    parts.push(p.payload);
    if (p.payload.length < MAX_PACKET_PAYLOAD) {
      out.push(Buffer.concat(parts));
      parts = [];
    }
  }
  return out;
}

for (const deprecateEof of [false, true]) {
  test(`a masked row of more than 16 MiB is sent as one packet, later sequence ids follow (${deprecateEof ? 'DEPRECATE_EOF' : 'EOF packets'})`, async () => {
    const huge = Buffer.alloc(MAX_PACKET_PAYLOAD + 1000, 0x61);
    const rows = [Buffer.concat([lenStr(huge), lenStr(Buffer.from('n1'))]), Buffer.concat([lenStr(Buffer.from('b@x')), lenStr(Buffer.from('n2'))])];
    const apply: ApplyMask = (v) => Buffer.from(`[${v.length}]`);
    for (const chunk of [65_536, 1_000_003]) {
      const got = logical(await relayed(response(rows, deprecateEof), apply, deprecateEof, chunk));
      const rowAt = deprecateEof ? 3 : 4;
      assert.deepEqual(got[rowAt], Buffer.concat([lenStr(Buffer.from(`[${huge.length}]`)), lenStr(Buffer.from('n1'))]));
      assert.deepEqual(got[rowAt + 1], Buffer.concat([lenStr(Buffer.from('[3]')), lenStr(Buffer.from('n2'))]));
      assert.equal(got.length, rowAt + 3);
    }
  });

  test(`a masked row that grows past 16 MiB is sent as two packets, later sequence ids follow (${deprecateEof ? 'DEPRECATE_EOF' : 'EOF packets'})`, async () => {
    // Value 'a' becomes 64 bytes; the unmasked note fills the row to just under one packet.
    const note = Buffer.alloc(MAX_PACKET_PAYLOAD - 1 - 2 - 4 - 10, 0x6e);
    const rows = [Buffer.concat([lenStr(Buffer.from('a')), lenStr(note)]), Buffer.concat([lenStr(Buffer.from('b')), lenStr(Buffer.from('n2'))])];
    assert.ok(rows[0]!.length < MAX_PACKET_PAYLOAD);
    const apply: ApplyMask = () => Buffer.alloc(64, 0x2a);
    const wire = await relayed(response(rows, deprecateEof), apply, deprecateEof, 262_144);
    const got = logical(wire);
    const rowAt = deprecateEof ? 3 : 4;
    assert.equal(got[rowAt]!.length, rows[0]!.length + 63);
    assert.ok(got[rowAt]!.length >= MAX_PACKET_PAYLOAD);
    assert.deepEqual(got[rowAt]!.subarray(0, 65), lenStr(Buffer.alloc(64, 0x2a)));
    assert.deepEqual(got[rowAt + 1], Buffer.concat([lenStr(Buffer.alloc(64, 0x2a)), lenStr(Buffer.from('n2'))]));
    assert.equal(wire.length, got.length + 1, 'one row took two wire packets');
  });
}
