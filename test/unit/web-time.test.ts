// Times, risk hints, connection lines and the request form's checks, as the console computes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { countdown, formatDuration, formatMs, formatTime, isWorkingHours, parseDuration, relative } from '../../web/src/lib/time.js';
import { riskHints } from '../../web/src/lib/risk.js';
import { clientLine, connectionInfo } from '../../web/src/lib/connect.js';
import { checkRequestForm } from '../../web/src/lib/request-rules.js';
import { makeResource } from '../../web/src/api/models.js';

test('durations parse like the CLI\'s and print back', () => {
  for (const [text, s] of [['90s', 90], ['30m', 1800], ['1h30m', 5400], ['2d', 172800], [' 1H ', 3600], ['1h 30m', 5400]] as const) assert.equal(parseDuration(text), s, text);
  for (const text of ['', '30', 'forever', '1x', '0s', '-5m']) assert.equal(parseDuration(text), undefined, text);
  assert.equal(formatDuration(5400), '1h30m');
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(90061), '1d1h1m1s');
});

test('times are shown in the viewer\'s zone, with relative hints and countdowns', () => {
  const d = new Date('2026-03-02T10:31:00Z');
  assert.equal(formatTime(d, 'Europe/Berlin'), '2026-03-02 11:31:00 GMT+1');
  assert.equal(formatTime(d, 'UTC'), '2026-03-02 10:31:00 UTC');
  assert.equal(relative(29 * 60_000), 'in 29m');
  assert.equal(relative(179_000), 'in 3m', 'rounded, so it agrees with a 2:59 countdown');
  assert.equal(relative(-3 * 60_000), '3m ago');
  assert.equal(relative(2_000), 'just now');
  assert.equal(relative(90 * 60_000), 'in 1h30m');
  assert.equal(relative(-26 * 3600_000), '1d2h ago');
  assert.equal(countdown(3_723_000), '1:02:03');
  assert.equal(countdown(245_000), '4:05');
  assert.equal(countdown(5_100), '0:06', 'a second that has begun still counts');
  assert.equal(countdown(-5), '0:00');
  assert.equal(formatMs(0.43), '0.4 ms');
  assert.equal(formatMs(35.2), '35 ms');
  assert.equal(formatMs(1234), '1.2 s');
  assert.equal(formatMs(null), '–');
});

test('working hours: Monday to Friday, 08:00 to 18:00 in the given zone', () => {
  assert.equal(isWorkingHours(new Date('2026-03-02T09:00:00Z'), 'UTC'), true); // a Monday
  assert.equal(isWorkingHours(new Date('2026-03-02T18:00:00Z'), 'UTC'), false);
  assert.equal(isWorkingHours(new Date('2026-03-02T07:59:00Z'), 'UTC'), false);
  assert.equal(isWorkingHours(new Date('2026-03-02T07:30:00Z'), 'Europe/Berlin'), true);
  assert.equal(isWorkingHours(new Date('2026-03-07T12:00:00Z'), 'UTC'), false); // a Saturday
});

test('risk hints: break-glass, production, write access, outside working hours', () => {
  const monday = new Date('2026-03-02T10:00:00Z');
  const sunday = new Date('2026-03-01T23:00:00Z');
  assert.deepEqual(riskHints({ breakGlass: false, createdAt: monday, labels: { env: 'staging' }, readOnly: true }, 'UTC'), []);
  assert.deepEqual(riskHints({ breakGlass: true, createdAt: sunday, labels: { env: 'PROD' }, readOnly: false }, 'UTC').map((h) => h.kind), ['break-glass', 'production', 'write', 'off-hours']);
  assert.deepEqual(riskHints({ breakGlass: false, createdAt: monday, labels: { env: 'production' }, readOnly: undefined }, 'UTC').map((h) => h.kind), ['production'], 'unknown access is not called write');
  assert.match(riskHints({ breakGlass: false, createdAt: monday, labels: { env: 'prod' }, readOnly: true }, 'UTC')[0]!.why, /env=prod/);
});

test('the psql line and the CLI command hold no secret and quote what needs quoting', () => {
  const c = connectionInfo({ host: '127.0.0.1', port: 6432 }, 'alice', 'prod-orders');
  assert.equal(c.psql, 'psql "host=127.0.0.1 port=6432 user=alice dbname=prod-orders sslmode=verify-full sslrootcert=airlock-ca.crt"');
  assert.equal(c.command, 'airlock connect prod-orders --exec psql');
  const odd = connectionInfo({ host: 'gw.example.com', port: 5432 }, "o'brien", 'db one');
  assert.equal(odd.psql, `psql "host=gw.example.com port=5432 user='o\\'brien' dbname='db one' sslmode=verify-full sslrootcert=airlock-ca.crt"`);
  assert.equal(odd.command, "airlock connect 'db one' --exec psql");
});

test('a mysql resource gets a mariadb line (password from MYSQL_PWD, certificate checked); each kind only its own gateway', () => {
  const both = { postgres: { host: '127.0.0.1', port: 6432 }, mysql: { host: '127.0.0.1', port: 3307 } };
  assert.deepEqual(clientLine(both, 'mysql', 'alice', 'shop-db'), {
    client: 'mariadb', testId: 'mysql-command', command: 'airlock connect shop-db --exec mariadb',
    line: 'mariadb -h 127.0.0.1 -P 3307 -u alice --ssl-ca=airlock-ca.crt --ssl-verify-server-cert shop-db',
  });
  assert.equal(clientLine(both, 'postgres', 'alice', 'orders')!.line, connectionInfo(both.postgres, 'alice', 'orders').psql);
  assert.equal(clientLine({ postgres: both.postgres, mysql: null }, 'mysql', 'alice', 'shop-db'), null, 'no MySQL gateway: no line');
  assert.equal(clientLine({ postgres: null, mysql: both.mysql }, 'postgres', 'alice', 'orders'), null);
  assert.equal(clientLine(both, 'ssh', 'alice', 'bastion'), null);
  assert.equal(clientLine({ postgres: null, mysql: { host: 'localhost', port: 3307 } }, 'mysql', 'alice', 'shop-db')!.line, 'mariadb -h localhost -P 3307 --protocol=TCP -u alice --ssl-ca=airlock-ca.crt --ssl-verify-server-cert shop-db', '"localhost" would mean the local socket');
  assert.equal(clientLine(both, 'mysql', "o'brien", 'db one')!.line, "mariadb -h 127.0.0.1 -P 3307 -u 'o'\\''brien' --ssl-ca=airlock-ca.crt --ssl-verify-server-cert 'db one'");
});

test('the request form checks what the server will, next to each field', () => {
  const offer = makeResource({ roles: [{ role: 'read', max_duration: '4h', max_duration_seconds: 14400, justification: { required: true, pattern: '^[A-Z]+-[0-9]+', ticket_required: true, hint: 'Start with a ticket such as OPS-123.' } }] }).roles[0];
  assert.deepEqual(checkRequestForm(offer, { duration: '1h', reason: 'OPS-1 look', ticket: 'OPS-1' }), {});
  const bad = checkRequestForm(offer, { duration: '5h', reason: 'because', ticket: '' });
  assert.equal(bad.duration, 'At most 4h for this role.');
  assert.equal(bad.reason, 'Start with a ticket such as OPS-123.');
  assert.equal(bad.ticket, 'This role needs a ticket reference.');
  assert.match(checkRequestForm(offer, { duration: 'forever', reason: '', ticket: 'x' }).duration!, /not a duration/);
  assert.equal(checkRequestForm(offer, { duration: '1h', reason: '  ', ticket: 'x' }).reason, 'Start with a ticket such as OPS-123.');
});
