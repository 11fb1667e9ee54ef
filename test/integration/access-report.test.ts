// Access reports on both stores, from grants made through the real access services on a moved clock: approved,
// auto-approved, break-glass with its review after the fact, revoked, expired, locked; session and statement counts,
// totals, clipping to the period, filters, audit seqs that name the right events, standing access. Then the real
// server: a session through the PostgreSQL gateway, the API (auditor allowed, plain user 403), RFC 4180 CSV parsed
// back, and the CLI process.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import pg from 'pg';
import { makeHarness, auditEvents, STORE_KINDS, type Harness } from '../support/harness.js';
import { makeAccessReport, type AccessReportRow } from '../../src/access/access-report.js';
import { makeTotals, standingAccess } from '../../src/access/access-report-totals.js';
import { csvRecord } from '../../src/domain/report-format.js';
import { drained } from '../../src/api/routes-reports.js';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { adminUrl, createTestDatabase, type TestDatabase } from '../support/pg.js';
import { cli } from '../support/server-process.js';

const POLICY = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
  - { name: carol, groups: [dba] }
  - { name: dave, groups: [engineers, oncall] }
  - { name: sec, groups: [security] }
  - { name: helper, kind: agent, groups: [agents], sponsor: alice }
admins: { groups: [security] }
auditors: { groups: [security] }
resources:
  - { name: prod-orders, kind: postgres, address: "127.0.0.1:5432", database: orders, labels: { env: prod } }
  - { name: bastion, kind: ssh, address: "127.0.0.1:22", labels: { env: prod } }
roles:
  - name: read
    resources: { labels: { env: prod } }
    privileges: { sql: read }
    max_duration: 4h
    requestable_by: { groups: [engineers, agents] }
    approval:
      approver_groups: [dba]
      auto_approve:
        - { requester_groups: [oncall], max_duration: 1h }
    justification: { required: false }
  - name: write
    resources: { names: [prod-orders] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    break_glass: true
    justification: { required: false }
`;

/** A reason that needs every kind of CSV quoting: a comma, quotes and a line break. */
const NASTY = 'OPS-7 fix "stuck", orders\nsecond line';
const H = 3600_000;

/** RFC 4180 parser: quoted fields may hold commas, doubled quotes and CR/LF; records end with CRLF. */
function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let rec: string[] = [];
  let i = 0;
  while (i < text.length) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        assert.ok(q >= 0, 'a quoted field is closed');
        field += text.slice(i, q);
        i = q + 1;
        if (text[i] === '"') {
          field += '"';
          i++;
        } else break;
      }
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\r' && text[i] !== '\n') field += text[i++];
    }
    rec.push(field);
    if (text[i] === ',') i++;
    else {
      assert.equal(text.slice(i, i + 2), '\r\n', `records end with CRLF (at ${i})`);
      i += 2;
      out.push(rec);
      rec = [];
    }
  }
  return out;
}

/** The session events the gateway writes (core/session-lifecycle.ts), through the same audit log. */
async function gatewaySession(h: Harness, principal: string, resource: string, grant: string, id: string, statements: ('allowed' | 'refused')[]): Promise<void> {
  const a = h.access.audit;
  await a.append({ actor: principal, action: 'session.start', target: resource, source: '127.0.0.1', details: { session_id: id, protocol: 'postgres', grant_id: grant, resource, role: 'read', token_id: null } });
  for (const [k, d] of statements.entries()) {
    await a.append({ actor: principal, action: 'statement', target: resource, source: '127.0.0.1', details: { session_id: id, grant_id: grant, text: `select ${k}`, decision: d, rule: d === 'refused' ? 'read_only' : null, rows: 0, duration_ms: 1, error: null } });
  }
  await a.append({ actor: principal, action: 'session.end', target: resource, source: '127.0.0.1', details: { session_id: id, reason: 'client closed the connection', statements: statements.length, duration_ms: 1000 } });
}

for (const kind of STORE_KINDS) {
  describe(`access report on ${kind}`, () => {
    let h: Harness;
    const g: Record<string, string> = {};
    const at = (t: string) => h.clock.set(`2026-03-02T${t}:00.000Z`);

    before(async () => {
      h = await makeHarness(kind, { policy: POLICY });
      const { requests, reviews, grants, locks } = h.access;
      // 10:00 alice read, approved by bob, 2h; expires at 12:00.
      at('10:00');
      let r = await requests.create(h.caller('alice'), { resource: 'prod-orders', role: 'read', duration_seconds: 2 * 3600, reason: NASTY, ticket: 'OPS-7' });
      g.approved = (await reviews.approve(h.caller('bob'), r.id, 'ok')).grant_id!;
      await gatewaySession(h, 'alice', 'prod-orders', g.approved, 'ses_one', ['allowed', 'refused', 'allowed']);
      await gatewaySession(h, 'alice', 'prod-orders', g.approved, 'ses_two', ['refused']);
      at('12:00');
      await grants.expire([g.approved]);
      // 12:30 dave read, auto-approved 1h; revoked by sec at 13:00.
      at('12:30');
      g.auto = (await requests.create(h.caller('dave'), { resource: 'prod-orders', role: 'read', duration_seconds: 3600, reason: 'OPS-8 on call' })).grant_id!;
      at('13:00');
      await grants.revoke(h.caller('sec'), g.auto, 'done early, thanks');
      // 14:00 alice break-glass write 1h; bob reviews it after the fact at 14:30; expires 15:00.
      at('14:00');
      g.glass = (await requests.create(h.caller('alice'), { resource: 'prod-orders', role: 'write', duration_seconds: 3600, reason: 'INC-9 outage', break_glass: true })).grant_id!;
      at('14:30');
      await reviews.approve(h.caller('bob'), (await grants.get(g.glass))!.request_id, 'justified');
      at('15:00');
      await grants.expire([g.glass]);
      // 15:00 the helper agent (sponsor alice) reads bastion, approved by carol; a lock on it at 15:20 ends it.
      r = await requests.create(h.caller('helper'), { resource: 'bastion', role: 'read', duration_seconds: 3600, reason: 'nightly check' });
      g.agent = (await reviews.approve(h.caller('carol'), r.id)).grant_id!;
      at('15:20');
      await locks.create(h.caller('sec'), 'principal', 'helper', 'agent misbehaving');
      // 19:30 alice break-glass again; carol denies it after the fact at 19:40, which ends it.
      at('19:30');
      g.denied = (await requests.create(h.caller('alice'), { resource: 'prod-orders', role: 'write', duration_seconds: 3600, reason: 'INC-10 not really', break_glass: true })).grant_id!;
      at('19:40');
      await reviews.deny(h.caller('carol'), (await grants.get(g.denied))!.request_id, 'no outage');
      // dave on bastion back to back: 16:00–17:00, 17:02–18:02, 18:04–19:04; then 22:00–23:00 apart.
      for (const t of ['16:00', '17:02', '18:04', '22:00']) {
        at(t);
        const id = (await requests.create(h.caller('dave'), { resource: 'bastion', role: 'read', duration_seconds: 3600, reason: 'OPS-9 rotation' })).grant_id!;
        g[`chain${t}`] = id;
        h.clock.advance(H);
        await grants.expire([id]);
      }
      at('23:30');
    });
    after(async () => {
      await h?.close();
    });

    const report = () => makeAccessReport({ store: h.store, clock: h.clock, audit: h.access.audit, policy: () => h.policy });
    async function rows(q: { since: string; until: string; resource?: string; principal?: string }, page?: number): Promise<AccessReportRow[]> {
      const out: AccessReportRow[] = [];
      for await (const r of report().rows(q, page)) out.push(r);
      return out;
    }
    const DAY = { since: '2026-03-02T00:00:00.000Z', until: '2026-03-03T00:00:00.000Z' };

    test('one row per grant, with how it was approved and how it ended', async () => {
      const all = await rows(DAY, 3); // pages of three: paging must not lose or repeat a grant
      assert.deepEqual(all.map((r) => r.grant_id), [g.approved, g.auto, g.glass, g.agent, g['chain16:00'], g['chain17:02'], g['chain18:04'], g.denied, g['chain22:00']]);
      const by = new Map(all.map((r) => [r.grant_id, r]));
      const ap = by.get(g.approved)!;
      assert.equal(ap.reason, NASTY);
      assert.equal(ap.ticket, 'OPS-7');
      assert.deepEqual(ap.approval.approvers.map((a) => a.reviewer), ['bob']);
      assert.equal(ap.approval.kind, 'reviewed');
      assert.deepEqual(ap.end, { kind: 'expired', by: 'airlock', reason: null });
      assert.equal(ap.requested_seconds, 7200);
      assert.equal(ap.actual_seconds, 7200);
      assert.deepEqual([ap.sessions, ap.statements, ap.refused_statements], [2, 4, 2]);

      const auto = by.get(g.auto)!;
      assert.equal(auto.approval.kind, 'auto');
      assert.equal(auto.approval.rule, 'rule:roles.read.approval.auto_approve[0]');
      assert.deepEqual(auto.end, { kind: 'revoked', by: 'sec', reason: 'done early, thanks' });
      assert.equal(auto.actual_seconds, 1800);

      const glass = by.get(g.glass)!;
      assert.equal(glass.approval.kind, 'break_glass');
      assert.deepEqual(glass.approval.post_hoc, { reviewer: 'bob', decision: 'approve', at: '2026-03-02T14:30:00.000Z', comment: 'justified' });

      const denied = by.get(g.denied)!;
      assert.deepEqual(denied.end, { kind: 'denied_on_review', by: 'carol', reason: 'no outage' });
      assert.deepEqual([denied.approval.post_hoc?.reviewer, denied.approval.post_hoc?.decision], ['carol', 'deny']);

      const agent = by.get(g.agent)!;
      assert.deepEqual([agent.principal_kind, agent.sponsor], ['agent', 'alice']);
      assert.deepEqual([agent.end.kind, agent.end.by], ['locked', 'sec']);
      assert.match(agent.end.reason ?? '', /principal "helper" was locked by sec: agent misbehaving/);
      assert.equal(agent.actual_seconds, 1200);
    });

    test('audit seqs name the events each row was built from', async () => {
      const events = new Map((await auditEvents(h.access.audit)).map((e) => [e.seq, e]));
      const ev = (seq: number | null) => {
        assert.ok(seq !== null, 'the seq was found');
        return events.get(seq)!;
      };
      for (const r of await rows(DAY)) {
        const s = r.audit_seqs;
        assert.equal(ev(s.request_create).action, 'request.create');
        assert.equal(ev(s.request_create).details.request_id, r.request_id);
        assert.equal(ev(s.grant_activate).action, 'grant.activate');
        assert.equal(ev(s.grant_activate).details.grant_id, r.grant_id);
        assert.equal(ev(s.grant_end).details.grant_id, r.grant_id);
        assert.equal(ev(s.grant_end).action, r.end.kind === 'expired' ? 'grant.expire' : 'grant.revoke');
        assert.equal(ev(s.request_decision).action, { reviewed: 'request.approve', auto: 'request.auto_approve', break_glass: 'request.break_glass' }[r.approval.kind]);
        assert.equal(s.approvals.length, r.approval.approvers.length);
        for (const a of s.approvals) assert.deepEqual([ev(a).action, ev(a).details.request_id], ['review.approve', r.request_id]);
        assert.equal(s.sessions.length, r.sessions);
        for (const x of s.sessions) assert.equal(ev(x).action, 'session.start');
        if (r.approval.kind === 'break_glass') assert.deepEqual([ev(s.post_hoc_review).action, ev(s.post_hoc_review).details.post_hoc], [`review.${r.approval.post_hoc!.decision}`, true]);
        else assert.equal(s.post_hoc_review, null);
      }
    });

    test('the period clips hours; filters by resource and principal; totals add up', async () => {
      const part = await rows({ since: '2026-03-02T11:00:00.000Z', until: '2026-03-02T14:30:00.000Z' });
      assert.deepEqual(part.map((r) => r.grant_id), [g.approved, g.auto, g.glass]);
      assert.deepEqual(part.map((r) => r.seconds_in_period), [3600, 1800, 1800]);
      assert.deepEqual((await rows({ ...DAY, resource: 'bastion', principal: 'dave' })).map((r) => r.grant_id), [g['chain16:00'], g['chain17:02'], g['chain18:04'], g['chain22:00']]);
      assert.deepEqual(await rows({ since: '2026-03-03T00:00:00.000Z', until: '2026-03-04T00:00:00.000Z' }), []);
      const t = makeTotals();
      for (const r of await rows(DAY)) t.add(r);
      const { by_resource, by_principal } = t.result();
      assert.deepEqual(by_resource, [
        { name: 'bastion', grants: 5, break_glass: 0, hours: 4.33 },
        { name: 'prod-orders', grants: 4, break_glass: 2, hours: 3.67 },
      ]);
      assert.deepEqual(by_principal.find((x) => x.name === 'alice'), { name: 'alice', grants: 3, break_glass: 2, hours: 3.17 });
      assert.deepEqual(by_principal.find((x) => x.name === 'dave'), { name: 'dave', grants: 5, break_glass: 0, hours: 4.5 });
    });

    test('standing access: over N hours, and renewals back to back', async () => {
      const found = await standingAccess(report(), { ...DAY, hours: 3.5, gap_minutes: 5 });
      assert.equal(found.length, 1);
      const d = found[0]!;
      assert.deepEqual([d.principal, d.resource, d.grants, d.hours_in_period, d.over_hours], ['dave', 'bastion', 4, 4, true]);
      assert.deepEqual(d.chains.map((c) => c.grant_ids), [[g['chain16:00'], g['chain17:02'], g['chain18:04']]]);
      assert.equal(d.chains[0]!.hours, 3);
      // A gap of one minute breaks the chain; with more hours allowed nobody is flagged.
      assert.deepEqual(await standingAccess(report(), { ...DAY, hours: 5, gap_minutes: 1 }), []);
      const chained = await standingAccess(report(), { ...DAY, hours: 100, gap_minutes: 5 });
      assert.deepEqual([chained.length, chained[0]!.over_hours, chained[0]!.chains.length], [1, false, 1]);
    });
  });
}

describe('access reports through the real server, gateway, API, CSV and CLI', () => {
  let a: InProcessAirlock;
  let db: TestDatabase;
  let alice: string;
  let bob: string;
  let grantId: string;
  const since = () => new Date(Date.now() - H).toISOString();

  before(async () => {
    db = await createTestDatabase('airlock_report');
    const c = new pg.Client(db.url);
    await c.connect();
    await c.query('create table orders (id int)');
    await c.end();
    const up = new URL(adminUrl());
    a = await startAirlock({
      env: { REPORT_TEST_PG_PASSWORD: decodeURIComponent(up.password) || 'unused-with-trust-auth' },
      policy: `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
auditors: { principals: [bob] }
resources:
  - { name: orders, kind: postgres, address: "${up.hostname}:${up.port || 5432}", database: ${db.name}, credential: { username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: REPORT_TEST_PG_PASSWORD }, mode: per_grant_role } }
roles:
  - name: read
    resources: { names: [orders] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: false }
`,
    });
    alice = await a.token('alice');
    bob = await a.token('bob');
    const req = await a.api<{ id: string }>(alice, 'POST', '/api/v1/requests', { resource: 'orders', role: 'read', duration: '30m', reason: NASTY, ticket: 'OPS-7' });
    grantId = (await a.api<{ grant_id: string }>(bob, 'POST', `/api/v1/requests/${req.id}/approve`, {})).grant_id;
    const pc = a.client(alice, 'alice', 'orders');
    await pc.connect();
    await pc.query('select count(*) from orders');
    await assert.rejects(pc.query('delete from orders'), /read|not allowed|refused/i);
    await pc.end();
  });
  after(async () => {
    await a?.dropRoles(adminUrl());
    await a?.stop();
    await db?.drop();
  });

  const get = (token: string, path: string) => fetch(`${a.server.apiUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });

  test('an auditor reads the gateway session in the report; a plain user is refused', async () => {
    // The session ends when the client closes: the report counts it once its session.end is in.
    let row: AccessReportRow | undefined;
    for (let i = 0; i < 100 && !(row && row.sessions === 1 && row.refused_statements === 1); i++) {
      const res = await get(bob, `/api/v1/reports/access?since=${since()}`);
      assert.equal(res.status, 200);
      row = ((await res.json()) as { rows: AccessReportRow[] }).rows.find((r) => r.grant_id === grantId);
      if (!(row && row.refused_statements === 1)) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(row);
    assert.deepEqual([row.sessions, row.statements, row.refused_statements], [1, 2, 1]);
    assert.deepEqual(row.approval.approvers.map((x) => x.reviewer), ['bob']);
    const refused = await get(alice, `/api/v1/reports/access?since=${since()}`);
    assert.equal(refused.status, 403);
    assert.equal(((await refused.json()) as { code: string }).code, 'AIRLOCK_FORBIDDEN');
    assert.equal((await get(alice, `/api/v1/reports/standing?since=${since()}&hours=1`)).status, 403);
  });

  test('CSV is RFC 4180 with times in the zone asked for, named in the header', async () => {
    const res = await get(bob, `/api/v1/reports/access?since=${since()}&format=csv&tz=Asia/Kolkata`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/csv/);
    const text = await res.text();
    const [header, ...records] = parseCsv(text);
    assert.ok(header!.includes('started (Asia/Kolkata)'), `header: ${header!.join('|')}`);
    const rec = records.find((r) => r[0] === grantId)!;
    const col = (name: string) => rec[header!.indexOf(name)];
    assert.equal(col('reason'), NASTY);
    assert.ok(text.includes(',"OPS-7 fix ""stuck"", orders\nsecond line",'), `quotes doubled, the field quoted: ${JSON.stringify(text)}`);
    const grant = await a.api<{ starts_at: string }>(bob, 'GET', `/api/v1/grants/${grantId}`);
    const local = new Date(Date.parse(grant.starts_at) + 5.5 * H).toISOString().replace('T', ' ').slice(0, 19);
    assert.equal(col('started (Asia/Kolkata)'), local);
    assert.equal((await get(bob, `/api/v1/reports/access?since=${since()}&tz=Mars/Base`)).status, 400);
  });

  test('the CLI prints the report as a table with its zone, as CSV, and as JSON', async () => {
    const server = { url: a.server.apiUrl };
    const t = await cli(server, bob, ['report', 'access', '--since', '1d', '--tz', 'UTC']);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /Times in UTC/);
    assert.match(t.stdout, new RegExp(grantId));
    assert.match(t.stdout, /Totals per resource:[\s\S]*orders\s+1\s+0/);
    const csv = await cli(server, bob, ['report', 'access', '--since', '1d', '--format', 'csv', '--tz', 'Europe/Berlin']);
    assert.equal(csv.code, 0, csv.stderr);
    assert.equal(parseCsv(csv.stdout)[0]![8], 'started (Europe/Berlin)');
    const j = await cli(server, bob, ['report', 'access', '--since', new Date(Date.now() - 2 * H).toISOString(), '--json']);
    assert.equal(j.json().rows[0].grant_id, grantId);
    const st = await cli(server, bob, ['report', 'standing', '--hours', '0', '--since', '1d', '--json']);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(st.json().findings[0].principal, 'alice');
    const no = await cli(server, alice, ['report', 'access', '--since', '1d']);
    assert.equal(no.code, 3);
    assert.match(no.stderr, /admins and auditors/);
    const bad = await cli(server, bob, ['report', 'access', '--since', 'yesterday']);
    assert.equal(bad.code, 2);
  });

  // Last: it adds grants the tests above do not expect.
  test('CSV injection: free text a spreadsheet would run as a formula gets a leading quote; numbers stay numbers', async () => {
    const spellings = [
      { reason: '=1+1', ticket: "+cmd|' /C calc'!A0", end: '-2+3', bytes: ",revoked,alice,'-2+3,'=1+1,'+cmd|' /C calc'!A0," },
      // Reasons and tickets are trimmed as they come in, so "\t=1" arrives as "=1" (the TAB case is checked below).
      { reason: '\t=1', ticket: '=HYPERLINK("x")', end: '@SUM(1)', bytes: `,revoked,alice,'@SUM(1),'=1,"'=HYPERLINK(""x"")",` },
    ];
    // One grant of a role at a time: the one made before ends first.
    await a.api(alice, 'POST', `/api/v1/grants/${grantId}/revoke`, { reason: 'done' });
    const ids: string[] = [];
    for (const sp of spellings) {
      const req = await a.api<{ id: string }>(alice, 'POST', '/api/v1/requests', { resource: 'orders', role: 'read', duration: '30m', reason: sp.reason, ticket: sp.ticket });
      const id = (await a.api<{ grant_id: string }>(bob, 'POST', `/api/v1/requests/${req.id}/approve`, {})).grant_id;
      await a.api(alice, 'POST', `/api/v1/grants/${id}/revoke`, { reason: sp.end });
      ids.push(id);
    }
    const text = await (await get(bob, `/api/v1/reports/access?since=${since()}&format=csv`)).text();
    const [header, ...records] = parseCsv(text);
    spellings.forEach((sp, i) => {
      const line = text.split('\r\n').find((l) => l.startsWith(`${ids[i]},`))!;
      assert.ok(line.includes(sp.bytes), `exact bytes ${JSON.stringify(sp.bytes)} in ${JSON.stringify(line)}`);
      const rec = records.find((r) => r[0] === ids[i])!;
      const col = (name: string) => rec[header!.indexOf(name)];
      assert.deepEqual([col('reason'), col('ticket'), col('end_reason')], [`'${sp.reason.trim()}`, `'${sp.ticket}`, `'${sp.end}`], 'read back, the text is the text with one quote in front');
      assert.equal(col('requested_hours'), '0.5', 'a numeric column is untouched');
      assert.match(col('actual_hours')!, /^\d+(\.\d+)?$/);
    });
    // What no API field lets through untrimmed, the CSV writer still neutralises: a leading TAB or CR.
    assert.equal(csvRecord(['\t=1', '\r=1', -2, 'plain']), `'\t=1,"'\r=1",-2,plain\r\n`);
  });
});

test('a CSV client that goes away while the stream waits for room stops the stream (its report reader is then closed)', { timeout: 20_000 }, async () => {
  let client: Socket | undefined;
  const chunk = Buffer.alloc(64 * 1024, 'a');
  // The route's loop: write, and when the response is full wait for room, or stop.
  async function stream(res: ServerResponse): Promise<string> {
    for (let i = 0; i < 100_000; i++) {
      if (res.write(chunk)) continue;
      client?.destroy();
      if (!(await drained(res))) return `stopped after ${i + 1} chunks`;
    }
    return 'wrote everything to a client that is gone';
  }
  const outcome = await new Promise<string>((resolve) => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/csv' });
      void stream(res).then((r) => server.close(() => resolve(r)));
    });
    server.listen(0, '127.0.0.1', () => {
      // The client never reads: the kernel's buffers fill, then the response's.
      client = connect((server.address() as AddressInfo).port, '127.0.0.1', () => client!.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      client.pause();
    });
  });
  assert.match(outcome, /^stopped after \d+ chunks$/);
});
