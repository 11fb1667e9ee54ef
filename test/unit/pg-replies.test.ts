// Pairing server replies with client requests: rows, max_rows truncation (ReadyForQuery held until the cancel is
// delivered), refusal rewrites, and requests the server skips after an extended-protocol error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackendScanner } from '../../src/gateway/postgres/framing.js';
import { Replies, type Run, type StatementRecord } from '../../src/gateway/postgres/replies.js';
import { B, F, errorResponse, readyForQuery, typedMessage } from '../../src/gateway/postgres/protocol.js';

const row = typedMessage(B.DataRow, Buffer.from([0, 1, 0, 0, 0, 1, 0x31]));
const rowDesc = typedMessage(B.RowDescription, Buffer.from([0, 0]));
const complete = (tag: string) => typedMessage(B.CommandComplete, Buffer.from(`${tag}\0`));
const ok = (t: number) => typedMessage(t, Buffer.alloc(0));

function rig(maxRows: number | null = null) {
  const out: Buffer[] = [];
  const records: StatementRecord[] = [];
  const holds: boolean[] = [];
  let cancels = 0;
  let releaseCancel: () => void = () => {};
  let skipped = false;
  const replies: Replies = new Replies({
    maxRows,
    toClient: (b) => out.push(Buffer.from(b)),
    cut: () => scanner.cut(),
    cancelUpstream: () => {
      cancels++;
      return new Promise<void>((r) => (releaseCancel = r));
    },
    onStatement: (r) => records.push(r),
    hold: (on) => holds.push(on),
    skipClientToSync: () => (skipped = true),
    onIdle: () => {},
    parameterStatus: () => true,
  });
  const scanner = new BackendScanner(new Set([B.CommandComplete, B.ErrorResponse, B.ReadyForQuery]), 1 << 16, replies);
  const run = (): Run => ({ text: 'select', fingerprint: 'f', rule: null, decision: 'allowed', started: performance.now(), rows: 0, forwarded: 0, limit: { rows: 0 }, truncated: false, error: null, cursorOps: null, stmt: 0, limitReady: false, readsOnly: false });
  const types = () => splitTypes(Buffer.concat(out));
  return { replies, scanner, out, records, holds, run, types, cancels: () => cancels, releaseCancel: () => releaseCancel(), skipped: () => skipped };
}

/** The type letters of the messages the client received, in order. */
function splitTypes(b: Buffer): string {
  let s = '';
  for (let i = 0; i < b.length; i += 1 + b.readInt32BE(i + 1)) s += String.fromCharCode(b[i]!);
  return s;
}

test('a simple Query: rows from the tag, one record at ReadyForQuery', () => {
  const r = rig();
  r.replies.expect({ type: F.Query, run: r.run(), refusal: null });
  r.scanner.feed(Buffer.concat([rowDesc, row, row, complete('SELECT 2'), readyForQuery(0x49)]));
  assert.equal(r.types(), 'TDDCZ');
  assert.equal(r.records.length, 1);
  assert.equal(r.records[0]!.rows, 2);
  assert.equal(r.replies.outstanding, 0);
});

test('max_rows: rows past the limit become one error; ReadyForQuery waits for the cancel to be delivered', async () => {
  const r = rig(2);
  r.replies.expect({ type: F.Query, run: r.run(), refusal: null });
  r.scanner.feed(Buffer.concat([rowDesc, row, row, row, row, errorResponse({ airlock: 'AIRLOCK_INTERNAL', severity: 'ERROR', code: '57014', message: 'canceling statement' }), readyForQuery(0x49)]));
  assert.equal(r.types(), 'TDDE', 'the server error of the cancelled statement is dropped; Z is held');
  assert.match(Buffer.concat(r.out).toString(), /54000.*max_rows/s);
  assert.equal(r.cancels(), 1);
  assert.deepEqual(r.holds, [true]);
  r.releaseCancel();
  await new Promise((res) => setImmediate(res));
  assert.equal(r.types(), 'TDDEZ');
  assert.deepEqual(r.holds, [true, false]);
  assert.deepEqual({ rows: r.records[0]!.rows, rule: r.records[0]!.rule }, { rows: 2, rule: 'max_rows' });
});

test('max_rows in the extended protocol: the client skips to its Sync when that Sync was not forwarded yet', () => {
  const r = rig(1);
  r.replies.expect({ type: F.Execute, run: r.run(), refusal: null });
  r.scanner.feed(Buffer.concat([row, row]));
  assert.equal(r.skipped(), true);
  const withSync = rig(1);
  withSync.replies.expect({ type: F.Execute, run: withSync.run(), refusal: null });
  withSync.replies.expect({ type: F.Sync, run: null, refusal: null });
  withSync.scanner.feed(Buffer.concat([row, row]));
  assert.equal(withSync.skipped(), false);
});

test('a refused statement: the error of its stand-in is replaced by the refusal', () => {
  const r = rig();
  r.replies.expect({ type: F.Parse, run: null, refusal: 'airlock: statement refused by rule read_only: no' });
  r.replies.expect({ type: F.Sync, run: null, refusal: null });
  r.scanner.feed(Buffer.concat([errorResponse({ airlock: 'AIRLOCK_INTERNAL', severity: 'ERROR', code: '42601', message: 'syntax error at or near "airlock_refused_statement"' }), readyForQuery(0x49)]));
  const text = Buffer.concat(r.out).toString();
  assert.match(text, /C42501\0Mairlock: statement refused by rule read_only: no\0/);
  assert.doesNotMatch(text, /syntax error/);
  assert.equal(r.types(), 'EZ');
});

test('after an extended-protocol error the requests up to Sync get no reply and no audit record', () => {
  const r = rig();
  for (const type of [F.Parse, F.Bind, F.Execute, F.Sync]) r.replies.expect({ type, run: type === F.Execute ? r.run() : null, refusal: null });
  r.scanner.feed(Buffer.concat([ok(B.ParseComplete), errorResponse({ airlock: 'AIRLOCK_INTERNAL', severity: 'ERROR', code: '22P02', message: 'bad input' }), readyForQuery(0x49)]));
  assert.equal(r.types(), '1EZ');
  assert.equal(r.records.length, 0, 'the skipped Execute did not run');
  assert.equal(r.replies.outstanding, 0);
});

test('requests still outstanding when a session ends are audited with the reason', () => {
  const r = rig();
  r.replies.expect({ type: F.Query, run: r.run(), refusal: null });
  r.replies.abandon('your grant expired');
  assert.equal(r.records[0]!.error, 'session ended: your grant expired');
});
