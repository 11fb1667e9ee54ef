// "The API answers only after its events are durable", at the store level: a writer process is killed (SIGKILL)
// right after it acknowledged appends; every acknowledged event must be in the store and the chain must verify.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { sql } from 'kysely';
import { openStore } from '../../src/store/store.js';
import { makeAuditLog } from '../../src/audit/audit-log.js';
import { systemClock } from '../../src/domain/clock.js';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';
import { STORE_KINDS } from '../support/harness.js';

const WRITER = join(import.meta.dirname, '../support/audit-writer.ts');
const ROUNDS = 3;

interface Ack {
  seq: number;
  n: number;
  how: 'uow' | 'batch';
}

/** The writer ACKs many times a second; this long without a line from it means it stopped acknowledging. */
const QUIET_LIMIT_MS = 20_000;
/** A run takes seconds; past this it is given up on, before the writer's own exit at 60 s would hide why. */
const RUN_LIMIT_MS = 50_000;

/**
 * Runs the writer until it has acknowledged `killAfter` appends, then SIGKILLs it; returns every ACK it printed.
 * A writer that stops acknowledging is killed too, and the run fails saying where it stood.
 */
async function runAndKill(url: string, firstN: number, killAfter: number, mode: Mode, kind: string): Promise<Ack[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', WRITER, url, String(firstN), ...(mode === 'writer thread' ? ['thread'] : [])], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const acks: Ack[] = [];
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.on('close', (code, signal) => resolve(signal ?? code)));
  let killed = false;
  const started = performance.now();
  let lastLine = started;
  let stuck: string | null = null;
  const watchdog = setInterval(() => {
    const now = performance.now();
    if (now - lastLine > QUIET_LIMIT_MS) stuck = `no line from it for ${QUIET_LIMIT_MS / 1000} s`;
    else if (now - started > RUN_LIMIT_MS) stuck = `the run went past ${RUN_LIMIT_MS / 1000} s`;
    else return;
    clearInterval(watchdog);
    child.kill('SIGKILL');
  }, 1000);
  try {
    for await (const line of createInterface({ input: child.stdout })) {
      lastLine = performance.now();
      const m = /^ACK (\S+) (\d+) (uow|batch)$/.exec(line);
      if (!m) {
        assert.equal(line, 'READY', `unexpected output from the writer: ${line}`);
        continue;
      }
      assert.notEqual(m[1], '?', `the writer did not learn the seq of n=${m[2]} before its append resolved`);
      acks.push({ seq: Number(m[1]), n: Number(m[2]), how: m[3] as Ack['how'] });
      if (!killed && acks.length >= killAfter) {
        killed = child.kill('SIGKILL');
      }
    }
  } catch (e) {
    // A writer left running with nobody reading its stdout blocks on the full pipe and keeps this file alive.
    child.kill('SIGKILL');
    throw e;
  } finally {
    clearInterval(watchdog);
  }
  const how = await exited;
  const where = `${mode}, ${kind}: ${acks.length} of ${killAfter} ACKs in ${Math.round((performance.now() - started) / 1000)} s, the last ${JSON.stringify(acks.slice(-5))}; stderr: ${stderr || '(empty)'}`;
  if (stuck) assert.fail(`the writer stopped acknowledging (${stuck}) and was killed; ${where}`);
  assert.ok(killed, `the writer ended before it was killed (${String(how)}); ${where}`);
  assert.equal(how, 'SIGKILL', stderr);
  return acks;
}

/** Where the batched appends commit: on the writer process's main thread, or on its audit writer thread (the server's way). */
type Mode = 'main thread' | 'writer thread';

for (const kind of STORE_KINDS) for (const mode of ['main thread', 'writer thread'] as Mode[]) {
  describe(`audit durability on ${kind}, batches committed on the ${mode}`, () => {
    let url: string;
    let dir: string | undefined;
    let pgdb: TestDatabase | undefined;
    before(async () => {
      if (kind === 'sqlite') {
        dir = mkdtempSync(join(tmpdir(), 'airlock-durability-'));
        url = join(dir, 'airlock.db');
      } else {
        pgdb = await createTestDatabase('airlock_durability');
        url = pgdb.url;
      }
    });
    after(async () => {
      if (dir) rmSync(dir, { recursive: true, force: true });
      await pgdb?.drop();
    });

    test('every acknowledged event survives a SIGKILL of the writer, and the chain verifies after each crash', async () => {
      const all: Ack[] = [];
      let firstN = 0;
      for (let round = 0; round < ROUNDS; round++) {
        // Kill at a different point each round, while 16 appends are in flight.
        const acks = await runAndKill(url, firstN, 150 + round * 97, mode, kind);
        firstN += 1_000_000;
        all.push(...acks);
        assert.ok(acks.some((a) => a.how === 'uow') && acks.some((a) => a.how === 'batch'), 'both ways of appending were acknowledged');

        const store = await openStore({ url });
        try {
          const audit = makeAuditLog({ store, clock: systemClock });
          const v = await audit.verify();
          assert.equal(v.ok, true, `round ${round}: ${v.reason}`);
          const bySeq = new Map<number, { n: number; action: string }>();
          for await (const e of audit.events()) bySeq.set(e.seq, { n: Number(e.details.n), action: e.action });
          for (const a of all) {
            const e = bySeq.get(a.seq);
            assert.ok(e, `round ${round}: acknowledged event seq ${a.seq} (n=${a.n}, ${a.how}) is not in the store`);
            assert.equal(e.n, a.n, `seq ${a.seq} holds another event`);
            assert.equal(e.action, a.how === 'uow' ? 'test.change' : 'test.hot');
          }
          // The state change of each acknowledged unit of work committed with its event.
          const uowKeys = all.filter((a) => a.how === 'uow').map((a) => `durability:${a.n}`);
          const rows = await store.db.selectFrom('meta').select('key').where('key', 'in', uowKeys).execute();
          assert.equal(rows.length, uowKeys.length, 'every acknowledged change is in the store');
          // And nothing half-done: each committed change has its event, and each event its change.
          const changes = await store.db.selectFrom('meta').select('value').where('key', 'like', 'durability:%').execute();
          const changeEvents = [...bySeq.values()].filter((e) => e.action === 'test.change').map((e) => e.n);
          assert.deepEqual(changes.map((r) => Number(r.value)).sort((a, b) => a - b), changeEvents.sort((a, b) => a - b));
          assert.equal(v.head.seq, Math.max(...bySeq.keys()));

          if (kind === 'sqlite') {
            // What makes "committed" mean "on disk": WAL with synchronous=FULL (2), fsync at every commit.
            const mode = await sql<{ journal_mode: string }>`PRAGMA journal_mode`.execute(store.db);
            const sync = await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(store.db);
            assert.equal(mode.rows[0]?.journal_mode, 'wal');
            assert.equal(sync.rows[0]?.synchronous, 2);
          }
        } finally {
          await store.close();
        }
      }
    });
  });
}
