// The server's logger: secrets redacted at any depth a caller may put them, the pretty format one readable line per
// event with its zone, and bad settings refused with the variable to fix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeLogger, prettyLine, checkLogOptions } from '../../src/logging.js';
import { AirlockError } from '../../src/domain/errors.js';

function capture(format: string, level = 'info') {
  const lines: string[] = [];
  const log = makeLogger({ level, format, destination: { write: (l: string) => lines.push(l) } });
  return { log, lines };
}

test('tokens, passwords, Authorization and cookie headers are redacted wherever they sit', () => {
  const { log, lines } = capture('json');
  log.info({ token: 'alk_top', password: 'pw-top', nested: { token: 'alk_nested', client_secret: 'cs' }, req: { headers: { authorization: 'Bearer alk_header', cookie: 'airlock_session=abc' } }, deep: { a: { password: 'pw-deep' } }, storeUrl: 'postgres://u:p@h/db' }, 'with secrets');
  log.error({ err: Object.assign(new Error('boom'), { password: 'pw-err' }) }, 'an error');
  const text = lines.join('');
  for (const s of ['alk_top', 'pw-top', 'alk_nested', 'cs"', 'alk_header', 'airlock_session=abc', 'pw-deep', 'u:p@', 'pw-err']) assert.ok(!text.includes(s), `${s} is in ${text}`);
  assert.equal(JSON.parse(lines[0]!).token, '[redacted]');
  assert.equal(JSON.parse(lines[0]!).level, 30);
  assert.equal(JSON.parse(lines[1]!).err.message, 'boom');
});

test('pretty: one line per event with the time zone, fields as key=value, the stack indented under it', () => {
  const { log, lines } = capture('pretty');
  log.warn({ resource: 'orders-db', count: 2, why: 'two words' }, 'something to see');
  assert.match(lines[0]!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC WARN  something to see resource=orders-db count=2 why="two words"\n$/);
  const withStack = prettyLine(JSON.stringify({ level: 50, time: '2026-03-02T10:31:00.000Z', msg: 'failed', err: { message: 'boom', stack: 'Error: boom\n    at f (x.ts:1:1)' } }));
  assert.equal(withStack, '2026-03-02 10:31:00.000 UTC ERROR failed err=boom\n    at f (x.ts:1:1)\n');
  assert.equal(prettyLine('not json'), 'not json\n');
});

test('an unknown level or format is refused, naming the flag and variable', () => {
  assert.throws(() => checkLogOptions({ level: 'loud' }), (e: AirlockError) => e.code === 'AIRLOCK_CONFIG_INVALID' && /AIRLOCK_LOG_LEVEL/.test(e.message));
  assert.throws(() => checkLogOptions({ format: 'xml' }), (e: AirlockError) => e.code === 'AIRLOCK_CONFIG_INVALID' && /--log-format/.test(e.message));
  assert.deepEqual(checkLogOptions({ level: 'DEBUG', format: 'Pretty' }), { level: 'debug', format: 'pretty' });
});
