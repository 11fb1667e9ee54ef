// `airlock connect` and `airlock request` through the real CLI, server, gateway and PostgreSQL, as a new user runs
// them again and again: one valid connect token per grant, a psql already open stays open, and a second request for
// a role already held points to the grant and --extends.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { cli } from '../support/server-process.js';
import { startConsoleServer, type ConsoleServer } from '../support/browser.js';

let web: ConsoleServer;
let grantId: string;
const env = { AIRLOCK_CONFIG_DIR: mkdtempSync(join(tmpdir(), 'airlock-cli-connect-')) };

interface Connected {
  grant_id: string;
  env: { PGHOST: string; PGPORT: string; PGUSER: string; PGDATABASE: string; PGPASSWORD: string };
}

async function connectAs(c: Connected, password = c.env.PGPASSWORD): Promise<pg.Client> {
  const client = new pg.Client({ host: c.env.PGHOST, port: Number(c.env.PGPORT), user: c.env.PGUSER, database: c.env.PGDATABASE, password, ssl: { rejectUnauthorized: false }, application_name: 'cli-connect-test' });
  client.on('error', () => {});
  await client.connect();
  return client;
}

before(async () => {
  web = await startConsoleServer();
  const r = await web.api(web.tokens.alice, 'POST', '/api/v1/requests', { resource: 'prod-orders', role: 'read', duration: '1h', reason: 'OPS-50 connect a few times' });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  grantId = (await web.api(web.tokens.bob, 'POST', `/api/v1/requests/${r.body.id}/approve`, {})).body.grant_id;
  assert.ok(grantId);
});

after(async () => {
  await web?.stop();
});

test('five `airlock connect` runs leave one valid connect token; the replaced ones no longer log in, open sessions go on', async () => {
  const runs: Connected[] = [];
  let first: pg.Client | undefined;
  try {
    for (let i = 0; i < 5; i++) {
      const r = await cli(web.server, web.tokens.alice, ['connect', 'prod-orders', '--json'], { env });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      runs.push(r.json() as Connected);
      assert.equal(runs[i]!.grant_id, grantId);
      if (i === 0) {
        first = await connectAs(runs[0]!);
        assert.equal((await first.query('select count(*)::int as n from orders')).rows[0].n, 42);
      }
    }
    const tokens = (await web.api<{ tokens: { id: string; grant_id: string | null; revoked_at: string | null; expires_at: string }[] }>(web.tokens.alice, 'GET', '/api/v1/tokens')).body.tokens;
    const forGrant = tokens.filter((t) => t.grant_id === grantId);
    assert.equal(forGrant.length, 5);
    const valid = forGrant.filter((t) => t.revoked_at === null && Date.parse(t.expires_at) > Date.now());
    assert.equal(valid.length, 1, 'one valid connect token per grant');
    const grant = (await web.api<{ expires_at: string }>(web.tokens.alice, 'GET', `/api/v1/grants/${grantId}`)).body;
    assert.ok(valid[0]!.expires_at <= grant.expires_at, 'it lives no longer than the grant');

    // The replaced tokens no longer log in; the newest does.
    for (const old of runs.slice(0, 4)) {
      await assert.rejects(connectAs(old), (e: Error & { code?: string }) => e.code === '28P01', 'a replaced connect token is refused at login');
    }
    const newest = await connectAs(runs[4]!);
    assert.equal((await newest.query('select 1 as one')).rows[0].one, 1);
    await newest.end();

    // The psql opened with the first token is still there: a second `airlock connect` does not cut it.
    assert.equal((await first!.query('select 2 as two')).rows[0].two, 2);

    // Audited: each replacement is a token.revoke naming the grant and why.
    const audit = (await web.api<{ events: { actor: string; details: { token_id: string; grant_id?: string; reason?: string } }[] }>(web.server.adminToken, 'GET', '/api/v1/audit/events?action=token.revoke')).body.events;
    const replaced = audit.filter((e) => e.details.grant_id === grantId);
    assert.equal(replaced.length, 4);
    assert.ok(replaced.every((e) => e.actor === 'alice' && /^replaced by a newer connect token/.test(e.details.reason ?? '')));

    // Revoking a replaced token explicitly does end the sessions still open with it, as for any token.
    const firstId = replaced[0]!.details.token_id;
    const ended = new Promise<Error>((resolve) => first!.once('error', resolve));
    const rv = await web.api(web.tokens.alice, 'POST', `/api/v1/tokens/${firstId}/revoke`, {});
    assert.equal(rv.status, 200, JSON.stringify(rv.body));
    assert.match((await ended).message, /access token this session logged in with was revoked by alice/);
  } finally {
    await first?.end().catch(() => {});
  }
});

test('a second request for a role held on the resource is refused with the grant, its expiry and --extends', async () => {
  const r = await cli(web.server, web.tokens.alice, ['request', 'prod-orders', '--role', 'read', '--for', '30m', '--reason', 'OPS-51 again'], { env });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`^airlock: You already hold read on prod-orders: grant ${grantId}, until \\S+ \\(\\d+m\\d*s? left\\)\\. To keep it longer, ask for an extension: airlock request prod-orders --role read --for DURATION --reason "…" --extends ${grantId} \\[AIRLOCK_DUPLICATE_REQUEST\\]\\n$`));
  const j = await cli(web.server, web.tokens.alice, ['request', 'prod-orders', '--role', 'read', '--for', '30m', '--reason', 'OPS-51 again', '--json'], { env });
  assert.equal(j.stderr, '');
  assert.equal(j.json().error.code, 'AIRLOCK_DUPLICATE_REQUEST');
  const grants = (await web.api<{ grants: unknown[] }>(web.tokens.alice, 'GET', '/api/v1/grants?active=true')).body.grants;
  assert.equal(grants.length, 1, 'no duplicate grant');
  const ext = await cli(web.server, web.tokens.alice, ['request', 'prod-orders', '--role', 'read', '--for', '30m', '--reason', 'OPS-51 more time', '--extends', grantId, '--json'], { env });
  assert.equal(ext.code, 0, ext.stderr);
  assert.equal(ext.json().extends_grant_id, grantId);
  const pending = await cli(web.server, web.tokens.alice, ['request', 'prod-orders', '--role', 'read', '--for', '30m', '--reason', 'OPS-51 more', '--extends', grantId], { env });
  assert.match(pending.stderr, new RegExp(`Your request ${ext.json().id} for an extension of grant ${grantId} is still pending.*airlock cancel ${ext.json().id} \\[AIRLOCK_DUPLICATE_REQUEST\\]`));
});
