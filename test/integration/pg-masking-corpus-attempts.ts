// The masking corpus (issue 17): statements that try to read a masked value indirectly, each with what the gateway
// must do with it. `masked`: it runs, and every masked cell equals the mask of the real value; `refused`: it is
// refused with AIRLOCK_MASKING_REFUSED. A list of statements runs in that order on one connection; the last result
// with columns is the one compared.

export type Client = 'psql' | 'pg-text' | 'pg-binary' | 'postgres.js';

export interface Attempt {
  sql: string | string[];
  expect: 'masked' | 'refused';
  /** The resource: "masked" (predicates: allow, the default), "strict" (predicates: refuse); "rw" masks nothing. */
  resource?: 'masked' | 'strict' | 'rw';
  /** Only these clients (COPY: psql). */
  clients?: Client[];
  /** The statement is refused, but would have been harmless: noted in the report (fail closed). */
  harmless?: boolean;
}

const m = (sql: string | string[], more: Partial<Attempt> = {}): Attempt => ({ sql, expect: 'masked', ...more });
const r = (sql: string | string[], more: Partial<Attempt> = {}): Attempt => ({ sql, expect: 'refused', ...more });
const rolledBack = (sql: string) => ['begin', sql, 'rollback'];

export const ATTEMPTS: Attempt[] = [
  // Results masked by origin.
  m('select id, email, phone, card, ssn, note from customers order by id'),
  m('select * from customers order by id'),
  m('select c.* from customers c order by c.id'),
  m('table customers'),
  m('select * from only customers order by id'),
  m('select id, email as e, phone as "Tel", card as x from customers c order by id'),
  m('select t.c from customers t(a, b, c) order by t.a'),
  m('select s.e from (select id, email as e, ssn from customers) s order by s.id'),
  m('with x as (select id, email, card from customers) select * from x order by id'),
  m('with x as materialized (select id, note, ssn from customers) select x.* from x order by id'),
  r('with recursive r(id, email, n) as (select id, email, 1 from customers union all select id, email, n + 1 from r where n < 2) select id, email from r'),
  m('select c.id, l.e from customers c, lateral (select c.email as e, c.ssn) l order by c.id'),
  m('select c.id, s.* from customers c join lateral (select c.email, c.card) s on true order by c.id'),
  m('select * from customer_contacts order by id'),
  m('select id, phone from customer_shout order by id'),
  r('select id, shout from customer_shout order by id'),
  m('select * from contacts_v2 order by id'),
  m('select * from customer_mv order by id'),
  m('select id, email, ssn, note from customers_archive'),
  m('select id, email, card from customer_events order by id'),
  m('select o.id, o.total, c.email, c.card from orders o join customers c on c.id = o.customer_id order by o.id'),
  m(rolledBack('update customers set name = name where id in (1, 2, 3) returning id, email, card, ssn')),
  m(rolledBack('delete from customers where id = 3 returning *')),
  m(rolledBack("insert into customers (id, name) values (9, 'Zed') returning id, email")),
  m(rolledBack('with u as (update customers set name = name returning id, email, phone) select * from u')),
  m(['begin', 'declare cur cursor for select id, email, ssn, note from customers order by id', 'fetch all from cur', 'commit']),
  m(['prepare p(int) as select id, email, card from customers where id <= $1 order by id', 'execute p(3)']),
  m('select (email) from public.customers order by id'),
  m('select email, count(*) from customers group by email'),
  m('select email from customers group by rollup (email)'),
  m('select distinct email from customers'),
  m('select distinct on (email) email, id from customers order by email, id'),
  m('select id, email from customers order by email'),
  m('select count(email), count(distinct card) from customers'),
  m("select id from customers c where exists (select 1 from customers d where d.id = c.id and d.email like 'a%')"),
  r("select id from customers c where exists (select 1 from customers d where d.id = c.id and d.email like 'a%')", { resource: 'strict' }),
  m("select id, phone from customers where email = 'alice.liddell@wonder.example'"),
  // Expressions over a masked column.
  ...[
    "email || ''", 'lower(email)', 'upper(email)', 'substr(email, 1, 3)', 'left(email, 3)', 'right(email, 5)',
    'reverse(email)', "replace(email, '@', ' at ')", "translate(email, '@.', '#,')", "overlay(email placing 'X' from 1 for 1)",
    "split_part(email, '@', 1)", "regexp_replace(email, '@.*', '')", "regexp_match(email, '^(.*)@')", "position('@' in email)",
    'length(email)', 'md5(email)', "encode(convert_to(email, 'UTF8'), 'hex')", "decode(encode(email::bytea, 'base64'), 'base64')",
    "convert_to(email, 'UTF8')", "format('%s', email)", 'concat(email)', "concat_ws(',', email, phone)", 'quote_literal(email)',
    'email::text', 'email::varchar(3)', 'email::bytea', 'email::name', 'email::char(2)', 'cast(email as text)',
    'to_json(email)', 'json_build_object(\'e\', email)', "case when email like 'a%' then email end", 'coalesce(email, phone)',
    'greatest(email, phone)', "nullif(email, '')", 'array[email]', 'row(email)', '(select email)', 'email collate "C"',
    "xmlelement(name e, email)", "note->>'x'", "note #>> '{}'", "note['x']", 'note::text', "jsonb_path_query_first(note, '$.x')",
  ].map((e) => r(`select id, ${e} from customers`, { harmless: e === 'email::text' })),
  r('select to_jsonb(c) from customers c'),
  r('select row_to_json(c) from customers c'),
  r('select c from customers c'),
  r('select c.text from customers c'),
  r('select (c).email from customers c', { harmless: true }),
  r('select c::text from customers c'),
  r('select (c).* from customers c', { harmless: true }),
  ...['jsonb_agg(email)', 'json_agg(c)', 'array_agg(email)', "string_agg(email, ',')", 'xmlagg(xmlelement(name e, email))', 'min(email)', 'max(card)',
    'mode() within group (order by email)', '(array_agg(ssn))[1]'].map((e) => r(`select ${e} from customers c`)),
  r('select id, lag(email) over (order by id) from customers'),
  r('select id, first_value(phone) over (order by id) from customers'),
  r("select email from customers union select 'x'"),
  r('select email from customers intersect select email from customers'),
  r("select email from customers except select ''"),
  r('select * from (values ((select email from customers where id = 1))) v(e)'),
  r('select x.e from customers, lateral (values (email)) x(e)'),
  r('select (select email from customers where id = 1)'),
  r('select array(select email from customers)'),
  r('select * from (select id, email from customers) a natural join (select id, email from customers) b'),
  r("select query_to_xml('select email from customers', true, false, '')"),
  r("select table_to_xml('customers', true, false, '')"),
  r(['begin', 'declare x cursor for select email from customers', "select cursor_to_xml('x', 10, true, false, '')", 'commit']),
  r("select * from ts_stat('select to_tsvector(email) from customers')"),
  r("select most_common_vals::text from pg_stats where tablename = 'customers'"),
  r("select set_config('airlock.x', email, false) from customers where id = 1"),
  r("select pg_notify('leak', email) from customers where id = 1"),
  r('select id from customers where email::int = 1'),
  r('select id from customers where 1 / (length(email) - 28) = 1'),
  r("select id from customers where note @> '{\"vip\": true}'"),
  r('insert into customers (id, email) select id + 100, email from customers'),
  r('update customers set note = to_jsonb(email) where id = 1'),
  r('update customers set name = email where id = 1'),
  r('create temp table leak as select email from customers'),
  r('select email into temp leak2 from customers'),
  r('select email_of(1)'),
  r('select email_pl(1)'),
  r('select * from email_of(2)'),
  r("do $$ begin perform set_config('airlock.y', (select email from customers limit 1), false); end $$"),
  // Server files and programs (the test's upstream login is a superuser): a table's data file holds its values.
  r(["select encode(lo_get(lo_import(current_setting('data_directory') || '/' || pg_relation_filepath('customers'))), 'escape')"]),
  r(["select lo_import(current_setting('data_directory') || '/' || pg_relation_filepath('customers'), 4242)", 'select encode(lo_get(4242), \'escape\')']),
  r(["select lo_from_bytea(0, pg_read_binary_file(pg_relation_filepath('customers')))"]),
  r(["copy notes (body) from program 'grep -aoh \"[a-z.]*@wonder.example\" base/*/* | head -1'", 'select body from notes']),
  r(["copy notes (body) from program 'echo hi'", 'select body from notes'], { harmless: true }),
  r(["copy notes (body) from program 'psql -XAtq -d airlock_corpus_x -c \"select email from customers\"'", 'select body from notes']),
  r("copy notes (body) from '/etc/hostname'", { harmless: true }),
  r(["copy notes (body) from '/dev/null'"], { harmless: true }),
  r(["copy orders to '/tmp/airlock-corpus-orders.txt'"], { harmless: true }),
  // COPY: a stream the gateway cannot mask is refused when it carries a masked column; psql only (no pg-copy-streams).
  r('copy customers to stdout', { clients: ['psql'] }),
  r('copy (select email from customers) to stdout', { clients: ['psql'] }),
  r('copy customers (id, ssn) to stdout', { clients: ['psql'] }),
  r('copy customers_archive to stdout with (format csv)', { clients: ['psql'] }),
  r('\\copy customers to stdout', { clients: ['psql'] }),
  r('\\copy (select note from customers) to stdout', { clients: ['psql'] }),
];

/** COPY that carries no masked column runs, and its output equals the direct one. */
export const COPY_ALLOWED = ['copy customers (id) to stdout', 'copy (select id, name from customers order by id) to stdout', '\\copy customers (id, name) to stdout'];
