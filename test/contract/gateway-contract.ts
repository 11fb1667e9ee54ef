// The gateway contract: what every protocol front-end (PostgreSQL, MySQL, exec; SSH next) must do, written once and
// run by each front-end through a small driver, against the real server (in this process) and a real upstream.
//
// A front-end's test file is a few lines:
//
//   import { runGatewayContract } from './gateway-contract.js';
//   runGatewayContract(myDriver);
//
// The driver (GatewayDriver below) knows only its protocol:
// - protocol:       the name in audit events and the session list ('postgres', 'mysql', …).
// - serverOptions:  the startServer options that turn its listener on (the suite turns every listener off first).
// - prepare():      a fresh upstream (databases, a login) and the YAML of a resource of its kind on it, with an injected
//                   credential whose password the policy reads from an environment variable; `secrets` are the strings
//                   that must never reach a user, a log or the API (at least that password).
// - sleepSql(s):    a statement that runs for s seconds (pg_sleep, SLEEP).
// - connect():      logs in through the gateway as a user would (principal, access token, resource, optional database)
//                   and returns a ContractSession; a refused login rejects.
// - describe(err):  the protocol's own code (SQLSTATE, MySQL error number, …) and every text the client shows for an
//                   error (message, detail, hint): refusals must carry their AIRLOCK_ code and a reason there.
// Front-ends that do not speak SQL (exec, SSH) also give:
// - texts:          their statements for the cases (ContractTexts; default: SQL).
// - idle(s):        puts a session in its idle state (default: BEGIN; select 1 — idle in a transaction).
// - sessionEndExtra: session.end fields beyond SESSION_END_FIELDS (e.g. recording).
// - targets:        with no databases in the upstream, the database case becomes a target case (exec targets).
// - noDatabase:     a front-end whose login names neither a database nor a target (SSH): the database case is skipped
//                   (with the reason given) and session.start must record `audited` as its database.
//
// Cases: refusals (no grant, wrong token, revoked token, locked principal / resource / role, expired grant, unknown
// resource, a database the resource does not cover); the cut within 1 s when the grant expires, is revoked, the
// principal is locked, an admin kills the session, or the token is revoked — mid-query and idle in a transaction — with
// the reason in the protocol's error; the audit events and their fields; upstream credentials never shown; random bytes
// after login ending only that session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { startServer, type RunningServer, type ServerOptions } from '../../src/server.js';
import type { GatewayProtocol } from '../../src/gateway/core/session-lifecycle.js';

export interface ContractUpstream {
  /**
   * YAML of one resource named `name`, of the driver's kind, covering `databases` (the first is the default), with an
   * injected credential read from one of `env`'s variables. Indented as an item of `resources:` (two spaces, "- ").
   */
  resource(name: string): string;
  /** Two databases (or schemas) the resource covers; the first is its default. Absent: see GatewayDriver.targets. */
  databases?: [string, string];
  /** A database on the same server the resource does not cover. */
  uncovered?: string;
  /** Environment variables the resource's credential reads. */
  env: Record<string, string>;
  /** Strings no user, log line or API answer may contain (the upstream password at least). */
  secrets: string[];
  drop(): Promise<void>;
}

export interface ContractLogin {
  principal: string;
  token: string;
  resource: string;
  database?: string;
}

export interface ContractSession {
  /** Runs one statement; resolves with its rows, rejects with the protocol's error. */
  query(sql: string): Promise<unknown[]>;
  /** Writes raw bytes to the connection, after login, as a broken or hostile client would. */
  garbage(bytes: Buffer): void;
  /**
   * Settles when the gateway closed the connection: `error` is what the client was told unprompted (e.g. a FATAL
   * error while idle), null if it was told nothing. Must be set up at connect, before anything can end the session.
   */
  ended: Promise<{ at: number; error: unknown }>;
  close(): Promise<void>;
}

/** The statements the cases run, in the front-end's language. */
export interface ContractTexts {
  /** Answers one row. */
  one: string;
  /** Answers one row; audited as a text matching answerAudited. */
  answer: string;
  answerAudited: RegExp;
  /** The rows its statement event records; null: the protocol counts none (exec records 0). */
  answerRows: number | null;
  /** Whether the audited text hides the literal 42 of `answer`. */
  redactsLiterals: boolean;
  /** Fails upstream (not refused by Airlock), e.g. a missing table. */
  missing: string;
}

export const SQL_TEXTS: ContractTexts = {
  one: 'select 1 as one',
  answer: 'select 42 as answer',
  answerAudited: /select[\s\S]*answer/i,
  answerRows: 1,
  redactsLiterals: true,
  missing: 'select * from airlock_contract_no_such_table',
};

export interface GatewayDriver {
  protocol: GatewayProtocol;
  serverOptions: Partial<ServerOptions>;
  prepare(): Promise<ContractUpstream>;
  sleepSql(seconds: number): string;
  connect(server: RunningServer, login: ContractLogin): Promise<ContractSession>;
  describe(err: unknown): { code: string; text: string };
  texts?: ContractTexts;
  /** Puts the session in its idle state; default: BEGIN; select 1 (idle in a transaction). */
  idle?(s: ContractSession): Promise<void>;
  /** session.end fields beyond SESSION_END_FIELDS. */
  sessionEndExtra?: string[];
  /**
   * When the upstream has no databases: two targets a session may choose (ContractLogin.database carries them; the
   * first is the default) and one it may not, refused with AIRLOCK_EXEC_TARGET_NOT_ALLOWED.
   */
  targets?: { allowed: [string, string]; refused: string };
  /**
   * The login names no database and no target (SSH's <principal>%<resource>): `why` the database case cannot be put,
   * and the database session.start records.
   */
  noDatabase?: { why: string; audited: string };
}

/** The fields of each session event: the same for every protocol. */
export const SESSION_START_FIELDS = ['session_id', 'protocol', 'grant_id', 'resource', 'database', 'role', 'source', 'application_name', 'gateway_instance', 'token_id'].sort();
export const STATEMENT_FIELDS = ['session_id', 'grant_id', 'text', 'fingerprint', 'decision', 'rule', 'rows', 'duration_ms', 'error'].sort();
export const SESSION_END_FIELDS = ['session_id', 'reason', 'statements', 'duration_ms'].sort();

type Ev = { seq: number; action: string; actor: string; target: string | null; details: Record<string, unknown> };

const CUT_MS = 1000;

export function runGatewayContract(driver: GatewayDriver): void {
  const P = driver.protocol;
  const T = driver.texts ?? SQL_TEXTS;
  let up: ContractUpstream;
  let dir: string;
  let server: RunningServer;
  const logs: string[] = [];
  const shown: string[] = []; // every error text a client was shown, checked for secrets at the end
  let admin: string;
  let bob: string;
  let alice: string;
  let carol: string;

  async function api<T = unknown>(token: string, method: string, path: string, body?: unknown): Promise<T> {
    const r = await fetch(`${server.apiUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return JSON.parse(text) as T;
  }
  const newToken = async (principal: string, ttl = '1h') => api<{ token: string; id: string; expires_at: string }>(admin, 'POST', '/api/v1/tokens', { principal, ttl });

  /** A fresh grant of `read` on the resource for alice (any earlier one revoked first). */
  async function freshGrant(duration = '8h'): Promise<{ id: string; expires_at: string }> {
    const { grants } = await api<{ grants: { id: string; principal: string }[] }>(bob, 'GET', '/api/v1/grants?active=true');
    for (const g of grants.filter((x) => x.principal === 'alice')) await api(bob, 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'next contract case' });
    const req = await api<{ id: string }>(alice, 'POST', '/api/v1/requests', { resource: 'contract-db', role: 'read', duration, reason: 'OPS-13 contract' });
    const { grant_id } = await api<{ grant_id: string }>(bob, 'POST', `/api/v1/requests/${req.id}/approve`, {});
    return api<{ id: string; expires_at: string }>(bob, 'GET', `/api/v1/grants/${grant_id}`);
  }

  async function refusedWith(login: ContractLogin, airlockCode: string, reason: RegExp): Promise<void> {
    let err: unknown;
    try {
      const s = await driver.connect(server, login);
      // Some protocols only refuse at the first statement.
      await s.query(T.one).finally(() => s.close().catch(() => {}));
    } catch (e) {
      err = e;
    }
    assert.ok(err, `${JSON.stringify({ ...login, token: '…' })} was let in`);
    const { code, text } = driver.describe(err);
    shown.push(text);
    assert.ok(code.length > 0, 'the refusal has a protocol error code');
    assert.match(text, new RegExp(airlockCode), `the refusal names ${airlockCode}: ${text}`);
    assert.match(text, reason);
  }

  async function listedSession(token: string, before: Set<string>): Promise<string> {
    const until = Date.now() + 5000;
    for (;;) {
      const { sessions } = await api<{ sessions: { id: string; principal: string; protocol: string }[] }>(bob, 'GET', '/api/v1/sessions');
      const mine = sessions.find((x) => x.principal === 'alice' && !before.has(x.id));
      if (mine) {
        assert.equal(mine.protocol, P);
        return mine.id;
      }
      if (Date.now() > until) assert.fail(`the session (token ${token.slice(0, 8)}…) is not listed`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async function sessionIds(): Promise<Set<string>> {
    return new Set((await api<{ sessions: { id: string }[] }>(bob, 'GET', '/api/v1/sessions')).sessions.map((s) => s.id));
  }

  async function events(action: string): Promise<Ev[]> {
    return (await api<{ events: Ev[] }>(bob, 'GET', `/api/v1/audit/events?action=${action}&limit=100000`)).events;
  }

  async function sessionEnd(sessionId: string): Promise<Ev> {
    const until = Date.now() + 3000;
    for (;;) {
      const e = (await events('session.end')).find((x) => x.details.session_id === sessionId);
      if (e) return e;
      if (Date.now() > until) assert.fail(`no session.end for ${sessionId}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Opens a session with `token`, puts it in `state` (a long statement running, or idle inside a transaction), runs
   * `cut` and checks the client was told `reason` within a second of `since()` and session.end says it too.
   */
  async function cutCase(state: 'mid-query' | 'idle-in-transaction', token: string, cut: (sessionId: string) => Promise<void>, reason: RegExp, since?: () => number): Promise<void> {
    const before = await sessionIds();
    const s = await driver.connect(server, { principal: 'alice', token, resource: 'contract-db' });
    try {
      const id = await listedSession(token, before);
      let running: Promise<{ at: number; error: unknown }> | null = null;
      if (state === 'mid-query') {
        running = s.query(driver.sleepSql(30)).then(
          () => assert.fail('the long statement ran to its end: the session was not cut'),
          (error: unknown) => ({ at: Date.now(), error }),
        );
        // The statement is running once the session shows it (or at least has sent it).
        const until = Date.now() + 5000;
        for (;;) {
          const { sessions } = await api<{ sessions: { id: string; statements_running?: number }[] }>(bob, 'GET', '/api/v1/sessions');
          if ((sessions.find((x) => x.id === id)?.statements_running ?? 0) > 0) break;
          if (Date.now() > until) break; // a front-end that does not count running statements: the statement was sent
          await new Promise((r) => setTimeout(r, 20));
        }
      } else if (driver.idle) {
        await driver.idle(s);
      } else {
        await s.query('BEGIN');
        await s.query('select 1');
      }
      const t0 = Date.now();
      await cut(id);
      const from = since ? since() : t0;
      const told = running ? await running : await s.ended;
      const closed = await s.ended;
      console.log(`# ${P} ${state}: told ${told.at - from} ms, closed ${closed.at - from} ms after the cut`);
      assert.ok(told.at - from < CUT_MS, `the client was told ${told.at - from} ms after the cut`);
      assert.ok(closed.at - from < CUT_MS + 500, `the connection closed ${closed.at - from} ms after the cut`);
      assert.ok(told.error, 'the client was told why in an error');
      const { text } = driver.describe(told.error);
      shown.push(text);
      assert.match(text, reason, `the client's error says why: ${text}`);
      assert.match(String((await sessionEnd(id)).details.reason), reason, 'session.end says why');
    } finally {
      await s.close().catch(() => {});
    }
  }

  before(async () => {
    up = await driver.prepare();
    for (const [k, v] of Object.entries(up.env)) process.env[k] = v;
    dir = mkdtempSync(join(tmpdir(), `airlock-contract-${P}-`));
    writeFileSync(join(dir, 'airlock.yaml'), `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: carol, groups: [engineers] }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
auditors: { principals: [bob] }
resources:
${up.resource('contract-db')}
roles:
  - name: read
    resources: { names: [contract-db] }
    privileges: { sql: read }
    max_duration: 8h
    requestable_by: { principals: [alice] }
    approval: { approver_groups: [dba] }
`);
    admin = `alk_${randomBytes(32).toString('base64url')}`;
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
    server = await startServer({
      config: join(dir, 'airlock.yaml'),
      dataDir: join(dir, 'data'),
      listen: { host: '127.0.0.1', port: 0 },
      pgListen: null,
      mysqlListen: null,
      bootstrapToken: admin,
      logger,
      watchPolicy: false,
      ...driver.serverOptions,
    });
    bob = (await newToken('bob')).token;
    alice = (await newToken('alice', '8h')).token;
    carol = (await newToken('carol')).token;
  });

  after(async () => {
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await up?.drop();
  });

  // ── refusals ─────────────────────────────────────────────────────────────────────────────────────────────────

  test(`${P} contract: no grant is refused with AIRLOCK_NO_GRANT and how to request one`, async () => {
    await refusedWith({ principal: 'carol', token: carol, resource: 'contract-db' }, 'AIRLOCK_NO_GRANT', /no active grant for contract-db/);
  });

  test(`${P} contract: a wrong token is refused with AIRLOCK_TOKEN_INVALID`, async () => {
    await freshGrant();
    await refusedWith({ principal: 'alice', token: `alk_${randomBytes(32).toString('base64url')}`, resource: 'contract-db' }, 'AIRLOCK_TOKEN_INVALID', /token/);
    // Another principal's valid token does not log in as alice either.
    await refusedWith({ principal: 'alice', token: carol, resource: 'contract-db' }, 'AIRLOCK_TOKEN_INVALID', /token/);
  });

  test(`${P} contract: a revoked token is refused`, async () => {
    await freshGrant();
    const t = await newToken('alice');
    await api(bob, 'POST', `/api/v1/tokens/${t.id}/revoke`);
    await refusedWith({ principal: 'alice', token: t.token, resource: 'contract-db' }, 'AIRLOCK_TOKEN_INVALID', /token/);
  });

  for (const kind of ['principal', 'resource', 'role'] as const) {
    test(`${P} contract: a locked ${kind} is refused with AIRLOCK_LOCKED and the lock's reason`, async () => {
      await freshGrant();
      const target = kind === 'principal' ? 'alice' : kind === 'resource' ? 'contract-db' : 'read';
      const lock = await api<{ id: string }>(bob, 'POST', '/api/v1/locks', { target_kind: kind, target, reason: `contract ${kind} lock` });
      try {
        await refusedWith({ principal: 'alice', token: alice, resource: 'contract-db' }, 'AIRLOCK_LOCKED', new RegExp(`contract ${kind} lock`));
      } finally {
        await api(bob, 'POST', `/api/v1/locks/${lock.id}/lift`);
      }
    });
  }

  test(`${P} contract: an expired grant is refused with AIRLOCK_NO_GRANT`, async () => {
    const g = await freshGrant('1s');
    const until = Date.now() + 5000;
    while ((await api<{ grants: { id: string }[] }>(bob, 'GET', '/api/v1/grants?active=true')).grants.some((x) => x.id === g.id)) {
      if (Date.now() > until) assert.fail('the 1 s grant did not expire');
      await new Promise((r) => setTimeout(r, 50));
    }
    await refusedWith({ principal: 'alice', token: alice, resource: 'contract-db' }, 'AIRLOCK_NO_GRANT', /no active grant for contract-db/);
  });

  test(`${P} contract: an unknown resource is refused with AIRLOCK_UNKNOWN_RESOURCE`, async () => {
    await refusedWith({ principal: 'alice', token: alice, resource: 'no-such-db' }, 'AIRLOCK_UNKNOWN_RESOURCE', /no resource named "no-such-db"/);
  });

  if (driver.targets) {
    const targets = driver.targets;
    test(`${P} contract: a target the resource does not list is refused with AIRLOCK_EXEC_TARGET_NOT_ALLOWED; one it lists opens`, async () => {
      await freshGrant();
      await refusedWith({ principal: 'alice', token: alice, resource: 'contract-db', database: targets.refused }, 'AIRLOCK_EXEC_TARGET_NOT_ALLOWED', new RegExp(`has no target "${targets.refused}"`));
      const s = await driver.connect(server, { principal: 'alice', token: alice, resource: 'contract-db', database: targets.allowed[1] });
      try {
        assert.equal((await s.query(T.one)).length, 1);
      } finally {
        await s.close();
      }
    });
  } else if (driver.noDatabase) {
    test(`${P} contract: a database the resource does not cover is refused with AIRLOCK_DATABASE_NOT_ALLOWED; one it covers opens`, { skip: driver.noDatabase.why }, () => {});
  } else {
    test(`${P} contract: a database the resource does not cover is refused with AIRLOCK_DATABASE_NOT_ALLOWED; one it covers opens`, async () => {
      assert.ok(up.databases && up.uncovered, 'the upstream names its databases (or the driver its targets)');
      await freshGrant();
      await refusedWith({ principal: 'alice', token: alice, resource: 'contract-db', database: up.uncovered }, 'AIRLOCK_DATABASE_NOT_ALLOWED', new RegExp(`does not cover the database "${up.uncovered}"`));
      const s = await driver.connect(server, { principal: 'alice', token: alice, resource: 'contract-db', database: up.databases[1] });
      try {
        assert.equal((await s.query(T.one)).length, 1);
      } finally {
        await s.close();
      }
    });
  }

  // ── the cut within a second ─────────────────────────────────────────────────────────────────────────────────

  for (const state of ['mid-query', 'idle-in-transaction'] as const) {
    test(`${P} contract: the grant's expiry cuts the session ${state} within 1 s, with the reason`, async () => {
      const g = await freshGrant('4s');
      await cutCase(state, alice, async () => {
        const until = Date.parse(g.expires_at);
        while (Date.now() < until - 200) await new Promise((r) => setTimeout(r, 100));
      }, /expired/, () => Date.parse(g.expires_at));
    });

    test(`${P} contract: revoking the grant cuts the session ${state} within 1 s, with the reason`, async () => {
      const g = await freshGrant();
      await cutCase(state, alice, () => api(bob, 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'contract revoke' }), /revoked by bob: contract revoke/);
    });

    test(`${P} contract: locking the principal cuts the session ${state} within 1 s, with the reason`, async () => {
      await freshGrant();
      let lockId = '';
      try {
        await cutCase(state, alice, async () => {
          lockId = (await api<{ id: string }>(bob, 'POST', '/api/v1/locks', { target_kind: 'principal', target: 'alice', reason: 'contract incident' })).id;
        }, /locked by bob: contract incident/);
      } finally {
        if (lockId) await api(bob, 'POST', `/api/v1/locks/${lockId}/lift`);
      }
    });

    test(`${P} contract: an admin's kill cuts the session ${state} within 1 s, with the reason`, async () => {
      await freshGrant();
      await cutCase(state, alice, (id) => api(bob, 'POST', `/api/v1/sessions/${id}/kill`, { reason: 'contract kill' }), /ended by bob: contract kill/);
    });

    test(`${P} contract: revoking the session's token cuts it ${state} within 1 s, with the reason`, async () => {
      await freshGrant();
      const t = await newToken('alice');
      await cutCase(state, t.token, () => api(bob, 'POST', `/api/v1/tokens/${t.id}/revoke`), /token this session logged in with was revoked by bob/);
    });
  }

  for (const how of ['revoking the grant', "revoking the session's token"] as const) {
    test(`${P} contract: a session planned before ${how} and opened after it is cut, with the reason`, async () => {
      const g = await freshGrant();
      const t = await newToken('alice');
      const reason = how === 'revoking the grant' ? /revoked by bob: contract race/ : /token this session logged in with was revoked by bob/;
      // The end lands between the plan and the registration: while session.start is being written.
      const audit = server.audit;
      const append = audit.append;
      let armed = true;
      audit.append = async function appendAfterEnd(event, opts) {
        if (armed && event.action === 'session.start') {
          armed = false;
          if (how === 'revoking the grant') await api(bob, 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'contract race' });
          else await api(bob, 'POST', `/api/v1/tokens/${t.id}/revoke`);
        }
        return append.call(audit, event, opts);
      };
      let told: unknown = null;
      let ran = false;
      try {
        const s = await driver.connect(server, { principal: 'alice', token: t.token, resource: 'contract-db' });
        // What the gateway said unprompted (PostgreSQL's FATAL) comes first; else the statement's error (MySQL).
        const failed = await s.query(T.one).then(() => null, (e: unknown) => e);
        if (failed === null) ran = true;
        else told = (await s.ended).error ?? failed;
        await s.close().catch(() => {});
      } catch (e) {
        told = e;
      } finally {
        audit.append = append;
      }
      assert.equal(armed, false, 'the session was planned');
      assert.equal(ran, false, 'a statement ran: the session was not cut');
      assert.ok(told, 'the client was told nothing');
      const { text } = driver.describe(told);
      shown.push(text);
      assert.match(text, reason);
      const start = (await events('session.start')).find((e) => e.details.grant_id === g.id && e.details.token_id === t.id);
      assert.ok(start, 'session.start');
      assert.match(String((await sessionEnd(String(start.details.session_id))).details.reason), reason);
    });
  }

  // ── audit ──────────────────────────────────────────────────────────────────────────────────────────────────

  test(`${P} contract: session.start, statement and session.end with the same fields for every protocol`, async () => {
    const g = await freshGrant();
    const before = await sessionIds();
    const s = await driver.connect(server, { principal: 'alice', token: alice, resource: 'contract-db' });
    const id = await listedSession(alice, before);
    await s.query(T.answer);
    await s.close();
    const end = await sessionEnd(id);
    const start = (await events('session.start')).find((e) => e.details.session_id === id);
    assert.ok(start, 'session.start is in the log');
    assert.deepEqual(Object.keys(start.details).sort(), SESSION_START_FIELDS);
    assert.equal(start.actor, 'alice');
    assert.equal(start.target, 'contract-db');
    assert.equal(start.details.protocol, P);
    assert.equal(start.details.grant_id, g.id);
    assert.equal(start.details.resource, 'contract-db');
    assert.equal(start.details.database, up.databases?.[0] ?? driver.targets?.allowed[0] ?? driver.noDatabase?.audited);
    assert.equal(start.details.role, 'read');
    assert.match(String(start.details.token_id), /^tok_/);
    const stmts = (await events('statement')).filter((e) => e.details.session_id === id);
    const answer = stmts.find((e) => T.answerAudited.test(String(e.details.text)));
    assert.ok(answer, `the statement is in the log: ${JSON.stringify(stmts.map((e) => e.details.text))}`);
    for (const f of STATEMENT_FIELDS) assert.ok(f in answer.details, `statement has ${f}`);
    assert.equal(answer.details.decision, 'allowed');
    assert.equal(answer.details.grant_id, g.id);
    if (T.answerRows !== null) assert.equal(answer.details.rows, T.answerRows);
    if (T.redactsLiterals) assert.doesNotMatch(String(answer.details.text), /42/, 'literals are redacted');
    assert.deepEqual(Object.keys(end.details).sort(), [...SESSION_END_FIELDS, ...(driver.sessionEndExtra ?? [])].sort());
    assert.equal(end.details.statements, stmts.length);
    assert.equal(typeof end.details.reason, 'string');
  });

  test(`${P} contract: a refused login is audited as session.refused with protocol and codes`, async () => {
    const { grants } = await api<{ grants: { id: string; principal: string }[] }>(bob, 'GET', '/api/v1/grants?active=true');
    for (const g of grants.filter((x) => x.principal === 'alice')) await api(bob, 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'refusal case' });
    const seen = (await events('session.refused')).length;
    await refusedWith({ principal: 'alice', token: alice, resource: 'contract-db' }, 'AIRLOCK_NO_GRANT', /no active grant/);
    const refused = (await events('session.refused')).slice(seen).find((e) => e.actor === 'alice');
    assert.ok(refused, 'session.refused is in the log');
    assert.deepEqual(Object.keys(refused.details).sort(), ['airlock_code', 'code', 'protocol', 'reason']);
    assert.equal(refused.details.protocol, P);
    assert.equal(refused.details.airlock_code, 'AIRLOCK_NO_GRANT');
  });

  // ── hostile input ──────────────────────────────────────────────────────────────────────────────────────────

  test(`${P} contract: random bytes after login end only that session`, async () => {
    await freshGrant();
    const victim = await driver.connect(server, { principal: 'alice', token: alice, resource: 'contract-db' });
    const other = await driver.connect(server, { principal: 'alice', token: alice, resource: 'contract-db' });
    try {
      assert.equal((await victim.query(T.one)).length, 1);
      victim.garbage(randomBytes(64 * 1024));
      const { at } = await Promise.race([victim.ended, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the garbled session was not ended within 5 s')), 5000))]);
      assert.ok(at > 0);
      assert.equal((await other.query(T.one)).length, 1, 'the other session keeps working');
      const third = await driver.connect(server, { principal: 'alice', token: alice, resource: 'contract-db' });
      assert.equal((await third.query(T.one)).length, 1, 'new sessions still open');
      await third.close();
    } finally {
      await victim.close().catch(() => {});
      await other.close().catch(() => {});
    }
  });

  // ── credentials never shown ────────────────────────────────────────────────────────────────────────────────

  test(`${P} contract: the upstream credential never appears in errors, logs or the API`, async () => {
    await freshGrant();
    const before = await sessionIds();
    const s = await driver.connect(server, { principal: 'alice', token: alice, resource: 'contract-db' });
    try {
      await listedSession(alice, before);
      // An error from the upstream itself (not a refusal by Airlock).
      await s.query(T.missing).then(
        () => assert.fail('a missing table was found'),
        (e: unknown) => void shown.push(driver.describe(e).text),
      );
      const answers = [
        await api(bob, 'GET', '/api/v1/sessions'),
        await api(bob, 'GET', '/api/v1/resources'),
        await api(bob, 'GET', '/api/v1/grants'),
        await api(bob, 'GET', '/api/v1/audit/events?limit=100000'),
        await api(bob, 'GET', '/api/v1/gateways'),
        await api(alice, 'GET', '/api/v1/resources'),
      ];
      const everything = [JSON.stringify(answers), ...shown, ...logs].join('\n');
      assert.ok(shown.length >= 5, 'errors were collected');
      assert.ok(logs.length > 0, 'log lines were collected');
      for (const secret of up.secrets) {
        assert.ok(secret.length >= 8, 'a secret worth searching for');
        assert.ok(!everything.includes(secret), `the upstream secret ${secret.slice(0, 3)}… appears in what users, logs or the API show`);
      }
    } finally {
      await s.close();
    }
  });
}
