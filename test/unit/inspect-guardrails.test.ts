// Table tests for statement kinds, deny_kinds, require_where, rule order and the fail-closed parse rule.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initInspect, makeInspector, makeParseCache, hasGuardrails, defaultGuardrails } from '../../src/inspect/index.js';
import { check, type Case } from '../support/inspect-cases.js';

before(async () => {
  await initInspect();
});



describe('statement kinds', () => {
  const open = makeInspector({}, makeParseCache());
  const kinds: ReadonlyArray<readonly [string, string, boolean]> = [
    ['SELECT 1', 'select', false],
    ['SELECT * INTO t2 FROM t', 'create', true],
    ['INSERT INTO t VALUES (1)', 'insert', true],
    ['UPDATE t SET a = 1', 'update', true],
    ['DELETE FROM t', 'delete', true],
    ['MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE', 'merge', true],
    ['CREATE TABLE x (a int)', 'create', true],
    ['DROP TABLE x', 'drop', true],
    ['ALTER TABLE x ADD b int', 'alter', true],
    ['TRUNCATE x', 'truncate', true],
    ['COPY x TO STDOUT', 'copy', false],
    ['COPY x FROM STDIN', 'copy', true],
    ['SET statement_timeout = 5', 'set', false],
    ['SHOW search_path', 'show', false],
    ['BEGIN', 'begin', false],
    ['START TRANSACTION', 'begin', false],
    ['COMMIT', 'commit', false],
    ['ROLLBACK', 'rollback', false],
    ['EXPLAIN SELECT 1', 'explain', false],
    ['DO $$ BEGIN END $$', 'do', true],
    ['CALL p()', 'call', true],
    ['PREPARE p AS SELECT 1', 'prepare', false],
    ['EXECUTE p', 'execute', true],
    ['GRANT SELECT ON t TO u', 'grant', true],
    ['REVOKE SELECT ON t FROM u', 'revoke', true],
    ['VACUUM t', 'vacuum', true],
    ['ANALYZE t', 'analyze', true],
    ['LISTEN c', 'listen', false],
    ['NOTIFY c', 'notify', true],
  ];
  for (const [sql, kind, writes] of kinds) {
    test(`${sql} → ${kind}`, () => {
      assert.deepEqual(open.inspect(sql).statements, [{ kind, writes }]);
    });
  }
});

describe('deny_kinds', () => {
  const deny = makeInspector({ deny_kinds: ['DROP', ' truncate ', 'delete', 'set'] }, makeParseCache());
  const cases: readonly Case[] = [
    ['DROP TABLE t', 'deny_kind:drop'],
    ['drop index i', 'deny_kind:drop'],
    ['TRUNCATE t', 'deny_kind:truncate'],
    ['DELETE FROM t WHERE id = 1', 'deny_kind:delete'],
    ['SELECT 1; DROP TABLE t', 'deny_kind:drop'],
    ['SET ROLE x', 'deny_kind:set'],
    ['RESET ALL', 'deny_kind:set'],
    ['SELECT 1', 'ok'],
    ['UPDATE t SET a = 1', 'ok'],
    ['CREATE TABLE t (a int)', 'ok'],
    // The kind is the top-level statement's: a DELETE inside a CTE makes a writing SELECT, not a DELETE.
    ['WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', 'ok'],
  ];
  test('refuses listed kinds and names them', () => {
    for (const c of cases) check(deny.inspect, c);
    assert.equal(deny.inspect('DROP TABLE t').message,
      'airlock: statement refused by rule deny_kind:drop: this role does not allow DROP statements');
  });
  test('kinds are normalised to lower case', () => {
    assert.deepEqual(deny.config.deny_kinds, ['drop', 'truncate', 'delete', 'set']);
  });
});

describe('require_where', () => {
  const rw = makeInspector({ require_where: true }, makeParseCache());
  const cases: readonly Case[] = [
    ['UPDATE t SET a = 1', 'require_where'],
    ['DELETE FROM t', 'require_where'],
    ['delete from only t', 'require_where'],
    ['WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', 'require_where'],
    ['WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT count(*) FROM u', 'require_where'],
    ['SELECT 1; UPDATE t SET a = 2', 'require_where'],
    ['PREPARE p AS DELETE FROM t', 'require_where'],
    ['EXPLAIN ANALYZE DELETE FROM t', 'require_where'],
    ['UPDATE t SET a = 1 FROM s WHERE s.id = t.id', 'ok'],
    ['DELETE FROM t WHERE id = 1', 'ok'],
    ['DELETE FROM t WHERE CURRENT OF c', 'ok'],
    ['DELETE FROM t WHERE true', 'ok'],
    ['UPDATE t SET a = 1 WHERE id IN (SELECT id FROM s)', 'ok'],
    ['EXPLAIN DELETE FROM t', 'ok'],
    ['INSERT INTO t VALUES (1)', 'ok'],
    ['SELECT * FROM t', 'ok'],
  ];
  test('refuses UPDATE and DELETE without WHERE, wherever they are', () => {
    for (const c of cases) check(rw.inspect, c);
    assert.match(rw.inspect('DELETE FROM t').message ?? '', /DELETE has none, so it would touch every row/);
  });
});

describe('rule order and combination', () => {
  test('read_only wins over deny_kinds and require_where on the same statement', () => {
    const all = makeInspector({ read_only: true, deny_kinds: ['delete'], require_where: true }, makeParseCache());
    assert.equal(all.inspect('DELETE FROM t').rule, 'read_only');
  });
  test('the first statement that breaks a rule decides', () => {
    const both = makeInspector({ deny_kinds: ['truncate'], require_where: true }, makeParseCache());
    assert.equal(both.inspect('UPDATE t SET a = 1; TRUNCATE t').rule, 'require_where');
    assert.equal(both.inspect('TRUNCATE t; UPDATE t SET a = 1').rule, 'deny_kind:truncate');
  });
});

describe('parse errors', () => {
  const unparsable = ['selec 1', 'SELECT FROM WHERE', "SELECT 'unterminated", 'DROP TABLE', 'SELECT 1; DROPP TABLE x', 'SELECT 1\0; DROP TABLE x'];
  test('fail closed when any guardrail is set', () => {
    for (const cfg of [{ read_only: true }, { deny_kinds: ['drop'] }, { require_where: true }, { max_rows: 100 }]) {
      const insp = makeInspector(cfg, makeParseCache());
      for (const sql of unparsable) {
        const d = insp.inspect(sql);
        assert.equal(d.allowed, false, `${JSON.stringify(cfg)} must refuse ${JSON.stringify(sql)}`);
        assert.equal(d.rule, 'parse_error');
        assert.equal(d.fingerprint, null);
        assert.match(d.message ?? '', /^airlock: statement refused by rule parse_error: the statement could not be parsed \(.+\)/);
      }
    }
  });
  test('pass through to the server when no guardrail is set, still without a fingerprint', () => {
    const open = makeInspector({ keep_literals: true }, makeParseCache());
    for (const sql of unparsable) {
      const d = open.inspect(sql);
      assert.equal(d.allowed, true);
      assert.equal(d.rule, null);
      assert.equal(d.fingerprint, null);
      assert.deepEqual(d.statements, []);
    }
  });
  test('hasGuardrails is true only when something restricts', () => {
    assert.equal(hasGuardrails(defaultGuardrails), false);
    assert.equal(hasGuardrails({ ...defaultGuardrails, keep_literals: true, max_statement_bytes: 10 }), false);
    assert.equal(hasGuardrails({ ...defaultGuardrails, read_only: true }), true);
    assert.equal(hasGuardrails({ ...defaultGuardrails, deny_kinds: ['drop'] }), true);
    assert.equal(hasGuardrails({ ...defaultGuardrails, require_where: true }), true);
    assert.equal(hasGuardrails({ ...defaultGuardrails, max_rows: 10 }), true);
  });
  test('the parser message is short and on one line', () => {
    const d = makeInspector({ read_only: true }, makeParseCache()).inspect('SELECT ' + '('.repeat(20_000) + '1' + ')'.repeat(20_000));
    assert.equal(d.rule, 'parse_error');
    assert.ok((d.message ?? '').length < 400);
    assert.ok(!(d.message ?? '').includes('\n'));
  });
});
