// A small pool of parser worker threads for large statements: one job per worker at a time, each with a deadline.

import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../domain/worker.js';
import { freezeAnalysis, type Analysis } from './analysis.js';
import type { ParseJob, ParseReply } from './parse-worker.js';

export interface ParsePoolOptions {
  /** Worker threads at most; each holds its own parser (a few tens of MB). Default: 1 or 2 by CPU count. */
  size?: number;
  /** A statement whose analysis runs longer is abandoned (the worker is replaced) and refused as unparsable. */
  timeoutMs?: number;
}

export interface ParsePool {
  analyze(sql: string): Promise<Analysis>;
  /** Stops every worker; jobs still waiting resolve as failures. */
  close(): Promise<void>;
}

interface Job {
  id: number;
  sql: string;
  resolve: (a: Analysis) => void;
  /** A job that outlived a crashed worker gets one more try elsewhere. */
  retried: boolean;
}

interface Slot {
  worker: Worker;
  queue: Job[];
  timer: NodeJS.Timeout | null;
  dead: boolean;
}

export const DEFAULT_PARSE_TIMEOUT_MS = 10_000;

export function makeParsePool(options: ParsePoolOptions = {}): ParsePool {
  const size = options.size ?? Math.max(1, Math.min(2, availableParallelism() - 1));
  const timeoutMs = options.timeoutMs ?? DEFAULT_PARSE_TIMEOUT_MS;
  const slots: Slot[] = [];
  let nextId = 1;
  let closed = false;

  function fail(job: Job, error: string): void {
    job.resolve(freezeAnalysis({ ok: false, error, transient: true }));
  }

  function startNext(slot: Slot): void {
    const job = slot.queue[0];
    if (job === undefined) {
      // An idle pool must not keep the process alive.
      slot.worker.unref();
      return;
    }
    slot.worker.ref();
    slot.timer = setTimeout(() => {
      slot.queue.shift();
      fail(job, `the statement took longer than ${timeoutMs} ms to parse`);
      retire(slot);
    }, timeoutMs);
    const msg: ParseJob = { id: job.id, sql: job.sql };
    slot.worker.postMessage(msg);
  }

  /** Ends a worker that crashed or overran, and moves the jobs waiting behind it to other workers. */
  function retire(slot: Slot, crashedJob?: Job): void {
    if (slot.dead) return;
    slot.dead = true;
    if (slot.timer !== null) clearTimeout(slot.timer);
    slots.splice(slots.indexOf(slot), 1);
    void slot.worker.terminate();
    const waiting = slot.queue.splice(0);
    for (const job of waiting) {
      if (job === crashedJob || job.retried || closed) fail(job, 'the parser worker failed on this statement');
      else {
        job.retried = true;
        enqueue(job);
      }
    }
  }

  function makeSlot(): Slot {
    const slot: Slot = { worker: startWorker(import.meta.url, './parse-worker'), queue: [], timer: null, dead: false };
    slot.worker.on('message', (reply: ParseReply) => {
      const job = slot.queue[0];
      if (slot.dead || job === undefined || job.id !== reply.id) return;
      if (slot.timer !== null) clearTimeout(slot.timer);
      slot.timer = null;
      slot.queue.shift();
      job.resolve(freezeAnalysis(reply.analysis));
      startNext(slot);
    });
    slot.worker.on('error', () => retire(slot, slot.queue[0]));
    slot.worker.on('exit', () => retire(slot, slot.queue[0]));
    slots.push(slot);
    return slot;
  }

  function enqueue(job: Job): void {
    let best: Slot | undefined;
    for (const s of slots) if (best === undefined || s.queue.length < best.queue.length) best = s;
    if (best === undefined || (best.queue.length > 0 && slots.length < size)) best = makeSlot();
    best.queue.push(job);
    if (best.queue.length === 1) startNext(best);
  }

  return {
    analyze(sql) {
      return new Promise<Analysis>((resolve) => {
        const job: Job = { id: nextId++, sql, resolve, retried: false };
        if (closed) fail(job, 'the parser pool is closed');
        else enqueue(job);
      });
    },
    async close() {
      closed = true;
      await Promise.all(slots.slice().map(async (s) => {
        retire(s);
        await s.worker.terminate();
      }));
    },
  };
}
