// The MySQL result masker on wire bytes: column definitions pick the masked cells by origin, text rows (length-encoded
// cells, 0xFB NULL) and binary rows (null bitmap offset 2, typed values) are rewritten with a test-only mask function,
// NULLs stay NULL, kind `other` becomes NULL, rows without a masked column are left alone.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ResultMasker, readColumnDefinition, type ApplyMask } from '../../src/gateway/mysql/result-masking.js';
import { lenencInt } from '../../src/gateway/mysql/packets.js';
import type { MysqlMaskedColumn } from '../../src/inspect/mysql/mask-catalog.js';
import { REDACT } from '../support/mysql-mask-catalog.js';

const lenStr = (s: string | Buffer) => {
  const b = Buffer.isBuffer(s) ? s : Buffer.from(s, 'utf8');
  return Buffer.concat([lenencInt(b.length), b]);
};

function columnDef(schema: string, table: string, orgTable: string, name: string, orgName: string, type: number): Buffer {
  const fixed = Buffer.alloc(13);
  fixed[0] = 0x0c;
  fixed.writeUInt16LE(45, 1);
  fixed.writeUInt32LE(400, 3);
  fixed[7] = type;
  return Buffer.concat([lenStr('def'), lenStr(schema), lenStr(table), lenStr(orgTable), lenStr(name), lenStr(orgName), fixed]);
}

const masked = (column: string, kind: MysqlMaskedColumn['kind']): MysqlMaskedColumn => ({ schema: 'shop', table: 'customers', column, name: `shop.customers.${column}`, mask: REDACT, kind });
const catalog = {
  maskOf(schema: string, orgTable: string, orgName: string): MysqlMaskedColumn | null {
    if (orgTable !== 'customers' || (schema !== 'shop' && schema !== '')) return null;
    return orgName === 'email' ? masked('email', 'text') : orgName === 'born' ? masked('born', 'other') : orgName === 'card' ? masked('card', 'json') : null;
  },
};
/** A stand-in for maskWireValue: text becomes `[n chars]`, JSON `"****"`. */
const apply: ApplyMask = (value, kind) => Buffer.from(kind === 'json' ? '"****"' : `[${value.toString('utf8').length} chars]`);

// id INT, email VARCHAR, born DATE, card JSON (MariaDB: LONGTEXT, BLOB on the wire), note VARCHAR
const DEFS = [
  columnDef('shop', 'c', 'customers', 'id', 'id', 3),
  columnDef('shop', 'c', 'customers', 'e', 'email', 253),
  columnDef('shop', 'c', 'customers', 'born', 'born', 10),
  columnDef('shop', 'c', 'customers', 'card', 'card', 252),
  columnDef('shop', 'o', 'orders', 'email', 'email', 253),
];

function masker(binary: boolean): ResultMasker {
  const m = new ResultMasker(catalog, binary, apply);
  m.begin();
  for (const d of DEFS) m.column(d);
  return m;
}

describe('MySQL result masker', () => {
  test('reads a column definition: schema, org_table, org_name, type', () => {
    assert.deepEqual(readColumnDefinition(DEFS[1]!), { schema: 'shop', orgTable: 'customers', orgName: 'email', type: 253 });
  });

  test('text rows: masked cells replaced, other kinds NULL, NULL stays NULL, unmasked cells byte for byte', () => {
    const m = masker(false);
    assert.equal(m.active, true);
    const row = Buffer.concat([lenStr('7'), lenStr('alice@example.com'), lenStr('1990-01-02'), lenStr('{"n":"4111"}'), lenStr('bob@x.org')]);
    const out = m.row(row)!;
    assert.deepEqual(out, Buffer.concat([lenStr('7'), lenStr('[17 chars]'), Buffer.from([0xfb]), lenStr('"****"'), lenStr('bob@x.org')]));
    const nulls = Buffer.concat([lenStr('8'), Buffer.from([0xfb, 0xfb, 0xfb]), lenStr('x')]);
    assert.deepEqual(m.row(nulls) ?? nulls, nulls);
  });

  test('a wide text value (past the 2- and 3-byte length encodings) is replaced whole', () => {
    const m = masker(false);
    const wide = 'w'.repeat(70_000);
    const row = Buffer.concat([lenStr('1'), lenStr(wide), Buffer.from([0xfb]), Buffer.from([0xfb]), lenStr('')]);
    const out = m.row(row)!;
    assert.deepEqual(out, Buffer.concat([lenStr('1'), lenStr('[70000 chars]'), Buffer.from([0xfb, 0xfb]), lenStr('')]));
    assert.ok(!out.includes(Buffer.from('wwww')));
  });

  test('binary rows: masked strings replaced, the date becomes NULL in the bitmap, fixed-size values kept', () => {
    const m = masker(true);
    const id = Buffer.alloc(4);
    id.writeInt32LE(7);
    const date = Buffer.from([4, 0xc6, 0x07, 1, 2]); // 1990-01-02
    const bitmap = Buffer.alloc(2); // 5 columns + 2 → 1 byte; 2 to hold bits up to 8
    const nBytes = (5 + 9) >> 3;
    const row = Buffer.concat([Buffer.from([0x00]), bitmap.subarray(0, nBytes), id, lenStr('alice@example.com'), date, lenStr('{"n":"4111"}'), lenStr('bob@x.org')]);
    const out = m.row(row)!;
    const wantBitmap = Buffer.alloc(nBytes);
    wantBitmap[0] = 1 << (2 + 2); // born (column 2) is now NULL
    assert.deepEqual(out, Buffer.concat([Buffer.from([0x00]), wantBitmap, id, lenStr('[17 chars]'), lenStr('"****"'), lenStr('bob@x.org')]));
  });

  test('binary rows: a NULL masked value stays NULL; all 8-byte and length-prefixed types are stepped over', () => {
    const m = new ResultMasker(catalog, true, apply);
    m.begin();
    for (const d of [columnDef('shop', 't', 'items', 'n', 'n', 8), columnDef('shop', 't', 'items', 'd', 'd', 246), columnDef('shop', 'c', 'customers', 'email', 'email', 253), columnDef('shop', 't', 'items', 'f', 'f', 5), columnDef('shop', 't', 'items', 't', 't', 12)]) m.column(d);
    const big = Buffer.alloc(8, 1);
    const dt = Buffer.from([7, 0xe8, 0x07, 5, 6, 7, 8, 9]);
    const nullEmail = Buffer.from([0x00, 1 << (2 + 2)]);
    const row = Buffer.concat([nullEmail, big, lenStr('12.50'), Buffer.alloc(8, 2), dt]);
    assert.equal(m.row(row), null, 'nothing to change');
    const withEmail = Buffer.concat([Buffer.from([0x00, 0x00]), big, lenStr('12.50'), lenStr('a@b.c'), Buffer.alloc(8, 2), dt]);
    assert.deepEqual(m.row(withEmail), Buffer.concat([Buffer.from([0x00, 0x00]), big, lenStr('12.50'), lenStr('[5 chars]'), Buffer.alloc(8, 2), dt]));
  });

  test('a result without a masked column is not decoded; a malformed row is a protocol error', () => {
    const m = new ResultMasker(catalog, false, apply);
    m.begin();
    m.column(columnDef('shop', 'o', 'orders', 'email', 'email', 253));
    assert.equal(m.active, false);
    const broken = masker(false);
    assert.throws(() => broken.row(Buffer.concat([lenStr('7'), Buffer.from([20, 0x61])])), /ended inside a value|fewer values/);
  });
});
