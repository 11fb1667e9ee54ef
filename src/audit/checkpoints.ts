// Signed checkpoints of the audit chain: every N events or T seconds the head is signed with the Ed25519 checkpoint key
// and the signature goes into the chain as an ordinary event (and to an external sink); key rotation is announced so.
import { sign } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { DB } from '../store/schema.js';
import type { Executor, Store } from '../store/store.js';
import type { Clock } from '../domain/clock.js';
import type { AuditEvent, AuditInput } from '../domain/model.js';
import type { AuditLog } from './audit-log.js';
import { commitNextKey, prepareNextKey, settlePendingRotation, type CheckpointKey } from './checkpoint-key.js';
import { CHECKPOINT_ACTION, CHECKPOINT_ALGORITHM, checkpointMessage, type CheckpointDetails } from './checkpoint-verify.js';
import type { CheckpointSink } from './checkpoint-sinks.js';

export const SINK_FAILED_ACTION = 'audit.checkpoint_sink_failed';
export const KEY_ROTATED_ACTION = 'audit.key_rotated';
/** The meta row that remembers the last checkpoint, shared by every process on the store. */
const META_KEY = 'audit_checkpoint';

export interface CheckpointOptions {
  /** A checkpoint once this many events were appended since the last one. */
  every: number;
  /** …or once this many seconds passed since the last one, if any event was appended meanwhile. */
  intervalS: number;
  /** How often the head is looked at, in ms (default 1000). */
  tickMs?: number;
  sink?: CheckpointSink;
}

/** The last checkpoint, and the key that signs the next one (the new key once a rotation is announced). */
interface LastCheckpoint {
  seq: number;
  covers_seq: number;
  time: string;
  key_id: string;
}

export interface CheckpointListing {
  seq: number;
  covers_seq: number;
  time: string;
  key_id: string;
  next_key_id: string | null;
  /** delivered | failed | none (no sink) | unknown (written by another process or an earlier run). */
  sink: string;
  sink_error: string | null;
}

type Log = { warn(o: object, msg: string): void; error(o: object, msg: string): void };

export function makeCheckpoints(deps: { store: Store; clock: Clock; audit: Pick<AuditLog, 'appendInTx' | 'published' | 'append' | 'events'>; key: CheckpointKey; log?: Log }, opts: CheckpointOptions) {
  const { store, clock, audit } = deps;
  let key = deps.key;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<unknown> = Promise.resolve();
  const sinkState = new Map<number, { state: 'delivered' | 'failed'; error: string | null }>();

  async function readLast(db: Executor): Promise<LastCheckpoint | null> {
    const row = await db.selectFrom('meta').select('value').where('key', '=', META_KEY).executeTakeFirst();
    return row ? (JSON.parse(row.value) as LastCheckpoint) : null;
  }

  // A store without a checkpoint yet counts from when this process started, as if one had been written then.
  const startedAt = clock.now().toISOString();

  function due(head: { seq: number }, last: LastCheckpoint | null, final: boolean): boolean {
    const since = last ?? { seq: 0, time: startedAt };
    if (head.seq <= since.seq) return false;
    if (final || head.seq - since.seq >= opts.every) return true;
    return clock.now().getTime() - Date.parse(since.time) >= opts.intervalS * 1000;
  }

  /** Signs the head inside `trx` (its row locked first) and appends the checkpoint; null when none is due. */
  async function writeInTx(trx: Transaction<DB>, how: { force?: boolean; final?: boolean; next?: CheckpointKey }): Promise<AuditEvent | null> {
    const headQuery = trx.selectFrom('audit_head').select(['seq', 'hash']).where('id', '=', 1);
    const head = await (store.dialect === 'postgres' ? headQuery.forUpdate() : headQuery).executeTakeFirstOrThrow();
    if (!how.force && !due({ seq: Number(head.seq) }, await readLast(trx), Boolean(how.final))) return null;
    const time = clock.now().toISOString();
    const unsigned: Omit<CheckpointDetails, 'signature'> = {
      covers_seq: Number(head.seq), covers_hash: head.hash, key_id: key.keyId, algorithm: CHECKPOINT_ALGORITHM, time, every: opts.every, interval_s: opts.intervalS,
      ...(how.next ? { next_key: { key_id: how.next.keyId, public_key: how.next.publicPem } } : {}),
    };
    const signature = sign(null, checkpointMessage(unsigned), key.privateKey).toString('base64');
    const input: AuditInput = { actor: 'airlock', action: CHECKPOINT_ACTION, target: null, details: { ...unsigned, signature } };
    const [event] = await audit.appendInTx(trx, [input]);
    const last: LastCheckpoint = { seq: event!.seq, covers_seq: unsigned.covers_seq, time, key_id: how.next?.keyId ?? key.keyId };
    await trx.insertInto('meta').values({ key: META_KEY, value: JSON.stringify(last) }).onConflict((oc) => oc.column('key').doUpdateSet({ value: JSON.stringify(last) })).execute();
    return event!;
  }

  /** Sends a committed checkpoint to the sink; a failure is logged and audited, never undoes the checkpoint. */
  async function deliver(event: AuditEvent): Promise<void> {
    const sink = opts.sink;
    if (!sink) return;
    try {
      await sink.deliver({ seq: event.seq, details: event.details });
      sinkState.set(event.seq, { state: 'delivered', error: null });
    } catch (e) {
      const error = e instanceof Error ? e.message : String(e);
      sinkState.set(event.seq, { state: 'failed', error });
      deps.log?.warn({ sink: sink.name, checkpoint_seq: event.seq, err: error }, 'could not send the audit checkpoint to its sink');
      await audit.append({ actor: 'airlock', action: SINK_FAILED_ACTION, target: sink.name, details: { checkpoint_seq: event.seq, sink: sink.name, error } }).catch(() => undefined);
    }
  }

  /** One checkpoint now if one is due (or `force`), then its delivery; serialised, so ticks never overlap. */
  function check(how: { force?: boolean; final?: boolean } = {}): Promise<AuditEvent | null> {
    const run = running.then(async () => {
      // A cheap look without the write lock first: most ticks find nothing due.
      if (!how.force) {
        const head = await store.db.selectFrom('audit_head').select('seq').where('id', '=', 1).executeTakeFirstOrThrow();
        if (!due({ seq: Number(head.seq) }, await readLast(store.db), Boolean(how.final))) return null;
      }
      const event = await store.transaction((trx) => writeInTx(trx, how));
      if (!event) return null;
      audit.published([event]);
      await deliver(event);
      return event;
    });
    running = run.catch(() => undefined);
    return run;
  }

  /**
   * A new key: written beside the current one, announced in a checkpoint signed by the current key (after an
   * audit.key_rotated event naming who asked), then put in place. Later checkpoints are signed by it.
   */
  function rotateKey(by: { actor: string; source: string | null }): Promise<{ checkpoint: AuditEvent; previous_key_id: string; key_id: string }> {
    const run = running.then(async () => {
      const next = prepareNextKey(key);
      const previous = key;
      const checkpoint = await store.transaction(async (trx) => {
        const rotated = await audit.appendInTx(trx, [{ actor: by.actor, action: KEY_ROTATED_ACTION, target: null, source: by.source, details: { previous_key_id: previous.keyId, key_id: next.keyId } }]);
        const cp = (await writeInTx(trx, { force: true, next }))!;
        return { rotated, cp };
      });
      commitNextKey(previous, next);
      key = next;
      audit.published([...checkpoint.rotated, checkpoint.cp]);
      await deliver(checkpoint.cp);
      return { checkpoint: checkpoint.cp, previous_key_id: previous.keyId, key_id: next.keyId };
    });
    running = run.catch(() => undefined);
    return run;
  }

  return {
    check,
    rotateKey,
    /** Finishes a rotation a crash interrupted, then ticks every tickMs. */
    async start(): Promise<void> {
      const last = await readLast(store.db);
      key = settlePendingRotation(key, (id) => last?.key_id === id);
      if (last && last.key_id !== key.keyId) {
        deps.log?.error({ expected_key_id: last.key_id, key_id: key.keyId }, 'the audit checkpoint key is not the one the chain expects (it changed without `airlock audit rotate-key`); verification with the earlier public key will refuse the checkpoints it signs');
      }
      timer = setInterval(() => void check().catch((e: unknown) => deps.log?.error({ err: e }, 'could not write an audit checkpoint')), opts.tickMs ?? 1000);
      timer.unref();
    },
    /** Stops ticking and writes a last checkpoint if events came since the one before (a clean shutdown). */
    async stop(): Promise<void> {
      if (timer) clearInterval(timer);
      timer = null;
      await check({ final: true });
    },
    publicKey(): { key_id: string; algorithm: string; public_key: string } {
      return { key_id: key.keyId, algorithm: CHECKPOINT_ALGORITHM, public_key: key.publicPem };
    },
    /** Every checkpoint in the chain, oldest first, with what is known of its delivery to the sink. */
    async list(): Promise<CheckpointListing[]> {
      const failed = new Map<number, string>();
      const out: CheckpointListing[] = [];
      for await (const e of audit.events({ action: 'audit.checkpoint*' })) {
        if (e.action === SINK_FAILED_ACTION) failed.set(Number(e.details.checkpoint_seq), String(e.details.error));
        if (e.action !== CHECKPOINT_ACTION) continue;
        const d = e.details as unknown as CheckpointDetails;
        out.push({ seq: e.seq, covers_seq: d.covers_seq, time: d.time, key_id: d.key_id, next_key_id: d.next_key?.key_id ?? null, sink: opts.sink ? 'unknown' : 'none', sink_error: null });
      }
      for (const c of out) {
        const s = sinkState.get(c.seq);
        if (s) Object.assign(c, { sink: s.state, sink_error: s.error });
        else if (failed.has(c.seq)) Object.assign(c, { sink: 'failed', sink_error: failed.get(c.seq)! });
      }
      return out;
    },
    get sinkName(): string | null {
      return opts.sink?.name ?? null;
    },
  };
}

export type Checkpoints = ReturnType<typeof makeCheckpoints>;
