// Checking signed checkpoints with only a public key: each one must sign the hash the chain holds at its seq, with the
// key in force (the first one given, then each key a valid checkpoint announced), and none may be missing at the end.
import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import type { AuditEvent } from '../domain/model.js';
import { canonicalJson } from '../domain/canonical-json.js';
import { verifyEvents, type VerifyResult } from './chain.js';
import { keyIdOf, parsePublicKey } from './checkpoint-key.js';

export const CHECKPOINT_ACTION = 'audit.checkpoint';
export const CHECKPOINT_ALGORITHM = 'ed25519';
const MESSAGE_PREFIX = 'airlock-checkpoint:v1:';

/** What a checkpoint event's details hold. */
export interface CheckpointDetails {
  covers_seq: number;
  covers_hash: string;
  key_id: string;
  algorithm: typeof CHECKPOINT_ALGORITHM;
  /** base64 of the Ed25519 signature over checkpointMessage(details). */
  signature: string;
  time: string;
  /** The policy it was written under, so a verifier can tell when one was due. */
  every: number;
  interval_s: number;
  /** A rotation: the key that signs from the next checkpoint on. */
  next_key?: { key_id: string; public_key: string };
}

/** The bytes signed: a fixed prefix and the canonical JSON of every detail but the signature itself. */
export function checkpointMessage(d: Omit<CheckpointDetails, 'signature'> & { signature?: string }): Buffer {
  const { signature: _signature, ...signed } = d;
  return Buffer.from(MESSAGE_PREFIX + canonicalJson(signed), 'utf8');
}

export interface CheckpointVerdict {
  seq: number;
  covers_seq: number;
  time: string;
  key_id: string;
  valid: boolean;
  /** Signed by a key before the one given (its signature cannot be checked with it). */
  unchecked?: boolean;
  problem?: string;
  next_key_id?: string;
}

export interface CheckpointsResult {
  ok: boolean;
  checked: number;
  valid: number;
  /** The key ids followed, the given one first. */
  keys: string[];
  /** The last seq a valid checkpoint vouches for (0: none). */
  last_vouched_seq: number;
  /** Events after the last valid checkpoint, which no signature vouches for yet. */
  unvouched_events: number;
  first_invalid?: CheckpointVerdict;
  /** Why the result is not ok when no checkpoint is invalid (a checkpoint was due and is missing). */
  reason?: string;
  list: CheckpointVerdict[];
}

/** `chain_ok`: whether the hash chain alone holds (a rewrite that recomputed it does; its checkpoints then do not). */
export type VerifyWithCheckpoints = VerifyResult & { chain_ok: boolean; checkpoints: CheckpointsResult };

/** A grace on top of the interval before a missing checkpoint counts as deleted (clock skew, a slow commit, a restart). */
const DUE_GRACE_S = 60;

/** The policy assumed where no valid checkpoint states one: the server's defaults (--audit-checkpoint-every/-interval). */
export interface CheckpointPolicy {
  every: number;
  intervalS: number;
}
export const DEFAULT_CHECKPOINT_POLICY: CheckpointPolicy = { every: 1000, intervalS: 300 };

function asDetails(d: Record<string, unknown>): CheckpointDetails | null {
  if (typeof d.covers_seq !== 'number' || typeof d.covers_hash !== 'string' || typeof d.key_id !== 'string' || typeof d.signature !== 'string' || typeof d.time !== 'string') return null;
  return d as unknown as CheckpointDetails;
}

/**
 * Follows the checkpoints in a stream of events (seq order) as the events pass; `result()` once the stream is done.
 * A checkpoint is valid when it covers the event before it, names that event's hash as the chain holds it, and is
 * signed by the key in force.
 */
export function makeCheckpointVerifier(publicKeyPem: string, policy: CheckpointPolicy = DEFAULT_CHECKPOINT_POLICY) {
  const given = parsePublicKey(publicKeyPem, 'the public key');
  let key: KeyObject | null = given;
  let keyId = keyIdOf(given);
  const keys = [keyId];
  const list: CheckpointVerdict[] = [];
  let firstInvalid: CheckpointVerdict | undefined;
  let lastValid: { seq: number; covers_seq: number; time: string; every: number; interval_s: number } | null = null;
  let seenGivenKey = false;
  /** Whether a checkpoint passed over (an earlier key's) announced the given key: only then was passing over right. */
  let givenAnnounced = false;
  let lastSeq = 0;
  let lastTime = '';
  let tailFirstTime: string | null = null;
  let seen = 0;
  /** An event whose time does not parse: every time comparison with it is false, so the time rule would pass it. */
  let badTime: { seq: number; time: string } | null = null;

  function judge(e: AuditEvent, d: CheckpointDetails | null): CheckpointVerdict {
    const v: CheckpointVerdict = { seq: e.seq, covers_seq: d?.covers_seq ?? -1, time: d?.time ?? e.time, key_id: d?.key_id ?? '', valid: false, next_key_id: d?.next_key?.key_id };
    if (!d) return { ...v, problem: `checkpoint ${e.seq} lacks its fields (covers_seq, covers_hash, key_id, signature)` };
    if (d.key_id !== keyId) {
      // Before the given key first signs, checkpoints of earlier keys are passed over: the verifier started later.
      if (!seenGivenKey) {
        if (d.next_key?.key_id === keyId) givenAnnounced = true;
        return { ...v, unchecked: true, problem: `signed by an earlier key ${d.key_id.slice(0, 16)}…; give its public key to check it` };
      }
      return { ...v, problem: foreignKey(e.seq, d.key_id, keyId) };
    }
    seenGivenKey = true;
    if (d.covers_seq !== e.seq - 1 || d.covers_hash !== e.prev_hash) {
      return { ...v, problem: `checkpoint ${e.seq} signed hash ${d.covers_hash.slice(0, 16)}… for event ${d.covers_seq}, but the chain now holds ${e.prev_hash.slice(0, 16)}… for event ${e.seq - 1}: the chain was rewritten before it` };
    }
    let good = false;
    try {
      good = d.algorithm === 'ed25519' && verifySignature(null, checkpointMessage(d), key!, Buffer.from(d.signature, 'base64'));
    } catch {
      good = false;
    }
    if (!good) return { ...v, problem: `checkpoint ${e.seq}'s signature does not match what it covers: it was edited or forged` };
    if (d.next_key) {
      let next: KeyObject;
      try {
        next = createPublicKey(d.next_key.public_key);
      } catch {
        return { ...v, problem: `checkpoint ${e.seq} announces a next key that is not a public key` };
      }
      if (keyIdOf(next) !== d.next_key.key_id) return { ...v, problem: `checkpoint ${e.seq} announces key ${d.next_key.key_id.slice(0, 16)}… with a public key of another id` };
      key = next;
      keyId = d.next_key.key_id;
      keys.push(keyId);
    }
    return { ...v, valid: true };
  }

  return {
    /** Looks at one event (call in seq order, before or after the chain check of the same event). */
    see(e: AuditEvent): void {
      lastSeq = e.seq;
      lastTime = e.time;
      seen++;
      if (!badTime && Number.isNaN(Date.parse(e.time))) badTime = { seq: e.seq, time: String(e.time) };
      if (e.action !== CHECKPOINT_ACTION) {
        tailFirstTime ??= e.time;
        return;
      }
      const d = asDetails(e.details);
      const v = judge(e, d);
      list.push(v);
      if (!v.valid && !v.unchecked) firstInvalid ??= v;
      if (v.valid && !firstInvalid && d) {
        lastValid = { seq: e.seq, covers_seq: d.covers_seq, time: d.time, every: d.every, interval_s: d.interval_s };
        tailFirstTime = null;
      }
    },
    result(): CheckpointsResult {
      // Checkpoints passed over before the given key signed are earlier keys only if they announced it; else the
      // first of them is what it looks like: signed by a key that is not ours.
      const passed = list.find((c) => c.unchecked);
      if (passed && !givenAnnounced) {
        Object.assign(passed, { unchecked: undefined, problem: foreignKey(passed.seq, passed.key_id, keys[0]!) });
        firstInvalid = passed;
        lastValid = null;
      }
      const valid = list.filter((c) => c.valid).length;
      const lastVouched = lastValid?.covers_seq ?? 0;
      const base = { checked: list.length, valid, keys, last_vouched_seq: lastVouched, unvouched_events: Math.max(0, lastSeq - (lastValid?.seq ?? 0)), list };
      if (firstInvalid) return { ok: false, ...base, first_invalid: firstInvalid, reason: firstInvalid.problem };
      if (!seenGivenKey && list.length > 0) return { ok: false, ...base, reason: `no checkpoint is signed by the given key ${keys[0]!.slice(0, 16)}…` };
      if (badTime) return { ok: false, ...base, reason: `event ${badTime.seq}'s time ${JSON.stringify(badTime.time)} is not a time: it was edited, and when checkpoints were due cannot be told` };
      const lv = lastValid as { seq: number; every?: unknown; interval_s?: unknown; time: string } | null;
      if (!lv) return noCheckpoint(base);
      // Events past the last checkpoint are normal (the next one is not due yet), but not beyond its policy: then
      // the checkpoints that vouched for them were deleted, and the chain recomputed.
      const every = typeof lv.every === 'number' ? lv.every : policy.every;
      const intervalS = typeof lv.interval_s === 'number' ? lv.interval_s : policy.intervalS;
      if (lastSeq - lv.seq > 2 * every) {
        return { ok: false, ...base, reason: `${lastSeq - lv.seq} events follow the last valid checkpoint (seq ${lv.seq}), more than twice its every ${every}: later checkpoints were deleted; nothing after seq ${lastVouched} is vouched for` };
      }
      if (tailFirstTime !== null) {
        const due = Math.max(Date.parse(lv.time) + intervalS * 1000, Date.parse(tailFirstTime)) + DUE_GRACE_S * 1000;
        if (!(Date.parse(lastTime) <= due)) return { ok: false, ...base, reason: `events after the last valid checkpoint (seq ${lv.seq}) run to ${lastTime}, past when the next was due (interval ${intervalS} s): later checkpoints were deleted; nothing after seq ${lastVouched} is vouched for` };
      }
      return { ok: true, ...base };
    },
  };

  /** No valid checkpoint at all: fine for a young chain, not for one the policy says must have been checkpointed. */
  function noCheckpoint(base: Omit<CheckpointsResult, 'ok'>): CheckpointsResult {
    const spanS = tailFirstTime === null ? 0 : (Date.parse(lastTime) - Date.parse(tailFirstTime)) / 1000;
    const tooMany = seen > 2 * policy.every;
    if (!tooMany && !(spanS > policy.intervalS + DUE_GRACE_S)) return { ok: true, ...base };
    const why = tooMany ? `more than twice every ${policy.every}` : `spanning ${Math.round(spanS)} s, more than the interval ${policy.intervalS} s + ${DUE_GRACE_S} s`;
    return {
      ok: false,
      ...base,
      reason: `no signed checkpoint vouches for any of the ${seen} events; checkpoints were deleted or never made — a server checkpointing every ${policy.every} events or ${policy.intervalS} s would have written one (${why}); if it ran with other settings, give them with --checkpoint-every / --checkpoint-interval`,
    };
  }
}

function foreignKey(seq: number, signer: string, expected: string): string {
  return `checkpoint ${seq} is signed by key ${signer.slice(0, 16)}…, not the key in force ${expected.slice(0, 16)}…: forged, or the key changed without an announced rotation`;
}

/** The chain check (verifyEvents) and the checkpoint check in one walk. */
export async function verifyWithCheckpoints(events: AsyncIterable<AuditEvent> | Iterable<AuditEvent>, publicKeyPem: string, opts: Parameters<typeof verifyEvents>[1] = {}, policy?: CheckpointPolicy): Promise<VerifyWithCheckpoints> {
  const checker = makeCheckpointVerifier(publicKeyPem, policy);
  async function* tap(): AsyncGenerator<AuditEvent> {
    for await (const e of events) {
      checker.see(e);
      yield e;
    }
  }
  const chain = await verifyEvents(tap(), opts);
  return combine(chain, checker.result());
}

/** One answer: ok only when both hold; the chain's reason first when it is broken. */
export function combine(chain: VerifyResult, checkpoints: CheckpointsResult): VerifyWithCheckpoints {
  if (!chain.ok) return { ...chain, chain_ok: false, checkpoints };
  if (checkpoints.ok) return { ...chain, chain_ok: true, checkpoints };
  return { ...chain, chain_ok: true, ok: false, first_bad_seq: checkpoints.first_invalid?.seq ?? checkpoints.last_vouched_seq + 1, reason: checkpoints.reason, checkpoints };
}
