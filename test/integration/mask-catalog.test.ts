// The mask catalog against a real PostgreSQL: MASK_CATALOG_QUERIES run by an unprivileged role in a READ ONLY
// transaction, and the (table OID, attnum) the catalog masks agree with the origins PostgreSQL puts in RowDescription
// (tables, partitions, inheritance, views, views over views, materialized views, cursors, prepared statements). Allowed
// statements return the secret only in columns the catalog masks; refused ones would have returned it in the clear.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { initInspect } from '../../src/inspect/index.js';
import { buildMaskCatalog, checkPgMasking, MASK_CATALOG_QUERIES, PgMaskCatalog, type MaskCatalogRows } from '../../src/inspect/masking/index.js';
import type { SessionMasking } from '../../src/domain/masking.js';
import { adminUrl, createTestDatabase, urlForDatabase, type TestDatabase } from '../support/pg.js';

const SECRET = 'alice.secret@example.com';
const role = `airlock_mcat_${randomBytes(4).toString('hex')}`;
let db: TestDatabase;
let client: pg.Client;
let catalog: PgMaskCatalog;

const SCHEMA = `
  create schema billing;
  create domain email_addr as text;
  create domain contact_addr as email_addr;
  create table customers (id int primary key, email text, name text, phone varchar(20), profile jsonb,
    email_lower text generated always as (lower(email)) stored);
  comment on column customers.phone is 'pii:phone';
  create table billing.accounts (id int, card text, contact contact_addr, data json);
  comment on column billing.accounts.contact is 'pii:email primary contact';
  create table events (id int, at date, email text) partition by range (at);
  create table events_2024 partition of events for values from ('2024-01-01') to ('2025-01-01');
  create table people (id int, email text);
  create table staff (dropped int, role text) inherits (people);
  alter table staff drop column dropped;
  create table orders (id int, customer_id int, note text);
  create view v_pass as select id, email as contact, name from customers;
  create view v_derived as select id, lower(email) as lemail, name from customers;
  create view v_over as select contact, name from v_pass;
  create view v_over_derived as select lemail from v_derived;
  create materialized view mv as select id, email, upper(name) as uname from customers;
  insert into customers (id, email, name, phone, profile) values (1, '${SECRET}', 'Alice', '555-0100', '{"ssn": "123"}');
  insert into billing.accounts values (1, '4111111111111111', '${SECRET}', '{}');
  insert into events values (1, '2024-05-01', '${SECRET}');
  insert into staff (id, email, role) values (2, '${SECRET}', 'admin');
  insert into orders values (1, 1, 'first order');
  refresh materialized view mv;
`;

const rule = (spec: { column?: string; label?: string }, method: 'redact' | 'email' | 'hash') => ({
  ...spec, method, resolved: { method, keep: 4, key: null, rule: spec.column ?? `label ${spec.label}` },
});

const MASKING: SessionMasking = {
  role: 'support',
  predicates: 'allow',
  rules: [
    rule({ column: 'customers.email' }, 'hash'),
    rule({ label: 'pii:email' }, 'email'),
    rule({ label: 'pii:phone' }, 'redact'),
    rule({ column: 'billing.*.card' }, 'redact'),
    rule({ column: 'public.events.email' }, 'redact'),
    rule({ column: 'people.email' }, 'redact'),
  ],
};

async function loadRows(c: pg.Client): Promise<MaskCatalogRows> {
  await c.query('BEGIN READ ONLY');
  try {
    const rows: MaskCatalogRows = {};
    for (const [name, sql] of Object.entries(MASK_CATALOG_QUERIES)) rows[name] = (await c.query(sql)).rows as Record<string, unknown>[];
    return rows;
  } finally {
    await c.query('COMMIT');
  }
}

before(async () => {
  await initInspect();
  db = await createTestDatabase('airlock_mcat');
  const admin = new pg.Client(db.url);
  await admin.connect();
  try {
    await admin.query(SCHEMA);
    await admin.query(`create role ${role} login`);
    await admin.query(`grant usage on schema billing to ${role}; grant select on all tables in schema public, billing to ${role}; grant update on customers to ${role}`);
  } finally {
    await admin.end();
  }
  const u = new URL(urlForDatabase(adminUrl(), db.name));
  u.username = role;
  u.password = '';
  client = new pg.Client(u.toString());
  await client.connect();
  catalog = buildMaskCatalog(await loadRows(client), MASKING) as PgMaskCatalog;
});

after(async () => {
  await client?.end().catch(() => {});
  await db?.drop();
  const admin = new pg.Client(adminUrl());
  await admin.connect();
  try {
    await admin.query(`drop role if exists ${role}`);
  } finally {
    await admin.end();
  }
});

/** For each result column: its name and the masked column the catalog resolves its RowDescription origin to. */
function origins(res: pg.QueryResult): [string, string | null][] {
  return res.fields.map((f) => [f.name, catalog.maskOf(f.tableID, f.columnID)?.name ?? null]);
}

describe('the catalog agrees with PostgreSQL\'s RowDescription origins', () => {
  const cases: [string, Record<string, string>][] = [
    ['select id, email, name, phone from customers', { email: 'public.customers.email', phone: 'public.customers.phone' }],
    ['select email_lower from customers', { email_lower: 'public.customers.email_lower' }],
    ['select e from (select email as e from customers) t', { e: 'public.customers.email' }],
    ['with w as (select email from customers) select * from w', { email: 'public.customers.email' }],
    ['select c.email, o.note from customers c join orders o on o.customer_id = c.id', { email: 'public.customers.email' }],
    ['select * from events', { email: 'public.events.email' }],
    ['select * from events_2024', { email: 'public.events_2024.email' }],
    ['select * from only people', { email: 'public.people.email' }],
    ['select * from people', { email: 'public.people.email' }],
    ['select * from staff', { email: 'public.staff.email' }],
    ['select * from v_pass', { contact: 'public.v_pass.contact' }],
    ['select * from v_over', { contact: 'public.v_over.contact' }],
    ['select id, uname from mv', {}],
    ['select email from mv', { email: 'public.mv.email' }],
    ['select card, contact, data from billing.accounts', { card: 'billing.accounts.card', contact: 'billing.accounts.contact' }],
    ['with x as (update customers set name = name where id = 1 returning email) select * from x', { email: 'public.customers.email' }],
    ['select x.email from customers c, lateral (select c.email) x', { email: 'public.customers.email' }],
  ];
  for (const [sql, expected] of cases) {
    test(sql, async () => {
      const verdict = checkPgMasking(sql, catalog, { predicates: 'allow' });
      assert.deepEqual(verdict, { ok: true, masked: Object.keys(expected).length > 0 }, sql);
      await client.query('BEGIN');
      try {
        const res = await client.query(sql);
        for (const [name, masked] of origins(res)) assert.equal(masked, expected[name] ?? null, `${sql}: column ${name}`);
      } finally {
        await client.query('ROLLBACK');
      }
    });
  }

  test('a cursor\'s FETCH and a prepared statement\'s EXECUTE name the same origins', async () => {
    await client.query('BEGIN');
    try {
      assert.deepEqual(checkPgMasking('declare cur cursor for select id, contact from v_pass', catalog, { predicates: 'allow' }), { ok: true, masked: true });
      await client.query('declare cur cursor for select id, contact from v_pass');
      assert.deepEqual(origins(await client.query('fetch 1 from cur')), [['id', null], ['contact', 'public.v_pass.contact']]);
    } finally {
      await client.query('ROLLBACK');
    }
    await client.query('prepare mcat_p as select email from customers where id = $1');
    try {
      assert.deepEqual(origins(await client.query('execute mcat_p(1)')), [['email', 'public.customers.email']]);
    } finally {
      await client.query('deallocate mcat_p');
    }
  });

  test('views computing from a masked column are tainted, not masked', () => {
    const tainted = new Map(catalog.taintedColumns().map((t) => [t.column, t.source]));
    assert.equal(tainted.get('public.v_derived.lemail'), 'public.customers.email');
    assert.equal(tainted.get('public.v_over_derived.lemail'), 'public.customers.email');
    assert.equal(tainted.has('public.mv.uname'), false);
    assert.equal(catalog.columns.find((c) => c.name === 'billing.accounts.contact')?.kind, 'text', 'a domain over a domain over text');
  });
});

/** Every value of a result that shows the secret, with whether the catalog masks that column. */
function exposures(res: pg.QueryResult): { column: string; masked: boolean }[] {
  const out: { column: string; masked: boolean }[] = [];
  const o = origins(res);
  for (const row of res.rows as Record<string, unknown>[]) {
    res.fields.forEach((f, i) => {
      const v = row[f.name];
      const text = typeof v === 'string' ? v : JSON.stringify(v ?? null);
      if (text.toLowerCase().includes('alice.secret')) out.push({ column: f.name, masked: o[i]![1] !== null });
    });
  }
  return out;
}

async function run(sql: string): Promise<pg.QueryResult> {
  await client.query('BEGIN');
  try {
    return await client.query(sql);
  } finally {
    await client.query('ROLLBACK');
  }
}

describe('allowed statements show the secret only in masked columns', () => {
  for (const sql of [
    'select * from customers',
    'select c.* from customers c where c.email like \'alice%\' order by email',
    'select e.email as contact from events e where e.at > \'2020-01-01\'',
    'select contact from v_over where contact is not null',
    'select email, count(*) from customers group by email',
    'select distinct on (email) email from events_2024',
    'update customers set name = name returning *',
  ]) {
    test(sql, async () => {
      const v = checkPgMasking(sql, catalog, { predicates: 'allow' });
      assert.equal(v.ok, true, 'message' in v ? v.message : sql);
      const seen = exposures(await run(sql));
      assert.ok(seen.length > 0, `${sql} returns the secret`);
      for (const e of seen) assert.equal(e.masked, true, `${sql}: column ${e.column} shows the secret with no masked origin`);
    });
  }
});

describe('refused statements would have shown the secret unmasked', () => {
  for (const sql of [
    'select lower(email) from customers',
    'select email || \'\' as e from customers',
    'select email::varchar as e from customers',
    'select row_to_json(c) from customers c',
    'select c::text from customers c',
    'select c.row_to_json from customers c',
    'select json_agg(email) from customers',
    'select string_agg(email, \',\') from customers',
    'select array[email] from customers',
    'select coalesce(email, \'\') from customers',
    'select (select email from customers limit 1) as e',
    'select email from customers union select \'x\'',
    'select * from (values ((select email from customers limit 1))) v',
    'with w as (select lower(email) as e from customers) select * from w',
    'select lemail from v_derived',
    'select * from v_over_derived',
    'select contact || \'\' as c from billing.accounts',
    'select lower(email) from staff',
    'select query_to_xml(\'select email from customers\', true, true, \'\')',
  ]) {
    test(sql, async () => {
      const v = checkPgMasking(sql, catalog, { predicates: 'allow' });
      assert.equal(v.ok, false, sql);
      if (!v.ok) assert.match(v.message, /^airlock: statement refused by rule masking: /);
      const seen = exposures(await run(sql));
      assert.ok(seen.some((e) => !e.masked), `${sql} would show the secret in a column the gateway cannot mask`);
    });
  }
});
