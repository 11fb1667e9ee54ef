// MySQL audit text and fingerprint: literals never reach `redacted` (property test), keep_literals keeps them,
// and the fingerprint is the same for texts that differ only in constants, comments, spacing or keyword case.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { makeMysqlInspector } from '../../src/inspect/mysql/index.js';
import { MYSQL_CORPUS } from '../fixtures/mysql-corpus.js';
import { MYSQL_READS, MYSQL_WRITE_BYPASS } from '../support/mysql-write-bypass.js';

const CONFIGS = [{}, { read_only: true }, { deny_kinds: ['drop'], require_where: true }];

/** A secret: distinctive letters and digits, with quote, backslash and comment characters mixed in. */
const secret = fc
  .tuple(fc.stringMatching(/^[A-Za-z0-9]{6,16}$/), fc.array(fc.constantFrom("'", "''", '\\\\', '"', '`', ';', '--', '#', '/*', '*/', ' ', 'é', '€'), { maxLength: 4 }))
  .map(([core, extra]) => ({ core: `Zq${core}`, extra: extra.join('') }));

/** Writes a value as a MySQL string literal in one of its spellings. */
function quoted(value: string, style: number): string {
  const single = value.replace(/'/g, "''");
  switch (style % 5) {
    case 0:
      return `'${single}'`;
    case 1:
      return `"${value.replace(/"/g, '""')}"`;
    case 2:
      return `N'${single}'`;
    case 3:
      return `_utf8mb4'${single}'`;
    default:
      return `'${single}' 'x'`;
  }
}

const TEMPLATES = [
  (lit: string) => `SELECT * FROM t WHERE v = ${lit}`,
  (lit: string) => `INSERT INTO t (id, v) VALUES (1, ${lit}), (2, ${lit})`,
  (lit: string) => `UPDATE t SET v = ${lit} WHERE id = 1; SELECT ${lit}`,
  (lit: string) => `/*!50000 SELECT ${lit} */`,
  (lit: string) => `SET @x = ${lit}`,
  (lit: string) => `SELECT CONCAT(${lit}, v) FROM t # tail`,
];

describe('MySQL redaction', () => {
  test('random string literals never appear in the audit text, under any guardrail', () => {
    const inspectors = CONFIGS.map((c) => makeMysqlInspector(c));
    fc.assert(
      fc.property(secret, fc.nat(), fc.nat(), fc.nat(), ({ core, extra }, style, tpl, which) => {
        const value = `${core}${extra}`;
        const sql = TEMPLATES[tpl % TEMPLATES.length]!(quoted(value, style));
        const d = inspectors[which % inspectors.length]!.inspect(sql);
        assert.ok(!d.redacted.includes(core), `${JSON.stringify(sql)} → ${JSON.stringify(d.redacted)}`);
      }),
      { numRuns: 400 },
    );
  });

  test('numbers, hex and bit literals are masked too; identifiers, variables and comments stay', () => {
    const d = makeMysqlInspector({}).inspect("SELECT `col9`, @v, 42, 1.5e3, X'4A', 0x4b, b'1', 0b1 FROM t2 /* c */ WHERE id = -7");
    assert.equal(d.redacted, 'SELECT `col9`, @v, ?, ?, ?, ?, ?, ? FROM t2 /* c */ WHERE id = -?');
  });

  test('unreadable text: masked from the first quote on, numbers masked, cut', () => {
    const d = makeMysqlInspector({ read_only: true }).inspect("SELECT 12, 'Zqsecret\\'; DELETE");
    assert.equal(d.rule, 'parse_error');
    assert.equal(d.redacted, 'SELECT ?, ? …[masked]');
    const long = makeMysqlInspector({ read_only: true }).inspect(`SELECT 1 /* ${'x'.repeat(5000)}`);
    assert.ok(long.redacted.length <= 2000 && long.redacted.endsWith(' …[truncated]'));
  });

  test('keep_literals keeps the text as sent', () => {
    const sql = "SELECT * FROM t WHERE v = 'kept'";
    assert.equal(makeMysqlInspector({ keep_literals: true }).inspect(sql).redacted, sql);
  });

  test('every corpus statement redacts without a literal left', () => {
    const all = [...MYSQL_CORPUS.map((e) => e.sql), ...MYSQL_READS, ...MYSQL_WRITE_BYPASS.map((b) => b.sql)];
    const insp = makeMysqlInspector({}, { noBackslashEscapes: false });
    for (const sql of all) {
      const d = insp.inspect(sql);
      if (d.fingerprint === null) continue;
      // `@'host'` of an account name is a name, like `@'var'`, and stays.
      assert.ok(!/'[^']+'/.test(d.redacted.replace(/\/\*.*?\*\//g, '').replace(/@'[^']*'/g, '')), `${sql} → ${d.redacted}`);
      assert.ok(!/(?<![\w@`$.])\d+(?![\w`])/.test(d.redacted.replace(/\/\*.*?\*\//g, '')), `${sql} → ${d.redacted}`);
    }
  });
});

describe('MySQL fingerprint', () => {
  const insp = makeMysqlInspector({});
  const fp = (sql: string) => insp.inspect(sql).fingerprint;

  test('the same for texts that differ only in constants, spacing, comments and keyword case', () => {
    const a = fp("SELECT * FROM t WHERE id = 1 AND v = 'a'");
    assert.match(a ?? '', /^[0-9a-f]{16}$/);
    assert.equal(fp("select *  from t where id = 982 and v = \"other\" -- note"), a);
    assert.equal(fp("SELECT /* x */ * FROM t WHERE id = 0x10 AND v = N'b'"), a);
    assert.equal(fp('SELECT * FROM t WHERE id = ? AND v = ?'), a);
  });

  test('different for different shapes, names or statements', () => {
    const a = fp('SELECT * FROM t WHERE id = 1');
    assert.notEqual(fp('SELECT * FROM u WHERE id = 1'), a);
    assert.notEqual(fp('SELECT * FROM t WHERE id > 1'), a);
    assert.notEqual(fp('SELECT * FROM t WHERE id = 1; DELETE FROM t'), a);
    assert.notEqual(fp('SELECT * FROM `T` WHERE id = 1'), a);
  });

  test('stable across constants (property)', () => {
    fc.assert(
      fc.property(fc.integer(), fc.string({ maxLength: 20 }), (n, s) => {
        const lit = `'${s.replace(/\\/g, '').replace(/'/g, "''")}'`;
        return fp(`UPDATE t SET v = ${lit} WHERE id = ${Math.abs(n)}`) === fp("UPDATE t SET v = 'x' WHERE id = 1");
      }),
      { numRuns: 200 },
    );
  });

  test('null when nothing parsed', () => {
    assert.equal(fp(''), null);
    assert.equal(makeMysqlInspector({ read_only: true }).inspect("SELECT 'open").fingerprint, null);
  });
});
