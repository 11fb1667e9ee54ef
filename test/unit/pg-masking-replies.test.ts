// Masking in the PostgreSQL gateway's reply path, on byte fixtures split at every offset: RowDescriptions decide which
// columns are masked, DataRows of such results are rewritten whole (others stream untouched), the gateway's own
// Describe is not forwarded, rows with no known description are refused, and errors lose the values they quote.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackendScanner } from '../../src/gateway/postgres/framing.js';
import { Replies, type Run, type StatementRecord } from '../../src/gateway/postgres/replies.js';
import { B, BodyWriter, F, errorResponse, readyForQuery, typedMessage } from '../../src/gateway/postgres/protocol.js';
import { SessionMasks, scrubServerMessage, scrubValues } from '../../src/gateway/postgres/masking.js';
import type { MaskCatalog, MaskedColumnInfo } from '../../src/inspect/masking/index.js';
import type { MaskValueKind, ResolvedMask } from '../../src/domain/masking.js';

const CUSTOMERS = 16_400;
const redact: ResolvedMask = { method: 'redact', keep: 4, key: null, rule: 'customers.email' };
const email: MaskedColumnInfo = { relid: CUSTOMERS, attnum: 2, name: 'public.customers.email', mask: redact, kind: 'text' };
const catalog: MaskCatalog = {
  empty: false,
  columns: [email],
  maskOf: (relid, attnum) => (relid === CUSTOMERS && attnum === 2 ? email : null),
};

/** The test's stand-in for maskWireValue: text → '****', binary → 4 bytes 0x2a, kind other → NULL. */
function maskValue(value: Buffer, kind: MaskValueKind, binary: boolean): Buffer | null {
  assert.ok(value.length >= 0);
  if (kind === 'other') return null;
  return binary ? Buffer.alloc(4, 0x2a) : Buffer.from('****');
}

interface Field {
  name: string;
  relid: number;
  attnum: number;
  binary?: boolean;
}

function rowDescription(fields: Field[]): Buffer {
  const w = new BodyWriter().int16(fields.length);
  for (const f of fields) w.cstring(f.name).int32(f.relid).int16(f.attnum).int32(25).int16(-1).int32(-1).int16(f.binary ? 1 : 0);
  return typedMessage(B.RowDescription, w.build());
}

function dataRow(values: (string | Buffer | null)[]): Buffer {
  const w = new BodyWriter().int16(values.length);
  for (const v of values) {
    if (v === null) w.int32(-1);
    else {
      const b = typeof v === 'string' ? Buffer.from(v) : v;
      w.int32(b.length).bytes(b);
    }
  }
  return typedMessage(B.DataRow, w.build());
}

const complete = (tag: string) => typedMessage(B.CommandComplete, Buffer.from(`${tag}\0`));
const ID_EMAIL = [{ name: 'id', relid: CUSTOMERS, attnum: 1 }, { name: 'email', relid: CUSTOMERS, attnum: 2 }, { name: 'n', relid: 0, attnum: 0 }];

function rig() {
  const out: Buffer[] = [];
  const records: StatementRecord[] = [];
  let cancels = 0;
  const masks = new SessionMasks(catalog, { predicates: 'allow', role: 'support' }, { maskValue });
  const replies: Replies = new Replies({
    maxRows: null,
    toClient: (b) => out.push(Buffer.from(b)),
    cut: () => scanner.cut(),
    cancelUpstream: async () => void cancels++,
    onStatement: (r) => records.push(r),
    hold: () => {},
    skipClientToSync: () => {},
    onIdle: () => {},
    parameterStatus: () => true,
    masks,
  });
  const scanner = new BackendScanner(new Set([B.CommandComplete, B.ErrorResponse, B.ReadyForQuery, B.RowDescription, B.NoticeResponse]), 1 << 24, replies);
  const run = (): Run => ({ text: 'select', fingerprint: 'f', rule: null, decision: 'allowed', started: performance.now(), rows: 0, forwarded: 0, limit: { rows: 0 }, truncated: false, error: null, cursorOps: null, stmt: 0, limitReady: false, readsOnly: false });
  return { replies, scanner, out, records, run, cancels: () => cancels, received: () => Buffer.concat(out) };
}

/** Feeds `stream` split at `cut` (and whole when cut is the length) and returns what the client received. */
function through(stream: Buffer, cut: number, expect: (r: ReturnType<typeof rig>) => void): Buffer {
  const r = rig();
  expect(r);
  r.scanner.feed(stream.subarray(0, cut));
  r.scanner.feed(stream.subarray(cut));
  return r.received();
}

test('a simple Query: masked columns of its rows are rewritten, NULL stays NULL, other values and messages are unchanged, at every split point', () => {
  const big = 'x'.repeat(70_000) + '@example.com';
  const stream = Buffer.concat([
    rowDescription(ID_EMAIL),
    dataRow(['1', 'alice@example.com', '7']),
    dataRow(['2', null, null]),
    dataRow(['3', big, '']),
    complete('SELECT 3'),
    // A second statement of the same Query, with no masked column: its rows stream as they came.
    rowDescription([{ name: 'x', relid: 0, attnum: 0 }]),
    dataRow(['alice@example.com']),
    complete('SELECT 1'),
    readyForQuery(0x49),
  ]);
  const expected = Buffer.concat([
    rowDescription(ID_EMAIL),
    dataRow(['1', '****', '7']),
    dataRow(['2', null, null]),
    dataRow(['3', '****', '']),
    complete('SELECT 3'),
    rowDescription([{ name: 'x', relid: 0, attnum: 0 }]),
    dataRow(['alice@example.com']),
    complete('SELECT 1'),
    readyForQuery(0x49),
  ]);
  for (let cut = 0; cut <= stream.length; cut += cut < 400 ? 1 : 997) {
    const got = through(stream, cut, (r) => r.replies.expect({ type: F.Query, run: r.run(), refusal: null, shape: { cols: undefined } }));
    assert.ok(got.equals(expected), `split at ${cut}`);
  }
});

test('a statement without a RowDescription of its own does not reuse the previous statement\'s: its rows are refused', () => {
  const r = rig();
  r.replies.expect({ type: F.Query, run: r.run(), refusal: null, shape: { cols: undefined } });
  r.scanner.feed(Buffer.concat([rowDescription([{ name: 'x', relid: 0, attnum: 0 }]), dataRow(['1']), complete('SELECT 1'), dataRow(['alice@example.com'])]));
  const got = r.received().toString('latin1');
  assert.doesNotMatch(got, /alice/);
  assert.match(got, /42501.*could not be matched to its columns.*AIRLOCK_MASKING_REFUSED/s);
  assert.equal(r.cancels(), 1);
});

test('an Execute: the gateway\'s own Describe(P) is read and not forwarded; binary columns get binary masks', () => {
  const fields = [{ name: 'id', relid: CUSTOMERS, attnum: 1, binary: true }, { name: 'email', relid: CUSTOMERS, attnum: 2, binary: true }];
  const r = rig();
  const shape = { cols: undefined };
  r.replies.expect({ type: F.Bind, run: null, refusal: null });
  r.replies.expect({ type: F.Describe, run: null, refusal: null, shape, ours: true });
  r.replies.expect({ type: F.Execute, run: r.run(), refusal: null, shape });
  r.replies.expect({ type: F.Sync, run: null, refusal: null });
  const id = Buffer.from([0, 0, 0, 1]);
  r.scanner.feed(Buffer.concat([typedMessage(B.BindComplete, Buffer.alloc(0)), rowDescription(fields), dataRow([id, 'alice@example.com']), complete('SELECT 1'), readyForQuery(0x49)]));
  assert.ok(r.received().equals(Buffer.concat([typedMessage(B.BindComplete, Buffer.alloc(0)), dataRow([id, Buffer.alloc(4, 0x2a)]), complete('SELECT 1'), readyForQuery(0x49)])));
  assert.equal(r.records[0]!.rows, 1);
});

test('the gateway\'s own Describe answered NoData is not forwarded either; the client\'s Describe(P) is', () => {
  const r = rig();
  r.replies.expect({ type: F.Describe, run: null, refusal: null, shape: { cols: undefined }, ours: true });
  r.replies.expect({ type: F.Describe, run: null, refusal: null, shape: { cols: undefined } });
  r.replies.expect({ type: F.Sync, run: null, refusal: null });
  const noData = typedMessage(B.NoData, Buffer.alloc(0));
  r.scanner.feed(Buffer.concat([noData, rowDescription(ID_EMAIL), readyForQuery(0x49)]));
  assert.ok(r.received().equals(Buffer.concat([rowDescription(ID_EMAIL), readyForQuery(0x49)])));
});

test('errors and notices of a masked session lose Detail and Where, and values in data and integrity errors', () => {
  const r = rig();
  r.replies.expect({ type: F.Query, run: r.run(), refusal: null, shape: { cols: undefined } });
  const notice = typedMessage(B.NoticeResponse, new BodyWriter().byte(0x53).cstring('NOTICE').byte(0x43).cstring('00000').byte(0x4d).cstring('hello').byte(0x44).cstring('alice@example.com').byte(0).build());
  const err = errorResponse({ severity: 'ERROR', code: '23505', message: 'duplicate key value violates unique constraint "customers_email_key"', detail: 'Key (email)=(alice@example.com) already exists.', airlock: 'AIRLOCK_INTERNAL' });
  r.scanner.feed(Buffer.concat([notice, err, readyForQuery(0x49)]));
  const got = r.received().toString('utf8');
  assert.doesNotMatch(got, /alice/);
  assert.match(got, /hello/);
  assert.match(got, /23505\0Mduplicate key value violates unique constraint "…"\0/);
  assert.equal(r.records[0]!.error, '23505: duplicate key value violates unique constraint "…"');
});

test('scrubValues: from the first quote to the last (values are quoted unescaped), then parentheses', () => {
  assert.equal(scrubValues('invalid input syntax for type integer: "a"b"'), 'invalid input syntax for type integer: "…"');
  assert.equal(scrubValues('value too long for type character varying(3)'), 'value too long for type character varying(…)');
  assert.equal(scrubValues('division by zero'), 'division by zero');
  const plain = errorResponse({ severity: 'ERROR', code: '42P01', message: 'relation "nope" does not exist', airlock: 'AIRLOCK_INTERNAL' });
  assert.equal(scrubServerMessage(plain), plain, 'other errors without Detail are forwarded as they are');
});
