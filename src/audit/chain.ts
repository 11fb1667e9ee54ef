// The hash chain: a canonical encoding of each event and the SHA-256 that links it to the one before.
import * as crypto from 'node:crypto';
import type { AuditEvent } from '../domain/model.js';
import { canonicalJson, canonicalJsonOfData, quoteJson } from '../domain/canonical-json.js';

export { canonicalJson };

export const GENESIS_HASH = '0'.repeat(64);

export type UnhashedEvent = Omit<AuditEvent, 'hash'>;

/** SHA-256 in hex; crypto.hash (Node 20.12+) spares the Hash object createHash makes. */
export const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'hex') : (text) => crypto.createHash('sha256').update(text).digest('hex');

/**
 * hash = SHA-256(canonical encoding of every field but the hash itself, including prev_hash): canonicalJson of
 * { seq, time, actor, action, target, source, details, prev_hash }. Built by the fast encoder, which gives the same
 * bytes (test/unit/audit-canonical-json.test.ts holds it to canonicalJson), so verification runs at append speed.
 */
export function eventHash(e: UnhashedEvent): string {
  return sha256Hex(canonicalEventJson(e, canonicalJsonOfData(e.details) ?? canonicalJson(e.details)));
}

/**
 * The text eventHash hashes, given the details already encoded (`detailsJson` = canonicalJson(e.details)), so the
 * append path encodes details once, for the hash and for the details column. Byte-identical to eventHash's input.
 */
export function canonicalEventJson(e: UnhashedEvent, detailsJson: string): string {
  if (e.action === undefined || e.actor === undefined || e.details === undefined || e.prev_hash === undefined || e.seq === undefined || e.source === undefined || e.target === undefined || e.time === undefined) {
    // canonicalJson leaves such a field out; not worth a fast path.
    return canonicalJson({ seq: e.seq, time: e.time, actor: e.actor, action: e.action, target: e.target, source: e.source, details: e.details, prev_hash: e.prev_hash });
  }
  // The keys in sorted order.
  return `{"action":${field(e.action)},"actor":${field(e.actor)},"details":${detailsJson},"prev_hash":${field(e.prev_hash)},"seq":${field(e.seq)},"source":${field(e.source)},"target":${field(e.target)},"time":${field(e.time)}}`;
}

/** canonicalJson of one field, with the usual string, number and null done inline. */
function field(v: unknown): string {
  if (typeof v === 'string') return quoteJson(v);
  if (typeof v === 'number' && Number.isFinite(v)) return `${v}`;
  if (v === null) return 'null';
  return `${canonicalJson(v)}`;
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
