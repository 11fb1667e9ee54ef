// The SFTP audit's packet reader (src/gateway/ssh/sftp-audit.ts) on a real conversation: the OpenSSH `sftp` client
// talking to the real `sftp-server` (sftp -D, no ssh in between) through a small relay that writes down each chunk of
// each direction in the order it passed. The audited transfers must be the same however the bytes are cut into chunks
// (at every byte offset, byte by byte, and at random with fast-check); a packet the audit cannot read (too short, too
// long, a path that does not fit) throws SftpMalformed, never anything else, and the reader stays failed after it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { makeSftpAudit, MAX_PACKET, SftpMalformed, type SftpEvent } from '../../src/gateway/ssh/sftp-audit.js';

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

/** What the audit says of the conversation, fed chunk by chunk as given. */
function audit(chunks: Chunk[]): SftpEvent[] {
  const events: SftpEvent[] = [];
  const a = makeSftpAudit((e) => events.push(e));
  for (const c of chunks) a[c.from](c.bytes);
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
    { op: 'link', path: `${dir}/hard`, to: `${dir}/small.bin` },
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

/** Feeds `bytes` to one side; returns the error thrown (null if none). */
function feed(side: 'client' | 'server', bytes: Buffer, a = makeSftpAudit(() => {})): unknown {
  try {
    a[side](bytes);
    return null;
  } catch (e) {
    return e;
  }
}

test('a packet shorter than a type and an id, or longer than OpenSSH allows, ends the reader', () => {
  for (const side of ['client', 'server'] as const) {
    for (const bytes of [u32(0), Buffer.concat([u32(3), Buffer.from([OPEN, 0, 0])]), u32(MAX_PACKET + 1), u32(0xffffffff)]) {
      const a = makeSftpAudit(() => assert.fail('no event from a malformed packet'));
      const err = feed(side, bytes, a);
      assert.ok(err instanceof SftpMalformed, `${side} ${bytes.toString('hex')}: ${String(err)}`);
      // Failed for good: a valid packet after it is not read either.
      assert.ok(feed(side, packet(OPEN, u32(1), sstr('/etc/hosts'), u32(1), u32(0)), a) instanceof SftpMalformed);
    }
  }
  // The longest packet OpenSSH accepts is read (a WRITE of MAX_PACKET bytes, its data skipped).
  const header = Buffer.concat([Buffer.from([WRITE]), u32(7), sstr('h'), Buffer.alloc(8)]);
  const data = Buffer.alloc(MAX_PACKET - header.length - 4);
  assert.equal(feed('client', Buffer.concat([u32(MAX_PACKET), header, u32(data.length), data])), null);
});

test('a request whose path does not fit in it (or in the head the audit reads) ends the reader, not the process', () => {
  const cases: [string, 'client' | 'server', Buffer][] = [
    ['OPEN whose path runs past the packet', 'client', packet(OPEN, u32(1), u32(500), Buffer.from('/etc/hosts'))],
    ['OPEN without its flags', 'client', packet(OPEN, u32(1), sstr('/etc/hosts'))],
    ['OPEN with a 9000-byte path', 'client', packet(OPEN, u32(1), sstr('/'.repeat(9000)), u32(2), u32(0))],
    ['RENAME without its new name', 'client', packet(18, u32(1), sstr('/a'))],
    ['REMOVE with no path', 'client', packet(13, u32(1))],
    ['posix-rename@openssh.com without its new name', 'client', packet(200, u32(1), sstr('posix-rename@openssh.com'), sstr('/a'))],
    ['EXTENDED whose name runs past the packet', 'client', packet(200, u32(1), u32(40), Buffer.from('posix'))],
    ['HANDLE whose handle runs past the packet', 'server', packet(HANDLE, u32(1), u32(64), Buffer.from('h'))],
  ];
  for (const [what, side, bytes] of cases) assert.ok(feed(side, bytes) instanceof SftpMalformed, what);
  // Requests the audit does not read are passed over, whatever their body.
  assert.equal(feed('client', packet(210, u32(1), Buffer.from('anything'))), null);
  assert.equal(feed('client', packet(200, u32(1), sstr('statvfs@openssh.com'), sstr('/'))), null);
  assert.equal(feed('client', packet(17 /* STAT */, u32(1), u32(99))), null);
});

test('random bytes (fast-check) either read or throw SftpMalformed, never another error', () => {
  fc.assert(
    fc.property(fc.constantFrom('client' as const, 'server' as const), fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }), (side, chunks) => {
      const a = makeSftpAudit(() => {});
      for (const c of chunks) {
        const err = feed(side, Buffer.from(c), a);
        if (err !== null) assert.ok(err instanceof SftpMalformed, String(err));
      }
      a.end();
    }),
    { numRuns: 2000 },
  );
});
