// The real CLI on recorded sessions: `airlock recordings`, `airlock replay` (at the recorded pace, idle gaps cut),
// `replay --raw` played by Debian's `asciinema play` in a terminal, `sessions watch` on a live session, and
// `audit verify --recordings` (through the server and offline) naming each tampered recording.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, truncateSync, rmSync, copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, BIN } from '../support/server-process.js';
import { startRecordingsAirlock, type RecordingsAirlock } from '../integration/recordings-harness.js';

describe('recordings from the command line', () => {
  let a: RecordingsAirlock;
  let server: { url: string };
  let paused: { id: string };
  let pod: { id: string };
  const work = mkdtempSync(join(tmpdir(), 'airlock-replay-'));
  before(async () => {
    a = await startRecordingsAirlock();
    server = { url: a.server.apiUrl };
    // A real 2.5 s pause in the middle, which replay cuts.
    paused = await a.record('alice', 'bastion', [[0, '$ make deploy\r\n'], [2500, 'deployed \u2714 payments v42\r\n']]);
    pod = await a.record('alice', 'payments-pod', [[0, 'api-0$ hostname\r\napi-0\r\n']]);
  });
  after(async () => {
    await a?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  test('airlock recordings lists them with principal, resource, protocol, start time with its zone, duration, size and events', async () => {
    const r = await cli(server, a.tokens.alice, ['recordings']);
    assert.equal(r.code, 0, r.stderr);
    const [head, ...rows] = r.stdout.trim().split('\n');
    assert.match(head!, /^SESSION\s+PRINCIPAL\s+RESOURCE\s+PROTOCOL\s+STARTED\s+DURATION\s+SIZE\s+EVENTS$/);
    const line = rows.find((l) => l.startsWith(paused.id))!;
    assert.ok(line, r.stdout);
    assert.match(line, /alice\s+bastion\s+ssh\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]{2,5}[+-]?\d* \(.* ago\)\s+[23]s\s+\d+ B\s+2$/);
    assert.match(r.stdout, new RegExp(`${pod.id}\\s+alice\\s+payments-pod\\s+exec`));
    const j = await cli(server, a.tokens.sec, ['recordings', '--resource', 'payments-pod', '--json']);
    assert.deepEqual(j.json().map((x: { session_id: string }) => x.session_id), [pod.id]);
    const refused = await cli(server, a.tokens.eve, ['recordings', '--principal', 'alice']);
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /Only admins and auditors can see other people's sessions/);
  });

  test('airlock replay plays the output at its pace with long pauses cut, and says so; --speed plays faster', async () => {
    // The pause as the viewer sees it: from the first output to the line after the pause (node's start-up, which
    // varies with the machine's load, is not part of it).
    const replay = async (args: string[]) => {
      let first = -1;
      let after = -1;
      const r = await cli(server, a.tokens.alice, ['replay', paused.id, ...args], {
        onStdout: (chunk) => {
          const now = performance.now();
          if (first < 0) first = now;
          if (after < 0 && chunk.includes('deployed')) after = now;
        },
      });
      return { r, pause: after - first };
    };
    const cut = await replay(['--idle-limit', '0.3']);
    assert.equal(cut.r.code, 0, cut.r.stderr);
    assert.equal(cut.r.stdout, '$ make deploy\r\ndeployed \u2714 payments v42\r\n');
    assert.match(cut.r.stderr, /pauses longer than 0.3 s are cut to 0.3 s/);
    // The 2.5 s pause plays as 0.3 s with --idle-limit 0.3, and as 2 s with the default limit.
    const slow = await replay([]);
    assert.equal(slow.r.code, 0, slow.r.stderr);
    assert.ok(cut.pause >= 250, `the cut pause still plays (${Math.round(cut.pause)} ms)`);
    assert.ok(slow.pause >= 1900, `the default limit (2 s) plays the 2.5 s pause as 2 s: ${Math.round(slow.pause)} ms`);
    assert.ok(slow.pause - cut.pause >= 1400, `the default limit plays the pause longer than 0.3 s: ${Math.round(slow.pause)} ms vs ${Math.round(cut.pause)} ms`);
    const slowOut = slow.r;
    const fast = await cli(server, a.tokens.alice, ['replay', paused.id, '--speed', '20']);
    assert.equal(fast.stdout, slowOut.stdout);
    const other = await cli(server, a.tokens.eve, ['replay', paused.id]);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /There is no session .* that you can see. \[AIRLOCK_NOT_FOUND\]/);
  });

  test('replay --raw writes the sealed asciicast file, which asciinema play accepts and plays in a terminal', async () => {
    const r = await cli(server, a.tokens.alice, ['replay', paused.id, '--raw']);
    assert.equal(r.code, 0, r.stderr);
    const file = join(work, 'session.cast');
    writeFileSync(file, r.stdout);
    const listed = (await cli(server, a.tokens.alice, ['recordings', '--json'])).json().find((x: { session_id: string }) => x.session_id === paused.id);
    assert.equal(Buffer.byteLength(r.stdout), listed.bytes, 'the file as sealed, byte for byte');
    // asciinema play needs a terminal: `script` gives it one, and copies what it printed to its own stdout.
    const out = execFileSync('script', ['-qec', `asciinema play -i 0.1 ${file}`, '/dev/null'], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, TERM: 'xterm' } });
    assert.match(out, /\$ make deploy/);
    assert.match(out, /deployed \u2714 payments v42/);
  });

  test('sessions watch follows a live session until it ends', async () => {
    const live = await a.open('alice', 'bastion', 'htop');
    live.recording.output('already on screen\r\n');
    const child = spawn(process.execPath, [BIN, 'sessions', 'watch', live.session.id], { env: { ...process.env, AIRLOCK_SERVER: server.url, AIRLOCK_TOKEN: a.tokens.sec, AIRLOCK_CONFIG_DIR: join(work, 'none') } });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    const until = async (pred: () => boolean, what: string) => {
      const deadline = Date.now() + 15_000;
      while (!pred()) {
        if (Date.now() > deadline) assert.fail(`${what}; stdout: ${out}; stderr: ${err}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    await until(() => out.includes('already on screen'), 'the watcher did not show what was on screen');
    live.recording.output('top - 10:01:02 up 3 days\r\n');
    await until(() => out.includes('top - 10:01:02 up 3 days'), 'the watcher did not show new output');
    await live.end();
    assert.equal(await exited, 0, err);
    assert.match(err, /stopped watching .*: the session ended/);
  });

  test('audit verify --recordings, through the server and offline, names each edited, truncated or deleted recording and exits 1', async () => {
    const ok = await cli(server, a.tokens.sec, ['audit', 'verify', '--recordings']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /chain intact/);
    assert.match(ok.stdout, /recordings ok: \d+ sealed recording\(s\) match their seals/);
    const dataDir = join(a.dir, 'data');
    const list = (await cli(server, a.tokens.sec, ['recordings', '--json'])).json() as { session_id: string; file: string }[];
    const fileOf = (id: string) => join(dataDir, list.find((x) => x.session_id === id)!.file);
    const third = await a.record('eve', 'bastion', [[0, 'eve$ id\r\n']]);
    const edited = fileOf(paused.id);
    const truncated = fileOf(pod.id);
    const deleted = join(dataDir, (await a.api<{ recordings: { session_id: string; file: string }[] }>(a.tokens.sec, 'GET', '/api/v1/recordings')).recordings.find((x) => x.session_id === third.id)!.file);
    for (const f of [edited, truncated]) copyFileSync(f, `${f}.orig`);
    try {
      const b = readFileSync(edited);
      b[b.indexOf('v42') + 2] = '3'.charCodeAt(0);
      writeFileSync(edited, b);
      truncateSync(truncated, 20);
      rmSync(deleted);
      for (const args of [['audit', 'verify', '--recordings'], ['audit', 'verify', '--recordings', '--data', dataDir]]) {
        const r = await cli(server, a.tokens.sec, args, { env: { AIRLOCK_STORE_URL: '' } });
        assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /chain intact/);
        assert.match(r.stdout, /RECORDINGS BROKEN: 3 of \d+ sealed recording\(s\) fail their seal/);
        assert.match(r.stdout, new RegExp(`edited\\s+${paused.id}\\s+.*does not match its sealed SHA-256`));
        assert.match(r.stdout, new RegExp(`truncated\\s+${pod.id}\\s+.*is 20 bytes, shorter than the \\d+ sealed`));
        assert.match(r.stdout, new RegExp(`missing\\s+${third.id}\\s+.*is missing`));
        const j = await cli(server, a.tokens.sec, [...args, '--json'], { env: { AIRLOCK_STORE_URL: '' } });
        assert.equal(j.code, 1);
        const v = j.json();
        assert.equal(v.ok, false);
        assert.equal(v.first_bad_seq, undefined);
        assert.deepEqual(v.recordings.problems.map((p: { problem: string }) => p.problem).sort(), ['edited', 'missing', 'truncated']);
      }
      const usage = await cli(server, a.tokens.sec, ['audit', 'verify', '--recordings', '--file', join(work, 'none.jsonl')]);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /add --data DIR/);
    } finally {
      for (const f of [edited, truncated]) {
        copyFileSync(`${f}.orig`, f);
        rmSync(`${f}.orig`);
      }
    }
  });
});
