// MySQL packet framing and response tracking from byte fixtures: any chunking gives the same packets, 16 MiB payloads
// continue, the size limit holds before buffering, and a response's end is found with and without EOF packets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkQueue, PacketReader, ProtocolError, framePacket, errPayload, okPayload, MAX_PACKET_PAYLOAD } from '../../src/gateway/mysql/packets.js';
import { ResponseTracker } from '../../src/gateway/mysql/responses.js';
import { checkNativeProof, nativeProof, nativeVerifier, parseClientHello } from '../../src/gateway/mysql/handshake.js';

function frames(payloads: Buffer[]): Buffer {
  return Buffer.concat(payloads.map((p, i) => framePacket(p, i)));
}

test('packets come out the same however the stream is cut', () => {
  const payloads = [Buffer.from([3, 0x53, 0x45]), Buffer.alloc(0), Buffer.from('hello world'), Buffer.alloc(300, 7)];
  const wire = frames(payloads);
  for (let cut = 0; cut <= wire.length; cut++) {
    for (const step of [1, 7, wire.length]) {
      const got: Buffer[] = [];
      const r = new PacketReader(1 << 20);
      const parts = [wire.subarray(0, cut), ...chunks(wire.subarray(cut), step)];
      for (const p of parts) r.push(p, (pkt) => got.push(pkt.payload));
      assert.deepEqual(got, payloads, `cut ${cut} step ${step}`);
    }
  }
});

function chunks(b: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return out;
}

test('a payload of 16 MiB or more is split into continuation packets and joined again', () => {
  for (const size of [MAX_PACKET_PAYLOAD - 1, MAX_PACKET_PAYLOAD, MAX_PACKET_PAYLOAD + 1]) {
    const payload = Buffer.alloc(size, 1);
    payload[size - 1] = 9;
    const wire = framePacket(payload, 0);
    assert.equal(wire.length, size + 4 * (Math.floor(size / MAX_PACKET_PAYLOAD) + 1));
    const got: { payload: Buffer; parts: number }[] = [];
    new PacketReader(size + 10).push(wire, (p) => got.push(p));
    assert.equal(got.length, 1);
    assert.equal(got[0]!.payload.length, size);
    assert.equal(got[0]!.payload[size - 1], 9);
    assert.equal(got[0]!.parts, size >= MAX_PACKET_PAYLOAD ? 2 : 1);
  }
});

test('a packet over the limit is refused from its header, before its body is buffered', () => {
  const r = new PacketReader(1000);
  const head = Buffer.from([0xe9, 0x03, 0x00, 0x00]); // 1001 bytes announced
  assert.throws(() => r.push(head, () => {}), ProtocolError);
});

test('a text result set ends at its EOF, or at its OK with CLIENT_DEPRECATE_EOF; rows are counted; more results continue', () => {
  const col = Buffer.from([3, 0x64, 0x65, 0x66]);
  const eof = (status: number) => Buffer.from([0xfe, 0, 0, status & 0xff, status >> 8]);
  const okEnd = (status: number) => Buffer.from([0xfe, 0, 0, status & 0xff, status >> 8, 0, 0]);
  const row = Buffer.from([1, 0x31]);
  const classic = new ResponseTracker('result', false);
  for (const p of [Buffer.from([1]), col, eof(2), row, row, eof(2 | 8), Buffer.from([1]), col, eof(2), row, eof(2)]) {
    assert.equal(classic.done, false);
    classic.feed(p, p.length);
  }
  assert.equal(classic.done, true);
  assert.equal(classic.rows, 3);
  const modern = new ResponseTracker('result', true);
  for (const p of [Buffer.from([2]), col, col, row, okEnd(2)]) modern.feed(p, p.length);
  assert.equal(modern.done, true);
  assert.equal(modern.rows, 1);
  const err = new ResponseTracker('result', true);
  err.feed(errPayload(1146, '42S02', 'no table'), 20);
  assert.equal(err.done, true);
  assert.equal(err.error?.code, 1146);
  const ok = new ResponseTracker('result', false);
  ok.feed(okPayload(2), 7);
  assert.equal(ok.done, true);
});

test('a prepare response ends after its parameter and column definitions', () => {
  const prep = Buffer.from([0, 5, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0]);
  const def = Buffer.from([3, 0x64, 0x65, 0x66]);
  const eof = Buffer.from([0xfe, 0, 0, 2, 0]);
  const t = new ResponseTracker('prepare', false);
  for (const p of [prep, def, def, eof, def, eof]) t.feed(p, p.length);
  assert.equal(t.done, true);
  assert.deepEqual(t.prepared, { id: 5, params: 2 });
});

test('mysql_native_password: a proof made from the token checks against its stored verifier only', () => {
  const scramble = Buffer.from('abcdefghij0123456789');
  const token = 'alk_example-token';
  assert.equal(checkNativeProof(nativeProof(token, scramble), scramble, nativeVerifier(token)), true);
  assert.equal(checkNativeProof(nativeProof('alk_other', scramble), scramble, nativeVerifier(token)), false);
  assert.equal(checkNativeProof(Buffer.alloc(0), scramble, nativeVerifier(token)), false);
});

test('handshake responses that run past their packet are protocol errors, not crashes', () => {
  const fixed = Buffer.alloc(32);
  fixed.writeUInt32LE(0x0200 | 0x8000 | 0x200000, 0);
  for (const tail of [Buffer.from('alice'), Buffer.from([0x61, 0, 0xfc, 0xff]), Buffer.from([0x61, 0, 0xfe])]) {
    assert.throws(() => parseClientHello(Buffer.concat([fixed, tail])), ProtocolError);
  }
});

test('a 40 MiB packet in 64 KiB chunks is copied a bounded number of times (linear, not a join per chunk)', () => {
  const size = 40 * 1024 * 1024;
  const payload = Buffer.alloc(size, 3);
  payload[size - 1] = 7;
  const wire = Buffer.concat([framePacket(payload, 0), framePacket(Buffer.from('after'), 0)]);
  for (const step of [64 * 1024, 1000, 16 * 1024 * 1024 + 5]) {
    const r = new PacketReader(size + 10);
    const got: Buffer[] = [];
    for (let i = 0; i < wire.length; i += step) r.push(wire.subarray(i, i + step), (p) => got.push(p.payload));
    assert.equal(got.length, 2);
    assert.equal(got[0]!.length, size);
    assert.equal(got[0]![size - 1], 7);
    assert.equal(got[1]!.toString(), 'after');
    assert.equal(r.buffered, 0);
    // Each byte taken out once, and the three 16 MiB parts joined once: twice the payload, however it was cut.
    assert.ok(r.copiedBytes <= 2 * size + 100, `${r.copiedBytes} bytes copied for a ${size}-byte packet (step ${step})`);
  }
});

test('the chunk queue takes bytes across chunk boundaries and keeps the rest', () => {
  const q = new ChunkQueue();
  for (const c of ['ab', '', 'cde', 'f', 'ghij']) q.push(Buffer.from(c));
  assert.equal(q.length, 10);
  assert.equal(String.fromCharCode(q.byteAt(5)), 'f');
  assert.equal(q.take(3).toString(), 'abc');
  q.skip(2);
  assert.equal(q.take(4).toString(), 'fghi');
  assert.equal(q.length, 1);
  assert.equal(q.take(1).toString(), 'j');
  assert.equal(q.copied, 8);
});
