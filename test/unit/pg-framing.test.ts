// Byte-level tests of the gateway's PostgreSQL framing: fixtures split at every offset, length caps, and a scanner
// that must forward exactly the bytes it was given, whatever the chunking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BackendScanner, MessageReader, type ScanSink } from '../../src/gateway/postgres/framing.js';
import { B, ProtocolError, typedMessage, queryMessage, parseMessage, TERMINATE, errorResponse, readyForQuery } from '../../src/gateway/postgres/protocol.js';

const FRONTEND_FIXTURE = Buffer.concat([
  queryMessage('select 1'),
  parseMessage('s1', 'select $1::int'),
  typedMessage(0x42, Buffer.from('\0s1\0\0\0\0\x01\0\0\0\x013\0\0', 'latin1')), // Bind: portal "", statement s1, one text param "3"
  typedMessage(0x45, Buffer.from('\0\0\0\0\0', 'latin1')), // Execute unnamed portal, no row limit
  typedMessage(0x53, Buffer.alloc(0)), // Sync: the smallest message there is
  TERMINATE,
]);

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const c of [...cuts].sort((a, b) => a - b)) {
    out.push(buf.subarray(at, c));
    at = c;
  }
  out.push(buf.subarray(at));
  return out;
}

function readAll(chunks: Buffer[], max = 1 << 20): Buffer[] {
  const r = new MessageReader(max);
  const got: Buffer[] = [];
  for (const c of chunks) r.push(c, (m) => got.push(Buffer.from(m)));
  return got;
}

test('MessageReader yields the same messages however the stream is split (every single and double split point)', () => {
  const whole = readAll([FRONTEND_FIXTURE]);
  assert.equal(whole.length, 6);
  assert.deepEqual(Buffer.concat(whole), FRONTEND_FIXTURE);
  for (let i = 0; i <= FRONTEND_FIXTURE.length; i++) {
    assert.deepEqual(readAll(splitAt(FRONTEND_FIXTURE, [i])), whole, `split at ${i}`);
    for (let j = i; j <= FRONTEND_FIXTURE.length; j += 3) assert.deepEqual(readAll(splitAt(FRONTEND_FIXTURE, [i, j])), whole, `split at ${i},${j}`);
  }
  const bytes = [...FRONTEND_FIXTURE].map((b) => Buffer.of(b));
  assert.deepEqual(readAll(bytes), whole, 'one byte at a time');
});

test('MessageReader refuses a length over the cap before buffering any of the body', () => {
  const r = new MessageReader(1000);
  const header = Buffer.from([0x51, 0, 0, 0x10, 0]); // claims 4096 bytes
  assert.throws(() => r.push(header, () => {}), (e: unknown) => e instanceof ProtocolError && /exceeds the gateway's limit of 1000 bytes/.test(e.message));
  const split = new MessageReader(1000);
  split.push(header.subarray(0, 3), () => {});
  assert.throws(() => split.push(header.subarray(3), () => {}), ProtocolError);
});

test('MessageReader refuses lengths below 4 (a length counts itself)', () => {
  for (const len of [0, 3, -1, -2147483648]) {
    const b = Buffer.alloc(5);
    b[0] = 0x51;
    b.writeInt32BE(len, 1);
    assert.throws(() => new MessageReader(100).push(b, () => {}), ProtocolError, `length ${len}`);
  }
});

test('MessageReader copies a message split across chunks, so later chunks cannot change it', () => {
  const msg = queryMessage('select 42');
  const a = Buffer.from(msg.subarray(0, 7));
  const b = Buffer.from(msg.subarray(7));
  const got: Buffer[] = [];
  const r = new MessageReader(100);
  r.push(a, (m) => got.push(m));
  r.push(b, (m) => got.push(m));
  a.fill(0);
  b.fill(0);
  assert.deepEqual(got[0], msg);
});

test('MessageReader: random chunkings of random message streams round-trip (property)', () => {
  const message = fc.tuple(fc.integer({ min: 0x20, max: 0x7e }), fc.uint8Array({ maxLength: 300 })).map(([t, body]) => typedMessage(t, Buffer.from(body)));
  fc.assert(
    fc.property(fc.array(message, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 10 }), (msgs, rawCuts) => {
      const stream = Buffer.concat(msgs);
      const cuts = rawCuts.map((c) => (stream.length ? c % (stream.length + 1) : 0));
      assert.deepEqual(readAll(splitAt(stream, cuts)), msgs.map((m) => Buffer.from(m)));
    }),
    { numRuns: 300 },
  );
});

/** A sink that records what the scanner forwards, drops DataRows after `keepRows`, and rewrites ErrorResponses. */
function recordingSink(opts: { keepRows?: number; rewriteErrors?: Buffer } = {}) {
  const out: Buffer[] = [];
  const seen: number[] = [];
  let rows = 0;
  const sink: ScanSink = {
    streamed(type) {
      seen.push(type);
      if (type === B.DataRow) return ++rows <= (opts.keepRows ?? Infinity);
      return true;
    },
    whole(msg) {
      seen.push(msg[0]!);
      return msg[0] === B.ErrorResponse && opts.rewriteErrors ? opts.rewriteErrors : msg;
    },
    out(b) {
      out.push(Buffer.from(b));
    },
  };
  return { sink, out, seen };
}

const dataRow = (v: string) => typedMessage(B.DataRow, Buffer.concat([Buffer.from([0, 1]), Buffer.from([0, 0, 0, v.length]), Buffer.from(v)]));
const commandComplete = (tag: string) => typedMessage(B.CommandComplete, Buffer.from(`${tag}\0`));
const BACKEND_FIXTURE = Buffer.concat([
  typedMessage(B.RowDescription, Buffer.from('\0\x01x\0\0\0\0\0\0\0\0\0\0\x17\0\x04\xff\xff\xff\xff\0\0', 'latin1')),
  dataRow('1'),
  dataRow('22'),
  dataRow('333'),
  commandComplete('SELECT 3'),
  typedMessage(B.NoticeResponse, Buffer.from('SNOTICE\0Mhello\0\0')),
  errorResponse({ airlock: 'AIRLOCK_INTERNAL', severity: 'ERROR', code: '22012', message: 'division by zero' }),
  readyForQuery(0x49),
]);
const WHOLE_TYPES = new Set([B.CommandComplete, B.ErrorResponse, B.ReadyForQuery]);

function scan(chunks: Buffer[], opts: { keepRows?: number; rewriteErrors?: Buffer } = {}) {
  const rec = recordingSink(opts);
  const s = new BackendScanner(WHOLE_TYPES, 1 << 16, rec.sink);
  for (const c of chunks) s.feed(c);
  return { bytes: Buffer.concat(rec.out), seen: rec.seen, writes: rec.out.length };
}

test('BackendScanner forwards the stream unchanged, at every split point, and sees every message once', () => {
  const whole = scan([BACKEND_FIXTURE]);
  assert.deepEqual(whole.bytes, BACKEND_FIXTURE);
  assert.deepEqual(whole.seen, [B.RowDescription, B.DataRow, B.DataRow, B.DataRow, B.CommandComplete, B.NoticeResponse, B.ErrorResponse, B.ReadyForQuery]);
  for (let i = 0; i <= BACKEND_FIXTURE.length; i++) {
    for (let j = i; j <= BACKEND_FIXTURE.length; j += 2) {
      const r = scan(splitAt(BACKEND_FIXTURE, [i, j]));
      assert.deepEqual(r.bytes, BACKEND_FIXTURE, `split at ${i},${j}`);
      assert.deepEqual(r.seen, whole.seen, `split at ${i},${j}`);
    }
  }
});

test('BackendScanner sends runs of forwarded messages as slices: one write for a chunk of DataRows', () => {
  const rows = Buffer.concat(Array.from({ length: 100 }, (_, i) => dataRow(String(i))));
  const r = scan([rows]);
  assert.equal(r.writes, 1);
  assert.deepEqual(r.bytes, rows);
});

test('BackendScanner drops and rewrites messages at every split point without disturbing the rest', () => {
  const replacement = errorResponse({ airlock: 'AIRLOCK_INTERNAL', severity: 'ERROR', code: '42501', message: 'airlock: refused' });
  const expected = Buffer.concat([
    BACKEND_FIXTURE.subarray(0, BACKEND_FIXTURE.indexOf(dataRow('333'))), // RowDescription, rows 1 and 22
    commandComplete('SELECT 3'),
    typedMessage(B.NoticeResponse, Buffer.from('SNOTICE\0Mhello\0\0')),
    replacement,
    readyForQuery(0x49),
  ]);
  for (let i = 0; i <= BACKEND_FIXTURE.length; i++) {
    const r = scan(splitAt(BACKEND_FIXTURE, [i]), { keepRows: 2, rewriteErrors: replacement });
    assert.deepEqual(r.bytes, expected, `split at ${i}`);
  }
});

test('BackendScanner streams a DataRow larger than its whole-message cap without buffering it', () => {
  const big = dataRow('x'.repeat(100_000));
  const rec = recordingSink();
  const s = new BackendScanner(WHOLE_TYPES, 1024, rec.sink);
  for (let i = 0; i < big.length; i += 4096) s.feed(big.subarray(i, i + 4096));
  assert.deepEqual(Buffer.concat(rec.out), big);
  assert.throws(() => new BackendScanner(WHOLE_TYPES, 1024, recordingSink().sink).feed(commandComplete('x'.repeat(2000))), ProtocolError);
});

test('BackendScanner.stopWhenAtBoundary waits for a partly forwarded message to end, then stops', () => {
  const rows = Buffer.concat([dataRow('a'.repeat(50)), dataRow('b'.repeat(50))]);
  const rec = recordingSink();
  const s = new BackendScanner(WHOLE_TYPES, 1024, rec.sink);
  s.feed(rows.subarray(0, 20));
  assert.equal(s.midMessage, true);
  let stopped = false;
  s.stopWhenAtBoundary(() => (stopped = true));
  assert.equal(stopped, false);
  s.feed(rows.subarray(20));
  assert.equal(stopped, true);
  assert.deepEqual(Buffer.concat(rec.out), dataRow('a'.repeat(50)));
});

test('BackendScanner: random chunkings of random backend streams forward every byte (property)', () => {
  const types = [B.DataRow, B.RowDescription, B.CommandComplete, B.ReadyForQuery, B.NoticeResponse, B.CopyData, B.ErrorResponse];
  const message = fc.tuple(fc.constantFrom(...types), fc.uint8Array({ maxLength: 200 })).map(([t, body]) => typedMessage(t, Buffer.from(body)));
  fc.assert(
    fc.property(fc.array(message, { maxLength: 25 }), fc.array(fc.nat(), { maxLength: 12 }), (msgs, rawCuts) => {
      const stream = Buffer.concat(msgs);
      const cuts = rawCuts.map((c) => c % (stream.length + 1));
      const r = scan(splitAt(stream, cuts));
      assert.deepEqual(r.bytes, stream);
      assert.deepEqual(r.seen, msgs.map((m) => m[0]));
    }),
    { numRuns: 300 },
  );
});

test('BackendScanner: complete replies in one chunk, forwarded unchanged, leave as one slice (CommandComplete and ReadyForQuery included)', () => {
  const reply = Buffer.concat([typedMessage(B.BindComplete, Buffer.alloc(0)), dataRow('1'), commandComplete('SELECT 1'), readyForQuery(0x49)]);
  const r = scan([reply]);
  assert.equal(r.writes, 1);
  assert.deepEqual(r.bytes, reply);
  assert.deepEqual(r.seen, [B.BindComplete, B.DataRow, B.CommandComplete, B.ReadyForQuery]);
});
