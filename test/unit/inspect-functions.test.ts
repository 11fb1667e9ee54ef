// The read-only function rule: every call syntax of a refused function is refused, built-ins are allowed only when
// known free of side effects, and the database's own functions, operators and views only when verified or listed.

import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCatalog, initInspect, makeInspector, makeParseCache, type CatalogRows } from '../../src/inspect/index.js';
import { NON_VOLATILE_BUILTINS, VOLATILE_BUILTINS } from '../../src/inspect/pg-builtin-functions.js';
import { isSafeBuiltin } from '../../src/inspect/function-rules.js';

before(async () => {
  await initInspect();
});

const ro = () => makeInspector({ read_only: true }, makeParseCache());

function refused(insp: ReturnType<typeof makeInspector>, sql: string, rule = 'read_only', pattern?: RegExp): void {
  const d = insp.inspect(sql);
  assert.equal(d.allowed, false, `expected refused: ${sql}`);
  assert.equal(d.rule, rule, `${sql}: ${d.message}`);
  if (pattern) assert.match(d.message ?? '', pattern, sql);
}

function allowed(insp: ReturnType<typeof makeInspector>, sql: string): void {
  const d = insp.inspect(sql);
  assert.equal(d.allowed, true, `expected allowed: ${sql} (got ${d.rule}: ${d.message})`);
}

describe('a refused function is refused in every call syntax', () => {
  const spellings = (fn: string, arg: string) => [
    `SELECT ${fn}(${arg})`,
    `SELECT pg_catalog.${fn}(${arg})`,
    `SELECT "${fn}"(${arg})`,
    `SELECT pg_catalog."${fn}"(${arg})`,
    `SELECT U&"${[...fn].map((c) => `\\${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"(${arg})`,
    `SELECT (${arg}).${fn}`,
    `SELECT (${arg}).pg_catalog.${fn}`.replace('.pg_catalog.', '.'),
    `SELECT ((${arg})).${fn}::text`,
    `SELECT x.${fn} FROM (SELECT ${arg}) AS x(v)`,
    `SELECT * FROM ${fn}(${arg})`,
    `SELECT * FROM ROWS FROM (${fn}(${arg})) AS r`,
    `SELECT * FROM (VALUES (1)) v, LATERAL ${fn}(${arg}) AS l`,
    `SELECT CAST(${fn}(${arg}) AS text)`,
    `SELECT ${fn}(${arg})::text || 'x'`,
    `SELECT 1 WHERE ${fn}(${arg}) IS NOT NULL`,
    `SELECT coalesce(null, ${fn}(${arg}))`,
    `WITH c AS (SELECT ${fn}(${arg})) SELECT * FROM c`,
    `EXPLAIN SELECT ${fn}(${arg})`,
    `DECLARE c CURSOR FOR SELECT ${fn}(${arg})`,
    `PREPARE p AS SELECT ${fn}(${arg})`,
    `COPY (SELECT ${fn}(${arg})) TO STDOUT`,
  ];
  const denied: readonly (readonly [string, string])[] = [
    ['pg_advisory_lock', '1'],
    ['pg_advisory_xact_lock_shared', '1'],
    ['pg_try_advisory_lock', '42'],
    ['lo_create', '0'],
    ['lo_from_bytea', "0, 'x'::bytea"],
    ['pg_cancel_backend', '1'],
    ['pg_terminate_backend', '1'],
    ['nextval', "'s'"],
    ['setval', "'s', 1"],
    ['pg_notify', "'c', 'p'"],
    ['set_config', "'default_transaction_read_only', 'off', false"],
    ['pg_export_snapshot', ''],
    ['txid_current', ''],
    ['pg_reload_conf', ''],
  ];
  for (const [fn, arg] of denied) {
    test(fn, () => {
      const insp = ro();
      for (const sql of spellings(fn, arg)) {
        // Attribute notation takes exactly one argument; the spellings with more make no sense there.
        if (arg.includes(',') && /\)\.|x\./.test(sql)) continue;
        if (arg === '' && /\(\)\.|\(\)\)\./.test(sql)) continue;
        refused(insp, sql);
      }
    });
  }
});

describe('functions that run SQL given as text are refused under any guardrail', () => {
  const cases = [
    "SELECT query_to_xml('select set_config(''default_transaction_read_only'', ''off'', false)', true, false, '')",
    "SELECT * FROM ts_stat('SELECT to_tsvector(''x'') FROM (SELECT pg_advisory_lock(1)) s')",
    "SELECT ts_rewrite('a & b'::tsquery, 'SELECT t, s FROM aliases')",
    "SELECT pg_catalog.query_to_xmlschema('select 1', true, false, '')",
    "SELECT QUERY_TO_XML('select 1', true, false, '')",
    "SELECT (('select 1')::text).query_to_xml",
    "SELECT database_to_xml(true, false, '')",
    "SELECT schema_to_xml('public', true, false, '')",
    "SELECT table_to_xml('v_refused'::regclass, true, false, '')",
    "SELECT cursor_to_xml('c'::refcursor, 10, true, false, '')",
    "SELECT * FROM public.dblink('dbname=x', 'delete from t') AS r(a int)",
  ];
  for (const guard of [{ read_only: true }, { require_where: true }, { deny_kinds: ['drop'] }, { max_rows: 10 }]) {
    test(JSON.stringify(guard), () => {
      const insp = makeInspector(guard, makeParseCache());
      for (const sql of cases) {
        const d = insp.inspect(sql);
        assert.equal(d.allowed, false, sql);
        assert.equal(d.rule, 'hidden_sql', `${sql}: ${d.message}`);
      }
    });
  }
  test('a role without guardrails is not restricted', () => {
    allowed(makeInspector({}, makeParseCache()), cases[0]!);
  });
});

describe('built-ins: known free of side effects, or refused (fail closed)', () => {
  test('the generated lists hold both PostgreSQL versions\' catalogs', () => {
    assert.ok(NON_VOLATILE_BUILTINS.size > 2400, `${NON_VOLATILE_BUILTINS.size}`);
    assert.ok(VOLATILE_BUILTINS.size > 200);
    for (const n of ['lower', 'now', 'jsonb_build_object', 'count', 'pg_get_viewdef']) assert.ok(isSafeBuiltin(n), n);
    for (const n of ['pg_advisory_lock', 'lo_create', 'nextval', 'pg_export_snapshot', 'txid_current', 'query_to_xml', 'brin_summarize_range', 'pg_nextoid']) {
      assert.equal(isSafeBuiltin(n), false, n);
    }
  });
  test('ordinary reads, clocks, sizes and statistics are allowed', () => {
    const insp = ro();
    for (const sql of [
      "SELECT lower('X'), upper(name), length(name), now(), clock_timestamp(), random(), gen_random_uuid() FROM t",
      "SELECT pg_size_pretty(pg_total_relation_size('t')), pg_database_size(current_database())",
      'SELECT count(*), sum(a), jsonb_agg(t) FROM t GROUP BY a ORDER BY 1',
      "SELECT extract(year FROM now()), substring('abc' FROM 2), trim(' x '), position('b' IN 'abc')",
      'SELECT pg_sleep(0), pg_backend_pid(), pg_is_in_recovery(), pg_current_wal_lsn()',
      'SELECT * FROM t TABLESAMPLE system (10)',
      'SELECT t.name, t.total FROM orders t',
      'SELECT (t).name FROM orders t',
      "SELECT (row(1, 'x')::composite_t).f1",
      "SELECT pg_catalog.lower('A')",
      'SELECT a FROM t WHERE a BETWEEN 1 AND 2 AND b IN (1, 2) AND c LIKE \'x%\' AND a = ANY (ARRAY[1])',
    ]) allowed(insp, sql);
  });
  test('a built-in not known to be safe is refused with its name; so is a function of no known schema', () => {
    const insp = ro();
    refused(insp, "SELECT brin_summarize_range('i', 0)", 'read_only', /brin_summarize_range is a built-in that is not known to be free of side effects/);
    refused(insp, 'SELECT pg_catalog.no_such_function()', 'read_only', /not a built-in function of this server/);
    refused(insp, 'SELECT my_report(1)', 'read_only', /my_report is not a built-in.*allow_functions/);
    refused(insp, 'SELECT app.my_report(1)', 'read_only', /app\.my_report/);
    refused(insp, 'SELECT "LOWER"(\'x\')', 'read_only', /LOWER/);
  });
  test('allow_functions admits a listed function, by name or schema.name, in any case', () => {
    const insp = makeInspector({ read_only: true, allow_functions: ['App.My_Report', 'other_fn'] }, makeParseCache());
    allowed(insp, 'SELECT app.my_report(1)');
    allowed(insp, 'SELECT other_fn(1), public.other_fn(2)');
    refused(insp, 'SELECT my_report(1)');
    // The list never admits a built-in that is refused for its side effects.
    refused(makeInspector({ read_only: true, allow_functions: ['pg_advisory_lock'] }, makeParseCache()), 'SELECT pg_advisory_lock(1)');
  });
});

describe('session settings that outlive the statement', () => {
  test('search_path, role, authorization and read-only settings cannot be changed', () => {
    const insp = ro();
    for (const sql of [
      'SET search_path = public, pg_catalog', 'SET search_path TO evil', 'SET LOCAL search_path = x', 'SET SESSION search_path = x',
      'SET "search_path" = x', 'SET search_path TO DEFAULT', "SELECT set_config('search_path', 'x', false)",
      "SELECT set_config('search_path', 'x', true)", 'SET ROLE postgres', 'SET SESSION AUTHORIZATION postgres',
      'SET default_transaction_read_only = off', 'RESET transaction_read_only',
    ]) refused(insp, sql);
    allowed(insp, 'RESET search_path');
  });
});

const rows = (partial: Partial<CatalogRows>): CatalogRows => ({ functions: [], operators: [], views: [], policies: [], ...partial });
const fn = (name: string, extra: Partial<CatalogRows['functions'][number]> = {}): CatalogRows['functions'][number] => ({
  schema: 'public', name, language: 'plpgsql', volatility: 'v', security_definer: false, kind: 'f', body: null, ...extra,
});

describe('the database\'s own objects', () => {
  // Built on first use: describe bodies run before the parser is loaded.
  const catalog = () => buildCatalog(rows({
    functions: [
      fn('audit_write', { security_definer: true, language: 'sql', body: 'SELECT 1' }),
      fn('plpgsql_report'),
      fn('sql_total', { language: 'sql', volatility: 's', body: 'SELECT sum(total) FROM orders' }),
      fn('sql_locker', { language: 'sql', volatility: 'i', body: 'SELECT pg_advisory_lock(1)' }),
      fn('sql_calls_plpgsql', { language: 'sql', body: 'SELECT plpgsql_report()' }),
      fn('sql_writes', { language: 'sql', body: 'INSERT INTO t VALUES (1) RETURNING 1' }),
      fn('lower', { schema: 'app', language: 'plpgsql' }),
      fn('c_immutable', { language: 'c', volatility: 'i' }),
      fn('c_volatile', { language: 'c', volatility: 'v' }),
      fn('loop_a', { language: 'sql', body: 'SELECT loop_b()' }),
      fn('loop_b', { language: 'sql', body: 'SELECT loop_a()' }),
      fn('evil_eq', { language: 'plpgsql' }),
      fn('my_agg', { kind: 'a', language: 'internal', volatility: 'i' }),
    ],
    operators: [{ schema: 'public', name: '===', function_schema: 'public', function_name: 'evil_eq' }],
    views: [
      { schema: 'public', name: 'v_locks', definition: ' SELECT pg_advisory_lock(1) AS l;' },
      { schema: 'public', name: 'v_report', definition: ' SELECT plpgsql_report() AS r;' },
      { schema: 'public', name: 'v_plain', definition: ' SELECT orders.id FROM orders;' },
      { schema: 'public', name: 'v_unparsable', definition: 'SELEC nonsense' },
    ],
    policies: [{ schema: 'public', name: 'secured', qual: 'plpgsql_report() IS NOT NULL' }],
  }));
  const insp = (allow: string[] = []) => makeInspector({ read_only: true, allow_functions: allow }, makeParseCache(), catalog());

  test('SECURITY DEFINER, PL/pgSQL, volatile C functions and aggregates are refused unless listed', () => {
    refused(insp(), 'SELECT audit_write()', 'read_only', /public\.audit_write/);
    refused(insp(), 'SELECT public.audit_write()');
    refused(insp(), 'SELECT plpgsql_report()');
    refused(insp(), 'SELECT c_volatile()');
    refused(insp(), 'SELECT my_agg(a) FROM t');
    allowed(insp(['plpgsql_report']), 'SELECT plpgsql_report()');
    allowed(insp(['public.audit_write']), 'SELECT audit_write()');
  });
  test('SQL functions are verified by their body; immutable or stable C functions by their label', () => {
    allowed(insp(), 'SELECT sql_total(), c_immutable()');
    allowed(insp(), 'SELECT public.sql_total()');
    refused(insp(), 'SELECT sql_locker()', 'read_only', /pg_advisory_lock/);
    // Listing a function is an admin's word for it, whatever it calls.
    allowed(insp(['sql_locker']), 'SELECT sql_locker()');
    refused(insp(), 'SELECT sql_writes()', 'read_only', /writes/);
    refused(insp(), 'SELECT sql_calls_plpgsql()', 'read_only', /plpgsql_report/);
    allowed(insp(['plpgsql_report']), 'SELECT sql_calls_plpgsql()');
    allowed(insp(), 'SELECT loop_a()');
  });
  test('a database function may hide behind a built-in name or attribute notation', () => {
    refused(insp(), "SELECT lower('x')", 'read_only', /database's own function lower/);
    allowed(insp(), "SELECT pg_catalog.lower('x')");
    refused(insp(), 'SELECT o.plpgsql_report FROM orders o');
    refused(insp(), 'SELECT (o).plpgsql_report FROM orders o');
    allowed(insp(), 'SELECT o.sql_total FROM orders o');
  });
  test('operators and views reach the functions behind them; row policies too', () => {
    refused(insp(), 'SELECT 1 === 2', 'read_only', /operator ===.*evil_eq/);
    refused(insp(), 'SELECT 1 OPERATOR(public.===) 2');
    allowed(insp(['evil_eq']), 'SELECT 1 === 2');
    refused(insp(), 'SELECT * FROM v_locks', 'read_only', /v_locks.*pg_advisory_lock/);
    refused(insp(), 'SELECT * FROM public.v_locks');
    refused(insp(), 'SELECT * FROM orders WHERE id IN (SELECT l::int FROM v_locks)');
    refused(insp(), 'SELECT * FROM v_report');
    allowed(insp(['plpgsql_report']), 'SELECT * FROM v_report');
    refused(insp(), 'SELECT * FROM v_unparsable');
    refused(insp(), 'SELECT * FROM secured', 'read_only', /secured.*plpgsql_report/);
    allowed(insp(), 'SELECT * FROM v_plain JOIN orders USING (id)');
  });
});

describe('reads_only: which allowed statements may run before their audit event commits', () => {
  const catalog = () => buildCatalog(rows({
    functions: [fn('plpgsql_report'), fn('sql_total', { language: 'sql', volatility: 's', body: 'SELECT sum(total) FROM orders' })],
    views: [{ schema: 'public', name: 'v_report', definition: ' SELECT plpgsql_report() AS r;' }],
  }));
  test('only statements shown to read, with the database catalog at hand', () => {
    const rw = makeInspector({}, makeParseCache(), catalog());
    for (const sql of ['SELECT 1', 'SELECT lower(name), count(*) FROM orders GROUP BY 1', 'SELECT sql_total()', 'SELECT * FROM t WHERE a BETWEEN 1 AND 2', 'SELECT 1; SELECT 2']) {
      assert.equal(rw.inspect(sql).reads_only, true, sql);
    }
    for (const sql of [
      'INSERT INTO t VALUES (1)', 'SELECT plpgsql_report()', 'SELECT * FROM v_report', "SELECT nextval('s')", 'SELECT * FROM t FOR UPDATE',
      'SELECT unknown_fn()', 'SELECT 1; DELETE FROM t', 'WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d', 'SELEC oops', "SELECT query_to_xml('x', true, false, '')",
    ]) assert.equal(rw.inspect(sql).reads_only, false, sql);
    assert.equal(makeInspector({ allow_functions: ['plpgsql_report'] }, makeParseCache(), catalog()).inspect('SELECT plpgsql_report()').reads_only, true);
  });
  test('without a catalog nothing counts as shown to read', () => {
    assert.equal(makeInspector({}, makeParseCache()).inspect('SELECT 1 FROM t').reads_only, false);
  });
});

test('COPY of a table reaches its row policies; refusals of opaque functions say what they are', async () => {
  await initInspect();
  const catalog = buildCatalog(rows({ functions: [fn('evil', { security_definer: true })], policies: [{ schema: 'public', name: 'secured', qual: 'evil() IS NOT NULL' }] }));
  const insp = makeInspector({ read_only: true }, makeParseCache(), catalog);
  refused(insp, 'COPY secured TO STDOUT', 'read_only', /secured/);
  refused(insp, 'TABLE secured');
  refused(insp, 'SELECT * FROM evil()', 'read_only', /the function evil \(public\.evil\) cannot be shown to only read: it is PL\/pgSQL .*SECURITY DEFINER/);
});

test('reads_only under read_only: every allowed statement with a catalog, none without', async () => {
  await initInspect();
  const withCatalog = makeInspector({ read_only: true }, makeParseCache(), buildCatalog(rows({})));
  assert.equal(withCatalog.inspect('SELECT lower(name) FROM t').reads_only, true);
  assert.equal(withCatalog.inspect('SELECT unknown_fn()').reads_only, false);
  assert.equal(makeInspector({ read_only: true }, makeParseCache()).inspect('SELECT 1').reads_only, false);
});
