// Masked wire values are values PostgreSQL itself accepts: each output goes back to a real server as a parameter in
// the same format (binary through text_recv/json_recv/jsonb_recv, text through the type's input function).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { maskWireValue } from '../../src/domain/mask-values.js';
import type { MaskMethod, ResolvedMask } from '../../src/domain/masking.js';
import { adminUrl } from '../support/pg.js';

const METHODS: MaskMethod[] = ['redact', 'partial', 'hash', 'email'];
const VALUES = ['', 'a', 'alice@example.com', 'jörg@bücher.example', '4111111111111111', '😀😁😂🤣😃😄😅😆😇', 'a"b\\c@d\n.example', '\u0001@x'];
const mask = (method: MaskMethod): ResolvedMask => ({ method, keep: 4, key: method === 'hash' ? Buffer.from('k') : null, rule: 't.c' });

let c: pg.Client;
before(async () => {
  c = new pg.Client(adminUrl());
  await c.connect();
  await c.query("set client_encoding = 'UTF8'");
});
after(async () => c?.end());

test('text: the masked bytes are valid text in the binary format', async () => {
  for (const m of METHODS) {
    for (const v of VALUES) {
      const out = maskWireValue(Buffer.from(v), 'text', true, mask(m))!;
      const r = await c.query('select $1::text as t', [out]);
      assert.equal(r.rows[0].t, out.toString('utf8'));
    }
  }
});

test('json and jsonb: the masked values parse as the type in both formats, and read back as the masked string', async () => {
  for (const m of METHODS) {
    for (const v of VALUES) {
      // What the server sends for a jsonb string holding v, in each format.
      const asServerSends = { text: 'select to_jsonb($1::text) as j', values: [v], binary: true, types: { getTypeParser: () => (raw: unknown) => raw } };
      const { rows } = await c.query(asServerSends as unknown as pg.QueryConfig);
      const binary = rows[0].j as Buffer;
      assert.equal(binary[0], 1);
      const textForm = binary.subarray(1);
      const jb = maskWireValue(binary, 'jsonb', true, mask(m))!;
      const fromBinary = await c.query('select $1::jsonb #>> \'{}\' as s', [jb]);
      const j = maskWireValue(textForm, 'json', true, mask(m))!;
      const fromJsonBinary = await c.query('select $1::json #>> \'{}\' as s', [j]);
      const fromText = await c.query('select $1::jsonb #>> \'{}\' as s', [maskWireValue(textForm, 'jsonb', false, mask(m))!.toString('utf8')]);
      assert.equal(fromBinary.rows[0].s, JSON.parse(j.toString('utf8')));
      assert.equal(fromJsonBinary.rows[0].s, fromBinary.rows[0].s);
      assert.equal(fromText.rows[0].s, fromBinary.rows[0].s);
      assert.notEqual(fromBinary.rows[0].s, v, `${m} hides ${JSON.stringify(v)}`);
    }
  }
});
