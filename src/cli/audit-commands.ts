// `airlock audit verify|export`: through the API, or offline against a store or an exported file.
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { Option, type Command } from 'commander';
import { run } from './command.js';
import { EXIT, UsageError } from './output.js';
import { qs } from './client.js';
// The chain check and the store load only for offline verification (--file, --data, --store); see eslint.config.js.
import type { VerifyResult } from '../audit/chain.js';
import type { RecordingsCheck, SealedRecording } from '../audit/recording-verify.js';
import { systemClock } from '../domain/clock.js';
import { parseDuration } from '../domain/duration.js';
import type { AuditEvent } from '../domain/model.js';
import type { CheckpointsResult } from '../audit/checkpoint-verify.js';
import { registerCheckpointCommands, describeCheckpoints, serverEvents } from './audit-checkpoint-commands.js';

function parseHead(text: string | undefined): { seq: number; hash?: string } | undefined {
  if (!text) return undefined;
  const [seq, hash] = text.split(':');
  if (!seq || !/^\d+$/.test(seq)) throw new UsageError('--expect-head takes SEQ or SEQ:HASH, e.g. 1200:9f86d0…');
  return { seq: Number(seq), hash };
}

async function* jsonlEvents(file: string): AsyncGenerator<AuditEvent> {
  const rl = createInterface({ input: file === '-' ? process.stdin : createReadStream(file), crlfDelay: Infinity });
  let line = 0;
  for await (const text of rl) {
    line++;
    if (!text.trim()) continue;
    try {
      yield JSON.parse(text) as AuditEvent;
    } catch {
      throw new UsageError(`${file}:${line}: not a JSON event; is this an "airlock audit export" file?`);
    }
  }
}

function describeRecordings(r: RecordingsCheck): string {
  if (r.ok) return `recordings ok: ${r.checked} sealed recording(s) match their seals`;
  const lines = r.problems.map((p) => `  ${p.problem.padEnd(10)} ${p.session_id}  ${p.detail}`);
  return `RECORDINGS BROKEN: ${r.problems.length} of ${r.checked} sealed recording(s) fail their seal\n${lines.join('\n')}`;
}

function readPublicKey(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`--public-key ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? String(e)}); get it with: airlock audit public-key --output FILE`);
  }
}

function report(v: VerifyResult): string {
  return v.ok ? `ok: ${v.events} events, chain intact; head ${v.head.seq}:${v.head.hash}` : `BROKEN at seq ${v.first_bad_seq}: ${v.reason}\n(${v.events} events verified before it)`;
}

/** --checkpoint-every / --checkpoint-interval: without them a chain with every checkpoint deleted would have no rule. */
function checkpointPolicy(everyText: string, intervalText: string): { every: number; intervalS: number } {
  const every = Number(everyText.trim());
  if (!/^\d+$/.test(everyText.trim()) || every < 1 || every > 10_000_000) throw new UsageError(`--checkpoint-every must be a number of events from 1 to 10000000 (got "${everyText}")`);
  const t = intervalText.trim();
  const intervalS = /^\d+$/.test(t) ? Number(t) : parseDuration(t);
  if (intervalS === undefined || !(intervalS >= 1) || intervalS > 7 * 86400) throw new UsageError(`--checkpoint-interval must be a duration from 1s to 7d, e.g. 5m (got "${intervalText}")`);
  return { every, intervalS };
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit log');
  audit
    .command('verify')
    .description('check the hash chain and name the first bad sequence number')
    .option('--data <dir>', 'offline: verify the SQLite store in this data directory')
    .addOption(new Option('--store <url>', 'offline: verify this store (postgres://… or a SQLite file); prefer the variable, which keeps a password out of the process list').env('AIRLOCK_STORE_URL'))
    .option('--file <path>', 'offline: verify an exported JSONL file ("-" for stdin)')
    .option('--expect-head <seq:hash>', 'also check the chain reaches this head (recorded earlier, elsewhere)')
    .option('--recordings', 'also check every session recording against the seal in its session.end (missing, truncated, edited); offline, the recordings are read under --data')
    .option('--public-key <file>', 'also check every signed checkpoint with this public key (PEM; the first key, rotations are followed); through the server, the events are checked here, not by the server')
    .option('--checkpoint-every <events>', 'with --public-key: the server\'s --audit-checkpoint-every, assumed where no valid checkpoint states it', '1000')
    .option('--checkpoint-interval <duration>', 'with --public-key: the server\'s --audit-checkpoint-interval, assumed where no valid checkpoint states it', '5m')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { data?: string; store?: string; file?: string; expectHead?: string; recordings?: boolean; publicKey?: string; checkpointEvery: string; checkpointInterval: string }, cmd: Command) => {
        const expectHead = parseHead(o.expectHead);
        const policy = checkpointPolicy(o.checkpointEvery, o.checkpointInterval);
        const publicKey = o.publicKey === undefined ? undefined : readPublicKey(o.publicKey);
        const offline = Boolean(o.file || o.data || o.store);
        if (o.recordings && publicKey !== undefined && !offline) throw new UsageError('--recordings with --public-key through the server: verify the recordings in a separate run (airlock audit verify --recordings), or offline with --data.');
        if (o.recordings && offline && !o.data) throw new UsageError('--recordings offline reads the recordings under a data directory: add --data DIR (the server\'s data directory).');
        // A --data given on the command line wins over a store from the environment (the server's variable).
        if (o.data && cmd.getOptionValueSource('store') === 'env') o.store = undefined;
        let v: VerifyResult;
        let recordings: RecordingsCheck | undefined;
        // Offline, the seals are picked up from the same walk that checks the chain.
        const seals: SealedRecording[] = [];
        const rv = o.recordings && offline ? await import('../audit/recording-verify.js') : undefined;
        let checkpoints: CheckpointsResult | undefined;
        let chainOk = true;
        if (publicKey !== undefined) {
          // The chain and the signatures are checked on this machine, whatever holds the events: a server that was
          // rewritten cannot vouch for itself.
          const { verifyWithCheckpoints } = await import('../audit/checkpoint-verify.js');
          const offlineStore = !o.file && (o.data || o.store) ? await (await import('../store/store.js')).openStore({ url: o.store ?? join(o.data!, 'airlock.db') }) : undefined;
          try {
            let events: AsyncIterable<AuditEvent>;
            let head = expectHead;
            if (o.file) events = jsonlEvents(o.file);
            else if (offlineStore) {
              const log = (await import('../audit/audit-log.js')).makeAuditLog({ store: offlineStore, clock: systemClock });
              head ??= await log.head();
              events = log.events();
            } else {
              const s = serverEvents(ctx.client());
              head ??= await s.head();
              events = s.events();
            }
            const r = await verifyWithCheckpoints(rv ? rv.collectSeals(events, seals) : events, publicKey, { expectHead: head }, policy);
            checkpoints = r.checkpoints;
            chainOk = r.chain_ok;
            v = r;
          } finally {
            await offlineStore?.close();
          }
        } else if (o.file) {
          const { verifyEvents } = await import('../audit/chain.js');
          v = await verifyEvents(rv ? rv.collectSeals(jsonlEvents(o.file), seals) : jsonlEvents(o.file), { expectHead });
        } else if (o.data || o.store) {
          const [{ verifyEvents }, { openStore }, { makeAuditLog }] = await Promise.all([import('../audit/chain.js'), import('../store/store.js'), import('../audit/audit-log.js')]);
          const store = await openStore({ url: o.store ?? join(o.data!, 'airlock.db') });
          try {
            const log = makeAuditLog({ store, clock: systemClock });
            // Without a head recorded elsewhere, the store's own check applies (it also catches rows past its head).
            v = expectHead ? await verifyEvents(rv ? rv.collectSeals(log.events(), seals) : log.events(), { expectHead }) : await log.verify();
            if (rv && !expectHead) for await (const s of rv.sealsIn(log.events({ action: 'session.end' }))) seals.push(s);
          } finally {
            await store.close();
          }
        } else {
          v = await ctx.client().get<VerifyResult & { recordings?: RecordingsCheck }>(`/api/v1/audit/verify${o.recordings ? '?recordings=true' : ''}`);
          if (v.ok && expectHead && (v.head.seq < expectHead.seq || (v.head.seq === expectHead.seq && expectHead.hash && v.head.hash !== expectHead.hash))) {
            v = { ...v, ok: false, first_bad_seq: Math.min(v.head.seq + 1, expectHead.seq), reason: 'the chain does not reach the expected head' };
          }
        }
        if (rv) {
          recordings = await rv.checkRecordings(o.data!, seals);
          v = rv.withRecordings(v, recordings);
        } else if (o.recordings) {
          recordings = (v as { recordings?: RecordingsCheck }).recordings;
          if (!recordings) throw new UsageError('The server did not check recordings (it predates --recordings); upgrade it, or verify offline with --data.');
        }
        // `ok` covers the recordings too; the chain's own line reads first_bad_seq, which only a chain problem sets.
        const chainText = checkpoints && chainOk ? `chain: ${v.events} events link and hash (this alone proves nothing against a rewrite; the signatures below do)` : report({ ...v, ok: v.first_bad_seq === undefined });
        const lines = [chainText, ...(checkpoints ? [describeCheckpoints(checkpoints)] : []), ...(recordings ? [describeRecordings(recordings)] : [])];
        ctx.out(lines.join('\n'), v);
        return v.ok ? EXIT.ok : EXIT.error;
      }),
    );
  registerCheckpointCommands(audit);
  audit
    .command('export')
    .description('stream audit events (for a SIEM)')
    .option('--format <format>', 'jsonl', 'jsonl')
    .option('--since <time>', 'from this ISO time (inclusive), e.g. 2026-03-01T00:00:00Z')
    .option('--until <time>', 'before this ISO time')
    .option('--action <action>', 'only this action (or prefix*)')
    .option('--actor <name>', 'only this actor')
    .option('--output <file>', 'write to a file instead of stdout')
    .option('--json', 'accepted for uniformity: the output is JSON lines already')
    .action(
      run(async (ctx, o: { format: string; since?: string; until?: string; action?: string; actor?: string; output?: string }) => {
        if (o.format !== 'jsonl') throw new UsageError('Only --format jsonl is supported.');
        for (const [k, v] of [['since', o.since], ['until', o.until]] as const) if (v && Number.isNaN(Date.parse(v))) throw new UsageError(`--${k} must be an ISO time such as 2026-03-01T00:00:00Z`);
        const res = await ctx.client().stream(`/api/v1/audit/events${qs({ format: 'jsonl', limit: 100000, since: o.since && new Date(o.since).toISOString(), until: o.until && new Date(o.until).toISOString(), action: o.action, actor: o.actor })}`);
        const out: NodeJS.WritableStream = o.output ? createWriteStream(o.output, { mode: 0o600 }) : process.stdout;
        const reader = res.body!.getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          if (!out.write(value)) await new Promise<void>((r) => out.once('drain', () => r()));
        }
        if (o.output) await new Promise<void>((r) => out.end(() => r()));
      }),
    );
}
