// Startup packets and connection settings: what the gateway accepts from a client before login, and what it refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOptions, parseStartupPacket, readStartupRequest, StartupRefusal } from '../../src/gateway/postgres/startup.js';
import { CANCEL_REQUEST, ProtocolError, SSL_REQUEST, startupMessage } from '../../src/gateway/postgres/protocol.js';
import { rowsOfTag } from '../../src/gateway/postgres/replies.js';

function packet(code: number, rest: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(8 + rest.length);
  b.writeInt32BE(b.length, 0);
  b.writeInt32BE(code, 4);
  rest.copy(b, 8);
  return b;
}

test('SSLRequest, CancelRequest and StartupMessage are told apart', () => {
  assert.deepEqual(parseStartupPacket(packet(SSL_REQUEST)), { kind: 'ssl' });
  const key = Buffer.alloc(8);
  key.writeInt32BE(1234, 0);
  key.writeInt32BE(-5, 4);
  assert.deepEqual(parseStartupPacket(packet(CANCEL_REQUEST, key)), { kind: 'cancel', pid: 1234, secret: -5 });
  const s = parseStartupPacket(startupMessage({ user: 'alice', database: 'prod-orders/orders', application_name: 'psql' }));
  assert.equal(s.kind, 'startup');
  assert.deepEqual(s.kind === 'startup' && Object.fromEntries(s.params), { user: 'alice', database: 'prod-orders/orders', application_name: 'psql' });
});

test('malformed startup packets are protocol errors', () => {
  const unterminated = startupMessage({ user: 'alice' }).subarray(0, -1);
  unterminated.writeInt32BE(unterminated.length, 0);
  assert.throws(() => parseStartupPacket(unterminated), ProtocolError);
  assert.throws(() => parseStartupPacket(packet(2 << 16)), /unsupported frontend protocol 2\.0/);
  assert.throws(() => parseStartupPacket(packet(SSL_REQUEST, Buffer.alloc(4))), ProtocolError);
  const twice = Buffer.concat([packet(3 << 16), Buffer.from('user\0a\0user\0b\0\0')]);
  twice.writeInt32BE(twice.length, 0);
  assert.throws(() => parseStartupPacket(twice), /twice/);
});

test('database "resource/dbname" splits into the resource and an optional database', () => {
  const r = readStartupRequest(new Map([['user', 'alice'], ['database', 'prod-orders/orders']]));
  assert.equal(r.resource, 'prod-orders');
  assert.equal(r.database, 'orders');
  assert.equal(readStartupRequest(new Map([['user', 'alice'], ['database', 'prod-orders']])).database, undefined);
  assert.equal(readStartupRequest(new Map([['user', 'alice']])).resource, 'alice', 'like PostgreSQL, the database defaults to the user name');
});

test('harmless settings pass (from parameters and options), with canonical names', () => {
  const r = readStartupRequest(new Map([['user', 'alice'], ['client_encoding', 'UTF8'], ['datestyle', 'ISO'], ['options', '-c statement_timeout=5s --search-path=app\\ x'], ['application_name', 'psql']]));
  assert.deepEqual(r.settings, { client_encoding: 'UTF8', DateStyle: 'ISO', statement_timeout: '5s', search_path: 'app x', application_name: 'psql' });
});

test('settings that could loosen a guard are refused with a reason', () => {
  for (const [name, value] of [['default_transaction_read_only', 'off'], ['options', '-c default_transaction_read_only=off'], ['options', '-c role=postgres'], ['session_authorization', 'postgres'], ['options', '-B 100']]) {
    assert.throws(() => readStartupRequest(new Map([['user', 'alice'], [name!, value!]])), (e: unknown) => e instanceof StartupRefusal && e.sqlstate === '42501', `${name}=${value}`);
  }
  assert.throws(() => readStartupRequest(new Map([['user', 'alice'], ['replication', 'database']])), /replication connections are not allowed/);
  assert.doesNotThrow(() => readStartupRequest(new Map([['user', 'alice'], ['replication', 'false']])));
});

test('_pq_ protocol options are collected, to be declined with NegotiateProtocolVersion', () => {
  assert.deepEqual(readStartupRequest(new Map([['user', 'alice'], ['_pq_.compression', 'on']])).unsupported_options, ['_pq_.compression']);
});

test('options are split like the server splits them', () => {
  assert.deepEqual(parseOptions('  -c a=1   -cb=2 --c-d=x\\ y '), [['a', '1'], ['b', '2'], ['c_d', 'x y']]);
});

test('rows come from CommandComplete tags', () => {
  assert.equal(rowsOfTag('SELECT 5'), 5);
  assert.equal(rowsOfTag('INSERT 0 3'), 3);
  assert.equal(rowsOfTag('COPY 10'), 10);
  assert.equal(rowsOfTag('UPDATE 0'), 0);
  assert.equal(rowsOfTag('CREATE TABLE'), 0);
});
