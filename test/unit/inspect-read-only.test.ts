// Table tests for read_only: every hostile statement that can write is refused, every benign read is allowed.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initInspect, makeInspector, makeParseCache } from '../../src/inspect/index.js';
import { check, type Case } from '../support/inspect-cases.js';

before(async () => {
  await initInspect();
});


const REFUSED_BY_READ_ONLY: readonly Case[] = [
  // Plain DML.
  ['INSERT INTO t VALUES (1)', 'read_only'],
  ['insert into t select * from s', 'read_only'],
  ['UPDATE t SET a = 1 WHERE id = 2', 'read_only'],
  ['DELETE FROM t WHERE id = 1', 'read_only'],
  ['MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE', 'read_only'],
  ['INSERT INTO t VALUES (1) ON CONFLICT DO NOTHING', 'read_only'],
  // Data-modifying CTEs, at any depth and inside subqueries.
  ['WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x', 'read_only'],
  ['WITH a AS (SELECT 1), b AS (UPDATE t SET a = 1 WHERE id = 1 RETURNING *) SELECT * FROM a, b', 'read_only'],
  ['WITH a AS (WITH b AS (INSERT INTO t VALUES (1) RETURNING id) SELECT * FROM b) SELECT * FROM a', 'read_only'],
  ['SELECT * FROM (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) sub', 'read_only'],
  ['SELECT (SELECT count(*) FROM (WITH d AS (DELETE FROM t RETURNING 1) SELECT * FROM d) q)', 'read_only'],
  ['SELECT * FROM t WHERE id IN (WITH m AS (MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE RETURNING t.id) SELECT id FROM m)', 'read_only'],
  ['SELECT * FROM a, LATERAL (WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d) l', 'read_only'],
  ['WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT 1 FROM r), w AS (INSERT INTO t SELECT * FROM r RETURNING *) SELECT 1', 'read_only'],
  // Row locks.
  ['SELECT * FROM t FOR UPDATE', 'read_only'],
  ['SELECT * FROM t FOR SHARE', 'read_only'],
  ['SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED', 'read_only'],
  ['SELECT * FROM t FOR KEY SHARE NOWAIT', 'read_only'],
  ['SELECT * FROM (SELECT * FROM t FOR UPDATE) s', 'read_only'],
  ['SELECT * FROM a WHERE EXISTS (SELECT 1 FROM t WHERE t.id = a.id FOR UPDATE)', 'read_only'],
  // Table creation through SELECT.
  ['SELECT * INTO t2 FROM t', 'read_only'],
  ['SELECT 1 AS a INTO TEMP t3', 'read_only'],
  ['CREATE TABLE t2 AS SELECT * FROM t', 'read_only'],
  ['CREATE MATERIALIZED VIEW mv AS SELECT 1', 'read_only'],
  // COPY.
  ['COPY t FROM STDIN', 'read_only'],
  ["COPY t FROM '/etc/passwd'", 'read_only'],
  ["COPY t FROM PROGRAM 'curl evil'", 'read_only'],
  ["COPY t TO '/tmp/out.csv'", 'read_only'],
  ["COPY (SELECT 1) TO PROGRAM 'rm -rf /'", 'read_only'],
  ['COPY (DELETE FROM t RETURNING *) TO STDOUT', 'read_only'],
  // Code execution.
  ["DO $$ BEGIN DELETE FROM t; END $$", 'read_only'],
  ["DO LANGUAGE plpgsql 'BEGIN NULL; END'", 'read_only'],
  ['CALL archive_orders(1)', 'read_only'],
  // Identity.
  ['SET ROLE admin', 'read_only'],
  ['SET LOCAL ROLE admin', 'read_only'],
  ['SET ROLE NONE', 'read_only'],
  ['SET "ROLE" TO admin', 'read_only'],
  ["SET SESSION AUTHORIZATION 'postgres'", 'read_only'],
  ['SET SESSION AUTHORIZATION DEFAULT', 'read_only'],
  ['RESET ROLE', 'read_only'],
  ['RESET SESSION AUTHORIZATION', 'read_only'],
  // Side-effect functions, anywhere, any spelling.
  ["SELECT set_config('default_transaction_read_only', 'off', false)", 'read_only'],
  ["SELECT pg_catalog.set_config('role', 'admin', false)", 'read_only'],
  ["SELECT PG_CATALOG.SET_CONFIG('a', 'b', true)", 'read_only'],
  ["SELECT \"set_config\"('a', 'b', true)", 'read_only'],
  ["SELECT \"SET_CONFIG\"('a', 'b', true)", 'read_only'],
  ['SELECT pg_terminate_backend(pid) FROM pg_stat_activity', 'read_only'],
  ['SELECT pg_cancel_backend(123)', 'read_only'],
  ['SELECT pg_reload_conf()', 'read_only'],
  ['SELECT pg_rotate_logfile()', 'read_only'],
  ["SELECT lo_import('/etc/passwd')", 'read_only'],
  ["SELECT lo_export(1234, '/tmp/x')", 'read_only'],
  ['SELECT lo_unlink(1234)', 'read_only'],
  ['SELECT lo_create(0)', 'read_only'],
  ["SELECT lo_from_bytea(0, '\\x00')", 'read_only'],
  ["SELECT lo_put(1, 0, '\\x00')", 'read_only'],
  ["SELECT pg_read_file('/etc/passwd')", 'read_only'],
  ["SELECT pg_read_binary_file('pg_hba.conf')", 'read_only'],
  ["SELECT * FROM pg_ls_dir('.')", 'read_only'],
  ["SELECT pg_stat_file('postgresql.conf')", 'read_only'],
  ["SELECT pg_file_write('x', 'y', false)", 'read_only'],
  ["SELECT * FROM dblink('host=other', 'DELETE FROM t') AS r(a int)", 'hidden_sql'],
  ["SELECT dblink_exec('DROP TABLE t')", 'hidden_sql'],
  ["SELECT dblink_connect('c', 'host=x')", 'hidden_sql'],
  ['SELECT pg_switch_wal()', 'read_only'],
  ["SELECT pg_create_restore_point('x')", 'read_only'],
  ['SELECT pg_advisory_lock(42)', 'read_only'],
  ['SELECT pg_try_advisory_xact_lock(42)', 'read_only'],
  ["SELECT nextval('orders_id_seq')", 'read_only'],
  ["SELECT setval('orders_id_seq', 1)", 'read_only'],
  ['SELECT txid_current()', 'read_only'],
  ['SELECT pg_current_xact_id()', 'read_only'],
  ["SELECT pg_notify('chan', 'payload')", 'read_only'],
  ["SELECT pg_logical_emit_message(true, 'p', 'm')", 'read_only'],
  ['SELECT pg_promote()', 'read_only'],
  ["SELECT pg_backup_start('label')", 'read_only'],
  ['SELECT pg_backup_stop()', 'read_only'],
  ["SELECT pg_drop_replication_slot('s')", 'read_only'],
  ["SELECT pg_create_logical_replication_slot('s', 'pgoutput')", 'read_only'],
  ["SELECT pg_create_physical_replication_slot('s')", 'read_only'],
  ["SELECT pg_replication_origin_create('o')", 'read_only'],
  ["SELECT query_to_xml('DELETE FROM t RETURNING *', true, false, '')", 'hidden_sql'],
  ["SELECT cursor_to_xml('c', 10, true, false, '')", 'hidden_sql'],
  ["SELECT table_to_xml('t', true, false, '')", 'hidden_sql'],
  ['SET search_path = app, public', 'read_only'],
  ["SELECT * FROM t WHERE a = (SELECT set_config('x', 'y', false))", 'read_only'],
  ["SELECT coalesce(NULL, nextval('s'))", 'read_only'],
  ["SELECT * FROM t, LATERAL (SELECT pg_terminate_backend(t.pid)) x", 'read_only'],
  ["SELECT * FROM t ORDER BY nextval('s')", 'read_only'],
  ["SELECT count(*) FILTER (WHERE pg_cancel_backend(1)) FROM t", 'read_only'],
  ["SELECT * FROM ROWS FROM (set_config('a', 'b', false)) AS x", 'read_only'],
  ["VALUES (nextval('s'))", 'read_only'],
  ["SELECT myschema.nextval('x')", 'read_only'],
  // EXPLAIN ANALYZE runs what it explains.
  ['EXPLAIN ANALYZE DELETE FROM t WHERE id = 1', 'read_only'],
  ['EXPLAIN (ANALYZE) UPDATE t SET a = 1 WHERE id = 1', 'read_only'],
  ['EXPLAIN (ANALYSE TRUE, BUFFERS) INSERT INTO t VALUES (1)', 'read_only'],
  ['EXPLAIN (ANALYZE 1) SELECT * FROM t FOR UPDATE', 'read_only'],
  ['EXPLAIN ANALYZE CREATE TABLE t9 AS SELECT 1', 'read_only'],
  ['EXPLAIN ANALYZE EXECUTE p', 'read_only'],
  ['EXPLAIN SELECT pg_terminate_backend(1)', 'read_only'],
  // PREPARE of a write, EXECUTE of anything.
  ['PREPARE p AS DELETE FROM t WHERE id = $1', 'read_only'],
  ['PREPARE p(int) AS INSERT INTO t VALUES ($1)', 'read_only'],
  ['PREPARE p AS SELECT * FROM t FOR UPDATE', 'read_only'],
  ['EXECUTE p', 'read_only'],
  ['EXECUTE p(1, 2)', 'read_only'],
  // Read-write transactions and turning read-only off.
  ['BEGIN READ WRITE', 'read_only'],
  ['BEGIN ISOLATION LEVEL SERIALIZABLE, READ WRITE', 'read_only'],
  ['START TRANSACTION READ WRITE', 'read_only'],
  ['SET TRANSACTION READ WRITE', 'read_only'],
  ['SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE', 'read_only'],
  ['SET default_transaction_read_only = off', 'read_only'],
  ["SET default_transaction_read_only TO 'false'", 'read_only'],
  ['SET default_transaction_read_only = 0', 'read_only'],
  ['SET default_transaction_read_only TO DEFAULT', 'read_only'],
  ['SET transaction_read_only = off', 'read_only'],
  ['SET LOCAL transaction_read_only TO no', 'read_only'],
  ['SET "Default_Transaction_Read_Only" = off', 'read_only'],
  ['RESET default_transaction_read_only', 'read_only'],
  ['RESET transaction_read_only', 'read_only'],
  ['SET default_transaction_read_only FROM CURRENT', 'read_only'],
  ['RESET ALL', 'read_only'],
  ['DISCARD ALL', 'read_only'],
  // Two-phase commit.
  ["PREPARE TRANSACTION 'x'", 'read_only'],
  ["COMMIT PREPARED 'x'", 'read_only'],
  ["ROLLBACK PREPARED 'x'", 'read_only'],
  // DDL and server actions.
  ['CREATE TABLE x (a int)', 'read_only'],
  ['CREATE TEMP TABLE x (a int)', 'read_only'],
  ['CREATE INDEX ON t (a)', 'read_only'],
  ['CREATE VIEW v AS SELECT 1', 'read_only'],
  ['CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$', 'read_only'],
  ['CREATE EXTENSION dblink', 'read_only'],
  ['CREATE SCHEMA s', 'read_only'],
  ["CREATE ROLE r LOGIN PASSWORD 'p'", 'read_only'],
  ['ALTER TABLE t ADD COLUMN b int', 'read_only'],
  ['ALTER TABLE t RENAME TO u', 'read_only'],
  ["ALTER SYSTEM SET log_statement = 'none'", 'read_only'],
  ["ALTER ROLE me SET default_transaction_read_only = off", 'read_only'],
  ['DROP TABLE t', 'read_only'],
  ['DROP TABLE IF EXISTS t CASCADE', 'read_only'],
  ['DROP ROLE r', 'read_only'],
  ['DROP OWNED BY r', 'read_only'],
  ['GRANT SELECT ON t TO PUBLIC', 'read_only'],
  ['GRANT admin TO me', 'read_only'],
  ['REVOKE SELECT ON t FROM u', 'read_only'],
  ['TRUNCATE t', 'read_only'],
  ["COMMENT ON TABLE t IS 'x'", 'read_only'],
  ["SECURITY LABEL ON TABLE t IS 'x'", 'read_only'],
  ['REINDEX TABLE t', 'read_only'],
  ['VACUUM t', 'read_only'],
  ['VACUUM FULL', 'read_only'],
  ['ANALYZE t', 'read_only'],
  ['CLUSTER t USING t_pkey', 'read_only'],
  ['REFRESH MATERIALIZED VIEW mv', 'read_only'],
  ['LOCK TABLE t', 'read_only'],
  ['LOCK TABLE t IN ROW EXCLUSIVE MODE', 'read_only'],
  ['LOCK t IN ROW SHARE MODE', 'read_only'],
  ["NOTIFY chan, 'x'", 'read_only'],
  ['CHECKPOINT', 'read_only'],
  ["LOAD 'auto_explain'", 'read_only'],
  ['CREATE RULE r AS ON SELECT TO t DO INSTEAD NOTHING', 'read_only'],
  ['REASSIGN OWNED BY a TO b', 'read_only'],
  // Cursors run their query; other spellings of DDL and DML.
  ['DECLARE c CURSOR FOR SELECT * FROM t FOR UPDATE', 'read_only'],
  ["DECLARE c CURSOR FOR SELECT nextval('s')", 'read_only'],
  ['WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x', 'read_only'],
  ['EXPLAIN (FORMAT JSON, ANALYZE) DELETE FROM t', 'read_only'],
  ['SELECT pg_stat_reset()', 'read_only'],
  ['ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO u', 'read_only'],
  ['IMPORT FOREIGN SCHEMA s FROM SERVER x INTO y', 'read_only'],
  // One writing statement in a batch is enough.
  ['SELECT 1; DROP TABLE x', 'read_only'],
  ['SELECT 1; SELECT 2; DELETE FROM t WHERE id = 1', 'read_only'],
  ['BEGIN; UPDATE t SET a = 1 WHERE id = 1; COMMIT', 'read_only'],
  ["SELECT 1 /* ; DROP TABLE x */; SET ROLE admin", 'read_only'],
];

const ALLOWED_UNDER_READ_ONLY: readonly Case[] = [
  ['SELECT 1', 'ok'],
  ['select * from orders o join customers c on c.id = o.customer_id where o.total > 100', 'ok'],
  ['WITH a AS (SELECT 1 AS x), b AS (SELECT x + 1 FROM a) SELECT * FROM b', 'ok'],
  ['WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) SELECT * FROM r', 'ok'],
  ['SELECT id, rank() OVER (PARTITION BY a ORDER BY b) FROM t', 'ok'],
  ['SELECT * FROM t WHERE id IN (SELECT id FROM s WHERE s.x > 1)', 'ok'],
  ['SELECT * FROM t, LATERAL (SELECT * FROM s WHERE s.t_id = t.id LIMIT 1) x', 'ok'],
  ['SELECT a FROM t UNION SELECT b FROM s EXCEPT SELECT c FROM u', 'ok'],
  ['VALUES (1, 2), (3, 4)', 'ok'],
  ['TABLE orders', 'ok'],
  ["SELECT now(), current_user, pg_sleep(0.1), lower('X'), count(*) FROM t", 'ok'],
  ["SELECT currval('s'), lastval()", 'ok'],
  ["SELECT current_setting('search_path')", 'ok'],
  ['SELECT pg_advisory_unlock_all()', 'ok'],
  ['SELECT txid_current_if_assigned()', 'ok'],
  ['SELECT * FROM pg_stat_activity', 'ok'],
  ["SELECT 'DELETE FROM t' AS text_that_looks_bad", 'ok'],
  ['SELECT "delete" FROM t', 'ok'],
  ['SHOW search_path', 'ok'],
  ['SHOW ALL', 'ok'],
  ['RESET search_path', 'ok'],
  ["SET statement_timeout = '5s'", 'ok'],
  ["SET TIME ZONE 'UTC'", 'ok'],
  ['SET application_name TO psql', 'ok'],
  ['RESET statement_timeout', 'ok'],
  ['SET default_transaction_read_only = on', 'ok'],
  ['SET transaction_read_only TO true', 'ok'],
  ['SET default_transaction_read_only = 1', 'ok'],
  ['SET TRANSACTION READ ONLY', 'ok'],
  ['SET TRANSACTION ISOLATION LEVEL REPEATABLE READ', 'ok'],
  ['SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY', 'ok'],
  ['SET CONSTRAINTS ALL DEFERRED', 'ok'],
  ['BEGIN', 'ok'],
  ['BEGIN READ ONLY', 'ok'],
  ['START TRANSACTION ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE', 'ok'],
  ['COMMIT', 'ok'],
  ['END', 'ok'],
  ['ROLLBACK', 'ok'],
  ['SAVEPOINT s1', 'ok'],
  ['RELEASE SAVEPOINT s1', 'ok'],
  ['ROLLBACK TO SAVEPOINT s1', 'ok'],
  ['EXPLAIN SELECT * FROM t', 'ok'],
  ['EXPLAIN DELETE FROM t WHERE id = 1', 'ok'],
  ['EXPLAIN (COSTS OFF) UPDATE t SET a = 1', 'ok'],
  ['EXPLAIN (ANALYZE) SELECT * FROM t', 'ok'],
  ['EXPLAIN (ANALYZE false) DELETE FROM t', 'ok'],
  ['EXPLAIN (ANALYZE off, VERBOSE) INSERT INTO t VALUES (1)', 'ok'],
  ['EXPLAIN ANALYZE SELECT count(*) FROM t', 'ok'],
  ['PREPARE q AS SELECT * FROM t WHERE id = $1', 'ok'],
  ['DECLARE c CURSOR FOR SELECT * FROM t', 'ok'],
  ['DECLARE c CURSOR WITH HOLD FOR SELECT * FROM t', 'ok'],
  ['FETCH 100 FROM c', 'ok'],
  ['MOVE NEXT IN c', 'ok'],
  ['CLOSE c', 'ok'],
  ['CLOSE ALL', 'ok'],
  ['DEALLOCATE q', 'ok'],
  ['DISCARD PLANS', 'ok'],
  ['DISCARD TEMP', 'ok'],
  ['LISTEN chan', 'ok'],
  ['UNLISTEN *', 'ok'],
  ['LOCK TABLE t IN ACCESS SHARE MODE', 'ok'],
  ['COPY t TO STDOUT', 'ok'],
  ['COPY (SELECT * FROM t WHERE a > 1) TO STDOUT WITH (FORMAT csv)', 'ok'],
  ['SELECT 1; SELECT 2', 'ok'],
  ['', 'ok'],
  ['   \n\t ', 'ok'],
  ['-- just a comment', 'ok'],
  ['/* block */', 'ok'],
  [';', 'ok'],
];


describe('read_only', () => {
  const ro = makeInspector({ read_only: true }, makeParseCache());
  describe(`refuses ${REFUSED_BY_READ_ONLY.length} writing statements`, () => {
    for (const c of REFUSED_BY_READ_ONLY) {
      test(c[0], () => {
        check(ro.inspect, c);
        assert.ok(ro.inspect(c[0]).statements.some((s) => s.writes), 'a refused statement must be reported as writing');
      });
    }
  });
  describe(`allows ${ALLOWED_UNDER_READ_ONLY.length} reading statements`, () => {
    for (const c of ALLOWED_UNDER_READ_ONLY) {
      test(JSON.stringify(c[0]), () => {
        check(ro.inspect, c);
        assert.ok(ro.inspect(c[0]).statements.every((s) => !s.writes));
      });
    }
  });
  test('without read_only the same writes are allowed', () => {
    const open = makeInspector({}, makeParseCache());
    for (const [sql] of REFUSED_BY_READ_ONLY) check(open.inspect, [sql, 'ok']);
  });
  test('messages say what was refused and why, in words', () => {
    assert.equal(ro.inspect('DELETE FROM t WHERE id = 1').message,
      'airlock: statement refused by rule read_only: this role is read-only and DELETE writes data');
    assert.match(ro.inspect("SELECT pg_catalog.set_config('role', 'x', false)").message ?? '', /function set_config/);
    assert.match(ro.inspect('SELECT 1; DROP TABLE x').message ?? '', /DROP .*\(statement 2 of 2\)$/);
    assert.match(ro.inspect('WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x').message ?? '', /data-modifying DELETE/);
    assert.match(ro.inspect('SELECT * FROM t FOR NO KEY UPDATE').message ?? '', /FOR NO KEY UPDATE locks rows/);
    assert.match(ro.inspect('EXECUTE p').message ?? '', /cannot see/);
  });
});

