// MySQL/MariaDB guardrails: the write-bypass corpus refused for read-only roles, reads allowed, deny_kinds,
// require_where, fail closed, and the lexer's reading of comments, version comments and quotes.

import { describe, test } from 'node:test';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { makeMysqlInspector, mysqlServerFromVersion, splitMysqlStatements, lexMysql, MysqlLexError } from '../../src/inspect/mysql/index.js';
import { MYSQL_READS, MYSQL_WRITE_BYPASS } from '../support/mysql-write-bypass.js';
import { check, type Case } from '../support/inspect-cases.js';

const readOnly = makeMysqlInspector({ read_only: true });

describe('MySQL read-only role: write-bypass corpus', () => {
  test('the corpus is large enough', () => {
    assert.ok(MYSQL_WRITE_BYPASS.length >= 60, `${MYSQL_WRITE_BYPASS.length} bypass statements`);
    assert.ok(MYSQL_READS.length >= 40, `${MYSQL_READS.length} reads`);
  });
  for (const { sql, why, rule } of MYSQL_WRITE_BYPASS) {
    test(`refuses (${why}): ${JSON.stringify(sql)}`, () => {
      check((s) => readOnly.inspect(s), [sql, rule]);
      const d = readOnly.inspect(sql);
      assert.equal(d.reads_only, false);
    });
  }
});

describe('MySQL read-only role: reads', () => {
  for (const sql of MYSQL_READS) {
    test(`allows ${JSON.stringify(sql)}`, () => {
      check((s) => readOnly.inspect(s), [sql, 'ok']);
      assert.ok(readOnly.inspect(sql).statements.length >= 1);
    });
  }
  test('a plain read with built-ins only is reads_only; a role-listed function is allowed but not reads_only', () => {
    assert.equal(readOnly.inspect('SELECT id, UPPER(v) FROM t WHERE id = 1').reads_only, true);
    const listed = makeMysqlInspector({ read_only: true, allow_functions: ['shop.price_of'] });
    const d = listed.inspect('SELECT shop.price_of(id) FROM t');
    assert.equal(d.allowed, true, d.message ?? '');
    assert.equal(readOnly.inspect('SELECT shop.price_of(id) FROM t').allowed, false);
  });
});

describe('MySQL read-only role: the read-only transaction stays on', () => {
  test('READ WRITE and read-only off are refused with a reason that says so', () => {
    for (const sql of ['SET SESSION TRANSACTION READ WRITE', 'START TRANSACTION READ WRITE, WITH CONSISTENT SNAPSHOT', "SET @@session.tx_read_only = 'OFF'"]) {
      const d = readOnly.inspect(sql);
      assert.equal(d.allowed, false, sql);
      assert.match(d.message ?? '', /undoes the read-only transactions the gateway sets/, sql);
    }
  });
  test('READ ONLY and read-only on stay allowed and read-only', () => {
    for (const sql of ['SET SESSION TRANSACTION READ ONLY', 'START TRANSACTION READ ONLY', 'SET tx_read_only = 1', "SET transaction_read_only = 'on'"]) {
      check((s) => readOnly.inspect(s), [sql, 'ok']);
    }
  });
  test('a role without read_only may still start read-write transactions', () => {
    const open = makeMysqlInspector({ require_where: true });
    check((s) => open.inspect(s), ['START TRANSACTION READ WRITE', 'ok']);
    check((s) => open.inspect(s), ['SET SESSION TRANSACTION READ WRITE', 'ok']);
  });
});

describe('MySQL decisions have the shared shape', () => {
  test('a refusal names the rule, the statement and what to do', () => {
    const d = readOnly.inspect('SELECT 1; DELETE FROM t WHERE id = 3');
    assert.equal(d.allowed, false);
    assert.equal(d.rule, 'read_only');
    assert.equal(d.message, 'airlock: statement refused by rule read_only: this role is read-only and DELETE writes data (statement 2 of 2)');
    assert.deepEqual(d.statements, [{ kind: 'select', writes: false }, { kind: 'delete', writes: true }]);
    assert.match(d.fingerprint ?? '', /^[0-9a-f]{16}$/);
    assert.equal(d.redacted, 'SELECT ?; DELETE FROM t WHERE id = ?');
  });
  test('stored functions are refused with a way out', () => {
    const d = readOnly.inspect('SELECT airlock_fn(1)');
    assert.match(d.message ?? '', /airlock_fn is not a built-in function known to only read .* allow_functions/);
  });
  test('a built-in written with a space says how to write it', () => {
    const d = readOnly.inspect('SELECT now ()');
    assert.match(d.message ?? '', /now written quoted, or with a space or comment before its "\(", is a stored function .*; write now\(…\)$/);
    assert.equal(readOnly.inspect('SELECT NOW()').allowed, true);
    assert.equal(readOnly.inspect('SELECT UPPER (v) FROM t').allowed, true); // not one the server reads differently
  });
  test('inspectAsync and inspectNow decide the same', async () => {
    const sql = "SELECT GET_LOCK('x', 1)";
    assert.deepEqual(await readOnly.inspectAsync(sql), readOnly.inspect(sql));
    assert.deepEqual(readOnly.inspectNow(sql), readOnly.inspect(sql));
    assert.equal(readOnly.config.read_only, true);
  });
  test('statement_too_large before anything else', () => {
    const small = makeMysqlInspector({ max_statement_bytes: 64 });
    const d = small.inspect(`SELECT '${'x'.repeat(100)}'`);
    assert.equal(d.rule, 'statement_too_large');
    assert.ok(!d.redacted.includes('xxxx'), d.redacted);
  });
});

describe('MySQL deny_kinds and require_where', () => {
  const deny = makeMysqlInspector({ deny_kinds: ['drop', 'truncate', 'delete', 'grant'] });
  const cases: Case[] = [
    ['DROP TABLE t', 'deny_kind:drop'],
    ['TRUNCATE t', 'deny_kind:truncate'],
    ['DELETE FROM t WHERE id = 1', 'deny_kind:delete'],
    ['/*!50000 DROP TABLE t */', 'deny_kind:drop'],
    ['SELECT 1; DROP TABLE t', 'deny_kind:drop'],
    ["REPLACE INTO t VALUES (1, 'x')", 'deny_kind:delete'],
    ['ANALYZE DELETE FROM t WHERE id = 1', 'deny_kind:delete'],
    ['GRANT SELECT ON *.* TO u', 'deny_kind:grant'],
    ["EXECUTE IMMEDIATE 'DROP TABLE t'", 'hidden_sql'],
    ["PREPARE s FROM 'DROP TABLE t'", 'hidden_sql'],
    ['BEGIN NOT ATOMIC DROP TABLE t END', 'parse_error'],
    ["UPDATE t SET v = 'x' WHERE id = 1", 'ok'],
    ["INSERT INTO t VALUES (1, 'x')", 'ok'],
    ['EXPLAIN DELETE FROM t WHERE id = 1', 'ok'],
    ['SELECT * FROM t', 'ok'],
  ];
  for (const c of cases) test(`deny_kinds: ${c[0]}`, () => check((s) => deny.inspect(s), c));

  const where = makeMysqlInspector({ require_where: true });
  const whereCases: Case[] = [
    ["UPDATE t SET v = 'x'", 'require_where'],
    ['DELETE FROM t', 'require_where'],
    ['DELETE FROM t LIMIT 10', 'require_where'],
    ["UPDATE t JOIN u ON u.t_id = t.id SET t.v = 'x'", 'require_where'],
    ['DELETE t FROM t JOIN u ON u.t_id = t.id', 'require_where'],
    ["UPDATE t SET v = (SELECT v FROM u WHERE u.id = 1)", 'require_where'],
    ['ANALYZE DELETE FROM t', 'require_where'],
    ["UPDATE t SET v = 'x' WHERE 1=1", 'ok'],
    ["UPDATE t, u SET t.v = 'x' WHERE t.id = u.t_id", 'ok'],
    ['DELETE FROM t USING t JOIN u ON u.t_id = t.id WHERE u.id = 1', 'ok'],
    ['DELETE FROM t WHERE id = 1', 'ok'],
    ['EXPLAIN DELETE FROM t', 'ok'],
    ["WITH x AS (SELECT 1 WHERE 1) UPDATE t SET v = 'x'", 'require_where'],
  ];
  for (const c of whereCases) test(`require_where: ${c[0]}`, () => check((s) => where.inspect(s), c));

  test('max_rows is carried and makes the role fail closed', () => {
    const rows = makeMysqlInspector({ max_rows: 100 });
    assert.equal(rows.config.max_rows, 100);
    assert.equal(rows.inspect("SELECT 'open").rule, 'parse_error');
  });
});

describe('MySQL text settings: character set and sql_mode, for every role', () => {
  const roles = [
    ['read-only', readOnly],
    ['require_where', makeMysqlInspector({ require_where: true })],
    ['deny_kinds', makeMysqlInspector({ deny_kinds: ['drop'] })],
    ['no guardrails', makeMysqlInspector({})],
  ] as const;
  const refused = [
    // SET NAMES / CHARSET / CHARACTER SET followed by more of the list: every entry is checked.
    'SET NAMES utf8mb4, character_set_client = gbk',
    'SET NAMES utf8mb4 COLLATE utf8mb4_bin, character_set_connection = big5',
    "SET CHARACTER SET utf8mb4, sql_mode = 'ANSI_QUOTES'",
    "SET CHARSET latin1, @@session.sql_mode = 'NO_BACKSLASH_ESCAPES'",
    'SET @a = 1, NAMES gbk',
    'SET NAMES gbk',
    'SET NAMES utf8mb4 COLLATE gbk_chinese_ci',
    'SET character_set_client = utf8mb4 + 0',
    // sql_mode in every scope and spelling.
    "SET sql_mode = 'ANSI_QUOTES'",
    "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'",
    "SET @@sql_mode = 'ANSI'",
    "SET @@session.sql_mode = 'STRICT_TRANS_TABLES,ANSI_QUOTES'",
    "SET LOCAL sql_mode := 'ORACLE'",
    "SET @@local.sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
    'SET sql_mode = DEFAULT',
    'SET sql_mode = @saved',
    "SET sql_mode = \"ANSI_QUOTES\"",
    "SET STATEMENT sql_mode = 'ANSI_QUOTES' FOR SELECT 1",
    "SET STATEMENT max_statement_time = 1, @@session.sql_mode = '' FOR SELECT 1",
    "/*!40101 SET sql_mode = 'MSSQL' */",
    "SET /*!40101 sql_mode = 'ANSI_QUOTES', */ @a = 1",
  ];
  for (const [name, inspector] of roles) {
    test(`${name}: refused as text_setting`, () => {
      for (const sql of refused) check((s) => inspector.inspect(s), [sql, 'text_setting']);
    });
    test(`${name}: a safe character set alone, or with more harmless entries, stays allowed`, () => {
      for (const sql of ['SET NAMES utf8mb4', "SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci'", 'SET CHARACTER SET latin1', 'SET NAMES utf8mb4, autocommit = 1', 'SET @a = 1, NAMES utf8mb4 COLLATE utf8mb4_bin, @b = 2']) {
        check((s) => inspector.inspect(s), [sql, 'ok']);
      }
    });
  }
  test('read-only off after SET NAMES in the same list is refused by read_only', () => {
    for (const sql of ['SET NAMES utf8mb4, transaction_read_only = 0', 'SET NAMES utf8mb4, tx_read_only = 0', 'SET CHARSET latin1, @@global.max_connections = 1', 'SET CHARACTER SET utf8mb4, time_zone = @@time_zone, tx_read_only = OFF']) {
      check((s) => readOnly.inspect(s), [sql, 'read_only']);
    }
  });
  test('a plain sql_mode is a session change, not a text setting', () => {
    const rw = makeMysqlInspector({ require_where: true });
    for (const sql of ["SET sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'", "SET SESSION sql_mode = ''", "SET @@sql_mode = 'traditional'"]) {
      check((s) => rw.inspect(s), [sql, 'ok']);
      check((s) => readOnly.inspect(s), [sql, 'read_only']);
    }
  });
  test('SET NAMES with something after its collation is not read as a list', () => {
    check((s) => readOnly.inspect(s), ['SET NAMES utf8mb4 COLLATE utf8mb4_bin tx_read_only = 0', 'parse_error']);
  });
});

describe('MySQL system variables in every spelling the server accepts (red team: @@`sql_mode`, @@session . name)', () => {
  const roles = [
    ['read-only', readOnly],
    ['write with require_where', makeMysqlInspector({ require_where: true })],
    ['no guardrails', makeMysqlInspector({})],
  ] as const;
  test('the lexer reads @@, a scope, the dot and a plain or backquoted name as one token with the full name', () => {
    const sysvars = (sql: string) => lexMysql(sql).flatMap((s) => s.tokens.filter((t) => t.type === 'sysvar').map((t) => [t.value, t.unresolved ?? null]));
    assert.deepEqual(sysvars('SET @@`sql_mode` = 1'), [['sql_mode', null]]);
    assert.deepEqual(sysvars('SET @@session.`character_set_client` = 1'), [['session.character_set_client', null]]);
    assert.deepEqual(sysvars('SET @@session . character_set_client = 1'), [['session.character_set_client', null]]);
    assert.deepEqual(sysvars('SELECT @@SESSION/* c */.\n-- x\n`SQL_MODE`, @@Global.Max_Connections, @@version'), [['session.sql_mode', null], ['global.max_connections', null], ['version', null]]);
    assert.deepEqual(sysvars('SET @@session/*!40101 .sql_mode*/ = 1'), [['session.sql_mode', null]]);
    for (const sql of ['SET @@`session`.sql_mode = 1', 'SET @@default.key_buffer_size = 1', 'SET @@a.b.c = 1', 'SET @@ sql_mode = 1', 'SET @@session. = 1', 'SET @@`sql``mode` = 1', 'SET @@\u017fql_mode = 1']) {
      const [v] = sysvars(sql);
      assert.ok(v !== undefined && typeof v[1] === 'string', `${sql}: ${JSON.stringify(v)}`);
    }
  });
  const refused = [
    // The red team's two: a backquoted name, and spaces around the dot.
    "SET @@`sql_mode` = 'ANSI_QUOTES'",
    "SET @@session.`character_set_client` = 'sjis'",
    "SET @@session . character_set_client = 'sjis'",
    "SET @@SESSION . SQL_MODE = 'ANSI'",
    "SET @@session/**/./**/`sql_mode` = 'ANSI_QUOTES'",
    "SET @@session\n.\n`sql_mode` := 'ANSI_QUOTES'",
    "SET @@local . `sql_mode` := 'ANSI'",
    "SET @@Global.`sql_mode` = 'ANSI_QUOTES'",
    "SET SESSION `sql_mode` = 'ANSI_QUOTES'",
    "SET LOCAL `character_set_client` = gbk",
    'SET `character_set_connection` = big5',
    "SET `collation_connection` = 'sjis_japanese_ci'",
    "SET autocommit = 1, @@`character_set_client` = 'sjis'",
    "SET @@time_zone = '+00:00', @@session . sql_mode = 'ANSI_QUOTES'",
    "SET GLOBAL max_connections = 100, SESSION sql_mode = 'ANSI_QUOTES'",
    "SET STATEMENT @@`sql_mode` = 'ANSI_QUOTES' FOR SELECT 1",
    "SET STATEMENT @@session . character_set_client = 'sjis' FOR SELECT 1",
    "/*!40101 SET @@session . sql_mode = 'ANSI' */",
    "SET @@session/*!40101 . `sql_mode` */ = 'ANSI_QUOTES'",
    // Names the gateway cannot read as one variable: refused whatever they are.
    "SET @@`session`.`sql_mode` = ''",
    "SET @@`session.sql_mode` = ''",
    'SET @@default.key_buffer_size = 8388608',
    "SET @@session.sql_mode.x = ''",
    "SET sql_mode.x = ''",
    "SET session . sql_mode = ''",
    "SET @@session. = ''",
    'SET @@\u017fql_mode = 1',
    'SET `\u017fql_mode` = 1',
    'SET STATEMENT @@a.b.c = 1 FOR SELECT 1',
  ];
  for (const [name, inspector] of roles) {
    test(`${name}: every spelling of a text setting, and every name it cannot read, is refused as text_setting`, () => {
      for (const sql of refused) check((s) => inspector.inspect(s), [sql, 'text_setting']);
    });
  }
  test('plain settings in these spellings stay what they were', () => {
    const rw = makeMysqlInspector({ require_where: true });
    for (const sql of ["SET @@session . time_zone = '+00:00'", "SET @@`sql_mode` = 'STRICT_TRANS_TABLES'", "SET @@session.`character_set_client` = 'utf8mb4'", 'SET GLOBAL TRANSACTION READ ONLY', 'SELECT @@`sql_mode`, @@session . character_set_client']) {
      check((s) => rw.inspect(s), [sql, 'ok']);
    }
    check((s) => readOnly.inspect(s), ["SET @@session . time_zone = '+00:00'", 'ok']);
    check((s) => readOnly.inspect(s), ['SELECT @@`sql_mode`, @@session . character_set_client', 'ok']);
    check((s) => readOnly.inspect(s), ['SET GLOBAL max_connections = 100', 'read_only']);
  });
});

describe('MySQL dynamic SQL in stored program bodies', () => {
  test('refused by hidden_sql under any guardrail, wherever PREPARE … FROM or EXECUTE IMMEDIATE stands', () => {
    const rw = makeMysqlInspector({ require_where: true });
    for (const sql of ["CREATE PROCEDURE p() EXECUTE IMMEDIATE CONCAT('KI','LL 5')", 'CREATE PROCEDURE p() BEGIN PREPARE s FROM @q', "CREATE EVENT e ON SCHEDULE EVERY 1 HOUR DO EXECUTE IMMEDIATE 'SELECT 1'", 'ALTER EVENT e DO PREPARE s FROM @q']) {
      check((s) => rw.inspect(s), [sql, 'hidden_sql']);
      check((s) => readOnly.inspect(s), [sql, 'hidden_sql']);
    }
  });
  test('a stored program without dynamic SQL, or a column named prepare, is not hidden SQL', () => {
    const rw = makeMysqlInspector({ require_where: true });
    check((s) => rw.inspect(s), ['CREATE PROCEDURE p() SELECT 1', 'ok']);
    check((s) => rw.inspect(s), ['CREATE TABLE t (prepare INT, execute INT)', 'ok']);
    check((s) => readOnly.inspect(s), ['SELECT prepare FROM t', 'ok']);
  });
});

describe('MySQL fail closed', () => {
  const guarded: Case[] = [
    ['SELECT 1 FROM', 'ok'], // a syntax error the server reports; the lexer and classifier have no doubt
    ['FROBNICATE t', 'parse_error'],
    ['SELECT 1 /*!50000 /* nested */ 2 */', 'parse_error'],
    ['SELECT 1 /*!50000 # comment */ \n */', 'parse_error'],
    ['SELECT 1 /*!5000 2 */', 'parse_error'],
    ['SELECT 1\u0000; DELETE FROM t', 'parse_error'],
    ['SELECT 1 \\ 2', 'parse_error'],
  ];
  for (const c of guarded) test(`guarded: ${JSON.stringify(c[0])}`, () => check((s) => readOnly.inspect(s), c));

  test('the refusal says what to do', () => {
    const d = readOnly.inspect('FROBNICATE t');
    assert.match(d.message ?? '', /^airlock: statement refused by rule parse_error: the statement could not be read \(.*\), and this role refuses statements it cannot check; /);
  });
  test('without guardrails unreadable text goes to the server, redacted', () => {
    const open = makeMysqlInspector({});
    const d = open.inspect("SELECT 'se\\'cret");
    assert.equal(d.allowed, true);
    assert.equal(d.fingerprint, null);
    assert.ok(!d.redacted.includes('cret'), d.redacted);
  });
  test('an empty text or only comments is allowed with no statements', () => {
    for (const sql of ['', '  ', '/* nothing */', '-- x', '# y', ';']) {
      const d = readOnly.inspect(sql);
      assert.equal(d.allowed, true, sql);
      assert.deepEqual(d.statements, []);
      assert.equal(d.reads_only, false);
    }
  });
  test('a session known to run with backslash escapes reads mysqldump text in one way', () => {
    const sql = "INSERT INTO t VALUES (1,'a\\'b')";
    assert.equal(makeMysqlInspector({ deny_kinds: ['drop'] }).inspect(sql).rule, 'parse_error');
    const known = makeMysqlInspector({ deny_kinds: ['drop'] }, { noBackslashEscapes: false });
    assert.equal(known.inspect(sql).allowed, true);
    const noEscapes = makeMysqlInspector({ read_only: true }, { noBackslashEscapes: true });
    assert.equal(noEscapes.inspect("SELECT '\\'; DELETE FROM t; -- '").rule, 'read_only');
  });
});

describe('MySQL version comments', () => {
  test('unknown server: every reading is checked, and the refusal says which', () => {
    const d = readOnly.inspect('/*!99999 SET @a = */ DROP TABLE t');
    assert.equal(d.rule, 'read_only');
    assert.match(d.message ?? '', /DROP removes objects \(when the server skips a version comment\)$/);
    assert.deepEqual(d.statements, [{ kind: 'set', writes: false }]);
  });
  test('a known server reads exactly the comments it executes', () => {
    const maria = makeMysqlInspector({ read_only: true }, { server: { mariadb: true, version: 101106 } });
    const mysql8 = makeMysqlInspector({ read_only: true }, { server: { mariadb: false, version: 80035 } });
    // MariaDB skips MySQL 5.7+ version comments (measured on 10.11.19: /*!50800 … /*!99999 are skipped, though its
    // version is higher), so for MariaDB such a text is read every way: here the DROP.
    for (const v of ['50700', '50800', '80000', '99999']) assert.equal(maria.inspect(`/*!${v} SET @a = */ DROP TABLE t`).rule, 'read_only', v);
    // Below 50700 and above 99999 MariaDB runs them as its version says: `SET @a = DROP TABLE t` is a syntax error.
    assert.equal(maria.inspect('/*!100000 SET @a = */ DROP TABLE t').rule, 'parse_error');
    assert.equal(maria.inspect('SELECT 1 /*!50699 + 1 */').allowed, true);
    assert.equal(mysql8.inspect('/*!99999 SET @a = */ DROP TABLE t').rule, 'read_only');
    // MySQL never runs /*M! … */; MariaDB 10.11 skips /*M!999999.
    assert.equal(mysql8.inspect('SELECT 1 /*M!100100 ; DELETE FROM t */').allowed, true);
    assert.equal(maria.inspect('SELECT 1 /*M!100100 ; DELETE FROM t */').rule, 'read_only');
    assert.equal(maria.inspect('/*M!999999 SET @a = */ DELETE FROM t').rule, 'read_only');
    assert.deepEqual(splitMysqlStatements('SELECT 1 /*!90000 ; DELETE FROM t */', null, { mariadb: false, version: 80035 }), ['SELECT 1']);
  });
  test('too many different version numbers are refused rather than read every way', () => {
    const many = Array.from({ length: 9 }, (_, i) => `/*!${40000 + i} 1 */`).join(' + ');
    assert.equal(readOnly.inspect(`SELECT ${many}`).rule, 'parse_error');
    assert.equal(readOnly.inspect(`SELECT ${many.split(' + ').slice(0, 8).join(' + ')}`).allowed, true);
  });
  test('the server from its handshake version string', () => {
    assert.deepEqual(mysqlServerFromVersion('5.5.5-10.11.19-MariaDB-0+deb12u1'), { mariadb: true, version: 101119 });
    assert.deepEqual(mysqlServerFromVersion('10.6.4-MariaDB'), { mariadb: true, version: 100604 });
    assert.deepEqual(mysqlServerFromVersion('8.0.35'), { mariadb: false, version: 80035 });
    assert.deepEqual(mysqlServerFromVersion('8.4.0-commercial'), { mariadb: false, version: 80400 });
    assert.equal(mysqlServerFromVersion('garbage'), null);
  });
  test('mysqldump headers read the same every way', () => {
    const dump = makeMysqlInspector({ deny_kinds: ['drop'] });
    assert.equal(dump.inspect('/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */').allowed, true);
    assert.equal(dump.inspect('/*!40000 ALTER TABLE `t` DISABLE KEYS */').allowed, true);
    assert.equal(dump.inspect('/*!50001 DROP VIEW IF EXISTS `v` */').rule, 'deny_kind:drop');
  });
});

describe('MySQL lexer', () => {
  const kinds = (sql: string) => splitMysqlStatements(sql);
  test('`--` needs a space or control character after it', () => {
    assert.deepEqual(kinds('SELECT 1 --x\n; SELECT 2'), ['SELECT 1 --x', 'SELECT 2']);
    assert.deepEqual(kinds('SELECT 1 -- x; SELECT 2'), ['SELECT 1']);
    assert.deepEqual(kinds('SELECT 1 --'), ['SELECT 1']);
    const toks = lexMysql('SELECT 1 --x')[0]!.tokens.map((t) => t.value);
    assert.deepEqual(toks, ['SELECT', '1', '-', '-', 'X']);
  });
  test('`#` comments, block comments, and version comments as code', () => {
    assert.deepEqual(kinds('SELECT 1 # ; DELETE\n; SELECT 2'), ['SELECT 1', 'SELECT 2']);
    assert.deepEqual(kinds('SELECT 1 /* ; */ ; SELECT 2'), ['SELECT 1', 'SELECT 2']);
    const v = lexMysql('SELECT /*!50000 a, */ b /*M!100100 , c */')[0]!.tokens.map((t) => t.value);
    assert.deepEqual(v, ['SELECT', 'A', ',', 'B', ',', 'C']);
    assert.equal(lexMysql('SELECT 1 /*!50000 ; DELETE FROM t */').length, 2);
  });
  test('quotes: doubled quotes, backslash escapes, backticks, introducers', () => {
    const t = lexMysql("SELECT 'a''b', 'c\\'d', \"e\"\"f\", `g``h`, _utf8mb4'i', N'j', X'4A', 0x4b, b'1', 0b1, 1.5e3, .5, @v, @@global.x, ?")[0]!.tokens;
    assert.deepEqual(t.map((x) => x.type), ['word', 'string', 'punct', 'string', 'punct', 'dqstr', 'punct', 'qident', 'punct', 'word', 'string', 'punct', 'string', 'punct', 'hex', 'punct', 'hex', 'punct', 'hex', 'punct', 'hex', 'punct', 'number', 'punct', 'number', 'punct', 'var', 'punct', 'sysvar', 'punct', 'param']);
    assert.equal(t.find((x) => x.type === 'qident')!.value, 'g`h');
    assert.throws(() => lexMysql("SELECT 'open"), MysqlLexError);
    assert.deepEqual(lexMysql("SELECT '\\'", { noBackslashEscapes: true })[0]!.tokens.map((x) => x.value), ['SELECT', "'\\'"]);
  });
  test('\\G ends a statement as the client does', () => {
    assert.deepEqual(kinds('SELECT 1\\G SELECT 2'), ['SELECT 1', 'SELECT 2']);
  });
});

describe('MySQL properties', () => {
  const configs = [{}, { read_only: true }, { deny_kinds: ['delete'], require_where: true }].map((c) => makeMysqlInspector(c));
  const pieces = ["'", '"', '`', '\\', '/*', '*/', '/*!', '/*M!50000', '--', '-- ', '#', '\n', ';', '(', ')', 'SELECT', 'DELETE', 'FROM', 't', '1', 'x', ' ', '@', '@@', 'N', '_utf8', 'GET_LOCK', 'WITH', 'SET', 'é'];
  test('inspect never throws, and every refusal has a rule and a message', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 30 }), fc.nat(), (parts, k) => {
        const d = configs[k % configs.length]!.inspect(parts.join(''));
        assert.equal(d.allowed, d.rule === null);
        if (!d.allowed) assert.ok(d.message?.startsWith(`airlock: statement refused by rule ${d.rule}: `));
      }),
      { numRuns: 1500 },
    );
  });
  test('a write after any read, or inside a version comment, is never allowed for a read-only role', () => {
    fc.assert(
      fc.property(fc.constantFrom(...MYSQL_READS), fc.constantFrom('; DELETE FROM t', ' /*!50000 ; DELETE FROM t */', ';\nUPDATE t SET v = 1', ' /*M!100100 ; INSERT INTO t VALUES (9, 9) */'), (read, write) => {
        // After a newline: a read ending in a `#` or `-- ` comment would otherwise comment the write out, as on the server.
        assert.equal(readOnly.inspect(`${read}\n${write}`).allowed, false, `${read}\n${write}`);
      }),
      { numRuns: 300 },
    );
  });
});
