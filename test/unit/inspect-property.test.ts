// Property tests: inspect() never throws on random or mutated SQL, refusals always carry a rule and a message,
// a write appended to anything is never allowed under read_only, and literals never reach the audit text.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { initInspect, makeInspector, makeParseCache, maskLiterals, type Decision, type GuardrailConfig } from '../../src/inspect/index.js';

before(async () => {
  await initInspect();
});

const CONFIGS: ReadonlyArray<Partial<GuardrailConfig>> = [
  {},
  { read_only: true },
  { deny_kinds: ['drop', 'truncate', 'delete'], require_where: true },
  { read_only: true, keep_literals: true, max_statement_bytes: 4096 },
];

const SEEDS = [
  'SELECT * FROM orders WHERE id = 42',
  "WITH x AS (DELETE FROM t WHERE a = 'b' RETURNING *) SELECT * FROM x",
  'UPDATE accounts SET balance = balance - 10 WHERE id = $1',
  "SELECT set_config('role', 'admin', false)",
  'EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM t FOR UPDATE',
  "COPY (SELECT 1) TO PROGRAM 'id'",
  "DO $$ BEGIN PERFORM 1; END $$",
  'BEGIN READ WRITE; INSERT INTO t VALUES (1); COMMIT',
  "SELECT E'\\x41', B'101', X'ff', U&'\\0061', 1.5e3, .5, \"Quoted Ident\" -- tail",
  'PREPARE p(int) AS SELECT * FROM t WHERE id = $1; EXECUTE p(1)',
  "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE; SET default_transaction_read_only = 'off'",
  'SELECT a, rank() OVER (PARTITION BY b ORDER BY c) FROM t, LATERAL (SELECT * FROM u WHERE u.id = t.id) l',
  '/* nested /* comment */ */ SELECT $tag$ body $tag$',
];

const TOKENS = [
  'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'WITH', 'AS', 'FROM', 'WHERE', 'INTO', 'VALUES', 'SET', 'RESET',
  'ROLE', 'EXPLAIN', 'ANALYZE', 'FOR', 'UPDATE', 'SHARE', 'COPY', 'TO', 'STDOUT', 'PROGRAM', 'DO', 'CALL', 'BEGIN',
  'READ', 'WRITE', 'ONLY', 'COMMIT', 'DROP', 'TABLE', 'CREATE', 'LOCK', 'NOTIFY', 'PREPARE', 'EXECUTE', 'RETURNING',
  't', 'x', '"Weird ""id"""', '*', '(', ')', ',', ';', '=', '1', '2.5', "'str'", "E'\\''", '$1', '$$ d $$', '--c\n',
  '/*', '*/', 'set_config(', 'pg_catalog.nextval(', 'LATERAL', 'UNION', 'ALL', 'DEFAULT', 'TRANSACTION', '\0',
];

function assertWellFormed(d: Decision): void {
  assert.equal(typeof d.allowed, 'boolean');
  assert.equal(typeof d.redacted, 'string');
  assert.ok(Array.isArray(d.statements));
  for (const s of d.statements) {
    assert.equal(typeof s.kind, 'string');
    assert.equal(typeof s.writes, 'boolean');
  }
  assert.ok(d.fingerprint === null || /^[0-9a-f]{16}$/.test(d.fingerprint), `bad fingerprint ${d.fingerprint}`);
  if (d.allowed) {
    assert.equal(d.rule, null);
    assert.equal(d.message, null);
  } else {
    assert.ok(typeof d.rule === 'string' && d.rule.length > 0, 'a refusal needs a rule');
    assert.ok(d.message?.startsWith(`airlock: statement refused by rule ${d.rule}: `), `message: ${d.message}`);
  }
}

/** A seed edited a few times: characters inserted, deleted or replaced, fragments duplicated. */
const mutatedSql = fc.tuple(
  fc.constantFrom(...SEEDS),
  fc.array(fc.tuple(fc.nat(), fc.nat({ max: 5 }), fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom("'", '"', '$$', '/*', '--', ';', '(', '\0'))), { maxLength: 6 }),
).map(([seed, edits]) => {
  let s = seed;
  for (const [pos, del, ins] of edits) {
    const at = s.length === 0 ? 0 : pos % (s.length + 1);
    s = s.slice(0, at) + ins + s.slice(at + del);
  }
  return s;
});

const tokenSoup = fc.array(fc.constantFrom(...TOKENS), { maxLength: 25 }).map((t) => t.join(' '));

describe('inspect never throws', () => {
  for (const cfg of CONFIGS) {
    const insp = makeInspector(cfg, makeParseCache(200));
    test(`random strings, ${JSON.stringify(cfg)}`, () => {
      fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (sql) => assertWellFormed(insp.inspect(sql))), { numRuns: 300 });
    });
    test(`token soup, ${JSON.stringify(cfg)}`, () => {
      fc.assert(fc.property(tokenSoup, (sql) => assertWellFormed(insp.inspect(sql))), { numRuns: 300 });
    });
    test(`mutated SQL, ${JSON.stringify(cfg)}`, () => {
      fc.assert(fc.property(mutatedSql, (sql) => assertWellFormed(insp.inspect(sql))), { numRuns: 300 });
    });
  }
});

describe('read_only safety', () => {
  const ro = makeInspector({ read_only: true }, makeParseCache(200));
  test('a write appended to any text is never allowed', () => {
    // Whatever the prefix opens (quote, block comment, parenthesis) it cannot swallow the write and still parse.
    // The newline before the semicolon ends a trailing line comment; without it "-- x;" would eat the separator
    // and the write would become part of the prefix's statement (e.g. a column alias named DELETE), as in PostgreSQL.
    const prefix = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), tokenSoup, mutatedSql);
    const write = fc.constantFrom('DELETE FROM t WHERE id = 1', 'DROP TABLE t', "SELECT set_config('role','x',false)",
      'WITH d AS (DELETE FROM t RETURNING 1) SELECT 1', 'SET ROLE admin', 'SELECT 1 FOR UPDATE');
    fc.assert(fc.property(prefix, write, (p, w) => {
      const d = ro.inspect(`${p}\n;\n${w}`);
      assertWellFormed(d);
      assert.equal(d.allowed, false, `allowed: ${JSON.stringify(p)} + ${w}`);
    }), { numRuns: 500 });
  });
  test('wrapping a write in a subquery, CTE or function argument does not hide it', () => {
    const inner = fc.constantFrom('DELETE FROM t RETURNING 1', 'UPDATE t SET a = 1 RETURNING 1', 'INSERT INTO t VALUES (1) RETURNING 1');
    const depth = fc.integer({ min: 1, max: 8 });
    fc.assert(fc.property(inner, depth, (w, n) => {
      let sql = `WITH w AS (${w}) SELECT * FROM w`;
      for (let i = 0; i < n; i++) sql = i % 2 === 0 ? `SELECT * FROM (${sql}) s${i}` : `WITH c${i} AS (${sql}) SELECT * FROM c${i}`;
      const d = ro.inspect(sql);
      assert.equal(d.rule, 'read_only', sql);
    }), { numRuns: 100 });
  });
});

describe('redaction', () => {
  const insp = makeInspector({}, makeParseCache(200));
  const secret = fc.stringMatching(/^[a-z]{12}$/);
  const templates = [
    (s: string) => `SELECT * FROM t WHERE name = '${s}'`,
    (s: string) => `SELECT E'${s}\\n', $q$${s}$q$`,
    (s: string) => `PREPARE p AS SELECT '${s}'`,
    (s: string) => `EXECUTE p('${s}')`,
    (s: string) => `COPY t FROM '/tmp/${s}'`,
    (s: string) => `SET app.token = '${s}'`,
    (s: string) => `CREATE ROLE r PASSWORD '${s}'`,
    (s: string) => `CREATE SERVER x FOREIGN DATA WRAPPER w OPTIONS (password '${s}')`,
    (s: string) => `selec '${s}' fro t`,
    (s: string) => `SELECT 1; SELECT '${s}`,
  ];
  test('literals never reach the audit text unless keep_literals', () => {
    fc.assert(fc.property(secret, fc.constantFrom(...templates), (s, t) => {
      const d = insp.inspect(t(s));
      assert.ok(!d.redacted.includes(s), `${t(s)} → ${d.redacted}`);
    }), { numRuns: 300 });
  });
  test('numbers are masked too', () => {
    fc.assert(fc.property(fc.integer({ min: 100000, max: 999999999 }), (n) => {
      for (const sql of [`SELECT * FROM t WHERE id = ${n}`, `selec ${n}`, `EXECUTE p(${n})`, `PREPARE p AS SELECT ${n}.5`]) {
        assert.ok(!insp.inspect(sql).redacted.includes(String(n)), sql);
      }
    }), { numRuns: 100 });
  });
  test('maskLiterals never throws and never grows a literal-free text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
      const out = maskLiterals(s);
      assert.equal(typeof out, 'string');
      if (!/['$0-9]/.test(s)) assert.equal(out, s);
    }), { numRuns: 500 });
  });
});
