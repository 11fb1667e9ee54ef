// Limits through the real gateway: CancelRequests throttled per source address (a flood from 127.0.0.2 does not stop
// 127.0.0.3), max_rows counted per SQL cursor over all its FETCHes and per portal over Executes with a row limit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import pg from 'pg';
import { startRig, runTool, waitFor, type Rig } from './pg-gateway-harness.js';
import { WireSession, type WireReply } from './pg-wire-client.js';
import { adminUrl, urlForDatabase } from '../support/pg.js';
import { BodyWriter, F, cancelRequest, parseMessage, typedMessage } from '../../src/gateway/postgres/protocol.js';

let rig: Rig;
let admin: pg.Client;
before(async () => {
  // A bucket that refills once a minute makes "throttled" independent of how fast this machine sends the flood.
  rig = await startRig({ extra: { ten: { guardrails: { max_rows: 10 } } }, gateway: { allowCleartextWithoutTls: true, cancelRateLimit: { perSecond: 1 / 60, burst: 20 } } });
  admin = new pg.Client(urlForDatabase(adminUrl(), rig.db.name));
  await admin.connect();
});
after(async () => {
  await admin?.end();
  await rig?.stop();
});

type PgError = Error & { code?: string; hint?: string };
type KeyedClient = pg.Client & { processID: number; secretKey: number };

/** One CancelRequest from `from` (a loopback address); resolves when the gateway has closed the connection. */
function cancelFrom(from: string, pid: number, secret: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ port: rig.port, host: '127.0.0.1', localAddress: from }, () => s.write(cancelRequest(pid, secret)));
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

async function sleeper(app: string): Promise<{ c: KeyedClient; running: Promise<PgError | null> }> {
  const c = new pg.Client({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: 'rw', application_name: app, ssl: { ca: rig.tls.ca } }) as KeyedClient;
  c.on('error', () => {});
  await c.connect();
  const running = c.query('select pg_sleep(30)').then(() => null, (e: PgError) => e);
  await waitFor(async () => (await admin.query("select 1 from pg_stat_activity where application_name = $1 and state = 'active'", [app])).rowCount === 1, 5000, `${app} running`);
  return { c, running };
}

test('a CancelRequest flood from one address is throttled (even a correct key), another address still cancels', { timeout: 60_000 }, async () => {
  const a = await sleeper('flood-a');
  const b = await sleeper('flood-b');
  try {
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(Array.from({ length: 30 }, (_, i) => cancelFrom('127.0.0.2', a.c.processID, a.c.secretKey ^ (batch * 30 + i + 1))));
    }
    await cancelFrom('127.0.0.2', a.c.processID, a.c.secretKey);
    // B's cancel goes out after A's throttled one took the same path; once B is cancelled, A's would have landed.
    await cancelFrom('127.0.0.3', b.c.processID, b.c.secretKey);
    assert.equal((await b.running)?.code, '57014', 'the other address cancels');
    const stillRunning = await admin.query("select 1 from pg_stat_activity where application_name = 'flood-a' and state = 'active'");
    assert.equal(stillRunning.rowCount, 1, 'the correct key from the flooding address was not acted on');
    await cancelFrom('127.0.0.3', a.c.processID, a.c.secretKey);
    assert.equal((await a.running)?.code, '57014');
    const reports = rig.errors.filter((e) => (e as { event?: string }).event === 'cancel_rate_limited');
    assert.deepEqual(reports.map((e) => (e as { source?: string }).source), ['127.0.0.2'], 'one log line for the flood, not one per packet');
  } finally {
    await a.c.end();
    await b.c.end();
  }
});

function rowsAndError(r: WireReply): { rows: number; error: string | null } {
  const e = r.errors[0];
  return { rows: r.rows.length, error: e ? `${e.code} ${/AIRLOCK_MAX_ROWS/.test(e.hint) ? 'AIRLOCK_MAX_ROWS' : e.hint}` : null };
}

const LIMIT = { rows: 0, error: '54000 AIRLOCK_MAX_ROWS' };

test('max_rows 10 over a cursor: FETCH 5 twice, then the third FETCH is refused; FETCH ALL, FORWARD n, MOVE', async () => {
  const s = await WireSession.open(rig.port, rig.token, 'ten');
  try {
    await s.query('begin');
    await s.query('declare c cursor for select g from generate_series(1, 100) g');
    assert.deepEqual(rowsAndError(await s.query('fetch 5 from c')), { rows: 5, error: null });
    assert.deepEqual(rowsAndError(await s.query('fetch 5 from c')), { rows: 5, error: null });
    const third = await s.query('fetch 5 from c');
    assert.deepEqual(rowsAndError(third), LIMIT);
    assert.match(third.errors[0]!.message, /the cursor "c" has returned more than 10 rows in all/);
    assert.deepEqual(rowsAndError(await s.query('fetch all from c')), LIMIT, 'and every FETCH after it');
    await s.query('rollback');

    await s.query('begin');
    await s.query('declare d cursor for select g from generate_series(1, 100) g');
    assert.deepEqual(rowsAndError(await s.query('fetch 5 from d')), { rows: 5, error: null });
    assert.deepEqual(rowsAndError(await s.query('fetch all from d')), { rows: 5, error: '54000 AIRLOCK_MAX_ROWS' }, 'FETCH ALL gets the rest of the 10');
    await s.query('rollback');

    await s.query('begin');
    await s.query('declare e cursor for select g from generate_series(1, 100) g');
    for (let i = 0; i < 3; i++) assert.deepEqual(rowsAndError(await s.query('fetch forward 3 from e')), { rows: 3, error: null });
    const last = await s.query('fetch forward 3 from e');
    assert.deepEqual(rowsAndError(last), { rows: 1, error: '54000 AIRLOCK_MAX_ROWS' });
    assert.deepEqual(last.rows, [['10']]);
    await s.query('rollback');

    // MOVE sends no rows, so it does not count; the rows FETCH then sends do.
    await s.query('begin');
    await s.query('declare m scroll cursor for select g from generate_series(1, 100) g');
    assert.deepEqual(rowsAndError(await s.query('move forward 50 in m')), { rows: 0, error: null });
    assert.deepEqual(rowsAndError(await s.query('fetch 10 from m')), { rows: 10, error: null });
    assert.deepEqual(rowsAndError(await s.query('fetch backward 1 from m')), LIMIT, 'rows sent again count again');
    await s.query('rollback');
  } finally {
    s.close();
  }
});

test('max_rows over a cursor: one multi-statement Query, WITH HOLD across transactions, re-DECLARE starts afresh', async () => {
  const s = await WireSession.open(rig.port, rig.token, 'ten');
  try {
    const multi = await s.query('begin; declare c cursor for select g from generate_series(1, 100) g; fetch 6 from c; fetch 6 from c');
    assert.deepEqual(rowsAndError(multi), { rows: 10, error: '54000 AIRLOCK_MAX_ROWS' });
    await s.query('rollback');

    await s.query('declare h cursor with hold for select g from generate_series(1, 100) g');
    assert.deepEqual(rowsAndError(await s.query('fetch 6 from h')), { rows: 6, error: null });
    assert.equal((await s.query('select 1')).status, 'I', 'outside any transaction');
    assert.deepEqual(rowsAndError(await s.query('fetch 6 from h')), { rows: 4, error: '54000 AIRLOCK_MAX_ROWS' }, 'the held cursor keeps its count');
    const again = await s.query('declare h cursor with hold for select 1');
    assert.equal(again.errors[0]?.code, '42P03', 'a DECLARE that fails (the cursor exists) does not reset the count');
    assert.deepEqual(rowsAndError(await s.query('fetch 1 from h')), LIMIT);
    await s.query('close h');
    await s.query('declare h cursor with hold for select g from generate_series(1, 100) g');
    assert.deepEqual(rowsAndError(await s.query('fetch 10 from h')), { rows: 10, error: null }, 'a new cursor of that name counts from 0');
    await s.query('close h');
  } finally {
    s.close();
  }
});

function bind(portal: string, statement: string): Buffer {
  return typedMessage(F.Bind, new BodyWriter().cstring(portal).cstring(statement).int16(0).int16(0).int16(0).build());
}
function execute(portal: string, maxRows: number): Buffer {
  return typedMessage(F.Execute, new BodyWriter().cstring(portal).int32(maxRows).build());
}
const SYNC = typedMessage(F.Sync, Buffer.alloc(0));

test('max_rows in the extended protocol: Execute with a row limit (PortalSuspended) and FETCH through Parse/Bind/Execute', async () => {
  const s = await WireSession.open(rig.port, rig.token, 'ten');
  try {
    const r = await s.send(Buffer.concat([parseMessage('', 'select g from generate_series(1, 100) g'), bind('p', ''), execute('p', 4), execute('p', 4), execute('p', 4), SYNC]));
    assert.deepEqual(rowsAndError(r), { rows: 10, error: '54000 AIRLOCK_MAX_ROWS' });
    assert.equal((r.types.match(/s/g) ?? []).length, 2, 'two PortalSuspended before the limit');
    assert.equal(r.status, 'I');

    await s.query('begin');
    await s.query('declare c cursor for select g from generate_series(1, 100) g');
    await s.send(Buffer.concat([parseMessage('f', 'fetch 4 from c'), SYNC]));
    const fetches: WireReply[] = [];
    for (let i = 0; i < 3; i++) fetches.push(await s.send(Buffer.concat([bind('', 'f'), execute('', 0), SYNC])));
    assert.deepEqual(fetches.map(rowsAndError), [{ rows: 4, error: null }, { rows: 4, error: null }, { rows: 2, error: '54000 AIRLOCK_MAX_ROWS' }], 'each Bind is a new portal, the cursor is the same');
    await s.query('rollback');
  } finally {
    s.close();
  }
});

test('node-postgres sees the same: a named FETCH statement stops at the cursor limit with a coded error', async () => {
  const c = new pg.Client({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: 'ten', ssl: { ca: rig.tls.ca } });
  await c.connect();
  try {
    await c.query('begin');
    await c.query('declare c cursor for select g from generate_series(1, 100) g');
    assert.equal((await c.query({ name: 'fetch7', text: 'fetch 7 from c' })).rowCount, 7);
    await assert.rejects(c.query({ name: 'fetch7', text: 'fetch 7 from c' }), (e: PgError) => e.code === '54000' && /AIRLOCK_MAX_ROWS/.test(e.hint ?? ''));
    await c.query('rollback');
  } finally {
    await c.end();
  }
  const psql = await runTool('psql', [rig.conninfo('ten'), '-XAt', '-c', 'begin', '-c', 'declare c cursor for select generate_series(1, 100)', '-c', 'fetch 8 from c', '-c', 'fetch 8 from c'], { password: rig.token });
  assert.match(psql.stderr, /ERROR:  airlock: the cursor "c" has returned more than 10 rows in all/);
  assert.match(psql.stderr, /HINT:  Airlock error code AIRLOCK_MAX_ROWS; see docs\/errors.md/);
});
