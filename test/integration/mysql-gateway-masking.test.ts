// Column masking through the MySQL gateway to the machine's MariaDB: a corpus of attempts to read masked values
// indirectly, each run with mysql2 in the text protocol (query) and, for statements that prepare, the binary protocol
// (execute), and checked against the real data (no real value may appear anywhere in what the client got); methods,
// NULLs, wide values, views, error texts, the mariadb CLI, predicates: refuse, the audit, and a catalog that cannot be
// read refusing the session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { MARIADB, adminQuery, mariadbCli } from './mysql-gateway-harness.js';

const suffix = randomBytes(4).toString('hex');
const db = `airlock_mymask_${suffix}`;
const user = `airlock_mymask_${suffix}`;
const limited = `airlock_mymask_${suffix}_l`;
const password = randomBytes(12).toString('base64url');
const passEnv = `AIRLOCK_T_MYMASK_${suffix.toUpperCase()}`;
const keyEnv = `AIRLOCK_T_MYMASK_KEY_${suffix.toUpperCase()}`;
const WIDE = 3 * 1024 * 1024;

/** Every real value a masked session must never see, in any form the tests could print it. */
const SECRETS = ['zq7alice', 'zq7bob', 'zq7carol', 'zq7dora', '+15550001111', '+15550002222', '+1555000', 'REFSECRET', '4111111111', '1987-06-05', '1991-02-03', 'BIOSECRET', 'zq7erin'];

let airlock: InProcessAirlock;
let tokens: Record<'alice' | 'carol' | 'dave' | 'erin' | 'bob', string>;
let support: mysql.Connection;
let strict: mysql.Connection;

function leaks(got: unknown): string[] {
  const text = JSON.stringify(got, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('latin1') : v instanceof Date ? v.toISOString() : v));
  return SECRETS.filter((s) => text.includes(s));
}

const connect = (principal: keyof typeof tokens, database = 'shop-db') =>
  mysql.createConnection({ host: '127.0.0.1', port: airlock.server.gateways.mysql!.port, user: principal, password: tokens[principal], database, dateStrings: true, multipleStatements: false });

before(async () => {
  await adminQuery(`CREATE DATABASE \`${db}\``);
  for (const [u, extra] of [[user, ''], [limited, ' WITH MAX_QUERIES_PER_HOUR 1']] as const) {
    for (const h of ['%', 'localhost']) {
      await adminQuery(`CREATE USER '${u}'@'${h}' IDENTIFIED BY '${password}'`);
      await adminQuery(`GRANT ALL ON \`${db}\`.* TO '${u}'@'${h}'${extra}`);
    }
  }
  const q = (sql: string, params: unknown[] = []) => adminQuery(sql.replace(/\bDB\./g, `\`${db}\`.`), params);
  await q(`CREATE TABLE DB.customers (
    id INT PRIMARY KEY, name VARCHAR(50), email VARCHAR(100) UNIQUE, phone VARCHAR(30) COMMENT 'pii:phone mobile number',
    ref VARCHAR(40), born DATE, card JSON, bio LONGTEXT, dom VARCHAR(100) AS (SUBSTRING_INDEX(email, '@', -1)) VIRTUAL)`);
  await q('CREATE TABLE DB.orders (id INT PRIMARY KEY, cid INT, email VARCHAR(100), note LONGTEXT)');
  await q('CREATE TABLE DB.log (a TEXT)');
  const rows: [number, string, string | null, string | null, string, string | null, string | null][] = [
    [1, 'Alice', 'zq7alice@example.com', '+15550001111', 'REFSECRET-1', '1987-06-05', '{"pan":"4111111111111111"}'],
    [2, 'Bob', 'zq7bob@example.org', '+15550002222', 'REFSECRET-1', '1991-02-03', '{"pan":"4111111111112222"}'],
    [3, 'Nobody', null, null, 'REFSECRET-3', null, null],
    [4, 'Carol', 'zq7carol@example.com', null, 'REFSECRET-4', null, null],
  ];
  for (const r of rows) await q('INSERT INTO DB.customers (id, name, email, phone, ref, born, card) VALUES (?, ?, ?, ?, ?, ?, ?)', r);
  await q("INSERT INTO DB.customers (id, name, email) VALUES (9, 'Dora', 'zq7dora@example.net')");
  await q('UPDATE DB.customers SET bio = ? WHERE id = 1', [`BIOSECRET${'b'.repeat(WIDE)}`]);
  await q("INSERT INTO DB.orders VALUES (1, 1, 'order1@example.com', ?), (2, 2, 'other@example.org', 'n')", ['N'.repeat(WIDE)]);
  await q(`INSERT INTO DB.customers (id, name, email) SELECT 1000 + seq, 'many', CONCAT('zq7erin', seq, '@example.com') FROM DB.seq_1_to_2000`);
  await q('CREATE VIEW DB.v_mail AS SELECT c.id, c.email AS mail, o.email AS order_email FROM DB.customers c JOIN DB.orders o ON o.cid = c.id');
  await q('CREATE VIEW DB.v_lower AS SELECT id, LOWER(email) AS lm FROM DB.customers');
  await q('CREATE ALGORITHM = TEMPTABLE VIEW DB.v_tmp AS SELECT id, email FROM DB.customers WHERE id < 100');
  await q('CREATE VIEW DB.v_over AS SELECT mail AS m2, id FROM DB.v_mail');
  await q(`CREATE FUNCTION DB.get_mail(i INT) RETURNS VARCHAR(100) READS SQL DATA RETURN (SELECT email FROM DB.customers WHERE id = i)`);
  const policy = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: carol, groups: [engineers] }
  - { name: dave, groups: [engineers] }
  - { name: erin, groups: [engineers] }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
auditors: { principals: [bob] }
resources:
  - name: shop-db
    kind: mysql
    address: "${MARIADB.host}:${MARIADB.port}"
    database: ${db}
    credential: { username: ${user}, password: { env: ${passEnv} }, mode: injected }
  - name: limited-db
    kind: mysql
    address: "${MARIADB.host}:${MARIADB.port}"
    database: ${db}
    credential: { username: ${limited}, password: { env: ${passEnv} }, mode: injected }
roles:
  - name: support
    resources: { names: [shop-db, limited-db] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    masking:
      columns:
        - { column: customers.email, method: email }
        - { label: "pii:phone", method: partial, keep: 2 }
        - { column: ${db}.customers.ref, method: hash, key: { env: ${keyEnv} } }
        - customers.born
        - customers.card
        - customers.bio
  - name: strict
    resources: { names: [shop-db] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    masking:
      predicates: refuse
      columns: [customers.email]
  - name: plain
    resources: { names: [shop-db] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
`;
  airlock = await startAirlock({ policy, env: { [passEnv]: password, [keyEnv]: '0123456789abcdef0123456789abcdef' } });
  const t = async (p: string) => airlock.token(p);
  tokens = { alice: await t('alice'), carol: await t('carol'), dave: await t('dave'), erin: await t('erin'), bob: await t('bob') };
  await airlock.grant(tokens.alice, tokens.bob, 'shop-db', 'support');
  await airlock.grant(tokens.carol, tokens.bob, 'shop-db', 'strict');
  await airlock.grant(tokens.dave, tokens.bob, 'shop-db', 'plain');
  await airlock.grant(tokens.erin, tokens.bob, 'limited-db', 'support');
  support = await connect('alice');
  strict = await connect('carol');
});

after(async () => {
  await support?.end().catch(() => {});
  await strict?.end().catch(() => {});
  await airlock?.stop();
  await adminQuery(`DROP DATABASE IF EXISTS \`${db}\``);
  for (const u of [user, limited]) for (const h of ['%', 'localhost']) await adminQuery(`DROP USER IF EXISTS '${u}'@'${h}'`);
});

/** One attempt: its steps run in order on the masked session; `binary`: also run through COM_STMT_PREPARE/EXECUTE. */
interface Attempt {
  steps: string[];
  expect: 'masked' | 'refused';
  binary?: boolean;
}

const CORPUS: Attempt[] = [
  // Allowed, and masked by the result columns' origin.
  { steps: ['SELECT email FROM customers ORDER BY id'], expect: 'masked', binary: true },
  { steps: ['SELECT email AS e, c.email AS `x y`, email AS phone FROM customers c'], expect: 'masked', binary: true },
  { steps: ['SELECT * FROM customers WHERE id < 100'], expect: 'masked', binary: true },
  { steps: ['SELECT c.* FROM customers c JOIN orders o ON o.cid = c.id'], expect: 'masked', binary: true },
  { steps: ['SELECT DISTINCT email FROM customers WHERE id < 100'], expect: 'masked', binary: true },
  { steps: ['SELECT email, COUNT(*) FROM customers WHERE id < 100 GROUP BY email WITH ROLLUP'], expect: 'masked', binary: true },
  { steps: ['SELECT mail, order_email FROM v_mail'], expect: 'masked', binary: true },
  { steps: ['SELECT * FROM v_tmp'], expect: 'masked', binary: true },
  { steps: ['SELECT * FROM v_over'], expect: 'masked', binary: true },
  { steps: ['SELECT dom FROM customers WHERE id < 100'], expect: 'masked', binary: true },
  { steps: ['(SELECT email FROM customers WHERE id < 100) ORDER BY email'], expect: 'masked', binary: true },
  { steps: ['SELECT phone, ref, card, born, bio FROM customers WHERE id < 10'], expect: 'masked', binary: true },
  { steps: ["SELECT * FROM customers WHERE email LIKE 'zq7a%'"], expect: 'masked', binary: true },
  { steps: ['SELECT ROW_NUMBER() OVER (ORDER BY email) AS n, email FROM customers WHERE id < 100'], expect: 'masked', binary: true },
  { steps: ['SELECT email FROM customers WHERE id IN (SELECT cid FROM orders WHERE email = customers.email)'], expect: 'masked', binary: true },
  // Refused: expressions, functions, casts, aggregates.
  { steps: ['SELECT LOWER(email) FROM customers'], expect: 'refused', binary: true },
  { steps: ["SELECT CONCAT(email, '') FROM customers"], expect: 'refused', binary: true },
  { steps: ['SELECT TRIM(email) FROM customers'], expect: 'refused', binary: true },
  { steps: ['SELECT SUBSTR(email, 1, 3) FROM customers'], expect: 'refused', binary: true },
  { steps: ['SELECT CAST(email AS BINARY) FROM customers'], expect: 'refused', binary: true },
  { steps: ['SELECT CONVERT(email USING latin1) FROM customers'], expect: 'refused', binary: true },
  { steps: ['SELECT HEX(email) FROM customers'], expect: 'refused', binary: true },
  { steps: ["SELECT JSON_OBJECT('e', email) FROM customers"], expect: 'refused', binary: true },
  { steps: ['SELECT JSON_ARRAYAGG(email) FROM customers'], expect: 'refused', binary: true },
  { steps: ['SELECT GROUP_CONCAT(email) FROM customers'], expect: 'refused', binary: true },
  { steps: ['SELECT MAX(email), MIN(phone) FROM customers'], expect: 'refused', binary: true },
  { steps: ["SELECT JSON_EXTRACT(card, '$.pan') FROM customers"], expect: 'refused', binary: true },
  { steps: ['SELECT BINARY email FROM customers'], expect: 'refused', binary: true },
  { steps: ['SELECT name email FROM customers'], expect: 'refused', binary: true },
  { steps: ["SELECT CASE WHEN email LIKE 'zq7a%' THEN name END FROM customers"], expect: 'refused', binary: true },
  { steps: ['SELECT EXTRACTVALUE(1, CONCAT(0x7e, email)) FROM customers'], expect: 'refused', binary: true },
  { steps: ['SELECT /*!100000 LOWER(*/ email /*!100000 )*/ FROM customers'], expect: 'refused', binary: true },
  // Refused: subqueries, derived tables, CTEs, set operations, views computing from masked columns.
  { steps: ['SELECT (SELECT email FROM customers LIMIT 1) AS e'], expect: 'refused', binary: true },
  { steps: ['SELECT d.e FROM (SELECT email AS e FROM customers) d'], expect: 'refused', binary: true },
  { steps: ['WITH c AS (SELECT email FROM customers) SELECT * FROM c'], expect: 'refused', binary: true },
  { steps: ['WITH c AS (SELECT * FROM customers) SELECT * FROM c'], expect: 'refused', binary: true },
  { steps: ["SELECT email FROM customers UNION SELECT 'x'"], expect: 'refused', binary: true },
  { steps: ['SELECT * FROM customers UNION ALL SELECT * FROM customers'], expect: 'refused', binary: true },
  { steps: ['SELECT * FROM v_lower'], expect: 'refused', binary: true },
  // Refused: copies into variables, files, other rows.
  { steps: ['SELECT email INTO @e FROM customers WHERE id = 1', 'SELECT @e'], expect: 'refused' },
  { steps: ['SELECT @x := email FROM customers', 'SELECT @x'], expect: 'refused' },
  { steps: ['SELECT id FROM customers WHERE (@y := email) IS NOT NULL', 'SELECT @y'], expect: 'refused' },
  { steps: ['SET @z = (SELECT email FROM customers WHERE id = 1)', 'SELECT @z'], expect: 'refused' },
  { steps: ['UPDATE customers SET name = email WHERE id = 2', 'SELECT name FROM customers WHERE id = 2'], expect: 'refused' },
  { steps: ['INSERT INTO log SELECT email FROM customers', 'SELECT * FROM log'], expect: 'refused' },
  { steps: ['CREATE TABLE copy1 AS SELECT * FROM customers', 'SELECT * FROM copy1'], expect: 'refused' },
  { steps: ["SELECT * FROM customers INTO OUTFILE '/tmp/airlock-mymask-out'"], expect: 'refused' },
  // Refused: everything that runs or shows what the check cannot see.
  { steps: ["PREPARE s FROM 'SELECT LOWER(email) FROM customers'", 'EXECUTE s'], expect: 'refused' },
  { steps: ["EXECUTE IMMEDIATE CONCAT('SELECT LOWER(em', 'ail) FROM customers')"], expect: 'refused' },
  { steps: ['SELECT get_mail(1)'], expect: 'refused', binary: true },
  { steps: ['EXPLAIN FORMAT=JSON SELECT * FROM customers c JOIN orders o ON o.email = c.email WHERE c.id = 1'], expect: 'refused' },
  { steps: ['SELECT * FROM customers PROCEDURE ANALYSE()'], expect: 'refused' },
  { steps: ['HANDLER customers OPEN', 'HANDLER customers READ FIRST'], expect: 'refused' },
  { steps: ['ANALYZE TABLE customers PERSISTENT FOR ALL', 'SELECT * FROM mysql.column_stats'], expect: 'refused' },
  { steps: ['SELECT * FROM information_schema.PROCESSLIST'], expect: 'refused' },
  { steps: ['SELECT id FROM customers WHERE email = 5', 'SHOW WARNINGS'], expect: 'refused' },
];

test('the corpus of indirect reads: every attempt masked or refused, no real value in anything the client got (text and binary protocol)', async () => {
  assert.ok(CORPUS.length >= 40, `${CORPUS.length} attempts`);
  let refused = 0;
  for (const a of CORPUS) {
    const got: unknown[] = [];
    let refusal: string | null = null;
    for (const sql of a.steps) {
      try {
        const [rows, fields] = await support.query(sql);
        got.push(rows, (fields ?? []).map((f) => f.name));
      } catch (err) {
        const e = err as { message: string; errno?: number };
        got.push(e.message);
        // The gateway's refusals: by masking, or by a wall that stops the statement before masking is asked.
        if (/^airlock: /.test(e.message)) refusal ??= e.message;
      }
    }
    assert.deepEqual(leaks(got), [], `${a.steps.join(' ; ')} leaked: ${JSON.stringify(got).slice(0, 400)}`);
    if (a.expect === 'refused') {
      assert.ok(refusal !== null, `expected a masking refusal: ${a.steps.join(' ; ')}: ${JSON.stringify(got).slice(0, 300)}`);
      if (/^airlock: statement refused by rule masking: .*\(AIRLOCK_MASKING_REFUSED\)$/s.test(refusal)) refused++;
    } else {
      assert.equal(refusal, null, `expected allowed: ${a.steps[0]}: ${refusal}`);
    }
    if (a.binary) {
      let binary: unknown;
      try {
        binary = (await support.execute(a.steps[0]!))[0];
        assert.equal(a.expect, 'masked', `the binary protocol ran a statement the text protocol refused: ${a.steps[0]}`);
      } catch (err) {
        binary = (err as Error).message;
        if (a.expect === 'masked') throw err;
        assert.match(binary as string, /^airlock: /);
      }
      assert.deepEqual(leaks(binary), [], `binary ${a.steps[0]} leaked`);
    }
  }
  assert.ok(refused >= 30);
  // The session is fine after all of that, and the writes were never made.
  assert.deepEqual((await adminQuery(`SELECT COUNT(*) AS n FROM \`${db}\`.log`)) as unknown[], [{ n: 0 }]);
  assert.deepEqual(((await adminQuery(`SELECT name FROM \`${db}\`.customers WHERE id = 2`)) as { name: string }[])[0]!.name, 'Bob');
});

test('each method shows what it promises, in text and binary rows alike; NULLs stay NULL; a role without masking sees the real values', async () => {
  const sql = 'SELECT id, name, email, phone, ref, born, card, dom FROM customers WHERE id IN (1, 2, 3) ORDER BY id';
  const [text] = await support.query(sql);
  const [binary] = await support.execute(sql);
  const want = [
    { id: 1, name: 'Alice', email: '****@example.com', phone: '****11', born: null, card: '****', dom: '****' },
    { id: 2, name: 'Bob', email: '****@example.org', phone: '****22', born: null, card: '****', dom: '****' },
    { id: 3, name: 'Nobody', email: null, phone: null, born: null, card: null, dom: null },
  ];
  for (const rows of [text, binary] as Record<string, unknown>[][]) {
    assert.deepEqual(rows.map(({ ref: _ref, ...rest }) => rest), want);
    // hash: stable (rows 1 and 2 hold the same ref), keyed, never the value.
    const refs = rows.map((r) => r.ref as string);
    assert.match(refs[0]!, /^h:[0-9a-f]{24}$/);
    assert.equal(refs[0], refs[1]);
    assert.notEqual(refs[0], refs[2]);
  }
  assert.deepEqual((text as unknown[])[0], (binary as unknown[])[0]);
  const plain = await connect('dave');
  try {
    const [rows] = await plain.query('SELECT email, phone FROM customers WHERE id = 1');
    assert.deepEqual(rows, [{ email: 'zq7alice@example.com', phone: '+15550001111' }]);
  } finally {
    await plain.end();
  }
});

test('wide values: a 3 MiB masked value is replaced whole, a 3 MiB column in clear arrives byte for byte, both protocols', async () => {
  for (const run of [(s: string) => support.query(s), (s: string) => support.execute(s)]) {
    const [rows] = (await run('SELECT c.bio, o.note, c.email FROM customers c JOIN orders o ON o.cid = c.id WHERE c.id = 1')) as unknown as [{ bio: string; note: string; email: string }[]];
    assert.equal(rows[0]!.bio, '****');
    assert.equal(rows[0]!.note.length, WIDE);
    assert.ok(/^N+$/.test(rows[0]!.note));
    assert.equal(rows[0]!.email, '****@example.com');
  }
});

test('a 2000-row masked result: every row masked, none lost', async () => {
  for (const run of [(s: string) => support.query(s), (s: string) => support.execute(s)]) {
    const [rows] = (await run("SELECT id, email FROM customers WHERE name = 'many' ORDER BY id")) as unknown as [{ id: number; email: string }[]];
    assert.equal(rows.length, 2000);
    assert.ok(rows.every((r) => r.email === '****@example.com'));
    assert.equal(rows[1999]!.id, 3000);
  }
});

test('writes keep working: a masked column is written with a literal and read back masked; RETURNING is masked; error texts hide values', async () => {
  await support.query("INSERT INTO customers (id, name, email) VALUES (50, 'New', 'new50@example.com')");
  const [updated] = (await support.query("UPDATE customers SET email = 'new51@example.com' WHERE id = 50")) as unknown as [{ affectedRows: number }];
  assert.equal(updated.affectedRows, 1);
  assert.deepEqual((await support.query('SELECT email FROM customers WHERE id = 50'))[0], [{ email: '****@example.com' }]);
  const [ret] = await support.query('DELETE FROM customers WHERE id = 9 RETURNING id, email');
  assert.deepEqual(ret, [{ id: 9, email: '****@example.net' }]);
  // Values the server quotes in an error are hidden: the comparison reads the stored e-mail addresses.
  await assert.rejects(support.query("UPDATE customers SET name = 'x' WHERE email = 5"), (e: Error & { errno: number }) => {
    assert.equal(e.errno, 1292);
    assert.match(e.message, /Truncated incorrect \w+ value: '…'/);
    assert.deepEqual(leaks(e.message), []);
    return true;
  });
  await assert.rejects(support.query("UPDATE customers SET email = 'zq7bob@example.org' WHERE id = 50"), (e: Error & { errno: number }) => {
    assert.equal(e.errno, 1062);
    assert.match(e.message, /Duplicate entry '…' for key '…'/);
    return true;
  });
  // Errors that quote only names and the statement keep their text.
  await assert.rejects(support.query('SELECT nosuch FROM customers'), /Unknown column 'nosuch' in 'field list'|Unknown column 'nosuch' in 'SELECT'/);
  const events = await airlock.api<{ events: { details: Record<string, unknown> }[] }>(tokens.bob, 'GET', '/api/v1/audit/events?action=statement&limit=500');
  const texts = JSON.stringify(events.events.map((e) => e.details));
  assert.deepEqual(leaks(texts.replace(/zq7bob@example\.org/g, '')), [], 'the audit keeps no value the server quoted');
});

test('the audit records masking refusals with their rule', async () => {
  await assert.rejects(support.query('SELECT UPPER(email) FROM customers'), /AIRLOCK_MASKING_REFUSED/);
  const events = await airlock.api<{ events: { details: Record<string, unknown> }[] }>(tokens.bob, 'GET', '/api/v1/audit/events?action=statement&limit=500');
  const refused = events.events.filter((e) => e.details.rule === 'masking');
  assert.ok(refused.length >= 30, `${refused.length} masking refusals audited`);
  assert.ok(refused.every((e) => e.details.decision === 'refused'));
});

test('predicates: refuse — masked columns only as plain select items', async () => {
  assert.deepEqual((await strict.query('SELECT id, email FROM customers WHERE id = 1'))[0], [{ id: 1, email: '****' }]);
  for (const sql of ["SELECT id FROM customers WHERE email = 'zq7alice@example.com'", 'SELECT id FROM customers ORDER BY email', 'SELECT email, COUNT(*) FROM customers GROUP BY email']) {
    await assert.rejects(strict.query(sql), /customers\.email is masked for your role, and your role does not allow masked columns in conditions.*\(masking predicates: refuse\).*AIRLOCK_MASKING_REFUSED/);
  }
});

test('the mariadb client: masked rows, a refusal it prints, and SHOW WARNINGS refused', async () => {
  const args = ['-h', '127.0.0.1', '-P', String(airlock.server.gateways.mysql!.port), '-u', 'alice', `-p${tokens.alice}`, '-D', 'shop-db', '--skip-ssl', '-N', '-B'];
  const ok = await mariadbCli([...args, '-e', 'SELECT id, email, phone FROM customers WHERE id IN (1, 2, 3) ORDER BY id']);
  assert.equal(ok.stderr, '');
  assert.equal(ok.stdout, '1\t****@example.com\t****11\n2\t****@example.org\t****22\n3\tNULL\tNULL\n');
  const refused = await mariadbCli([...args, '-e', 'SELECT LOWER(email) FROM customers']);
  assert.match(refused.stderr, /ERROR 1142 \(42000\).*airlock: statement refused by rule masking: .*customers\.email.*AIRLOCK_MASKING_REFUSED/);
  const warnings = await mariadbCli([...args, '--show-warnings', '-e', "SELECT id FROM customers WHERE email = 5 AND id = 1"]);
  assert.deepEqual(leaks(warnings), []);
  assert.match(warnings.stderr, /ERROR 1142 \(42000\).*SHOW WARNINGS can show values .*AIRLOCK_MASKING_REFUSED/);
});

test('a catalog that cannot be read refuses the session with AIRLOCK_MASKING_CATALOG (fail closed)', async () => {
  // The upstream account may run one query an hour: the catalog's second query fails.
  await assert.rejects(connect('erin', 'limited-db'), (e: Error & { errno: number }) => {
    assert.equal(e.errno, 1105);
    assert.match(e.message, /could not be read from the database's information_schema.*AIRLOCK_MASKING_CATALOG/);
    assert.ok(!e.message.includes(password));
    return true;
  });
  const refusals = await airlock.api<{ events: { details: Record<string, unknown> }[] }>(tokens.bob, 'GET', '/api/v1/audit/events?action=session.refused&limit=50');
  assert.ok(refusals.events.some((e) => e.details.airlock_code === 'AIRLOCK_MASKING_CATALOG'));
});
