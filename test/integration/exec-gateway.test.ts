// The exec front-end end to end: the real server in this process, a local argv template (env -C <target> -- cmd)
// whose targets are temporary directories, the websocket as `airlock exec` speaks it, and the real CLI in a PTY.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, chmodSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import WebSocket from 'ws';
import * as pty from 'node-pty';
import { startAirlock, type InProcessAirlock } from '../support/in-process-server.js';
import { execClient } from '../support/exec-client.js';

let a: InProcessAirlock;
let t1: string;
let t2: string;
let alice: string;
let bob: string;
const root = fileURLToPathSafe(new URL('../..', import.meta.url));

function fileURLToPathSafe(u: URL): string {
  return decodeURIComponent(u.pathname);
}

type Ev = { action: string; actor: string; details: Record<string, unknown> };
async function events(action: string): Promise<Ev[]> {
  return (await a.api<{ events: Ev[] }>(bob, 'GET', `/api/v1/audit/events?action=${action}&limit=100000`)).events;
}
async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
async function freshGrant(role: string): Promise<string> {
  const { grants } = await a.api<{ grants: { id: string; principal: string }[] }>(bob, 'GET', '/api/v1/grants?active=true');
  for (const g of grants.filter((x) => x.principal === 'alice')) await a.api(bob, 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'next case' });
  return a.grant(alice, bob, 'box', role, '1h');
}
/** A process that still runs: a zombie (this container's init may not reap orphans) has ended. */
const pidAlive = (pid: number): boolean => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return false;
  }
};

before(async () => {
  t1 = realpathSync(mkdtempSync(join(tmpdir(), 'airlock-exec-t1-')));
  t2 = realpathSync(mkdtempSync(join(tmpdir(), 'airlock-exec-t2-')));
  chmodSync(t1, 0o755);
  chmodSync(t2, 0o755);
  a = await startAirlock({
    env: { EXEC_TEST_GATEWAY_SECRET: 'gateway-secret-4b1d' },
    policy: `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [sre] }
admins: { principals: [bob] }
auditors: { principals: [bob] }
resources:
  - name: box
    kind: exec
    exec:
      command: ["/usr/bin/env", "-C", "{target}", "--", "{command}"]
      targets: ["${t1}", "${t2}"]
      default_command: ["/bin/sh"]
roles:
  - name: shell
    resources: { names: [box] }
    max_duration: 8h
    requestable_by: { principals: [alice] }
    approval: { approver_groups: [sre] }
  - name: limited
    resources: { names: [box] }
    max_duration: 8h
    requestable_by: { principals: [alice] }
    approval: { approver_groups: [sre] }
    ssh: { shell: false }
    commands: { allow: ["ls ...", "echo ...", "/bin/sleep ..."], deny: ["ls /etc ..."] }
  - name: envy
    resources: { names: [box] }
    max_duration: 8h
    requestable_by: { principals: [alice] }
    approval: { approver_groups: [sre] }
    ssh: { env: [LANG, "LC_*", LD_PRELOAD, GCONV_PATH, EXEC_TEST_MINE] }
`,
  });
  bob = await a.token('bob');
  alice = await a.token('alice');
});

after(async () => {
  await a?.stop();
  rmSync(t1, { recursive: true, force: true });
  rmSync(t2, { recursive: true, force: true });
});

test('a command runs in the target with its output, stderr and exit code; audited and recorded, the seal in session.end', async () => {
  const g = await freshGrant('shell');
  const c = execClient(a.server.apiUrl, alice, { resource: 'box' });
  const id = await c.ready;
  c.exec(['/bin/sh', '-c', 'pwd; echo oops >&2; exit 3']);
  assert.deepEqual(await c.exit(), { code: 3, signal: null });
  assert.equal(c.stdout(), `${t1}\n`);
  assert.equal(c.stderr(), 'oops\n');
  // Another command in the same session, on the other target's session below.
  c.exec(['echo', 'two words', '$HOME']);
  assert.deepEqual(await c.exit(), { code: 0, signal: null });
  assert.match(c.stdout(), /two words \$HOME\n$/);
  // The gateway's own environment (its secrets) does not reach the command.
  const before = c.stdout().length;
  c.exec(['env']);
  await c.exit();
  const env = c.stdout().slice(before);
  assert.match(env, /^PATH=/m);
  assert.doesNotMatch(env, /gateway-secret-4b1d|AIRLOCK_/);
  c.close();
  const end = await until('session.end', async () => (await events('session.end')).find((e) => e.details.session_id === id));
  const start = (await events('session.start')).find((e) => e.details.session_id === id)!;
  assert.equal(start.details.protocol, 'exec');
  assert.equal(start.details.database, t1, 'session.start names the target');
  assert.equal(start.details.grant_id, g);
  const stmts = (await events('statement')).filter((e) => e.details.session_id === id);
  assert.deepEqual(stmts.map((e) => [e.details.text, e.details.decision, e.details.error]), [
    ["/bin/sh -c 'pwd; echo oops >&2; exit 3'", 'allowed', 'exit status 3'],
    ["echo 'two words' '$HOME'", 'allowed', null],
    ['env', 'allowed', null],
  ]);
  assert.equal(end.details.statements, 3);
  const seal = end.details.recording as { file: string; sha256: string; bytes: number; events: number };
  const file = join(a.dir, 'data', seal.file);
  const body = readFileSync(file);
  assert.equal(createHash('sha256').update(body).digest('hex'), seal.sha256);
  assert.equal(body.length, seal.bytes);
  assert.match(body.toString(), /oops/);

  const other = execClient(a.server.apiUrl, alice, { resource: 'box', target: t2 });
  await other.ready;
  other.exec(['pwd']);
  await other.exit();
  assert.equal(other.stdout(), `${t2}\n`);
  other.close();
});

test('a target the resource does not list is refused with AIRLOCK_EXEC_TARGET_NOT_ALLOWED and audited', async () => {
  await freshGrant('shell');
  for (const target of ['/', `${t1}/..`, `${t1}; touch /tmp/airlock-exec-pwned`]) {
    const c = execClient(a.server.apiUrl, alice, { resource: 'box', target });
    await assert.rejects(c.ready, (e: { code: string; message: string }) => e.code === 'AIRLOCK_EXEC_TARGET_NOT_ALLOWED' && e.message.includes(t1));
    await c.closed;
  }
  assert.equal(existsSync('/tmp/airlock-exec-pwned'), false);
  const refused = (await events('session.refused')).filter((e) => e.details.airlock_code === 'AIRLOCK_EXEC_TARGET_NOT_ALLOWED');
  assert.ok(refused.length >= 3);
});

test('no grant and a wrong token are refused before anything runs', async () => {
  const { grants } = await a.api<{ grants: { id: string; principal: string }[] }>(bob, 'GET', '/api/v1/grants?active=true');
  for (const g of grants) await a.api(bob, 'POST', `/api/v1/grants/${g.id}/revoke`, { reason: 'none' });
  const c = execClient(a.server.apiUrl, alice, { resource: 'box' });
  await assert.rejects(c.ready, (e: { code: string; message: string }) => e.code === 'AIRLOCK_NO_GRANT' && /airlock request box --role/.test(e.message));
  const bad = execClient(a.server.apiUrl, 'alk_nope', { resource: 'box' });
  await assert.rejects(bad.ready, (e: { code: string }) => e.code === 'AIRLOCK_TOKEN_INVALID');
});

test('command rules: allowed, not allowed, denied, no shell, shell syntax and a program that looks like an option', async () => {
  await freshGrant('limited');
  const run = async (command: string[] | string | undefined) => {
    const c = execClient(a.server.apiUrl, alice, { resource: 'box' });
    const id = await c.ready;
    c.exec(command);
    const outcome = await Promise.race([c.exit().then((e) => ({ exit: e })), c.closed.then(() => ({ error: c.errors[0] }))]);
    c.close();
    return { id, outcome, out: c.stdout() };
  };
  const ok = await run(['echo', 'allowed']);
  assert.deepEqual(ok.outcome, { exit: { code: 0, signal: null } });
  assert.equal(ok.out, 'allowed\n');
  const cases: [string[] | string | undefined, RegExp, string][] = [
    [['id'], /allows only: ls \.\.\. \| echo/, 'commands.allow'],
    [['/bin/ls'], /allows only/, 'commands.allow'],
    [['ls', '/etc', '-la'], /deny rule "ls \/etc \.\.\."/, 'commands.deny: ls /etc ...'],
    [undefined, /runs only the commands it lists/, 'commands.allow'],
    ['echo hi; id', /second command/, 'commands.syntax'],
    ['echo $(id)', /not expanded/, 'commands.syntax'],
    [['FOO=1', 'ls'], /cannot begin with "-" or hold "="/, 'commands.program'],
    [['-S', 'ls'], /cannot begin with "-"/, 'commands.program'],
  ];
  for (const [command, why, rule] of cases) {
    const r = await run(command);
    const err = (r.outcome as { error?: { code: string; message: string } }).error;
    assert.ok(err, `${JSON.stringify(command)} ran: ${JSON.stringify(r.outcome)}`);
    assert.equal(err.code, 'AIRLOCK_COMMAND_REFUSED');
    assert.match(err.message, why);
    const st = await until('the refused statement', async () => (await events('statement')).find((e) => e.details.session_id === r.id));
    assert.deepEqual([st.details.decision, st.details.rule], ['refused', rule]);
  }
});

test('the template never runs a shell: shell syntax in an argument or a program name is one word', async () => {
  await freshGrant('shell');
  const marker = join(tmpdir(), `airlock-exec-marker-${process.pid}`);
  for (const argv of [['echo', `; touch ${marker}`], ['echo', `$(touch ${marker})`], [`sh -c 'touch ${marker}'`], [`true;touch ${marker}`]]) {
    const c = execClient(a.server.apiUrl, alice, { resource: 'box' });
    await c.ready;
    c.exec(argv);
    const e = await c.exit();
    if (argv[0] === 'echo') assert.equal(c.stdout(), `${argv[1]}\n`);
    else assert.equal(e.code, 127, 'no such program');
    c.close();
  }
  assert.equal(existsSync(marker), false, 'nothing was run by a shell');
});

test('revoking the grant cuts a running command within 1 s, tells the terminal why, and leaves no process behind', async () => {
  const g = await freshGrant('shell');
  const c = execClient(a.server.apiUrl, alice, { resource: 'box', tty: 1, cols: 100, rows: 30 });
  const id = await c.ready;
  c.exec(['/bin/sh', '-c', 'sleep 30 & echo "pids $$ $!"; wait']);
  const [, sh, sleeper] = (await until('the pids', () => /pids (\d+) (\d+)/.exec(c.stdout()) ?? undefined)).map(Number);
  assert.ok(pidAlive(sh!) && pidAlive(sleeper!));
  const t0 = Date.now();
  await a.api(bob, 'POST', `/api/v1/grants/${g}/revoke`, { reason: 'exec cut' });
  const { at } = await c.closed;
  assert.ok(at - t0 < 1000, `closed ${at - t0} ms after the revoke`);
  assert.match(c.stdout(), /\r\nairlock: session ended — .*revoked by bob: exec cut\r\n$/);
  assert.equal(c.errors[0]?.code, 'AIRLOCK_SESSION_ENDED');
  await until('the processes to be gone', () => (!pidAlive(sh!) && !pidAlive(sleeper!) ? true : undefined), 1000);
  const end = await until('session.end', async () => (await events('session.end')).find((e) => e.details.session_id === id));
  assert.match(String(end.details.reason), /revoked by bob: exec cut/);
  const seal = end.details.recording as { file: string; sha256: string };
  const body = readFileSync(join(a.dir, 'data', seal.file));
  assert.equal(createHash('sha256').update(body).digest('hex'), seal.sha256);
  assert.match(body.toString(), /session ended/, 'the recording shows the cut');
});

test('a fast command to a slow client: the output waits in the command, not in the gateway\'s memory, and all of it arrives', async () => {
  await freshGrant('shell');
  const SIZE = 100 * 1024 * 1024;
  const file = join(t1, 'big.txt');
  execFileSync('/bin/sh', ['-c', `yes 'airlock backpressure 0123456789' | head -c ${SIZE} > big.txt`], { cwd: t1 });
  const expected = createHash('sha256').update(readFileSync(file)).digest('hex');
  const servers = (a.server.app as unknown as { websocketServer: { clients: Set<{ bufferedAmount: number }> } }).websocketServer.clients;
  const ws = new WebSocket(`${a.server.apiUrl.replace(/^http/, 'ws')}/api/v1/exec?resource=box`, { headers: { authorization: `Bearer ${alice}` } });
  const hash = createHash('sha256');
  let bytes = 0;
  let exit: unknown = null;
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (binary) {
      hash.update(data);
      bytes += data.length;
      return;
    }
    const m = JSON.parse(data.toString()) as { type: string };
    // From here on the client reads nothing until resumed: what the kernel's buffers do not hold waits somewhere.
    if (m.type === 'ready') {
      ws.send(JSON.stringify({ type: 'exec', argv: ['cat', 'big.txt'] }));
      ws.pause();
    }
    if (m.type === 'exit') exit = m;
  });
  await new Promise((r) => ws.once('open', r));
  const rss0 = process.memoryUsage().rss;
  let maxBuffered = 0;
  let maxRss = 0;
  const catPid = await until('cat to start', () => {
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8') === 'cat\0big.txt\0') return Number(pid);
      } catch {
        // gone
      }
    }
    return undefined;
  });
  /** How far cat has read the file (its fd's position), or SIZE once it has ended. */
  const readPos = (): number => {
    try {
      for (const fd of readdirSync(`/proc/${catPid}/fd`)) {
        if (readlinkSync(`/proc/${catPid}/fd/${fd}`) === file) return Number(/^pos:\s+(\d+)/m.exec(readFileSync(`/proc/${catPid}/fdinfo/${fd}`, 'utf8'))![1]);
      }
    } catch {
      // ended
    }
    return SIZE;
  };
  // Until cat stops reading (blocked on its full pipe: its position unchanged for a second) or has read everything.
  let last = -1;
  let stillSince = Date.now();
  for (;;) {
    for (const c of servers) maxBuffered = Math.max(maxBuffered, c.bufferedAmount);
    maxRss = Math.max(maxRss, process.memoryUsage().rss);
    const pos = readPos();
    if (pos >= SIZE) break;
    if (pos !== last) [last, stillSince] = [pos, Date.now()];
    else if (Date.now() - stillSince > 1000) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(maxBuffered <= 2 * 1024 * 1024, `at most about 1 MiB waits in the gateway's websocket (saw ${maxBuffered} bytes)`);
  assert.ok(last < SIZE / 4, `cat is held back (it read ${last} of ${SIZE} bytes)`);
  assert.ok(maxRss - rss0 < 48 * 1024 * 1024, `the server's memory grew by ${Math.round((maxRss - rss0) / 1048576)} MiB`);
  ws.resume();
  await until('all the output and the exit', () => (exit !== null ? true : undefined), 120_000);
  assert.deepEqual(exit, { type: 'exit', code: 0, signal: null });
  assert.equal(bytes, SIZE);
  assert.equal(hash.digest('hex'), expected, 'the output arrives intact');
  ws.close();
  rmSync(file);
});

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(root, 'bin/airlock.js'), ...args], { env: { ...process.env, AIRLOCK_FROM_SOURCE: '1', AIRLOCK_SERVER: a.server.apiUrl, AIRLOCK_TOKEN: alice, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((res) => child.on('close', (code) => res({ code, stdout, stderr })));
}

test('airlock exec: the exit code passes through, --json gives exit code and output, refusals exit 3', async () => {
  await freshGrant('shell');
  const plain = await cli(['exec', 'box', '--', '/bin/sh', '-c', 'echo out; echo err >&2; exit 4']);
  assert.deepEqual([plain.code, plain.stdout, plain.stderr], [4, 'out\n', 'err\n']);
  const json = await cli(['--json', 'exec', 'box', '--target', t2, '--', 'pwd']);
  assert.equal(json.code, 0);
  const r = JSON.parse(json.stdout) as { exit_code: number; stdout: string; session_id: string };
  assert.equal(r.exit_code, 0);
  assert.equal(r.stdout, `${t2}\n`);
  assert.match(r.session_id, /^ses_/);
  const refused = await cli(['exec', 'box', '--target', '/etc', '--', 'ls']);
  assert.equal(refused.code, 3);
  assert.match(refused.stderr, /AIRLOCK_EXEC_TARGET_NOT_ALLOWED/);
});

test('airlock exec in a terminal: an interactive shell with a PTY, resize, the exit code, and the terminal restored', async () => {
  await freshGrant('shell');
  const p = pty.spawn('/bin/sh', [], {
    cols: 90, rows: 20, cwd: root,
    env: { ...process.env, AIRLOCK_FROM_SOURCE: '1', AIRLOCK_SERVER: a.server.apiUrl, AIRLOCK_TOKEN: alice, PS1: '$ ', TERM: 'xterm' } as Record<string, string>,
  });
  let seen = '';
  p.onData((d) => (seen += d));
  const exited = new Promise<number>((res) => p.onExit(({ exitCode }) => res(exitCode)));
  const wait = (re: RegExp, what: string) => until(what, () => (re.test(seen) ? true : undefined), 20_000);
  p.write(`stty -g > ${join(t1, 'before')}; node bin/airlock.js exec box; echo "airlock-exit=$?"; stty -g > ${join(t1, 'after')}; exit\r`);
  // The remote shell (sh in the target) prompts ("$ " or, as root, "# "); typed commands run there.
  await until('the remote prompt', () => (/[#$] $/.test(seen.slice(seen.indexOf('exit\r\n') + 6)) ? true : undefined), 20_000);
  p.write('echo hi$((40+2)); stty size\r');
  await wait(/hi42\r*\n20 90/, 'hi42 and the size 20 90');
  p.resize(120, 33);
  await new Promise((r) => setTimeout(r, 0));
  await until('the new size', async () => {
    p.write('stty size\r');
    await new Promise((r) => setTimeout(r, 100));
    return /33 120/.test(seen) ? true : undefined;
  }, 10_000);
  p.write('exit 7\r');
  await wait(/airlock-exit=7/, 'the exit code 7');
  assert.equal(await exited, 0);
  assert.equal(readFileSync(join(t1, 'after'), 'utf8'), readFileSync(join(t1, 'before'), 'utf8'), 'the terminal settings are restored');
});

test('client env: only LANG, LC_*, TERM, COLORTERM are ever taken, and only when the role lists them (LD_PRELOAD is not, whatever the role says)', async () => {
  await freshGrant('envy');
  const envOf = async (kv: string): Promise<string> => {
    const c = execClient(a.server.apiUrl, alice, { resource: 'box', env: kv });
    await c.ready;
    c.exec(['env']);
    assert.deepEqual(await c.exit(), { code: 0, signal: null });
    const out = c.stdout() + c.stderr();
    c.close();
    return out;
  };
  const preload = await envOf('LD_PRELOAD=/nonexistent/airlock-preload.so');
  assert.doesNotMatch(preload, /LD_PRELOAD|airlock-preload/);
  assert.doesNotMatch(await envOf('GCONV_PATH=/tmp/evil-gconv'), /GCONV_PATH|evil-gconv/);
  assert.doesNotMatch(await envOf('EXEC_TEST_MINE=listed-by-the-role'), /EXEC_TEST_MINE|listed-by-the-role/);
  assert.match(await envOf('LC_TIME=C.UTF-8'), /^LC_TIME=C\.UTF-8$/m);
});
