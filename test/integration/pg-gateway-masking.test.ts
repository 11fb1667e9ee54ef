// Column masking through the PostgreSQL gateway, with real clients on a real server: psql (simple protocol, text),
// node-postgres (simple and extended, text and binary), postgres.js (statements described once, then Bind/Execute
// only; cursors). Every result is checked against the real data: each masked value is maskText(real value), and no
// real value of a masked column appears anywhere in the bytes the client received (a recording proxy sits between
// client and gateway). Also: statements masking refuses, errors stripped of the values they quote, the audit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import postgres from 'postgres';
import { startRig, runTool, waitFor, type Rig } from './pg-gateway-harness.js';
import { startRecordingProxy, type RecordingProxy } from '../support/recording-proxy.js';
import { maskText } from '../../src/domain/mask-values.js';
import { openUpstream } from '../../src/gateway/postgres/upstream.js';
import { BackendScanner, WHOLE } from '../../src/gateway/postgres/framing.js';
import { B, queryMessage } from '../../src/gateway/postgres/protocol.js';
import type { ResolvedMask, SessionMasking } from '../../src/domain/masking.js';
import { liveMemory } from '../support/live-memory.js';

const EMAIL: ResolvedMask = { method: 'redact', keep: 4, key: null, rule: 'customers.email' };
const PHONE: ResolvedMask = { method: 'partial', keep: 4, key: null, rule: 'customers.phone' };
const BIRTH: ResolvedMask = { method: 'partial', keep: 4, key: null, rule: 'customers.birth' };
const WIDE: ResolvedMask = { method: 'email', keep: 4, key: null, rule: 'wide.email' };

const MASKING: SessionMasking = {
  role: 'support',
  predicates: 'allow',
  rules: [
    { column: 'customers.email', method: 'redact', resolved: EMAIL },
    { column: 'customers.phone', method: 'partial', keep: 4, resolved: PHONE },
    { column: 'customers.birth', method: 'partial', keep: 4, resolved: BIRTH },
    { column: 'wide.email', method: 'email', resolved: WIDE },
  ],
};

interface Customer {
  id: number;
  email: string | null;
  phone: string | null;
  birth: string | null;
  note: string | null;
}

const CUSTOMERS: Customer[] = [
  { id: 1, email: 'alice@example.com', phone: '+1 555 0101', birth: '1980-02-03', note: 'vip' },
  { id: 2, email: 'bob.builder@example.org', phone: '+1 555 0202', birth: '1975-12-24', note: null },
  { id: 3, email: null, phone: null, birth: null, note: 'no contact' },
];
const WIDE_EMAIL = `${'w'.repeat(5 * 1024 * 1024)}@wide.example`;
/** Real values of masked columns that must never reach a client (the wide one by a run of its characters). */
const SECRETS = ['alice@example.com', 'bob.builder@example.org', 'alice@', 'bob.builder', '555 0101', '555 0202', '1980-02-03', '1975-12-24', 'w'.repeat(256)];

const masked = (v: string | null, m: ResolvedMask): string | null => (v === null ? null : maskText(v, m));

let rig: Rig;
let proxy: RecordingProxy;
let proxyPort = 0;

before(async () => {
  rig = await startRig({ dbPrefix: 'airlock_mrelay', extra: { masked: { masking: MASKING } }, gateway: { allowCleartextWithoutTls: true } });
  const admin = new pg.Client({ connectionString: rig.db.url });
  await admin.connect();
  try {
    await admin.query(`
      create table customers (id int primary key, email text, phone text, birth date, note text check (note is distinct from 'bad'));
      create unique index customers_email_key on customers (email);
      create table wide (id int, email text);
      create view customer_contacts as select id, email, phone from customers;
    `);
    for (const c of CUSTOMERS) await admin.query('insert into customers values ($1, $2, $3, $4, $5)', [c.id, c.email, c.phone, c.birth, c.note]);
    await admin.query('insert into wide values (1, $1)', [WIDE_EMAIL]);
  } finally {
    await admin.end();
  }
  // Plain TCP between proxy and gateway (loopback), so the proxy sees the bytes the client reads.
  proxy = await startRecordingProxy(rig.port);
  proxyPort = proxy.port;
});

after(async () => {
  await proxy?.close();
  await rig?.stop();
});

function reset(): void {
  proxy.reset();
}

/** No real value of a masked column is in what the gateway sent since reset(). */
function assertNothingLeaked(what: string): void {
  const all = proxy.received();
  assert.ok(all.length > 0, `${what}: the client received something`);
  for (const s of SECRETS) assert.equal(all.indexOf(s), -1, `${what}: "${s.slice(0, 40)}" reached the client`);
}

const conninfo = (resource = 'masked') => `host=127.0.0.1 port=${proxyPort} user=alice dbname=${resource} sslmode=disable`;
const psql = (sql: string) => runTool('psql', [conninfo(), '-XAtq', '-P', 'null=<NULL>', '-v', 'ON_ERROR_STOP=1', '-c', sql], { password: rig.token, timeoutMs: 120_000 });

function pgClient(extra: Partial<pg.ClientConfig> & { binary?: boolean } = {}): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port: proxyPort, user: 'alice', password: rig.token, database: 'masked', ssl: false, ...extra });
}

/** psql -At lines as rows of fields, '<NULL>' as null. */
function rowsOf(stdout: string): (string | null)[][] {
  return stdout.split('\n').filter((l) => l !== '').map((l) => l.split('|').map((f) => (f === '<NULL>' ? null : f)));
}

const expectedRows = (cols: ('id' | 'email' | 'phone' | 'birth' | 'note')[]) =>
  CUSTOMERS.map((c) => cols.map((k) => (k === 'id' ? String(c.id) : k === 'email' ? masked(c.email, EMAIL) : k === 'phone' ? masked(c.phone, PHONE) : k === 'birth' ? (c.birth === null ? null : maskedBirth()) : c.note)));

/** A date masked: no masked text is a date, so the value becomes NULL whatever the method (mask-values.ts). */
const maskedBirth = () => null;

test('the masks themselves differ from the real values (the checks below would prove nothing otherwise)', () => {
  for (const c of CUSTOMERS) {
    if (c.email) assert.notEqual(maskText(c.email, EMAIL), c.email);
    if (c.phone) assert.notEqual(maskText(c.phone, PHONE), c.phone);
  }
  assert.notEqual(maskText(WIDE_EMAIL, WIDE), WIDE_EMAIL);
});

test('psql (simple protocol, text): plain columns, SELECT *, aliases, subquery, CTE and view pass-through are masked', async () => {
  const cases: [string, ('id' | 'email' | 'phone' | 'birth' | 'note')[]][] = [
    ['select id, email, phone, birth from customers order by id', ['id', 'email', 'phone', 'birth']],
    ['select * from customers order by id', ['id', 'email', 'phone', 'birth', 'note']],
    ['select id, email as contact, phone as "Tel" from customers c order by c.id', ['id', 'email', 'phone']],
    ['select s.id, s.e from (select id, email as e from customers) s order by 1', ['id', 'email']],
    ['with x as (select id, email, phone from customers) select * from x order by id', ['id', 'email', 'phone']],
    ['select * from customer_contacts order by id', ['id', 'email', 'phone']],
  ];
  for (const [sql, cols] of cases) {
    reset();
    const r = await psql(sql);
    assert.equal(r.stderr, '', sql);
    assert.deepEqual(rowsOf(r.stdout), expectedRows(cols), sql);
    assertNothingLeaked(sql);
  }
});

test('psql: RETURNING, DECLARE/FETCH, SQL PREPARE/EXECUTE are masked too', async () => {
  reset();
  const ret = await psql("update customers set note = note where id in (1, 2, 3) returning id, email, phone");
  assert.equal(ret.stderr, '');
  assert.deepEqual(rowsOf(ret.stdout).sort((a, b) => Number(a[0]) - Number(b[0])), expectedRows(['id', 'email', 'phone']));
  assertNothingLeaked('RETURNING');

  reset();
  const cur = await psql('begin; declare c cursor for select id, email, phone from customers order by id; fetch 2 from c; fetch all from c; commit');
  assert.equal(cur.stderr, '');
  assert.deepEqual(rowsOf(cur.stdout), expectedRows(['id', 'email', 'phone']));
  assertNothingLeaked('DECLARE/FETCH');

  reset();
  const prep = await psql('prepare p(int) as select id, email, phone from customers where id <= $1 order by id; execute p(3); execute p(1)');
  assert.equal(prep.stderr, '');
  const all = expectedRows(['id', 'email', 'phone']);
  assert.deepEqual(rowsOf(prep.stdout), [...all, all[0]!]);
  assertNothingLeaked('PREPARE/EXECUTE');
});

test('psql: a 5 MB masked value is masked, and the session goes on', async () => {
  reset();
  const r = await psql('select id, email from wide; select 42');
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, `1|${maskText(WIDE_EMAIL, WIDE)}\n42\n`);
  assertNothingLeaked('wide row');
});

test('node-postgres: simple and extended protocol in text, and binary results, are masked', async () => {
  for (const binary of [false, true]) {
    const c = pgClient({ binary });
    await c.connect();
    try {
      reset();
      // No parameters: the simple protocol (binary applies only to the extended one).
      const simple = await c.query('select id, email, phone, birth from customers order by id');
      assert.deepEqual(simple.rows.map((r: Customer) => [String(r.id), r.email, r.phone, r.birth]), expectedRows(['id', 'email', 'phone', 'birth']));
      // Parameters: Parse, Bind (binary result formats when binary), Describe(P), Execute.
      for (let i = 0; i < 2; i++) {
        const ext = await c.query({ name: i === 0 ? undefined : 'named', text: 'select id, email, phone, birth from customers where id <= $1 order by id', values: [3] });
        assert.deepEqual(ext.rows.map((r: Customer) => [String(r.id), r.email, r.phone, r.birth]), expectedRows(['id', 'email', 'phone', 'birth']), `binary=${binary}`);
      }
      const wide = await c.query('select id, email from wide where id = $1', [1]);
      assert.equal(wide.rows[0].email, maskText(WIDE_EMAIL, WIDE));
      assertNothingLeaked(`node-postgres binary=${binary}`);
    } finally {
      await c.end();
    }
  }
});

test('postgres.js: a statement described once, then Bind/Execute only, is masked every time; so are cursors and unnamed statements', async () => {
  const sql = postgres({ host: '127.0.0.1', port: proxyPort, user: 'alice', pass: rig.token, database: 'masked', ssl: false, max: 1, onnotice: () => {} });
  try {
    reset();
    for (let i = 0; i < 3; i++) {
      const rows = await sql<Customer[]>`select id, email, phone from customers where id <= ${3} order by id`;
      assert.deepEqual(rows.map((r) => [String(r.id), r.email, r.phone]), expectedRows(['id', 'email', 'phone']));
    }
    const seen: (string | null)[] = [];
    await sql<Customer[]>`select id, email from customers order by id`.cursor(1, (rows) => {
      for (const r of rows) seen.push(r.email);
    });
    assert.deepEqual(seen, CUSTOMERS.map((c) => masked(c.email, EMAIL)));
    const unnamed = await sql.unsafe('select * from customer_contacts order by id', [], { prepare: false });
    assert.deepEqual(unnamed.map((r) => [String(r.id), r.email, r.phone]), expectedRows(['id', 'email', 'phone']));
    assertNothingLeaked('postgres.js');
  } finally {
    await sql.end();
  }
});

test('a statement that could read a masked value through an expression is refused with AIRLOCK_MASKING_REFUSED, audited with rule masking', async () => {
  reset();
  const r = await psql('select lower(email) from customers');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /ERROR:\s+airlock: .*email/);
  assert.match(r.stderr, /AIRLOCK_MASKING_REFUSED/);
  assertNothingLeaked('refused expression');
  const c = pgClient();
  await c.connect();
  try {
    await assert.rejects(c.query('select id, email || $1 as e from customers', ['']), (e: pg.DatabaseError) => e.code === '42501' && /AIRLOCK_MASKING_REFUSED/.test(e.hint ?? '') && /email/.test(e.message));
    // The session is usable after the refusal.
    assert.equal((await c.query('select email from customers where id = $1', [1])).rows[0].email, maskText('alice@example.com', EMAIL));
  } finally {
    await c.end();
  }
  await waitFor(() => rig.events.some((e) => e.action === 'statement' && e.details?.decision === 'refused' && e.details?.rule === 'masking'), 3000, 'the refusal in the audit');
});

test('COPY of a masked column is refused before it runs; COPY of other columns streams; an empty query is answered', async () => {
  reset();
  for (const sql of ['copy customers to stdout', 'copy (select id, email from customers) to stdout', 'copy customers (phone) to stdout']) {
    const r = await psql(sql);
    assert.notEqual(r.code, 0, sql);
    assert.match(r.stderr, /AIRLOCK_MASKING_REFUSED/, sql);
  }
  const ok = await psql('copy (select id, note from customers order by id) to stdout');
  assert.equal(ok.stderr, '');
  assert.equal(ok.stdout, CUSTOMERS.map((c) => `${c.id}\t${c.note ?? '\\N'}`).join('\n') + '\n');
  assertNothingLeaked('COPY');
  const c = pgClient();
  await c.connect();
  try {
    // JDBC's isValid() and some pools send an empty query to check a connection.
    assert.equal((await c.query('')).rowCount, null);
  } finally {
    await c.end();
  }
});

test('a masked session cannot change the database\'s definitions (a view could show a masked column unmasked)', async () => {
  const r = await psql('create temporary view leak as select * from customers');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /cannot change the database's definitions/);
  assert.match(r.stderr, /AIRLOCK_MASKING_REFUSED/);
});

test('errors from the server lose Detail and Where, and the values quoted in data and integrity errors', async () => {
  reset();
  // Check violation: PostgreSQL's DETAIL would be "Failing row contains (1, alice@example.com, …)".
  const check = await psql("update customers set note = 'bad' where id = 1");
  assert.match(check.stderr, /ERROR:\s+new row for relation "…"/);
  assert.doesNotMatch(check.stderr, /DETAIL|Failing row/);
  // Unique violation: DETAIL "Key (email)=(bob.builder@example.org) already exists."
  const unique = await psql("insert into customers (id, email) values (10, 'bob.builder@example.org')");
  assert.match(unique.stderr, /ERROR:\s+duplicate key value violates unique constraint "…"/);
  assert.doesNotMatch(unique.stderr, /DETAIL|Key \(/);
  // A data exception quoting the value it could not read.
  const cast = await psql("select 'alice@example.com'::int");
  assert.match(cast.stderr, /ERROR:\s+invalid input syntax for type integer: "…"/);
  assertNothingLeaked('errors');
  const c = pgClient();
  await c.connect();
  try {
    await assert.rejects(c.query("update customers set note = 'bad' where id = 2"), (e: pg.DatabaseError) => e.code === '23514' && e.detail === undefined && e.where === undefined);
  } finally {
    await c.end();
  }
  assertNothingLeaked('errors (node-postgres)');
  const audited = rig.events.filter((e) => e.action === 'statement' && typeof e.details?.error === 'string').map((e) => String(e.details?.error));
  for (const s of SECRETS) assert.ok(!audited.some((t) => t.includes(s)), `"${s}" in an audited error`);
});

test('session.start records the masked columns by name', async () => {
  const start = rig.events.find((e) => e.action === 'session.start' && e.details?.resource === 'masked');
  assert.ok(start);
  const cols = start.details?.masked_columns as string[];
  assert.ok(cols.includes('public.customers.email') && cols.includes('public.customers.phone') && cols.includes('public.wide.email'), String(cols));
});

test('an unmasked session on the same database sees the real values (masking is per role)', async () => {
  const r = await runTool('psql', [rig.conninfo('rw'), '-XAt', '-c', 'select email from customers where id = 1'], { password: rig.token });
  assert.equal(r.stdout, 'alice@example.com\n');
});


test('a masked result of 3M rows (~350 MB) to a client that stops reading, then reads: memory stays flat, every row masked', { timeout: 240_000 }, async (t) => {
  const conn = await openUpstream({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: 'masked' }, {});
  const base = liveMemory();
  let peak = base;
  const sampler = setInterval(() => (peak = Math.max(peak, liveMemory())), 200);
  try {
    conn.socket.write(queryMessage("select c.id, c.email, repeat('x', 80) as pad from customers c, generate_series(1, 1000000) g"));
    await new Promise((r) => setTimeout(r, 3000));
    const whilePaused = liveMemory() - base;
    assert.ok(whilePaused < 50 * 1024 * 1024, `memory grew ${(whilePaused / 1048576).toFixed(1)} MB while the client was paused`);
    let rows = 0;
    let leaked = 0;
    let tag = '';
    const maskedAlice = Buffer.from(maskText('alice@example.com', EMAIL)!);
    let alice = 0;
    const scanner = new BackendScanner(new Set([B.CommandComplete, B.ReadyForQuery, B.ErrorResponse]), 1 << 20, {
      streamed: (type) => (type === B.DataRow ? WHOLE : false),
      whole: (msg) => {
        if (msg[0] === B.DataRow) {
          rows++;
          if (msg.indexOf('@example.') >= 0 || msg.indexOf('bob.builder') >= 0) leaked++;
          if (msg.indexOf(maskedAlice) >= 0) alice++;
        } else if (msg[0] === B.CommandComplete) tag = msg.toString('utf8', 5, msg.length - 1);
        else if (msg[0] === B.ErrorResponse) tag = msg.toString('utf8');
        else conn.socket.emit('done');
        return null;
      },
      out: () => {},
    });
    const finished = new Promise<void>((resolve) => conn.socket.once('done', () => resolve()));
    conn.read((chunk: Buffer) => scanner.feed(chunk));
    conn.socket.resume();
    await finished;
    assert.equal(tag, 'SELECT 3000000');
    assert.equal(rows, 3_000_000);
    assert.equal(leaked, 0);
    assert.ok(alice >= 1_000_000, `${alice} rows carry alice's masked value`);
    t.diagnostic(`memory: +${(whilePaused / 1048576).toFixed(1)} MB while paused, peak +${((peak - base) / 1048576).toFixed(1)} MB`);
    assert.ok(peak - base < 50 * 1024 * 1024, `memory peaked ${((peak - base) / 1048576).toFixed(1)} MB above the start`);
  } finally {
    clearInterval(sampler);
    conn.socket.destroy();
  }
});

test('masked columns that cannot be read refuse the session with AIRLOCK_MASKING_CATALOG, audited as a refusal', async () => {
  const failing = await startRig({
    dbPrefix: 'airlock_mrelay',
    extra: { masked: { masking: MASKING } },
    gateway: { maskCatalogs: { forLogin: () => Promise.reject(new Error('permission denied for table pg_attribute')) } },
  });
  try {
    const r = await runTool('psql', [failing.conninfo('masked'), '-XAt', '-c', 'select 1'], { password: failing.token });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /FATAL:\s+airlock: could not read which columns role "read" masks in masked \(permission denied for table pg_attribute\), so no session was opened rather than show them unmasked/);
    assert.match(r.stderr, /AIRLOCK_MASKING_CATALOG/);
    assert.equal(r.stdout, '');
    await waitFor(() => failing.events.some((e) => e.action === 'session.refused' && e.details?.airlock_code === 'AIRLOCK_MASKING_CATALOG'), 3000, 'the refusal in the audit');
    assert.ok(!failing.events.some((e) => e.action === 'session.start'));
    // A role that masks nothing is not affected.
    const rw = await runTool('psql', [failing.conninfo('rw'), '-XAt', '-c', 'select 1'], { password: failing.token });
    assert.equal(rw.stdout, '1\n', rw.stderr);
  } finally {
    await failing.stop();
  }
});
