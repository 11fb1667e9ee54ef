// A server that accepts the CLI's connection and never answers: the command gives up after AIRLOCK_TIMEOUT seconds
// with AIRLOCK_UNREACHABLE and a sentence saying so, instead of hanging forever.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { cli } from '../support/server-process.js';

let silent: Server;
const held: Socket[] = [];
let url: string;

before(async () => {
  silent = createServer((sock) => void held.push(sock));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
});

after(() => {
  for (const s of held) s.destroy();
  silent.close();
});

test('airlock whoami against a server that says nothing: AIRLOCK_UNREACHABLE after AIRLOCK_TIMEOUT seconds', async () => {
  const t0 = performance.now();
  const j = await cli({ url }, 'alk_not-a-real-token', ['whoami', '--json'], { env: { AIRLOCK_TIMEOUT: '1' } });
  const took = performance.now() - t0;
  assert.equal(j.code, 1, j.stderr);
  assert.equal(j.stderr, '', 'nothing but JSON');
  const err = j.json().error;
  assert.equal(err.code, 'AIRLOCK_UNREACHABLE');
  assert.equal(err.detail, `Airlock at ${url} accepted the connection but sent nothing for 1 s. Is it the Airlock server, and is it overloaded? Set AIRLOCK_SERVER or use --server; AIRLOCK_TIMEOUT sets the wait in seconds.`);
  assert.ok(took >= 1000, `gave up after ${Math.round(took)} ms, before the 1 s it was given`);

  const t = await cli({ url }, 'alk_not-a-real-token', ['whoami'], { env: { AIRLOCK_TIMEOUT: '0.5' } });
  assert.equal(t.code, 1);
  assert.match(t.stderr, /^airlock: Airlock at \S+ accepted the connection but sent nothing for 0\.5 s\. .* \[AIRLOCK_UNREACHABLE\]\n$/);
});

test('an AIRLOCK_TIMEOUT that is not a positive number of seconds is refused before anything is sent', async () => {
  const before = held.length;
  const r = await cli({ url }, 'alk_not-a-real-token', ['whoami', '--json'], { env: { AIRLOCK_TIMEOUT: 'soon' } });
  assert.equal(r.code, 2, 'a usage error');
  assert.equal(r.json().error.code, 'AIRLOCK_USAGE');
  assert.match(r.json().error.detail, /AIRLOCK_TIMEOUT is "soon"; set it to a number of seconds greater than 0 \(default 30\)/);
  assert.equal(held.length, before, 'no connection was made');
});
