// The masking corpus (issue 17, docs/masking.md "What the gateway guarantees"): every attempt of
// pg-masking-corpus-attempts.ts through psql (text), node-postgres (text, and binary in the extended protocol) and
// postgres.js (extended, described once). A masked result must equal, cell by cell, the same statement read directly
// from PostgreSQL with the masked cells put through maskWireValue; a refused one must fail with
// AIRLOCK_MASKING_REFUSED. For every attempt no real value (e-mail, its local part, phone, card, SSN, in text, hex or
// base64) may be in the bytes the client received (a recording proxy) or in the audit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { startRig, runTool, type Rig } from './pg-gateway-harness.js';
import { startRecordingProxy, type RecordingProxy } from '../support/recording-proxy.js';
import { maskWireValue } from '../../src/domain/mask-values.js';
import type { MaskValueKind, ResolvedMask, SessionMasking } from '../../src/domain/masking.js';
import { ATTEMPTS, COPY_ALLOWED, type Attempt, type Client } from './pg-masking-corpus-attempts.js';

const KEY = Buffer.from('corpus-key-0123456789abcdef-0123');
const MASKS: Record<string, { mask: ResolvedMask; kind: MaskValueKind }> = {
  email: { mask: { method: 'email', keep: 4, key: null, rule: 'customers.email' }, kind: 'text' },
  phone: { mask: { method: 'partial', keep: 4, key: null, rule: 'customers.phone' }, kind: 'text' },
  card: { mask: { method: 'hash', keep: 4, key: KEY, rule: 'customers.card' }, kind: 'text' },
  ssn: { mask: { method: 'redact', keep: 4, key: null, rule: 'label pii:ssn' }, kind: 'text' },
  note: { mask: { method: 'partial', keep: 4, key: null, rule: 'customers.note' }, kind: 'jsonb' },
};

function masking(predicates: 'allow' | 'refuse'): SessionMasking {
  return {
    role: 'support',
    predicates,
    rules: [
      { column: 'customers.email', method: 'email', resolved: MASKS.email!.mask },
      { column: '*.phone', method: 'partial', keep: 4, resolved: MASKS.phone!.mask },
      { column: 'customers.card', method: 'hash', key: { env: 'CORPUS_KEY' }, resolved: MASKS.card!.mask },
      // The partitioned table: its partition is masked through it.
      { column: 'customer_events.email', method: 'email', resolved: MASKS.email!.mask },
      { column: 'customer_events.card', method: 'hash', key: { env: 'CORPUS_KEY' }, resolved: MASKS.card!.mask },
      { label: 'pii:ssn', method: 'redact', resolved: MASKS.ssn!.mask },
      { column: 'customers.note', method: 'partial', keep: 4, resolved: MASKS.note!.mask },
    ],
  };
}

const PEOPLE = [
  [1, 'Alice', 'alice.liddell@wonder.example', '+1 555 0101', '4111111111111111', '123-45-6789'],
  [2, 'Bob', 'bob.builder@build.example', '+44 20 7946 0958', '5500005555555559', '987-65-4321'],
  [3, 'Carol', null, null, null, null],
] as const;
const ARCHIVED = [4, 'Dan', 'dan.dare@eagle.example', '+1 555 0404', '340000000000009', '555-12-3456'] as const;

/** Real values (and telling parts of them) that must never reach a client, as text, hex and base64. */
const SECRETS: string[] = (() => {
  const out: string[] = [];
  for (const [, , email, phone, card, ssn] of [...PEOPLE, ARCHIVED]) {
    if (email === null) continue;
    const local = email.slice(0, email.indexOf('@'));
    for (const s of [email, local, phone.slice(-8), card, card.slice(0, 10), ssn, ssn.slice(0, 6)]) {
      out.push(s, Buffer.from(s).toString('hex'), Buffer.from(s).toString('base64').replace(/=+$/, ''));
    }
  }
  return out;
})();

let rig: Rig;
let proxy: RecordingProxy;
let direct: pg.Client;
/** `relid:attnum` of every column the role masks (tables, child, partitions, views' and matview's pass-through columns) → its mask. */
const maskedCols = new Map<string, keyof typeof MASKS>();

const SCHEMA = `
  create table customers (id int primary key, name text, email text, phone text, card text, ssn varchar(11), note jsonb);
  comment on column customers.ssn is 'pii:ssn';
  create table customers_archive (archived_at date default '2026-01-01') inherits (customers);
  create table customer_events (id int, email text, card text) partition by range (id);
  create table customer_events_1 partition of customer_events for values from (0) to (1000);
  create table notes (body text);
  create table orders (id int primary key, customer_id int references customers, total numeric(10, 2));
  create view customer_contacts as select id, email, phone, ssn from customers;
  create view customer_shout as select id, upper(email) as shout, phone from customers;
  create view contacts_v2 as select id, email, ssn from customer_contacts;
  create function email_of(int) returns text language sql as 'select email from customers where id = $1';
  create function email_pl(i int) returns text language plpgsql as 'begin return (select email from customers where id = i); end';
`;

before(async () => {
  rig = await startRig({
    dbPrefix: 'airlock_corpus',
    extra: { masked: { masking: masking('allow') }, strict: { masking: masking('refuse') } },
    gateway: { allowCleartextWithoutTls: true },
  });
  direct = new pg.Client({ connectionString: rig.db.url });
  await direct.connect();
  await direct.query(SCHEMA);
  for (const [id, name, email, phone, card, ssn] of PEOPLE) {
    await direct.query('insert into customers values ($1, $2, $3, $4, $5, $6, $7)', [id, name, email, phone, card, ssn, email === null ? null : { x: email, vip: id === 1 }]);
    await direct.query('insert into customer_events values ($1, $2, $3)', [id, email, card]);
  }
  const [id, name, email, phone, card, ssn] = ARCHIVED;
  await direct.query('insert into customers_archive (id, name, email, phone, card, ssn, note) values ($1, $2, $3, $4, $5, $6, $7)', [id, name, email, phone, card, ssn, { x: email }]);
  await direct.query('insert into orders values (10, 1, 12.50), (11, 2, 99.00), (12, 1, 3.20)');
  await direct.query('create materialized view customer_mv as select id, email, card, note from customers; analyze');
  const attrs = await direct.query<{ relid: number; attnum: number; attname: string }>(`
    select c.oid::int as relid, a.attnum, a.attname from pg_attribute a join pg_class c on c.oid = a.attrelid
    where c.relnamespace = 'public'::regnamespace and a.attnum > 0 and not a.attisdropped
      and c.relname in ('customers', 'customers_archive', 'customer_events', 'customer_events_1', 'customer_contacts', 'customer_shout', 'contacts_v2', 'customer_mv')`);
  for (const a of attrs.rows) if (a.attname in MASKS) maskedCols.set(`${a.relid}:${a.attnum}`, a.attname as keyof typeof MASKS);
  proxy = await startRecordingProxy(rig.port);
});

after(async () => {
  await direct?.end();
  await proxy?.close();
  await rig?.stop();
});

type Cell = string | null;
interface Outcome {
  rows?: Cell[][];
  /** Per column of the compared result: `relid:attnum` of its origin (direct reads only). */
  origins?: string[];
  error?: string;
}

const statements = (a: Attempt): string[] => (Array.isArray(a.sql) ? a.sql : [a.sql]);
const resourceOf = (a: Attempt) => a.resource ?? 'masked';

/** node-postgres with every value left as the wire gave it (a string; binary values decoded as UTF-8). */
const RAW_TYPES = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

async function runPg(client: pg.Client, a: Attempt, binary: boolean): Promise<Outcome> {
  let last: Outcome = { rows: [] };
  for (const sql of statements(a)) {
    try {
      const res = await client.query({ text: sql, rowMode: 'array', types: RAW_TYPES, ...(binary ? { queryMode: 'extended' as const } : {}) });
      if (res.fields.length > 0) last = { rows: res.rows as Cell[][], origins: res.fields.map((f) => `${f.tableID}:${f.columnID}`) };
    } catch (e) {
      const err = e as pg.DatabaseError;
      if (statements(a)[0] === 'begin') await client.query('rollback').catch(() => {});
      return { error: `${err.message} ${err.hint ?? ''}` };
    }
  }
  return last;
}

async function runPostgresJs(sql: postgres.Sql, a: Attempt): Promise<Outcome> {
  let last: Outcome = { rows: [] };
  const list = statements(a);
  // A single statement runs twice: the second time postgres.js binds the statement it described the first time.
  for (const text of list.length === 1 ? [list[0]!, list[0]!] : list) {
    try {
      const res = await sql.unsafe(text).raw();
      if (res.columns?.length) last = { rows: res.map((row) => (row as unknown as (Buffer | null)[]).map((v) => (v === null ? null : v.toString('utf8')))) };
    } catch (e) {
      const err = e as { message: string; hint?: string };
      if (list[0] === 'begin') await sql.unsafe('rollback').catch(() => {});
      return { error: `${err.message} ${err.hint ?? ''}` };
    }
  }
  return last;
}

const SEP = '\x1f';
const REC = '\x1e';
const NULL = '\x01NULL\x01';

async function runPsql(a: Attempt): Promise<Outcome> {
  const conninfo = `host=127.0.0.1 port=${proxy.port} user=alice dbname=${resourceOf(a)} sslmode=disable`;
  const args = [conninfo, '-XAtq', '-F', SEP, '-R', REC, '-P', `null=${NULL}`, '-v', 'ON_ERROR_STOP=1'];
  for (const s of statements(a)) args.push('-c', s);
  const r = await runTool('psql', args, { password: rig.token, timeoutMs: 60_000 });
  if (r.code !== 0) return { error: r.stderr };
  return { rows: psqlRows(r.stdout) };
}

function psqlRows(out: string): Cell[][] {
  return out.replace(/\n$/, '').split(REC).filter((l) => l !== '').map((l) => l.split(SEP).map((f) => (f === NULL ? null : f)));
}

/** The statement read directly from PostgreSQL, with each cell of a masked origin masked as the gateway must. */
async function expected(a: Attempt, binary: boolean): Promise<Cell[][]> {
  // A connection of its own: the attempt may leave a prepared statement or a setting behind.
  const c = new pg.Client({ connectionString: rig.db.url, binary } as pg.ClientConfig);
  await c.connect();
  const d = await runPg(c, a, binary).finally(() => c.end());
  if (d.error !== undefined) throw new Error(`the attempt fails directly: ${d.error}`);
  return d.rows!.map((row) => row.map((v, i) => {
    const which = maskedCols.get(d.origins![i]!);
    if (which === undefined || v === null) return v;
    const { mask, kind } = MASKS[which]!;
    const out = maskWireValue(Buffer.from(v, 'utf8'), kind, binary, mask);
    return out === null ? null : out.toString('utf8');
  }));
}

const sorted = (rows: Cell[][]) => rows.map((r) => JSON.stringify(r)).sort();

function leaks(what: string): string[] {
  const bytes = proxy.received();
  const audit = JSON.stringify(rig.events);
  const found: string[] = [];
  for (const s of SECRETS) {
    if (bytes.includes(s)) found.push(`${what}: "${s}" reached the client`);
    if (audit.includes(s)) found.push(`${what}: "${s}" is in the audit`);
  }
  return found;
}

async function runAttempt(client: Client, a: Attempt): Promise<string[]> {
  const what = `[${client}] ${statements(a).join('; ')}${a.resource === 'strict' ? ' (predicates: refuse)' : ''}`;
  proxy.reset();
  let got: Outcome;
  if (client === 'psql') got = await runPsql(a);
  else if (client === 'postgres.js') {
    const sql = postgres({ host: '127.0.0.1', port: proxy.port, user: 'alice', pass: rig.token, database: resourceOf(a), ssl: false, max: 1, onnotice: () => {} });
    try {
      got = await runPostgresJs(sql, a);
    } finally {
      await sql.end();
    }
  } else {
    const c = new pg.Client({ host: '127.0.0.1', port: proxy.port, user: 'alice', password: rig.token, database: resourceOf(a), ssl: false, binary: client === 'pg-binary' } as pg.ClientConfig);
    await c.connect();
    try {
      got = await runPg(c, a, client === 'pg-binary');
    } finally {
      await c.end();
    }
  }
  const problems = leaks(what);
  if (a.expect === 'refused') {
    if (got.error === undefined) problems.push(`${what}: ran (${JSON.stringify(got.rows).slice(0, 200)}), expected a refusal`);
    else if (!/AIRLOCK_MASKING_REFUSED/.test(got.error)) problems.push(`${what}: failed without AIRLOCK_MASKING_REFUSED: ${got.error.trim()}`);
    return problems;
  }
  if (got.error !== undefined) return [...problems, `${what}: refused or failed: ${got.error.trim()}`];
  const want = await expected(a, client === 'pg-binary');
  if (JSON.stringify(sorted(got.rows!)) !== JSON.stringify(sorted(want))) {
    problems.push(`${what}: rows ${JSON.stringify(got.rows)} instead of ${JSON.stringify(want)}`);
  }
  return problems;
}

test('the corpus has at least 60 attempts, and the masks differ from the real values', () => {
  assert.ok(ATTEMPTS.length >= 60, `${ATTEMPTS.length} attempts`);
  for (const [, , email, phone, card, ssn] of PEOPLE) {
    if (email === null) continue;
    for (const [v, k] of [[email, 'email'], [phone, 'phone'], [card, 'card'], [ssn, 'ssn']] as const) {
      assert.notEqual(maskWireValue(Buffer.from(v), 'text', false, MASKS[k]!.mask)?.toString(), v);
    }
  }
});

test('the checks catch a leak: the same attempt in a session that masks nothing fails them', async () => {
  const problems = await runAttempt('pg-text', { sql: 'select id, email, card from customers order by id', expect: 'masked', resource: 'rw' });
  assert.ok(problems.some((p) => p.includes('reached the client')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes(' instead of ')), problems.join('\n'));
});

for (const client of ['psql', 'pg-text', 'pg-binary', 'postgres.js'] as const) {
  test(`the corpus through ${client}: masked results equal the masked real data, refusals are refusals, nothing leaks`, { timeout: 600_000 }, async (t) => {
    const problems: string[] = [];
    let ran = 0;
    for (const a of ATTEMPTS) {
      if (a.clients && !a.clients.includes(client)) continue;
      ran++;
      problems.push(...(await runAttempt(client, a)));
    }
    t.diagnostic(`${ran} attempts`);
    assert.deepEqual(problems, []);
  });
}

test('COPY without a masked column streams exactly what PostgreSQL gives (psql COPY and \\copy)', async () => {
  for (const sql of COPY_ALLOWED) {
    proxy.reset();
    const through = await runTool('psql', [`host=127.0.0.1 port=${proxy.port} user=alice dbname=masked sslmode=disable`, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', sql], { password: rig.token });
    const straight = await runTool('psql', [rig.db.url, '-XAtq', '-v', 'ON_ERROR_STOP=1', '-c', sql], {});
    assert.equal(through.stderr, '', sql);
    assert.ok(straight.stdout.length > 0, sql);
    assert.equal(through.stdout, straight.stdout, sql);
    assert.deepEqual(leaks(sql), []);
  }
});
