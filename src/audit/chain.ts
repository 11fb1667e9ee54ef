// The hash chain: a canonical encoding of each event and the SHA-256 that links it to the one before.
import { createHash } from 'node:crypto';
import type { AuditEvent } from '../domain/model.js';
import { canonicalJson } from '../domain/canonical-json.js';

export { canonicalJson };

export const GENESIS_HASH = '0'.repeat(64);

export type UnhashedEvent = Omit<AuditEvent, 'hash'>;

/** hash = SHA-256(canonical encoding of every field but the hash itself, including prev_hash). */
export function eventHash(e: UnhashedEvent): string {
  return createHash('sha256')
    .update(canonicalJson({ seq: e.seq, time: e.time, actor: e.actor, action: e.action, target: e.target, source: e.source, details: e.details, prev_hash: e.prev_hash }))
    .digest('hex');
}

export interface VerifyResult {
  ok: boolean;
  events: number;
  head: { seq: number; hash: string };
  first_bad_seq?: number;
  reason?: string;
}

/**
 * Checks a stream of events in seq order. Names the first bad sequence number for an edit (hash mismatch),
 * a deletion or insertion (a gap or a repeat in seq, or a broken link), a reordering (a broken link), and a
 * truncated tail (when the expected head is given).
 *
 * `expectHead` is a head recorded earlier (the store's head row, or one kept elsewhere): the log must reach it and
 * the event at that seq must carry that hash. Events after it are allowed (they were appended since).
 */
export async function verifyEvents(events: AsyncIterable<AuditEvent> | Iterable<AuditEvent>, opts: { expectHead?: { seq: number; hash?: string }; startAfter?: { seq: number; hash: string } } = {}): Promise<VerifyResult> {
  let prevSeq = opts.startAfter?.seq ?? 0;
  let prevHash = opts.startAfter?.hash ?? GENESIS_HASH;
  // The hash before prevHash: an event that links to it skips its predecessor, which was therefore put in.
  let beforePrevHash: string | undefined;
  let hashAtExpectedHead: string | undefined = opts.expectHead?.seq === prevSeq ? prevHash : undefined;
  let count = 0;
  const fail = (seq: number, reason: string, last = { seq: prevSeq, hash: prevHash }, good = count): VerifyResult => ({ ok: false, events: good, head: last, first_bad_seq: seq, reason });
  for await (const e of events) {
    const expected = prevSeq + 1;
    if (e.seq !== expected) {
      if (e.seq > expected) return fail(expected, `event ${expected} is missing (the next event found is ${e.seq}): events were deleted`);
      return fail(e.seq, `event ${e.seq} appears after event ${prevSeq}: events were inserted or reordered`);
    }
    if (e.prev_hash !== prevHash) {
      if (beforePrevHash !== undefined && e.prev_hash === beforePrevHash) {
        return fail(prevSeq, `event ${prevSeq} was inserted or replaced: event ${e.seq} links to the event before it`, { seq: prevSeq - 1, hash: beforePrevHash }, count - 1);
      }
      return fail(e.seq, `event ${e.seq} does not link to event ${prevSeq}: events were inserted, deleted or reordered`);
    }
    if (eventHash(e) !== e.hash) return fail(e.seq, `event ${e.seq} was edited: its content does not match its hash`);
    beforePrevHash = prevHash;
    prevSeq = e.seq;
    prevHash = e.hash;
    if (e.seq === opts.expectHead?.seq) hashAtExpectedHead = e.hash;
    count++;
  }
  if (opts.expectHead) {
    const { seq, hash } = opts.expectHead;
    if (seq > prevSeq) return fail(prevSeq + 1, `the log ends at event ${prevSeq} but the chain head says ${seq}: events at the end were deleted`);
    if (hash !== undefined && hashAtExpectedHead !== undefined && hashAtExpectedHead !== hash) {
      return fail(seq, `event ${seq} does not match the recorded chain head: the chain was rewritten up to it`);
    }
  }
  return { ok: true, events: count, head: { seq: prevSeq, hash: prevHash } };
}
