// The wire-level pieces of statement review: a PostgreSQL Bind's and a MySQL COM_STMT_EXECUTE's parameters as a
// review shows them, and the review rule's timeout as a person reads it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanDuration, needsReview } from '../../src/gateway/core/statement-hold.js';
import { makeMysqlInspector } from '../../src/inspect/mysql/index.js';
import { bindNames, bindParameters } from '../../src/gateway/postgres/statement-hold.js';
import { executeParameters } from '../../src/gateway/mysql/statement-params.js';
import { BodyWriter, F, typedMessage } from '../../src/gateway/postgres/protocol.js';

function bind(formats: number[], values: (Buffer | null)[]): Buffer {
  const w = new BodyWriter().cstring('p1').cstring('s1').int16(formats.length);
  for (const f of formats) w.int16(f);
  w.int16(values.length);
  for (const v of values) {
    if (v === null) w.int32(-1);
    else w.int32(v.length).bytes(v);
  }
  return typedMessage(F.Bind, w.int16(0).build());
}

test('Bind parameters: text as strings, binary as \\x hex, NULL as null, one format code for all or one each', () => {
  const text = bind([], [Buffer.from('ann'), null, Buffer.from('')]);
  const names = bindNames(text);
  assert.deepEqual([names.portal, names.statement], ['p1', 's1']);
  assert.deepEqual(bindParameters(text, names.at), ['ann', null, '']);
  const allBinary = bind([1], [Buffer.from([0, 0, 0, 7]), Buffer.from('x')]);
  assert.deepEqual(bindParameters(allBinary, bindNames(allBinary).at), ['\\x00000007', '\\x78']);
  const mixed = bind([0, 1], [Buffer.from('7'), Buffer.from([1, 2])]);
  assert.deepEqual(bindParameters(mixed, bindNames(mixed).at), ['7', '\\x0102']);
  // A value that claims more bytes than the message holds is a protocol error, not a read past the end.
  const cut = bind([], [Buffer.from('abcdef')]).subarray(0, -4);
  assert.throws(() => bindParameters(cut, bindNames(cut).at), /too short/);
});

/** COM_STMT_EXECUTE: command, statement id, flags, iteration count, then null bitmap, bound flag, types, values. */
function execute(nulls: number, types: number[] | null, values: Buffer[]): Buffer {
  const head = Buffer.from([0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0, nulls, types ? 1 : 0]);
  const t = types ? Buffer.from(types.flatMap((x) => [x & 0xff, x >> 8])) : Buffer.alloc(0);
  return Buffer.concat([head, t, ...values]);
}

test('COM_STMT_EXECUTE parameters: strings, integers (signed and unsigned), doubles, NULL; types carried to later executions', () => {
  const state = { count: 4, types: null as Buffer | null };
  const i32 = Buffer.alloc(4);
  i32.writeInt32LE(-5);
  const dbl = Buffer.alloc(8);
  dbl.writeDoubleLE(1.5);
  const first = execute(0b0100, [0xfd, 0x03, 0x06, 0x05], [Buffer.from([4, ...Buffer.from('pear')]), i32, dbl]);
  const read = executeParameters(first, state);
  assert.deepEqual(read.parameters, ['pear', '-5', null, '1.5']);
  // Reading commits nothing: the types are the caller's to keep once the server gets the execute.
  assert.equal(state.types, null);
  state.types = read.types;
  const u8 = Buffer.alloc(4);
  u8.writeUInt32LE(4_000_000_000);
  const later = execute(0, null, [Buffer.from([2, ...Buffer.from('ok')]), i32, Buffer.alloc(0), dbl]);
  assert.deepEqual(executeParameters(later, state), { parameters: ['ok', '-5', null, '1.5'], types: state.types });
  const unsigned = { count: 1, types: null as Buffer | null };
  assert.deepEqual(executeParameters(execute(0, [0x8003], [u8]), unsigned).parameters, ['4000000000']);
  // What the reader cannot follow shows as the bytes the server gets, so the approval still binds exactly them.
  assert.deepEqual(executeParameters(execute(0, [0xfd], [Buffer.from([9, 0x61])]), { count: 1, types: null }).parameters, ['\\x0001fd00096' + '1']);
  assert.equal(executeParameters(Buffer.from([0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0]), { count: 0, types: null }).parameters, null);
});

test('statements: writes holds a MySQL SET or SHOW that calls a function not known to only read, not one with plain values', () => {
  const inspector = makeMysqlInspector({}, { noBackslashEscapes: false, server: { mariadb: true, version: 101106 } });
  const held = (sql: string) => needsReview('writes', inspector.inspectNow(sql)!);
  for (const sql of ['SET @x = bump()', 'SET @a = 1, @b = bump()', 'SET autocommit = bump()', 'SET @x = (SELECT bump())', 'SET @x = SETVAL(seq, 1)', 'SET @y = NEXTVAL(seq)', 'SHOW TABLES WHERE bump() = 1', 'SET @x = 1 /*!50000 + bump() */', 'SET @x = `concat`(1)']) {
    assert.equal(held(sql), true, sql);
  }
  for (const sql of ['SET @a = 1', "SET @b = CONCAT('a', @a)", 'SET SESSION max_statement_time = 5', 'SHOW TABLES', "SHOW TABLES LIKE 'i%'", 'COMMIT']) {
    assert.equal(held(sql), false, sql);
  }
  // Server unknown: a version comment some server runs may hold the call.
  assert.equal(needsReview('writes', makeMysqlInspector({}).inspectNow('SET @x = 1 /*!99999 + bump() */')!), true);
  // A session kind whose inspector marks no call (PostgreSQL's SET takes constants only) is not held.
  assert.equal(needsReview('writes', { allowed: true, rule: null, message: null, statements: [{ kind: 'set', writes: false }], fingerprint: null, redacted: 'SET search_path = x', reads_only: false }), false);
});

test('the review timeout as a person writes it', () => {
  assert.deepEqual([900, 2, 3600, 5400, 86400, 61, 0].map(humanDuration), ['15m', '2s', '1h', '1h30m', '24h', '1m1s', '0s']);
});
