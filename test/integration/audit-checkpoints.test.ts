// Signed checkpoints of the audit chain on both stores: written every N events or T seconds, verified with only the
// public key, and a rewrite of the store that recomputes the whole chain (invisible to the hash chain) is named at
// the first checkpoint that no longer matches; rotation, forged signatures, the file sink, and the real CLI.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { openTestStore, STORE_KINDS, type StoreKind } from '../support/harness.js';
import { attackerHash, readAll, rewriteChain } from '../support/audit-rewrite.js';
import { startServerProcess, cli } from '../support/server-process.js';
import { E2E_POLICY } from '../support/policies.js';
import { makeAuditLog, type AuditLog } from '../../src/audit/audit-log.js';
import { eventHash } from '../../src/audit/chain.js';
import { loadCheckpointKey, keyIdOf, publicKeyPath, type CheckpointKey } from '../../src/audit/checkpoint-key.js';
import { makeCheckpoints, type Checkpoints } from '../../src/audit/checkpoints.js';
import { parseCheckpointSink } from '../../src/audit/checkpoint-sinks.js';
import { checkpointMessage, verifyWithCheckpoints, type CheckpointDetails } from '../../src/audit/checkpoint-verify.js';
import { manualClock } from '../../src/domain/clock.js';
import type { Store } from '../../src/store/store.js';
import type { AuditEvent } from '../../src/domain/model.js';

const EVERY = 10;

interface Setup {
  store: Store;
  audit: AuditLog;
  clock: ReturnType<typeof manualClock>;
  key: CheckpointKey;
  checkpoints: Checkpoints;
  sinkFile: string;
  dir: string;
  cleanup(): Promise<void>;
}

async function setup(kind: StoreKind): Promise<Setup> {
  const { store, cleanup } = await openTestStore(kind);
  const dir = mkdtempSync(join(tmpdir(), 'airlock-ckpt-'));
  const clock = manualClock('2026-03-02T10:00:00.000Z');
  const audit = makeAuditLog({ store, clock });
  const key = loadCheckpointKey({ dataDir: dir });
  const sinkFile = join(dir, 'sink', 'checkpoints.jsonl');
  mkdirSync(join(dir, 'sink'));
  const checkpoints = makeCheckpoints({ store, clock, audit, key }, { every: EVERY, intervalS: 60, sink: parseCheckpointSink(`file:${sinkFile}`) });
  return { store, audit, clock, key, checkpoints, sinkFile, dir, cleanup: async () => { await cleanup(); rmSync(dir, { recursive: true, force: true }); } };
}

/** Appends `n` events one by one, as the server's tick would look after each, and returns the checkpoints written. */
async function appendAndCheck(s: Setup, n: number, from = 0): Promise<number[]> {
  const written: number[] = [];
  for (let i = 0; i < n; i++) {
    s.clock.advance(1000);
    await s.store.transaction((trx) => s.audit.appendInTx(trx, [{ actor: 'alice', action: 'grant.activate', target: 'prod-orders', details: { grant_id: `gr_${from + i}`, note: 'Grüße ✓' } }]));
    const cp = await s.checkpoints.check();
    if (cp) written.push(cp.seq);
  }
  return written;
}

async function verifyWithKey(s: Setup, pem = s.key.publicPem) {
  return verifyWithCheckpoints(s.audit.events(), pem, { expectHead: await s.audit.head() });
}

async function withSetup(kind: StoreKind, fn: (s: Setup) => Promise<void>): Promise<void> {
  const s = await setup(kind);
  try {
    await fn(s);
  } finally {
    await s.cleanup();
  }
}

for (const kind of STORE_KINDS) {
  describe(`signed audit checkpoints on ${kind}`, () => {
    test('a checkpoint every N events and after T seconds (only when events came), each an ordinary chained event, each sent to the file sink', async () => {
      await withSetup(kind, async (s) => {
        // Every EVERY events, counted from the start for the first one.
        const seqs = await appendAndCheck(s, 35);
        assert.deepEqual(seqs, [11, 22, 33]);
        const events = await readAll(s.store);
        for (const seq of seqs) {
          const e = events[seq - 1]!;
          const d = e.details as unknown as CheckpointDetails;
          assert.equal(e.action, 'audit.checkpoint');
          assert.deepEqual({ covers_seq: d.covers_seq, covers_hash: d.covers_hash, algorithm: d.algorithm, key_id: d.key_id }, { covers_seq: seq - 1, covers_hash: events[seq - 2]!.hash, algorithm: 'ed25519', key_id: s.key.keyId });
          assert.equal(eventHash(e), e.hash, 'a checkpoint is hashed into the chain like any event');
        }
        // T seconds: not before, and not without new events.
        await appendAndCheck(s, 2);
        s.clock.advance(50_000);
        assert.equal(await s.checkpoints.check(), null, 'the interval has not passed');
        s.clock.advance(10_000);
        const timed = await s.checkpoints.check();
        assert.ok(timed, 'a checkpoint after the interval');
        s.clock.advance(3600_000);
        assert.equal(await s.checkpoints.check(), null, 'no checkpoint when no event came');
        const sunk = readFileSync(s.sinkFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; signature: string });
        assert.deepEqual(sunk.map((x) => x.seq), [...seqs, timed.seq]);
        assert.deepEqual((await s.checkpoints.list()).map((c) => [c.seq, c.sink]), sunk.map((x) => [x.seq, 'delivered']));
        // The generated key: 0600, the public key beside it.
        assert.equal(statSync(s.key.path).mode & 0o777, 0o600);
        assert.equal(readFileSync(publicKeyPath(s.key.path), 'utf8'), s.key.publicPem);
        const v = await verifyWithKey(s);
        assert.equal(v.ok, true, v.reason);
        assert.deepEqual({ valid: v.checkpoints.valid, checked: v.checkpoints.checked, vouched: v.checkpoints.last_vouched_seq }, { valid: 4, checked: 4, vouched: timed.seq - 1 });
      });
    });

    test('deleting a checkpoint event breaks the chain like any deletion', async () => {
      await withSetup(kind, async (s) => {
        await appendAndCheck(s, 20);
        assert.equal((await readAll(s.store))[10]!.action, 'audit.checkpoint');
        await sql`delete from audit_events where seq = ${11}`.execute(s.store.db);
        const v = await s.audit.verify();
        assert.equal(v.ok, false);
        assert.equal(v.first_bad_seq, 11);
      });
    });

    test('TAMPER: details rewritten and the whole chain recomputed — the chain alone says ok, the public key names the first checkpoint that no longer matches', async () => {
      await withSetup(kind, async (s) => {
        await appendAndCheck(s, 35);
        const before = await readAll(s.store);
        assert.equal(attackerHash(before[5]!), before[5]!.hash, 'the helper hashes exactly as the chain does');
        await rewriteChain(s.store, (events) => events.map((e) => (e.seq === 16 ? { ...e, details: { ...e.details, grant_id: 'gr_forged' } } : e)));
        const plain = await s.audit.verify();
        assert.equal(plain.ok, true, 'a recomputed chain verifies without the key: the attack a plain hash chain cannot see');
        const v = await verifyWithKey(s);
        assert.equal(v.ok, false);
        assert.equal(v.chain_ok, true);
        assert.equal(v.checkpoints.first_invalid?.seq, 22, 'the first checkpoint after the edit');
        assert.match(v.checkpoints.first_invalid?.problem ?? '', /chain was rewritten/);
        assert.equal(v.checkpoints.last_vouched_seq, 10, 'vouched for up to the checkpoint before the edit');
        assert.deepEqual(v.checkpoints.list.map((c) => c.valid), [true, false, false], 'every later hash changed too');
        // The attacker also updates what the checkpoints say they cover: their signatures no longer match.
        await rewriteChain(s.store, (events) => {
          const out = events.map((e) => ({ ...e, details: { ...e.details } }));
          let prev = '0'.repeat(64);
          for (let i = 0; i < out.length; i++) {
            const e = out[i]!;
            if (e.action === 'audit.checkpoint') e.details.covers_hash = prev;
            prev = attackerHash({ ...e, seq: i + 1, prev_hash: prev });
          }
          return out;
        });
        const v2 = await verifyWithKey(s);
        assert.equal(v2.checkpoints.first_invalid?.seq, 22);
        assert.match(v2.checkpoints.first_invalid?.problem ?? '', /signature does not match/);
      });
    });

    test('TAMPER: the last checkpoints deleted and the chain recomputed — detected back to the last valid checkpoint', async () => {
      await withSetup(kind, async (s) => {
        await appendAndCheck(s, 35);
        await rewriteChain(s.store, (events) => events.filter((e) => !(e.action === 'audit.checkpoint' && e.seq > 11)));
        assert.equal((await s.audit.verify()).ok, true);
        const v = await verifyWithKey(s);
        assert.equal(v.ok, false);
        assert.equal(v.checkpoints.valid, 1);
        assert.equal(v.checkpoints.last_vouched_seq, 10);
        assert.equal(v.checkpoints.unvouched_events, 36 - 11, 'the events after the last valid checkpoint (seq 11)');
        assert.match(v.checkpoints.reason ?? '', /later checkpoints were deleted; nothing after seq 10 is vouched for/);
        // Cut at a checkpoint instead (everything after it gone): what is left verifies, and the report says how far.
        await rewriteChain(s.store, (events) => events.filter((e) => e.seq <= 11));
        const cut = await verifyWithKey(s);
        assert.equal(cut.ok, true);
        assert.deepEqual({ vouched: cut.checkpoints.last_vouched_seq, unvouched: cut.checkpoints.unvouched_events }, { vouched: 10, unvouched: 0 });
      });
    });

    test('TAMPER: every checkpoint deleted and the chain recomputed — not ok once the policy says one was due', async () => {
      await withSetup(kind, async (s) => {
        const policy = { every: EVERY, intervalS: 60 };
        // A young chain with no checkpoint yet is fine: none was due.
        await appendAndCheck(s, 2 * EVERY);
        await rewriteChain(s.store, (events) => events.filter((e) => e.action !== 'audit.checkpoint'));
        const young = await verifyWithCheckpoints(s.audit.events(), s.key.publicPem, { expectHead: await s.audit.head() }, policy);
        assert.equal(young.ok, true, young.reason);
        // More than twice `every` events and not one checkpoint: they were deleted (an event edited under cover of it).
        await appendAndCheck(s, 15, 100);
        await rewriteChain(s.store, (events) => events.filter((e) => e.action !== 'audit.checkpoint').map((e) => (e.seq === 5 ? { ...e, actor: 'mallory-erased' } : e)));
        assert.equal((await s.audit.verify()).ok, true, 'the plain chain cannot see it');
        const v = await verifyWithCheckpoints(s.audit.events(), s.key.publicPem, { expectHead: await s.audit.head() }, policy);
        assert.equal(v.ok, false);
        assert.equal(v.chain_ok, true);
        assert.deepEqual({ checked: v.checkpoints.checked, vouched: v.checkpoints.last_vouched_seq, unvouched: v.checkpoints.unvouched_events }, { checked: 0, vouched: 0, unvouched: 35 });
        assert.match(v.reason ?? '', /no signed checkpoint vouches for any of the 35 events; checkpoints were deleted or never made/);
        // Few events, but spread over more than the interval and its grace: one was due by time.
        await rewriteChain(s.store, (events) => events.slice(0, 8).map((e, i) => ({ ...e, time: new Date(Date.parse('2026-03-02T10:00:00.000Z') + i * 20_000).toISOString() })));
        const spread = await verifyWithCheckpoints(s.audit.events(), s.key.publicPem, { expectHead: await s.audit.head() }, policy);
        assert.equal(spread.ok, false);
        assert.match(spread.reason ?? '', /no signed checkpoint vouches for any of the 8 events.*spanning 140 s/);
      });
    });

    test('TAMPER: an event time that is not a time is refused, not passed by the time rule', async () => {
      await withSetup(kind, async (s) => {
        await appendAndCheck(s, 25);
        await rewriteChain(s.store, (events) => events.map((e) => (e.seq === events.length ? { ...e, time: 'not-a-time' } : e)));
        const v = await verifyWithKey(s);
        assert.equal(v.ok, false);
        assert.match(v.reason ?? '', /event 27's time "not-a-time" is not a time/);
      });
    });

    test('a checkpoint signed by another key is refused, whatever key id it claims', async () => {
      await withSetup(kind, async (s) => {
        await appendAndCheck(s, 30);
        const mallory = generateKeyPairSync('ed25519');
        // Event 5 edited, the chain recomputed, and every checkpoint signed again with mallory's key.
        const forge = (claimId: () => string) => (events: AuditEvent[]) => {
          let prev = '0'.repeat(64);
          return events.map((e, i) => {
            const out = { ...e, details: { ...e.details } };
            if (e.seq === 5) out.details.grant_id = 'gr_forged';
            if (out.action === 'audit.checkpoint') {
              const d = out.details as unknown as CheckpointDetails;
              d.covers_hash = prev;
              d.key_id = claimId();
              d.signature = sign(null, checkpointMessage(d), mallory.privateKey).toString('base64');
            }
            prev = attackerHash({ ...out, seq: i + 1, prev_hash: prev });
            return out;
          });
        };
        await rewriteChain(s.store, forge(() => keyIdOf(mallory.publicKey)));
        const v = await verifyWithKey(s);
        assert.equal(v.ok, false);
        assert.equal(v.checkpoints.first_invalid?.seq, 11);
        assert.match(v.checkpoints.first_invalid?.problem ?? '', /signed by key .* not the key in force/);
        await rewriteChain(s.store, forge(() => s.key.keyId));
        const v2 = await verifyWithKey(s);
        assert.equal(v2.checkpoints.first_invalid?.seq, 11);
        assert.match(v2.checkpoints.first_invalid?.problem ?? '', /signature does not match/);
      });
    });

    test('key rotation: announced by the old key, later checkpoints signed by the new one, verified from the first public key', async () => {
      await withSetup(kind, async (s) => {
        await appendAndCheck(s, 12);
        const first = s.key.publicPem;
        const r = await s.checkpoints.rotateKey({ actor: 'sec', source: '127.0.0.1' });
        assert.notEqual(r.key_id, r.previous_key_id);
        assert.equal(s.checkpoints.publicKey().key_id, r.key_id);
        const announced = r.checkpoint.details as unknown as CheckpointDetails;
        assert.deepEqual({ key_id: announced.key_id, next: announced.next_key?.key_id }, { key_id: r.previous_key_id, next: r.key_id });
        // The new key replaced the file (the old one kept as .retired), so a restart signs with it.
        assert.equal(loadCheckpointKey({ dataDir: s.dir }).keyId, r.key_id);
        await appendAndCheck(s, 25, 100);
        const list = await s.checkpoints.list();
        assert.ok(list.filter((c) => c.key_id === r.key_id).length >= 2, 'later checkpoints are signed by the new key');
        const v = await verifyWithKey(s, first);
        assert.equal(v.ok, true, v.reason);
        assert.deepEqual(v.checkpoints.keys, [r.previous_key_id, r.key_id]);
        assert.equal(v.checkpoints.valid, list.length);
        // With only the new key, the earlier checkpoints cannot be checked; those it signed are.
        const fromNew = await verifyWithKey(s, s.checkpoints.publicKey().public_key);
        assert.equal(fromNew.ok, true, fromNew.reason);
        assert.ok(fromNew.checkpoints.list.some((c) => c.unchecked));
      });
    });
  });
}

describe('checkpoint sinks', () => {
  test('syslog over UDP receives an RFC 5424 message; a webhook that fails is logged and audited, and the chain goes on', async () => {
    await withSetup('sqlite', async (s) => {
      const syslog = createSocket('udp4');
      const received = new Promise<string>((resolve) => syslog.once('message', (m) => resolve(m.toString())));
      await new Promise<void>((r) => syslog.bind(0, '127.0.0.1', () => r()));
      const hook = createServer((req, res) => {
        req.resume();
        res.writeHead(503).end();
      });
      await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
      try {
        const udp = makeCheckpoints({ store: s.store, clock: s.clock, audit: s.audit, key: s.key }, { every: 1, intervalS: 60, sink: parseCheckpointSink(`udp://127.0.0.1:${(syslog.address() as AddressInfo).port}`) });
        await appendAndCheck(s, 1);
        const cp = await udp.check();
        assert.ok(cp);
        const msg = await received;
        assert.match(msg, /^<37>1 \S+ \S+ airlock \d+ audit\.checkpoint - \{/);
        assert.equal(JSON.parse(msg.slice(msg.indexOf('{'))).signature, cp.details.signature);
        const logged: string[] = [];
        const failing = makeCheckpoints({ store: s.store, clock: s.clock, audit: s.audit, key: s.key, log: { warn: (_o, m) => logged.push(m), error: (_o, m) => logged.push(m) } }, { every: 1, intervalS: 60, sink: parseCheckpointSink(`http://127.0.0.1:${(hook.address() as AddressInfo).port}/checkpoints`) });
        await appendAndCheck(s, 1);
        const cp2 = await failing.check();
        assert.ok(cp2, 'the checkpoint is in the chain whatever the sink does');
        assert.match(logged.join('\n'), /could not send the audit checkpoint/);
        await s.audit.flush();
        const events = await readAll(s.store);
        const failed = events.find((e) => e.action === 'audit.checkpoint_sink_failed');
        assert.deepEqual({ seq: failed?.details.checkpoint_seq, error: failed?.details.error }, { seq: cp2.seq, error: 'the webhook answered 503' });
        assert.deepEqual((await failing.list()).find((c) => c.seq === cp2.seq), { seq: cp2.seq, covers_seq: cp2.seq - 1, time: cp2.details.time, key_id: s.key.keyId, next_key_id: null, sink: 'failed', sink_error: 'the webhook answered 503' });
        assert.equal((await verifyWithKey(s)).ok, true);
      } finally {
        syslog.close();
        hook.close();
      }
    });
  });
});

describe('signed checkpoints through the real CLI and server', () => {
  test('verify --public-key online and offline (--file, --data), checkpoints, rotate-key, and a recomputed rewrite named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-ckpt-e2e-'));
    const sinkFile = join(dir, 'sink.jsonl');
    // The key by reference, in PKCS#8 PEM as openssl genpkey writes it.
    const keyFile = join(dir, 'signing.pem');
    writeFileSync(keyFile, generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    const server = await startServerProcess({ policy: E2E_POLICY, dir, extraArgs: ['--audit-checkpoint-every', '5', '--audit-checkpoint-interval', '1h', '--audit-checkpoint-sink', `file:${sinkFile}`], env: { AIRLOCK_AUDIT_SIGNING_KEY_FILE: keyFile } });
    const admin = server.adminToken;
    const pub = join(dir, 'first.pub.pem');
    try {
      const pk = await cli(server, admin, ['audit', 'public-key', '--output', pub, '--json']);
      assert.equal(pk.code, 0, pk.stderr);
      assert.equal(pk.json().key_id, server.info.audit_key_id);
      for (let i = 0; i < 12; i++) assert.equal((await cli(server, admin, ['token', 'create', '--principal', 'alice', '--ttl', '1h', '--json'])).code, 0);
      // The server looks at the head every second; wait for the checkpoint the events make due.
      let listed: { seq: number; covers_seq: number; sink: string }[] = [];
      for (let i = 0; i < 100 && listed.length < 2; i++) {
        listed = (await cli(server, admin, ['audit', 'checkpoints', '--json'])).json().checkpoints;
        if (listed.length < 2) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(listed.length >= 2, 'checkpoints appear as events come');
      const human = await cli(server, admin, ['audit', 'checkpoints']);
      assert.match(human.stdout, /SEQ\s+COVERS\s+TIME/);
      assert.match(human.stdout, /UTC|GMT|[A-Z]{2,5}/, 'times name their zone');
      const online = await cli(server, admin, ['audit', 'verify', '--public-key', pub]);
      assert.equal(online.code, 0, online.stdout + online.stderr);
      assert.match(online.stdout, /checkpoints: \d+ of \d+ valid; vouched for up to seq \d+/);
      const exported = join(dir, 'export.jsonl');
      assert.equal((await cli(server, admin, ['audit', 'export', '--output', exported])).code, 0);
      const offlineFile = await cli(server, undefined, ['audit', 'verify', '--file', exported, '--public-key', pub, '--json']);
      assert.equal(offlineFile.code, 0, offlineFile.stdout);
      assert.equal(offlineFile.json().checkpoints.ok, true);
      const rotated = await cli(server, admin, ['audit', 'rotate-key', '--json']);
      assert.equal(rotated.code, 0, rotated.stderr);
      for (let i = 0; i < 3; i++) await cli(server, admin, ['token', 'create', '--principal', 'bob', '--ttl', '1h', '--json']);
      assert.equal(await server.stop(), 0);
      // The last checkpoint, written at shutdown, covers server.stop; all were sent to the sink.
      const sunk = readFileSync(sinkFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; key_id: string });
      assert.ok(sunk.some((c) => c.key_id === rotated.json().key_id), 'the new key signed the shutdown checkpoint');
      const data = join(dir, 'data');
      const ok = await cli(server, undefined, ['audit', 'verify', '--data', data, '--public-key', pub, '--json']);
      assert.equal(ok.code, 0, ok.stdout);
      assert.equal(ok.json().checkpoints.keys.length, 2, 'the rotation was followed from the first key');
      assert.equal(ok.json().checkpoints.unvouched_events, 0, 'the shutdown checkpoint vouches for everything');
      // The rewrite: offline, on the SQLite file.
      const { openStore } = await import('../../src/store/store.js');
      const store = await openStore({ url: join(data, 'airlock.db') });
      try {
        await rewriteChain(store, (events) => events.map((e) => (e.seq === 4 ? { ...e, actor: 'mallory' } : e)));
      } finally {
        await store.close();
      }
      const noKey = await cli(server, undefined, ['audit', 'verify', '--data', data]);
      assert.equal(noKey.code, 0, 'without the key the recomputed chain passes');
      const withKey = await cli(server, undefined, ['audit', 'verify', '--data', data, '--public-key', pub, '--json']);
      assert.notEqual(withKey.code, 0);
      const firstCp = sunk.find((c) => c.seq > 4)!;
      assert.equal(withKey.json().checkpoints.first_invalid.seq, firstCp.seq, 'names the first checkpoint after the edit');
      const text = await cli(server, undefined, ['audit', 'verify', '--data', data, '--public-key', pub]);
      assert.match(text.stdout, new RegExp(`CHECKPOINT INVALID at seq ${firstCp.seq}`));
      // Every checkpoint deleted too: the verifier is told the server's policy, which no checkpoint is left to state.
      const again = await openStore({ url: join(data, 'airlock.db') });
      try {
        await rewriteChain(again, (events) => events.filter((e) => e.action !== 'audit.checkpoint'));
      } finally {
        await again.close();
      }
      const none = await cli(server, undefined, ['audit', 'verify', '--data', data, '--public-key', pub, '--checkpoint-every', '5', '--checkpoint-interval', '1h']);
      assert.notEqual(none.code, 0, none.stdout);
      assert.match(none.stdout + none.stderr, /no signed checkpoint vouches for any of the \d+ events; checkpoints were deleted or never made/);
      const bad = await cli(server, undefined, ['audit', 'verify', '--data', data, '--public-key', pub, '--checkpoint-every', 'often']);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /--checkpoint-every must be a number of events/);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
