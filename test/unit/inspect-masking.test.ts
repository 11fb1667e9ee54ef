// The PostgreSQL mask catalog and statement check on a catalog built from hand-written rows: which columns are masked
// (rules, labels, patterns, partitions, inheritance, views, generated columns), and which statements may run.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { initInspect } from '../../src/inspect/index.js';
import { buildMaskCatalog, checkPgMasking, PgMaskCatalog, type MaskCatalog, type MaskCatalogRows } from '../../src/inspect/masking/index.js';
import type { MaskMethod, SessionMasking } from '../../src/domain/masking.js';

type Col = [name: string, kind?: string, comment?: string | null, generated?: string | null];

function fixtureRows(): MaskCatalogRows {
  const relations: Record<string, unknown>[] = [];
  const columns: Record<string, unknown>[] = [];
  const add = (oid: number, schema: string, name: string, kind: string, cols: Col[], definition: string | null = null) => {
    relations.push({ oid: String(oid), schema, name, kind, definition });
    cols.forEach(([col, type = 'text', comment = null, generated = null], i) => {
      columns.push({ relid: String(oid), attnum: i + 1, name: col, type_kind: type, comment, generated });
    });
  };
  add(100, 'public', 'customers', 'r', [['id', 'other'], ['email'], ['name'], ['phone', 'text', 'pii:phone mobile'], ['profile', 'jsonb'], ['tags', 'other'], ['email_lower', 'text', null, 'lower(email)']]);
  add(200, 'public', 'orders', 'r', [['id', 'other'], ['customer_id', 'other'], ['note'], ['email']]);
  add(300, 'billing', 'cards', 'r', [['id', 'other'], ['card'], ['holder']]);
  add(400, 'archive', 'customers', 'r', [['id', 'other'], ['email']]);
  add(500, 'public', 'events', 'p', [['id', 'other'], ['at', 'other'], ['email']]);
  // A partition whose columns sit at other positions than its parent's.
  add(501, 'public', 'events_2024', 'r', [['at', 'other'], ['id', 'other'], ['email']]);
  add(600, 'public', 'people', 'r', [['id', 'other'], ['email', 'text', 'pii:email']]);
  add(601, 'public', 'staff', 'r', [['id', 'other'], ['email'], ['role']]);
  add(700, 'public', 'v_pass', 'v', [['id', 'other'], ['contact'], ['name']], 'SELECT customers.id, customers.email AS contact, customers.name FROM customers;');
  add(701, 'public', 'v_derived', 'v', [['id', 'other'], ['lemail'], ['name']], 'SELECT customers.id, lower(customers.email) AS lemail, customers.name FROM customers;');
  add(702, 'public', 'v_over', 'v', [['contact'], ['name']], 'SELECT v_pass.contact, v_pass.name FROM v_pass;');
  add(703, 'public', 'v_over_derived', 'v', [['lemail']], 'SELECT v_derived.lemail FROM v_derived;');
  add(704, 'public', 'v_union', 'v', [['email']], 'SELECT customers.email FROM customers UNION SELECT people.email FROM people;');
  add(705, 'public', 'v_whole', 'v', [['j', 'json']], 'SELECT row_to_json(c.*) AS j FROM customers c;');
  add(706, 'public', 'v_clear', 'v', [['id', 'other'], ['note']], 'SELECT orders.id, orders.note FROM orders;');
  add(707, 'public', 'mv', 'm', [['id', 'other'], ['email'], ['uname']], 'SELECT customers.id, customers.email, upper(customers.name) AS uname FROM customers;');
  add(708, 'public', 'v_sub', 'v', [['e'], ['n']], 'SELECT s.e, s.n FROM (SELECT customers.email AS e, customers.name AS n FROM customers) s;');
  add(709, 'public', 'v_unreadable', 'v', [['x']], 'SELECT customers.email FROM customers WHERE ((( ;');
  add(900, 'pg_catalog', 'pg_stats', 'v', [['schemaname'], ['tablename'], ['most_common_vals', 'other']]);
  add(901, 'pg_catalog', 'pg_class', 'r', [['oid', 'other'], ['relname']]);
  add(902, 'public', 'counter', 'S', [['last_value', 'other']]);
  return {
    relations, columns,
    inherits: [{ child: '501', parent: '500' }, { child: '601', parent: '600' }],
    functions: [{ name: 'my_func' }, { name: 'replace' }],
    operators: [{ name: '@@@' }, { name: '=' }],
  };
}

function masking(predicates: 'allow' | 'refuse' = 'allow', extra: { column?: string; label?: string; method: MaskMethod }[] = []): SessionMasking {
  const rules = [
    { column: 'customers.email', method: 'hash' as const },
    { column: 'customers.email', method: 'null' as const },
    { column: 'public.customers.profile', method: 'null' as const },
    { column: 'customers.tags', method: 'null' as const },
    { column: 'billing.*.card', method: 'partial' as const },
    { column: 'events.email', method: 'redact' as const },
    { label: 'pii:email', method: 'email' as const },
    { label: 'pii:phone', method: 'redact' as const },
    ...extra,
  ];
  return {
    role: 'support', predicates,
    rules: rules.map((r) => ({ ...r, resolved: { method: r.method, keep: 4, key: null, rule: r.column ?? `label ${r.label}` } })),
  };
}

let allow: PgMaskCatalog;
let refuse: PgMaskCatalog;

before(async () => {
  await initInspect();
  allow = buildMaskCatalog(fixtureRows(), masking()) as PgMaskCatalog;
  refuse = buildMaskCatalog(fixtureRows(), masking('refuse')) as PgMaskCatalog;
});

describe('the mask catalog', () => {
  test('rules, patterns and labels mask table columns; the first matching rule wins', () => {
    assert.equal(allow.empty, false);
    assert.equal(allow.maskOf(100, 2)?.name, 'public.customers.email');
    assert.equal(allow.maskOf(100, 2)?.mask.method, 'hash', 'the first of two rules for customers.email');
    assert.equal(allow.maskOf(100, 3), null, 'customers.name is not masked');
    assert.equal(allow.maskOf(100, 4)?.mask.rule, 'label pii:phone', 'a label matches the first word of the comment');
    assert.equal(allow.maskOf(100, 5)?.kind, 'jsonb');
    assert.equal(allow.maskOf(300, 2)?.mask.method, 'partial', 'billing.*.card');
    assert.equal(allow.maskOf(300, 3), null);
    assert.equal(allow.maskOf(400, 2)?.name, 'archive.customers.email', 'table.column matches in every schema');
    assert.equal(allow.maskOf(200, 4), null, 'orders.email is not named by any rule');
    assert.equal(allow.maskOf(600, 2)?.mask.rule, 'label pii:email', 'a label matches the whole comment');
  });

  test('partitions and inheritance children take their parent\'s masked columns by name', () => {
    assert.equal(allow.maskOf(501, 3)?.name, 'public.events_2024.email');
    assert.equal(allow.maskOf(501, 3)?.mask.rule, 'events.email');
    assert.equal(allow.maskOf(501, 1), null);
    assert.equal(allow.maskOf(601, 2)?.name, 'public.staff.email');
    assert.equal(allow.maskOf(601, 3), null);
  });

  test('a generated column computed from a masked column is masked with its mask', () => {
    assert.equal(allow.maskOf(100, 7)?.name, 'public.customers.email_lower');
    assert.equal(allow.maskOf(100, 7)?.mask.method, 'hash');
  });

  test('views: pass-through columns are masked under the view\'s own oid, computed ones are tainted', () => {
    assert.equal(allow.maskOf(700, 2)?.name, 'public.v_pass.contact');
    assert.equal(allow.maskOf(700, 2)?.mask.method, 'hash');
    assert.equal(allow.maskOf(700, 1), null);
    assert.equal(allow.maskOf(702, 1)?.name, 'public.v_over.contact', 'a view over a view');
    assert.equal(allow.maskOf(707, 2)?.name, 'public.mv.email', 'a materialized view');
    assert.equal(allow.maskOf(708, 1)?.name, 'public.v_sub.e', 'through a subquery in the view');
    assert.equal(allow.maskOf(708, 2), null);
    const tainted = new Map(allow.taintedColumns().map((t) => [t.column, t.source]));
    assert.equal(tainted.get('public.v_derived.lemail'), 'public.customers.email');
    assert.equal(tainted.get('public.v_over_derived.lemail'), 'public.customers.email');
    assert.equal(tainted.has('public.v_union.email'), true);
    assert.equal(tainted.has('public.v_whole.j'), true);
    assert.equal(tainted.get('public.v_unreadable.x'), 'public.customers.email', 'a definition that does not parse taints every column');
    assert.equal(tainted.has('public.mv.uname'), false, 'upper(name) reads no masked column');
    assert.equal(allow.maskOf(701, 2), null, 'a tainted column is not masked: statements reading it are refused');
  });

  test('every masked column is listed once, and a role whose rules match nothing gets an empty catalog', () => {
    const names = allow.columns.map((c) => c.name);
    assert.equal(new Set(names).size, names.length);
    assert.ok(names.includes('public.v_pass.contact'));
    const none = buildMaskCatalog(fixtureRows(), { role: 'r', predicates: 'allow', rules: [{ column: 'nothing.here', method: 'redact', resolved: { method: 'redact', keep: 4, key: null, rule: 'nothing.here' } }] });
    assert.equal(none.empty, true);
    assert.deepEqual(none.columns, []);
    assert.deepEqual(checkPgMasking('select lower(email) from customers', none, { predicates: 'allow' }), { ok: true, masked: false });
  });
});

function ok(catalog: MaskCatalog, sql: string, masked: boolean): void {
  const v = checkPgMasking(sql, catalog, { predicates: catalog === refuse ? 'refuse' : 'allow' });
  assert.deepEqual(v, { ok: true, masked }, `${sql}\n  → ${'message' in v ? v.message : JSON.stringify(v)}`);
}

function refused(catalog: MaskCatalog, sql: string, column: string, pattern?: RegExp): void {
  const v = checkPgMasking(sql, catalog, { predicates: catalog === refuse ? 'refuse' : 'allow' });
  assert.equal(v.ok, false, `expected refused: ${sql}`);
  if (v.ok) return;
  assert.equal(v.column, column, `${sql}: ${v.message}`);
  assert.match(v.message, /^airlock: statement refused by rule masking: /);
  if (column !== '') assert.ok(v.message.includes(column), `the message names ${column}: ${v.message}`);
  if (pattern) assert.match(v.message, pattern, sql);
}

const EMAIL = 'public.customers.email';

describe('allowed: masked columns as plain result columns (PostgreSQL names their origin)', () => {
  const cases: [string, boolean][] = [
    ['select email from customers', true],
    ['select email as contact, name from customers', true],
    ['select c.email from public.customers c', true],
    ['select public.customers.email from public.customers', true],
    ['select * from customers', true],
    ['select c.* from customers c', true],
    ['table customers', true],
    ['select e from (select email as e from customers) t', true],
    ['select b from customers t(a, b)', true],
    ['with w as (select email from customers) select * from w', true],
    ['with w(x) as (select email from customers) select w.x from w', true],
    ['select c.email, o.note from customers c join orders o on o.customer_id = c.id', true],
    ['select x.email from customers c, lateral (select c.email) x', true],
    ['select email from events_2024', true],
    ['select * from staff', true],
    ['select contact from v_pass', true],
    ['select * from v_over', true],
    ['select id, name from v_derived', false],
    ['select email from mv', true],
    ['update customers set name = $1 where id = $2 returning email', true],
    ['delete from customers where id = 1 returning *', true],
    ['insert into customers (id, email) values (1, \'new@example.com\') returning email', true],
    ['with x as (update customers set name = name where id = 1 returning email) select * from x', true],
    ['declare c cursor for select email from customers', true],
    ['fetch 10 from c', true],
    ['prepare p as select email from customers where id = $1', true],
    ['execute p(1)', true],
    ['explain select email from customers', false],
    ['select id from customers where email = \'a@example.com\'', false],
    ['select id from customers where email like \'a%\' and name ilike \'b%\' or email is null', false],
    ['select id from customers where email in (\'a\', \'b\') and email between \'a\' and \'m\'', false],
    ['select id from customers where email in (select email from people)', false],
    ['select id from customers c where exists (select 1 from orders o where o.email = c.email)', false],
    ['select id from customers where email = any($1) and email is distinct from \'x\'', false],
    ['select id from customers where (select p.email from people p limit 1) = email', false],
    ['select email, count(*) from customers group by email having count(email) > 1 order by email', true],
    ['select count(email), count(distinct email) from customers', false],
    ['select distinct on (email) email, id from customers order by email, id', true],
    ['select id, row_number() over (partition by email order by email) from customers', false],
    ['select email from customers order by 1', true],
    ['select card from billing.cards', true],
    ['copy customers (id, name) to stdout', false],
    ['copy (select id, name from customers) to stdout', false],
    ['copy customers from stdin', false],
    ['select * from orders; select id from customers', false],
    ['select lower(note), md5(note) from orders', false],
    ['with customers as (select \'x\' as email) select lower(email) from customers', false],
    ['select relname from pg_class', false],
    ['select last_value from counter', false],
    ['begin; set search_path = archive, public; select email from customers; commit', true],
    ['select id from customers where email = \'x\' union select id from people', false],
    ['select count(*) from (select email from customers union select email from people) t', false],
    ['update customers set email = \'x\' where email = \'y\'', false],
    ['select email from customers c natural join billing.cards', true],
    ['select c.email as c from customers c order by c', true],
    ['select lower(name) as email from customers order by email', false],
    ['select email as c from customers c group by c', true],
    ['select g from customers c, generate_series(1, 2) g', false],
    ['select e from (select * from orders o join public.customers c using (id)) t(a, b, c2, d, e)', true],
    ['select lower(d) from (select * from orders o join public.customers c using (id)) t(a, b, c2, d, e)', false],
    ['select id from customers where email ^@ \'a\' and email !~~* \'%b\' and email similar to \'a%\'', false],
  ];
  for (const [sql, masked] of cases) test(sql, () => ok(allow, sql, masked));
});

describe('refused: indirect reads of a masked value', () => {
  const cases: [string, string, RegExp?][] = [
    ['select email || \'\' from customers', EMAIL, /operator \|\|/],
    ['select lower(email) from customers', EMAIL, /lower\(\)/],
    ['select substr(email, 1, 3) from customers', EMAIL],
    ['select md5(email) from customers', EMAIL],
    ['select length(email) from customers', EMAIL],
    ['select format(\'%s\', email) from customers', EMAIL],
    ['select concat(name, email) from customers', EMAIL],
    ['select email::varchar from customers', EMAIL, /cast/],
    ['select cast(email as bytea) from customers', EMAIL, /cast/],
    ['select case when email like \'a%\' then 1 else 0 end from customers', EMAIL],
    ['select coalesce(email, \'\') from customers', EMAIL, /COALESCE/],
    ['select nullif(email, \'\') from customers', EMAIL, /NULLIF/],
    ['select email = \'a@example.com\' from customers', EMAIL],
    ['select tags[1] from customers', 'public.customers.tags'],
    ['select profile->>\'ssn\' from customers', 'public.customers.profile'],
    ['select row(email) from customers', EMAIL, /ROW/],
    ['select array[email] from customers', EMAIL, /ARRAY/],
    ['select array_agg(email) from customers', EMAIL],
    ['select json_agg(email) from customers', EMAIL],
    ['select jsonb_agg(c) from customers c', EMAIL, /whole row/],
    ['select string_agg(email, \',\') from customers', EMAIL],
    ['select xmlagg(xmlelement(name e, email)) from customers', EMAIL],
    ['select min(email), max(email) from customers', EMAIL],
    ['select first_value(email) over (order by id) from customers', EMAIL],
    ['select percentile_disc(0.5) within group (order by email) from customers', EMAIL],
    ['select c from customers c', EMAIL, /whole row/],
    ['select row_to_json(c) from customers c', EMAIL, /whole row/],
    ['select to_jsonb(c.*) from customers c', EMAIL],
    ['select c::text from customers c', EMAIL],
    ['select c.text from customers c', EMAIL, /c\.text names no column/],
    ['select c.row_to_json from customers c', EMAIL, /row_to_json\(\) on/],
    ['select (c).email from customers c', EMAIL],
    ['select c from customers c, generate_series(1, 2) g', EMAIL, /whole row/],
    ['select lower(e) from (select * from orders o join public.customers c using (id)) t(a, b, c2, d, e)', EMAIL],
    ['select lower(c2) from (select * from customers) t(a, b, c2)', EMAIL],
    ['select lower(x) from (select * from generate_series(1, 2) g, customers c) t(a, x)', EMAIL],
    ['with w as (select * from generate_series(1, 2) g, public.customers c) select lower(b) from w as x(a, b)', EMAIL],
    ['select lower(y) from (public.customers c join generate_series(1, 2) g on true) as j(x, y)', EMAIL],
    ['select email from customers union select note from orders', EMAIL, /UNION/],
    ['select email from customers intersect select email from people', EMAIL, /INTERSECT/],
    ['select * from (values ((select email from customers limit 1))) v', EMAIL],
    ['select (select email from customers limit 1)', EMAIL, /scalar subquery/],
    ['select array(select email from customers)', EMAIL],
    ['with w as (select lower(email) as e from customers) select * from w', EMAIL],
    ['select lemail from v_derived', EMAIL, /view column public\.v_derived\.lemail/],
    ['select * from v_derived', EMAIL, /instead of using \*/],
    ['select * from v_over_derived', EMAIL],
    ['select * from v_union', EMAIL],
    ['select j from v_whole', EMAIL],
    ['select e from (select email as e from customers union all select email from people) t', EMAIL],
    ['copy customers to stdout', EMAIL, /COPY cannot be masked/],
    ['copy customers (id, email) to stdout', EMAIL, /console's CSV export/],
    ['copy (select email from customers) to stdout', EMAIL, /COPY/],
    ['copy (select id from customers where email like \'a%\') to stdout', EMAIL, /COPY/],
    ['insert into orders (note) select email from customers', EMAIL, /INSERT would write it/],
    ['insert into orders (note) values ((select email from customers limit 1))', EMAIL, /INSERT/],
    ['update orders set note = c.email from customers c where c.id = orders.customer_id', EMAIL, /UPDATE would write/],
    ['update orders set note = (select email from customers limit 1)', EMAIL],
    ['update customers set name = email', EMAIL],
    ['merge into orders o using customers c on o.customer_id = c.id when matched then update set note = c.email', EMAIL, /MERGE/],
    ['with x as (select email from customers) insert into orders (note) select email from x', EMAIL],
    ['create table x as select email from customers', '', /CREATE TABLE AS/],
    ['explain analyze create table x as select note from orders', '', /CREATE TABLE AS/],
    ['explain analyze select note into x from orders', '', /SELECT … INTO/],
    ['select email into x from customers', '', /SELECT … INTO/],
    ['create view v2 as select email from customers', '', /CREATE VIEW/],
    ['create materialized view m2 as select email from customers', '', /CREATE/],
    ['alter table customers rename column email to e', '', /RENAME/],
    ['comment on column customers.email is null', '', /COMMENT ON/],
    ['grant select on customers to public', '', /GRANT/],
    ['drop table orders', '', /DROP/],
    ['select my_func(1)', '', /my_func is not a PostgreSQL built-in/],
    ['select public.lower(email) from customers', '', /public\.lower/],
    ['select replace(name, \'a\', \'b\') from customers', '', /defines its own function replace/],
    ['select * from customers where id = my_func(1)', '', /my_func/],
    ['call my_proc()', '', /CALL/],
    ['do $$ begin perform 1; end $$', '', /DO/],
    ['select query_to_xml(\'select email from customers\', true, true, \'\')', '', /query_to_xml/],
    ['select table_to_xml(\'customers\', true, true, \'\')', '', /table_to_xml/],
    ['select cursor_to_xml(\'c\', 10, true, true, \'\')', '', /cursor_to_xml/],
    ['select * from ts_stat(\'select to_tsvector(email) from customers\')', '', /ts_stat/],
    ['select pg_read_binary_file(\'base/1/100\')', '', /data files/],
    ['select lo_import(\'base/16384/16385\')', '', /reads a server file/],
    ['select pg_catalog.lo_import(\'pg_wal/000000010000000000000001\', 4242)', '', /reads a server file/],
    ['copy orders from program \'psql -c "copy (select email from customers) to stdout"\'', '', /COPY … PROGRAM runs a program on the database server/],
    ['copy orders (note) from \'/var/lib/postgresql/data/base/1/2\'', '', /COPY to or from a server file/],
    ['select most_common_vals from pg_stats where tablename = \'customers\'', '', /pg_stats holds sample values/],
    ['select * from pg_catalog.pg_stats', '', /pg_stats/],
    ['select * from customers join orders using (email)', EMAIL, /JOIN … ON a\.email = b\.email/],
    ['select * from customers natural join orders', EMAIL, /USING/],
    ['select id from customers where lower(email) = \'a@example.com\'', EMAIL, /WHERE clause uses it through the function lower\(\)/],
    ['select id from customers where email::int = 1', EMAIL, /cast/],
    ['select id from customers where length(email) > 10', EMAIL],
    ['select id from customers where set_config(\'x.y\', email, false) is not null', EMAIL],
    ['select id from customers c join orders o on o.note = upper(c.email)', EMAIL, /JOIN ON/],
    ['select id from customers order by lower(email)', EMAIL, /ORDER BY/],
    ['select count(*) from customers group by substr(email, 1, 1)', EMAIL, /GROUP BY/],
    ['select id from customers group by id having max(email) > \'m\'', EMAIL, /HAVING/],
    ['select id from customers where email @@@ \'x\'', '', /operator @@@/],
    ['select id from customers order by email using ~<~', EMAIL],
    ['select * from new_table', '', /newer than this session's view/],
    ['select email from customers; select lower(email) from customers', EMAIL],
    ['select * from customers c, lateral jsonb_each(c.profile) j', 'public.customers.profile'],
    ['select * from customers c, unnest(array[c.email]) u', EMAIL],
    ['select email from customers limit (select length(email) from customers limit 1)', EMAIL],
    ['explain analyze select lower(email) from customers', EMAIL],
    ['declare c cursor for select md5(email) from customers', EMAIL],
    ['prepare p as select email || \'x\' from customers', EMAIL],
    ['select email from archive.customers union all select \'x\'', 'archive.customers.email'],
    ['select lower(email) from customers c join archive.customers a using (id)', EMAIL],
    ['select lower(contact) from v_pass', 'public.v_pass.contact'],
    ['select card || \'\' from billing.cards', 'billing.cards.card'],
    ['select lower(email) from staff', 'public.staff.email'],
    ['select lower(phone) from customers', 'public.customers.phone'],
    ['select email from customers where id = 1 \\; select 1', '', /could not be parsed/],
  ];
  for (const [sql, column, pattern] of cases) test(sql, () => refused(allow, sql, column, pattern));
});

describe('server files and programs (a table\'s data file holds its values in clear)', () => {
  for (const [sql, pattern] of [
    ["copy orders (note) from program 'psql -c \"select email from customers\"'", /COPY … PROGRAM/],
    ["copy orders to program 'cat'", /COPY … PROGRAM/],
    ["COPY public.orders (note) FROM '/var/lib/postgresql/data/base/1/2'", /server file/],
    ["copy (select id from orders) to '/tmp/x'", /server file/],
    ["copy orders from program 'true' with (format csv)", /COPY … PROGRAM/],
    ["select lo_import('/var/lib/postgresql/data/base/1/2')", /lo_import/],
    ["select pg_catalog.lo_import('base/1/2', 4242)", /lo_import/],
    ["select lo_get(lo_import('base/1/2'))", /lo_import/],
    ["select lo_export(4242, '/tmp/x')", /lo_export/],
    ["explain analyze select lo_import('base/1/2')", /lo_import/],
  ] as const) test(sql, () => refused(allow, sql, '', pattern));
  test('COPY to STDOUT and from STDIN of columns in clear still run', () => {
    ok(allow, 'copy orders (id, note) to stdout', false);
    ok(allow, 'copy orders (note) from stdin', false);
  });
});

describe('predicates: refuse', () => {
  for (const sql of [
    'select id from customers where email = \'a@example.com\'',
    'select id from customers order by email',
    'select count(*) from customers group by email',
    'select id from customers c join people p on p.email = c.email',
    'select count(distinct email) from customers',
    'select id, rank() over (partition by email) from customers',
    'select id from customers where id in (select id from customers where email like \'a%\')',
  ]) test(sql, () => refused(refuse, sql, sql.includes('people p') ? 'public.people.email' : EMAIL, /may not use masked columns/));
  for (const sql of ['select email, id from customers', 'select e from (select email as e from customers) t', 'select * from v_pass where id = 1', 'select distinct email from customers']) {
    test(sql, () => ok(refuse, sql, true));
  }
});

describe('the verdict cache', () => {
  test('a text is checked once per catalog and predicates mode', () => {
    const sql = 'select email from customers where id = 42 -- cache';
    const first = checkPgMasking(sql, allow, { predicates: 'allow' });
    assert.equal(checkPgMasking(sql, allow, { predicates: 'allow' }), first, 'the same frozen verdict object');
    const other = checkPgMasking('select id from customers where email = \'x\' -- cache', allow, { predicates: 'refuse' });
    assert.equal(other.ok, false, 'the refuse mode is not served from the allow entry');
    assert.ok(Object.isFrozen(first));
  });

  test('a catalog not built by buildMaskCatalog is rejected', () => {
    const fake: MaskCatalog = { empty: false, columns: [], maskOf: () => null };
    assert.throws(() => checkPgMasking('select 1', fake, { predicates: 'allow' }), /buildMaskCatalog/);
  });
});
