// The recording writer on a real data directory: the file on disk within a second, its seal matching the file, a
// late watcher getting the header and the latest output (bounded), and a seal naming a path outside recordings/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeRecordings, BACKLOG_CHARS, FLUSH_MS, type CastEvent } from '../../src/audit/recordings.js';
import { checkRecording, hashFile } from '../../src/audit/recording-verify.js';

test('written within a second, sealed with the hash of the whole file; a late watcher sees the header and the latest output', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-rec-'));
  try {
    const recordings = makeRecordings(dir);
    const rec = recordings.start({ session_id: 'ses_writer1', width: 100, height: 30, record_input: false, title: 'bash on box' });
    rec.output(Buffer.from('h\xc3', 'latin1'));
    rec.output(Buffer.from('\xa9llo\r\n', 'latin1'));
    rec.input('secret\r');
    const file = join(recordings.dir, new Date().toISOString().slice(0, 10), 'ses_writer1.cast');
    const headerOnly = statSync(file).size;
    const deadline = Date.now() + FLUSH_MS * 3;
    while (statSync(file).size === headerOnly) {
      assert.ok(Date.now() < deadline, 'the output reached the file within the flush interval');
      await new Promise((r) => setTimeout(r, 50));
    }
    // A watcher who joins now: the header, then what was shown so far (input is not recorded for this role).
    const seen: (string | CastEvent)[] = [];
    let ended = false;
    const stop = recordings.watch('ses_writer1', { header: (h) => seen.push(h), event: (e) => seen.push(e), ended: () => (ended = true) })!;
    assert.equal(JSON.parse(seen[0] as string).width, 100);
    assert.equal((seen.slice(1) as CastEvent[]).map((e) => e[2]).join(''), 'h\u00e9llo\r\n');
    // Far more output than the backlog keeps: a later watcher gets only the latest part.
    const chunk = 'x'.repeat(4096);
    for (let i = 0; i < (BACKLOG_CHARS / chunk.length) * 2; i++) rec.output(chunk);
    rec.output('THE END\r\n');
    const late: CastEvent[] = [];
    recordings.watch('ses_writer1', { header: () => {}, event: (e) => late.push(e), ended: () => {} });
    const lateChars = late.reduce((n, e) => n + e[2].length, 0);
    assert.ok(lateChars <= BACKLOG_CHARS && lateChars >= BACKLOG_CHARS / 2, `a late watcher gets the latest ${lateChars} characters`);
    assert.equal(late.at(-1)![2], 'THE END\r\n');
    const seal = await rec.close();
    assert.equal(ended, true);
    stop();
    assert.deepEqual(await rec.close(), seal, 'close is idempotent');
    assert.equal(recordings.watch('ses_writer1', { header() {}, event() {}, ended() {} }), null, 'not live once closed');
    assert.equal(seal.file, join('recordings', new Date().toISOString().slice(0, 10), 'ses_writer1.cast'));
    assert.deepEqual(await hashFile(file), { sha256: seal.sha256, bytes: seal.bytes });
    assert.equal(readFileSync(file, 'utf8').split('\n').filter(Boolean).length, seal.events + 1);
    assert.doesNotMatch(readFileSync(file, 'utf8'), /secret/);
    assert.equal(await checkRecording(dir, { session_id: 'ses_writer1', seq: 1, seal }), null);
    // A seal whose file points out of recordings/ (an edited event) is not opened.
    const outside = await checkRecording(dir, { session_id: 'ses_writer1', seq: 1, seal: { ...seal, file: '../../etc/passwd' } });
    assert.equal(outside?.problem, 'unreadable');
    assert.throws(() => recordings.path('../../etc/passwd'), /not a file under/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
