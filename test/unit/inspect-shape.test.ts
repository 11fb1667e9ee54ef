// Texts that differ only in constants share one analysis (pgbench's simple mode, ORMs that inline ids) — but only
// where a constant cannot change the decision, and only when the strict lexer and PostgreSQL's agree.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { initInspect, makeInspector, makeParseCache } from '../../src/inspect/index.js';
import { shapeOf } from '../../src/inspect/shape.js';

before(() => initInspect());

test('constants become holes; the audit text numbers them after the text\'s own parameters', () => {
  const s = shapeOf("SELECT abalance FROM pgbench_accounts WHERE aid = 4711 AND note = 'it''s' AND id = $2");
  assert.ok(s);
  assert.equal(s.redacted, 'SELECT abalance FROM pgbench_accounts WHERE aid = $3 AND note = $4 AND id = $2');
  assert.equal(shapeOf('SELECT abalance FROM pgbench_accounts WHERE aid = 1')!.key, shapeOf('SELECT abalance FROM pgbench_accounts WHERE aid = 99999')!.key);
  assert.notEqual(shapeOf('SELECT a FROM t WHERE id = 1')!.key, shapeOf('SELECT a FROM t  WHERE id = 1')!.key, 'every byte outside constants counts');
});

test('anything the strict lexer does not fully understand has no shape', () => {
  for (const sql of [
    "SELECT E'a\\' ; DELETE FROM t; --'",
    "SELECT 'a\\' , ' ; DELETE FROM t; --'",
    'SELECT 1 -- comment',
    'SELECT /* c */ 1',
    'SELECT $$x$$',
    'SELECT $tag$x$tag$',
    'SELECT * FROM t WHERE id = 1FOR UPDATE',
    'SELECT 0x1F',
    'SELECT 1_000',
    "SELECT B'101'",
    "SELECT X'1F'",
    "SELECT U&'d\\0061t'",
    "SELECT 'é'",
    "SELECT 'a'\n'b'",
    'SELECT 1.2.3',
    'SELECT 1e',
    'SELECT t.1',
  ]) {
    assert.equal(shapeOf(sql), null, sql);
  }
});

test('SET, EXPLAIN and other statements whose constants decide never share an analysis', () => {
  const insp = makeInspector({ read_only: true }, makeParseCache());
  assert.equal(insp.inspect('SET default_transaction_read_only = 1').allowed, true);
  assert.equal(insp.inspect('SET default_transaction_read_only = 0').rule, 'read_only');
  assert.equal(insp.inspect('EXPLAIN (ANALYZE 0) DELETE FROM t WHERE id = 1').allowed, true);
  assert.equal(insp.inspect('EXPLAIN (ANALYZE 1) DELETE FROM t WHERE id = 1').rule, 'read_only');
  assert.equal(insp.inspect("SET standard_conforming_strings = 'on'").allowed, true);
  assert.equal(insp.inspect("SET standard_conforming_strings = 'off'").rule, 'text_setting');
});

test('a shape seen once serves its siblings without another parse', () => {
  const cache = makeParseCache();
  const insp = makeInspector({ read_only: true }, cache);
  const first = insp.inspect('SELECT abalance FROM pgbench_accounts WHERE aid = 1');
  for (let i = 2; i < 200; i++) {
    const d = insp.inspect(`SELECT abalance FROM pgbench_accounts WHERE aid = ${i}`);
    assert.equal(d.allowed, true);
    assert.equal(d.fingerprint, first.fingerprint);
    assert.equal(d.redacted, 'SELECT abalance FROM pgbench_accounts WHERE aid = $1');
  }
  assert.equal(cache.stats().entries, 1, 'siblings are served by shape, not stored one by one');
  const w = insp.inspect('UPDATE pgbench_accounts SET abalance = 5 WHERE aid = 1');
  assert.equal(w.rule, 'read_only');
  assert.equal(insp.inspect('UPDATE pgbench_accounts SET abalance = 6 WHERE aid = 2').rule, 'read_only');
});

test('property: with shapes, every decision equals a fresh full parse', () => {
  const templates = [
    (a: string, b: string) => `SELECT * FROM orders WHERE id = ${a} AND note = ${b}`,
    (a: string, b: string) => `UPDATE orders SET total = ${a} WHERE id = ${b}`,
    (a: string, b: string) => `DELETE FROM orders WHERE id IN (${a}, ${b})`,
    (a: string, b: string) => `INSERT INTO orders (id, note) VALUES (${a}, ${b}) RETURNING id`,
    (a: string, b: string) => `SELECT ${a} FROM orders FOR UPDATE; SELECT ${b}`,
    (a: string, b: string) => `WITH d AS (DELETE FROM orders WHERE id = ${a} RETURNING *) SELECT ${b} FROM d`,
    (a: string, b: string) => `SELECT pg_terminate_backend(${a}), ${b}`,
    (a: string, _b: string) => `UPDATE orders SET note = ${a}`,
  ];
  const constant = fc.oneof(
    fc.integer({ min: 0, max: 1e9 }).map(String),
    fc.double({ min: 0, max: 1e6, noNaN: true }).map((d) => d.toFixed(3)),
    fc.string({ maxLength: 20 }).map((s) => `'${s.replace(/'/g, "''")}'`),
    fc.constantFrom("'a\\'", "E'x\\' ; DROP TABLE orders; --'", '1FOR', '$1', "'; DELETE FROM orders; --'", '0x10', '1e5'),
  );
  const configs = [{ read_only: true }, { require_where: true }, { deny_kinds: ['delete'] }, {}];
  const shared = configs.map((c) => makeInspector(c, makeParseCache()));
  fc.assert(
    fc.property(fc.integer({ min: 0, max: templates.length - 1 }), constant, constant, (t, a, b) => {
      const sql = templates[t]!(a, b);
      configs.forEach((c, k) => {
        const viaShape = shared[k]!.inspect(sql);
        const fresh = makeInspector(c, makeParseCache()).inspect(sql);
        assert.equal(viaShape.allowed, fresh.allowed, `${sql} under ${JSON.stringify(c)}`);
        assert.equal(viaShape.rule, fresh.rule, sql);
        assert.deepEqual(viaShape.statements, fresh.statements, sql);
        assert.equal(viaShape.fingerprint, fresh.fingerprint, sql);
      });
    }),
    { numRuns: 400 },
  );
});
