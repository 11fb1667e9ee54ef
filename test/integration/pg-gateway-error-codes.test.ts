// Every refusal a client gets from the gateway carries its stable Airlock code in the hint, and that code is in
// docs/errors.md and the catalog: login refusals, guardrail refusals, max_rows, kills and protocol errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { startRig, runTool, waitFor, type Rig } from './pg-gateway-harness.js';
import { rawStartup, WireSession, type WireError } from './pg-wire-client.js';
import { ERRORS } from '../../src/domain/errors.js';
import { typedMessage } from '../../src/gateway/postgres/protocol.js';

let rig: Rig;
let plainRig: Rig;
before(async () => {
  rig = await startRig({ extra: { tiny: { guardrails: { max_statement_bytes: 1000 } } }, gateway: { allowCleartextWithoutTls: true, maxMessageBytes: 64 * 1024 } });
  plainRig = await startRig();
});
after(async () => {
  await rig?.stop();
  await plainRig?.stop();
});

const DOC = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
type PgError = Error & { code?: string; hint?: string };

/** The code named in a hint, checked against the docs and the catalog. */
function codeOf(hint: string | undefined, what: string): string {
  const m = /Airlock error code (AIRLOCK_[A-Z_]+); see docs\/errors\.md/.exec(hint ?? '');
  assert.ok(m, `${what}: the hint names an Airlock code (got ${JSON.stringify(hint)})`);
  assert.ok(DOC.includes(`\`${m[1]}\``), `${what}: ${m[1]} is in docs/errors.md`);
  assert.ok(m[1]! in ERRORS, `${what}: ${m[1]} is in src/domain/errors.ts`);
  return m[1]!;
}

async function pgRefusal(database: string, extra: Partial<pg.ClientConfig> = {}, r: Rig = rig): Promise<PgError> {
  const c = new pg.Client({ host: '127.0.0.1', port: r.port, user: 'alice', password: r.token, database, ssl: { ca: r.tls.ca }, ...extra });
  c.on('error', () => {});
  return c.connect().then(async () => {
    await c.end();
    throw new Error(`${database}: connected`);
  }, (e: PgError) => e);
}

test('login refusals: bad token, no grant, unknown resource, upstream failure, refused setting, no TLS, no user', async () => {
  const cases: [string, Promise<PgError>, string][] = [
    ['bad token', pgRefusal('rw', { password: 'nope' }), 'AIRLOCK_TOKEN_INVALID'],
    ['no grant', pgRefusal('prod-orders'), 'AIRLOCK_NO_GRANT'],
    ['unknown resource', pgRefusal('nowhere'), 'AIRLOCK_UNKNOWN_RESOURCE'],
    ['refused setting', pgRefusal('ro', { options: '-c default_transaction_read_only=off' }), 'AIRLOCK_SETTING_REFUSED'],
    ['no TLS', pgRefusal('rw', { ssl: false }, plainRig), 'AIRLOCK_TLS_REQUIRED'],
  ];
  for (const [what, p, expected] of cases) assert.equal(codeOf((await p).hint, what), expected, what);
  const upstream = await pgRefusal('rw/no_such_db');
  codeOf(upstream.hint, 'upstream database missing');
  const noUser = await rawStartup(rig.port, { database: 'rw' });
  assert.equal(codeOf(noUser.errors[0]?.hint, 'no user'), 'AIRLOCK_UNAUTHENTICATED');
  const psql = await runTool('psql', [rig.conninfo('prod-orders'), '-XAt', '-c', 'select 1'], { password: rig.token });
  assert.match(psql.stderr, /HINT:  Airlock error code AIRLOCK_NO_GRANT; see docs\/errors.md/);
});

test('in a session: guardrail refusals (both protocols), statement size, max_rows, message size, unknown message type', async () => {
  const c = new pg.Client({ host: '127.0.0.1', port: rig.port, user: 'alice', password: rig.token, database: 'ro', ssl: { ca: rig.tls.ca } });
  await c.connect();
  try {
    const simple = await c.query('create table x (id int)').catch((e: PgError) => e);
    assert.equal(codeOf((simple as PgError).hint, 'read-only, simple'), 'AIRLOCK_STATEMENT_REFUSED');
    const extended = await c.query('delete from pg_class where $1::int = 1', [1]).catch((e: PgError) => e);
    assert.equal(codeOf((extended as PgError).hint, 'read-only, extended'), 'AIRLOCK_STATEMENT_REFUSED');
  } finally {
    await c.end();
  }
  const tiny = await WireSession.open(rig.port, rig.token, 'tiny');
  assert.equal(codeOf((await tiny.query(`select '${'x'.repeat(2000)}'`)).errors[0]?.hint, 'statement too large'), 'AIRLOCK_STATEMENT_REFUSED');
  const tooBig: WireError | undefined = (await tiny.query(`select '${'x'.repeat(70 * 1024)}'`)).errors[0];
  assert.equal(codeOf(tooBig?.hint, 'message too large'), 'AIRLOCK_PROTOCOL_ERROR');
  tiny.close();
  const limited = await WireSession.open(rig.port, rig.token, 'limited');
  assert.equal(codeOf((await limited.query('select generate_series(1, 1000)')).errors[0]?.hint, 'max_rows'), 'AIRLOCK_MAX_ROWS');
  const unknown = await limited.send(typedMessage(0x7a, Buffer.alloc(0)));
  assert.equal(codeOf(unknown.errors[0]?.hint, 'unknown message'), 'AIRLOCK_PROTOCOL_ERROR');
});

test('kills: an ended grant (the registry ends the session) reaches the client with AIRLOCK_SESSION_ENDED', async () => {
  const s = await WireSession.open(rig.port, rig.token, 'rw');
  const pending = s.send(Buffer.alloc(0));
  await waitFor(() => rig.registry.list({ grant_id: 'grt_rw' }).length === 1, 3000, 'session registered');
  assert.equal(rig.registry.kill({ grant_id: 'grt_rw' }, 'your grant for rw was revoked by bob'), 1);
  const killed = await pending;
  assert.match(killed.errors[0]?.message ?? '', /airlock: your grant for rw was revoked by bob/);
  assert.equal(codeOf(killed.errors[0]?.hint, 'grant revoked'), 'AIRLOCK_SESSION_ENDED');
  assert.equal(killed.closed, true);
});
