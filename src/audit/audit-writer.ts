// The audit writer thread: the batched appends (a gateway's statements and sessions, the API's hot-path events) are
// hashed, inserted and committed on a worker thread with its own connection to the store, so neither that work nor
// the commit's fsync holds up the event loop that relays sessions (their details are encoded to canonical JSON
// before they cross). Appends inside a caller's transaction stay on the main thread; both kinds lock the chain head,
// so they still form one chain.
import type { AuditEvent } from '../domain/model.js';
import type { EncodedInput } from './audit-log.js';
import { startWorker } from '../domain/worker.js';

/** One event as it crosses to the thread: time stamped, details already canonical JSON text. */
export type WriterInput = EncodedInput;

/**
 * A batch crosses as one flat array, FIELDS_PER_INPUT entries per event: copying it to the thread costs half as much
 * as an array of objects, whose property names the structured clone writes out again for every event.
 */
export type WriterRequest = { id: number; fields: (string | null)[]; wantEvents: boolean } | { id: number; close: true };

export type WriterReply = { ready: true } | { id: number; ok: true; events: AuditEvent[] | null } | { id: number; ok: false; error: string };

const FIELDS_PER_INPUT = 6;

/** A batch as the flat array a WriterRequest carries. */
export function packInputs(inputs: readonly WriterInput[]): (string | null)[] {
  const fields: (string | null)[] = new Array(inputs.length * FIELDS_PER_INPUT);
  let k = 0;
  for (const i of inputs) {
    fields[k++] = i.actor;
    fields[k++] = i.action;
    fields[k++] = i.target;
    fields[k++] = i.source;
    fields[k++] = i.time;
    fields[k++] = i.detailsJson;
  }
  return fields;
}

/** The thread's side of packInputs. */
export function unpackInputs(fields: readonly (string | null)[]): WriterInput[] {
  const inputs: WriterInput[] = [];
  for (let k = 0; k + FIELDS_PER_INPUT <= fields.length; k += FIELDS_PER_INPUT) {
    inputs.push({ actor: fields[k]!, action: fields[k + 1]!, target: fields[k + 2] ?? null, source: fields[k + 3] ?? null, time: fields[k + 4]!, detailsJson: fields[k + 5]! });
  }
  return inputs;
}

export interface AuditWriter {
  /**
   * Commits `inputs` as one transaction on the writer thread, in the order given and after every batch sent before;
   * resolves with the committed events when `wantEvents`, else null.
   */
  append(inputs: WriterInput[], wantEvents: boolean): Promise<AuditEvent[] | null>;
  /** Settles when the first thread is up (rejects if it could not start). */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/** Above this a writer thread that does not come up is given up on. */
const START_TIMEOUT_MS = 30_000;

/** How long the thread retries a batch that finds SQLite's write lock taken (each try may wait busy_timeout, 5 s). */
export const BUSY_RETRY_FOR_MS = 30_000;

/**
 * How long a thread with batches out may go without answering before it is held dead. A batch that is slow but
 * alive must not be cut short: on SQLite the thread retries a busy batch for BUSY_RETRY_FOR_MS, and its last try can
 * begin just before that bound and wait out the 5 s busy_timeout before its fsync. The thread takes its bound from
 * here, so the two cannot drift apart; the 15 s above it cover that last try and a loaded machine.
 */
export const REPLY_DEADLINE_MS = BUSY_RETRY_FOR_MS + 15_000;

export interface AuditWriterOptions {
  /** How long the thread may go without answering while batches are out (REPLY_DEADLINE_MS); tests shorten it. */
  replyDeadlineMs?: number;
}

/**
 * Starts the writer thread on the store at `url` (a SQLite file or postgres://…; not ":memory:", which another
 * connection cannot see; the store must be migrated already). Batches wait for the thread to be up. A thread that
 * dies, or that leaves its batches unanswered for `replyDeadlineMs`, fails the batches it held; the next batch starts
 * a new one.
 */
export function startAuditWriter(url: string, opts: AuditWriterOptions = {}): AuditWriter {
  const replyDeadlineMs = opts.replyDeadlineMs ?? REPLY_DEADLINE_MS;
  let current: Promise<Thread> | null = null;
  let closed = false;

  function thread(): Promise<Thread> {
    if (current === null) {
      const spawned: Promise<Thread> = spawnThread(url, replyDeadlineMs, () => {
        // The thread died: the next batch starts another one.
        if (current === spawned) current = null;
      });
      current = spawned;
      spawned.catch(() => {
        if (current === spawned) current = null;
      });
    }
    return current;
  }

  const ready = thread().then(() => {});
  ready.catch(() => {}); // also reported to whoever awaits `ready` or sends a batch
  return {
    ready,
    async append(inputs, wantEvents) {
      if (closed) throw new Error('the audit writer is closed');
      const t = await thread();
      return t.send(inputs, wantEvents);
    },
    async close() {
      closed = true;
      const t = current;
      current = null;
      if (t) await (await t.catch(() => null))?.close();
    },
  };
}

interface Thread {
  send(inputs: WriterInput[], wantEvents: boolean): Promise<AuditEvent[] | null>;
  close(): Promise<void>;
}

function spawnThread(url: string, replyDeadlineMs: number, onDeath: () => void): Promise<Thread> {
  const worker = startWorker(import.meta.url, './audit-writer-thread', { workerData: { url } });
  const pending = new Map<number, { resolve: (e: AuditEvent[] | null) => void; reject: (err: Error) => void }>();
  let nextId = 1;
  let dead: Error | null = null;
  /**
   * Since when the thread owes an answer (performance.now()): the send that found nothing out, then each reply while
   * more are out. The thread commits batches one after another, so this is about when it began the batch it is on: a
   * thread that is behind but answering is not held dead, however long the last batch in its queue has waited.
   */
  let owedSince = 0;
  /** The one timer that checks owedSince (not one per batch: the hot path sends many); re-armed while batches are out. */
  let watch: NodeJS.Timeout | null = null;

  function die(err: Error): void {
    if (dead) return;
    dead = err;
    if (watch) clearTimeout(watch);
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    onDeath();
  }

  function watchReplies(delay: number): void {
    watch = setTimeout(checkReplies, delay);
    // While batches are out the thread itself keeps the process alive (see send); idle, nothing should.
    watch.unref();
  }

  function checkReplies(): void {
    watch = null;
    if (dead || pending.size === 0) return;
    const waited = performance.now() - owedSince;
    if (waited < replyDeadlineMs) return watchReplies(replyDeadlineMs - waited);
    // Alive but silent (a lock never granted, a store that stopped answering): its batches fail now, as if it had
    // died, and the next batch starts a new thread. A commit already on its way may still land: the chain stays whole,
    // and an event can then be in the log although its append was reported failed, never the reverse.
    die(new Error(`the audit writer thread did not answer within ${replyDeadlineMs / 1000} s`));
    void worker.terminate();
  }

  return new Promise<Thread>((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`the audit writer thread did not start within ${START_TIMEOUT_MS / 1000} s`));
    }, START_TIMEOUT_MS);
    worker.on('message', (m: WriterReply) => {
      if ('ready' in m) {
        clearTimeout(timer);
        resolve(thread);
        return;
      }
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      owedSince = performance.now();
      if (pending.size === 0) worker.unref();
      if (m.ok) p.resolve(m.events);
      else p.reject(new Error(m.error));
    });
    worker.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
      die(new Error(`the audit writer thread failed: ${err.message}`));
    });
    worker.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the audit writer thread exited (code ${code}) before it was ready`));
      die(new Error(`the audit writer thread exited (code ${code})`));
    });
    // Idle, the thread does not keep the process alive; while a batch is out, it does (its commit is awaited).
    worker.unref();

    const thread: Thread = {
      send(inputs, wantEvents) {
        if (dead) return Promise.reject(dead);
        const id = nextId++;
        worker.postMessage({ id, fields: packInputs(inputs), wantEvents } satisfies WriterRequest);
        if (pending.size === 0) {
          worker.ref();
          owedSince = performance.now();
          if (!watch) watchReplies(replyDeadlineMs);
        }
        return new Promise((res, rej) => pending.set(id, { resolve: res, reject: rej }));
      },
      async close() {
        if (dead) return;
        const id = nextId++;
        const done = new Promise<void>((res) => worker.once('exit', () => res()));
        worker.ref();
        worker.postMessage({ id, close: true } satisfies WriterRequest);
        await done;
      },
    };
  });
}
