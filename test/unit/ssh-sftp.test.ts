// The SFTP audit's packet reader (src/gateway/ssh/sftp-audit.ts) on a real conversation: the OpenSSH `sftp` client
// talking to the real `sftp-server` (sftp -D, no ssh in between) through a small relay that writes down each chunk of
// each direction in the order it passed. The audited transfers must be the same however the bytes are cut into chunks
// (at every byte offset, byte by byte, and at random with fast-check), and every client chunk of it is passed on. A
// client packet the audit cannot read (too short, longer than OpenSSH accepts, a path or handle that does not fit)
// gets a reason, at once and never a throw, so the gateway ends the channel without passing it on; the reader stays
// failed after it. The host's bytes are read, never refused, and never throw either.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { makeSftpAudit, MAX_PACKET, type SftpEvent } from '../../src/gateway/ssh/sftp-audit.js';

const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

type Chunk = { from: 'client' | 'server'; bytes: Buffer };

// The relay sftp -D runs as its "server": it starts sftp-server and passes both directions on, writing each chunk to
// the log as it passes, so the log holds the conversation in an order the gateway could have seen it in.
const RELAY = `
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
const log = process.env.SFTP_RELAY_LOG;
const server = spawn(${JSON.stringify(SFTP_SERVER)}, [], { stdio: ['pipe', 'pipe', 'inherit'] });
process.stdin.on('data', (d) => { appendFileSync(log, 'c ' + d.toString('base64') + '\\n'); server.stdin.write(d); });
process.stdin.on('end', () => server.stdin.end());
server.stdout.on('data', (d) => { appendFileSync(log, 's ' + d.toString('base64') + '\\n'); process.stdout.write(d); });
server.on('exit', (code) => process.exit(code ?? 1));
`;

let dir: string;

/** Runs `batch` with the real sftp client against the real sftp-server (in `dir`); returns the conversation. */
function converse(name: string, batch: string[]): Chunk[] {
  const log = join(dir, `${name}.log`);
  writeFileSync(log, '');
  writeFileSync(join(dir, `${name}.batch`), batch.join('\n') + '\n');
  execFileSync('sftp', ['-q', '-b', join(dir, `${name}.batch`), '-D', `${process.execPath} ${join(dir, 'relay.mjs')}`], { cwd: dir, env: { ...process.env, SFTP_RELAY_LOG: log }, stdio: ['ignore', 'ignore', 'pipe'] });
  return readFileSync(log, 'utf8').trim().split('\n').map((l) => ({ from: l[0] === 'c' ? 'client' : 'server', bytes: Buffer.from(l.slice(2), 'base64') }));
}

/** What the audit says of the conversation, fed chunk by chunk as given; every client chunk must be passed on. */
function audit(chunks: Chunk[]): SftpEvent[] {
  const events: SftpEvent[] = [];
  const a = makeSftpAudit((e) => events.push(e));
  for (const c of chunks) {
    if (c.from === 'server') a.server(c.bytes);
    else assert.equal(a.client(c.bytes), null, 'a chunk of a real sftp conversation is passed on');
  }
  a.end();
  return events;
}

/** The conversation with each chunk cut where `cuts(chunk index, length)` says (offsets inside the chunk). */
function recut(chunks: Chunk[], cuts: (i: number, length: number) => number[]): Chunk[] {
  return chunks.flatMap((c, i) => {
    const at = [...new Set(cuts(i, c.bytes.length).filter((x) => x > 0 && x < c.bytes.length))].sort((x, y) => x - y);
    const out: Chunk[] = [];
    let from = 0;
    for (const x of [...at, c.bytes.length]) {
      out.push({ from: c.from, bytes: c.bytes.subarray(from, x) });
      from = x;
    }
    return out;
  });
}

let small: Chunk[];
let large: Chunk[];
let smallExpected: SftpEvent[];
let largeExpected: SftpEvent[];

before(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'airlock-sftp-unit-')));
  writeFileSync(join(dir, 'relay.mjs'), RELAY);
  writeFileSync(join(dir, 'small.bin'), randomBytes(3000));
  writeFileSync(join(dir, 'large.bin'), randomBytes(100_000)); // several 32 KiB WRITEs and READs
  small = converse('small', ['put small.bin up-small.bin', 'get up-small.bin down-small.bin', 'mkdir newdir', 'rename up-small.bin newdir/moved.bin', 'rm newdir/moved.bin', 'rmdir newdir', 'symlink small.bin sym', 'ln small.bin hard', 'ls']);
  large = converse('large', ['put large.bin up-large.bin', 'get up-large.bin down-large.bin', 'rm up-large.bin']);
  smallExpected = [
    { op: 'upload', path: `${dir}/up-small.bin`, bytes: 3000 },
    { op: 'download', path: `${dir}/up-small.bin`, bytes: 3000 },
    { op: 'mkdir', path: `${dir}/newdir` },
    { op: 'rename', path: `${dir}/up-small.bin`, to: `${dir}/newdir/moved.bin` },
    { op: 'remove', path: `${dir}/newdir/moved.bin` },
    { op: 'rmdir', path: `${dir}/newdir` },
    { op: 'symlink', path: `${dir}/sym`, to: 'small.bin' }, // the target as typed: a link's target is not resolved
    { op: 'hardlink', path: `${dir}/small.bin`, to: `${dir}/hard` }, // hardlink@openssh.com: the existing file, then the new name
  ];
  largeExpected = [
    { op: 'upload', path: `${dir}/up-large.bin`, bytes: 100_000 },
    { op: 'download', path: `${dir}/up-large.bin`, bytes: 100_000 },
    { op: 'remove', path: `${dir}/up-large.bin` },
  ];
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a real sftp conversation, as it passed, is audited file by file with its bytes', () => {
  assert.deepEqual(readFileSync(join(dir, 'down-small.bin')), readFileSync(join(dir, 'small.bin')), 'the transfer itself worked');
  assert.deepEqual(audit(small), smallExpected);
  assert.deepEqual(audit(large), largeExpected);
  assert.ok(large.filter((c) => c.from === 'client').length > 3, 'the large upload went in several chunks');
});

test('split at every byte offset (and byte by byte), the audit is the same', () => {
  const total = small.reduce((n, c) => n + c.bytes.length, 0);
  let at = 0;
  for (const [i, c] of small.entries()) {
    for (let k = 1; k < c.bytes.length; k++) {
      assert.deepEqual(audit(recut(small, (j) => (j === i ? [k] : []))), smallExpected, `split at byte ${at + k} of ${total}`);
    }
    at += c.bytes.length;
  }
  const bytewise = (chunks: Chunk[]) => recut(chunks, (_i, n) => Array.from({ length: n }, (_, x) => x));
  assert.deepEqual(audit(bytewise(small)), smallExpected);
  assert.deepEqual(audit(bytewise(large)), largeExpected);
  // All of each direction in one chunk each, still in an order the gateway could see: runs of one side merged.
  const merged: Chunk[] = [];
  for (const c of large) {
    const last = merged.at(-1);
    if (last && last.from === c.from) last.bytes = Buffer.concat([last.bytes, c.bytes]);
    else merged.push({ ...c });
  }
  assert.deepEqual(audit(merged), largeExpected);
});

test('random splits (fast-check) give the same audit', () => {
  for (const [conv, expected] of [[small, smallExpected], [large, largeExpected]] as const) {
    fc.assert(
      fc.property(fc.array(fc.array(fc.nat({ max: 40_000 }), { maxLength: 12 }), { minLength: conv.length, maxLength: conv.length }), (cuts) => {
        assert.deepEqual(audit(recut(conv, (i) => cuts[i] ?? [])), expected);
      }),
      { numRuns: 200 },
    );
  }
});

// ── malformed and oversized packets ───────────────────────────────────────────────────────────────────────────

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const sstr = (s: string | Buffer) => Buffer.concat([u32(Buffer.byteLength(s)), Buffer.from(s)]);
const packet = (type: number, ...parts: Buffer[]) => {
  const body = Buffer.concat([Buffer.from([type]), ...parts]);
  return Buffer.concat([u32(body.length), body]);
};
const OPEN = 3;
const WRITE = 6;
const HANDLE = 102;

const STAT = 17;
const RENAME = 18;
const EXTENDED = 200;
const validOpen = () => packet(OPEN, u32(1), sstr('/etc/hosts'), u32(1), u32(0));

/** Feeds `bytes` from the client: the reason it is refused, or null if passed on. A throw fails the test. */
function fromClient(bytes: Buffer, a = makeSftpAudit(() => {})): string | null {
  const why = a.client(bytes);
  assert.ok(why === null || (typeof why === 'string' && why.length > 0), `client() answers null or a reason, not ${String(why)}`);
  return why;
}

test('a client packet shorter than a type and an id, or longer than OpenSSH accepts, is refused at once', () => {
  const bad: [string, Buffer][] = [
    ['length 0', u32(0)],
    ['length 3 (OPEN without its id)', Buffer.concat([u32(3), Buffer.from([OPEN, 0, 0])])],
    ['length 4', Buffer.concat([u32(4), Buffer.from([OPEN, 0, 0, 0])])],
    ['one byte over MAX_PACKET', u32(MAX_PACKET + 1)],
    ['4 GiB', u32(0xffffffff)],
  ];
  for (const [what, bytes] of bad) {
    const a = makeSftpAudit(() => assert.fail('no event from a malformed packet'));
    const why = fromClient(bytes, a);
    assert.ok(why !== null, `${what}: refused`);
    assert.match(why, /^an SFTP packet of \d+ bytes, (shorter|longer) than /, what);
    // Failed for good: a valid packet after it is refused too, with the same reason.
    assert.equal(fromClient(validOpen(), a), why, `${what}: stays refused`);
  }
  // The length prefix alone decides: nothing of a too-long packet is waited for (or kept), even a byte at a time.
  const a = makeSftpAudit(() => {});
  const prefix = u32(64 * 1024 * 1024);
  for (let k = 0; k < 3; k++) assert.equal(fromClient(prefix.subarray(k, k + 1), a), null, `byte ${k} of the length`);
  assert.match(fromClient(prefix.subarray(3), a) ?? '', /^an SFTP packet of 67108864 bytes, longer than the 262144 OpenSSH accepts$/);
  // A good packet and a bad one in the same chunk: the chunk is refused (the gateway passes none of it on).
  const init = packet(1, u32(3));
  assert.equal(fromClient(init), null);
  assert.ok(fromClient(Buffer.concat([init, u32(MAX_PACKET + 1)])) !== null);
  // The longest packet OpenSSH accepts is read (a WRITE of MAX_PACKET bytes, its data skipped).
  const header = Buffer.concat([Buffer.from([WRITE]), u32(7), sstr('h'), Buffer.alloc(8)]);
  const data = Buffer.alloc(MAX_PACKET - header.length - 4);
  assert.equal(fromClient(Buffer.concat([u32(MAX_PACKET), header, u32(data.length), data])), null);
});

test('a client request whose path or handle does not fit in it (or in the head the audit reads) is refused', () => {
  const cases: [string, Buffer][] = [
    ['OPEN whose path runs past the packet', packet(OPEN, u32(1), u32(500), Buffer.from('/etc/hosts'))],
    ['OPEN without its flags', packet(OPEN, u32(1), sstr('/etc/hosts'))],
    ['OPEN with a 9000-byte path', packet(OPEN, u32(1), sstr('/'.repeat(9000)), u32(2), u32(0))],
    ['WRITE whose handle runs past the packet', packet(WRITE, u32(1), u32(64), Buffer.from('h'))],
    ['WRITE without its offset and data', packet(WRITE, u32(1), sstr('h'))],
    ['CLOSE with no handle', packet(4, u32(1))],
    ['RENAME without its new name', packet(RENAME, u32(1), sstr('/a'))],
    ['REMOVE with no path', packet(13, u32(1))],
    ['STAT whose path runs past the packet', packet(STAT, u32(1), u32(99))],
    ['posix-rename@openssh.com without its new name', packet(EXTENDED, u32(1), sstr('posix-rename@openssh.com'), sstr('/a'))],
    ['hardlink@openssh.com whose new name runs past the packet', packet(EXTENDED, u32(1), sstr('hardlink@openssh.com'), sstr('/a'), u32(40), Buffer.from('/b'))],
    ['EXTENDED whose name runs past the packet', packet(EXTENDED, u32(1), u32(40), Buffer.from('posix'))],
    ['an unknown request type', packet(210, u32(1), Buffer.from('anything'))],
  ];
  for (const [what, bytes] of cases) {
    const a = makeSftpAudit(() => assert.fail(`no event from ${what}`));
    assert.ok(fromClient(bytes, a) !== null, what);
    a.end();
  }
  // What the audit can read, and passes on: a read-only extension, a well-formed STAT.
  assert.equal(fromClient(packet(EXTENDED, u32(1), sstr('statvfs@openssh.com'), sstr('/'))), null);
  assert.equal(fromClient(packet(STAT, u32(1), sstr('/etc'))), null);
});

test("the host's replies are read, never refused: a HANDLE whose handle runs past its packet books no file", () => {
  const events: SftpEvent[] = [];
  const a = makeSftpAudit((e) => events.push(e));
  assert.equal(fromClient(validOpen(), a), null);
  for (const bytes of [packet(HANDLE, u32(1), u32(64), Buffer.from('h')), u32(0), u32(3), u32(0xffffffff)]) a.server(bytes);
  assert.equal(fromClient(packet(4 /* CLOSE */, u32(2), sstr('h')), a), null);
  a.end();
  assert.deepEqual(events, []);
});

test("random bytes (fast-check) from either side never throw; the client's, once refused, stay refused", () => {
  const side = fc.constantFrom('client' as const, 'server' as const);
  // Random bytes, and length prefixes near the edges (0 to 16, around MAX_PACKET) that random bytes rarely make.
  const chunk = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.oneof(fc.nat({ max: 16 }), fc.integer({ min: MAX_PACKET - 2, max: MAX_PACKET + 2 })).map((n) => new Uint8Array(u32(n))));
  fc.assert(
    fc.property(fc.array(fc.tuple(side, chunk), { maxLength: 12 }), (chunks) => {
      const a = makeSftpAudit(() => {});
      let refused: string | null = null;
      for (const [from, bytes] of chunks) {
        if (from === 'server') {
          a.server(Buffer.from(bytes));
          continue;
        }
        const why = fromClient(Buffer.from(bytes), a);
        if (refused !== null) assert.equal(why, refused, 'a refused reader stays refused');
        refused = why;
      }
      a.end();
    }),
    { numRuns: 2000 },
  );
});
