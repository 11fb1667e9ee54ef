// Checks session recordings against the seals their session.end events carry (`airlock audit verify --recordings`,
// the recording download): the file must exist, be as long as sealed, and hash to the sealed SHA-256. The chain
// vouches for the seal; the seal vouches for the file.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import type { AuditEvent } from '../domain/model.js';
import type { RecordingSeal } from './recordings.js';
import type { VerifyResult } from './chain.js';

/** What can be wrong with a sealed recording. */
export type RecordingProblemKind = 'missing' | 'truncated' | 'edited' | 'unreadable';

export interface RecordingProblem {
  session_id: string;
  /** The seq of the session.end event holding the seal. */
  seq: number;
  file: string;
  problem: RecordingProblemKind;
  expected_bytes: number;
  /** The file's size now; null when it is missing or cannot be read. */
  actual_bytes: number | null;
  detail: string;
}

export interface RecordingsCheck {
  ok: boolean;
  /** Sealed recordings checked. */
  checked: number;
  problems: RecordingProblem[];
}

/** One seal as found in the log. */
export interface SealedRecording {
  session_id: string;
  seq: number;
  seal: RecordingSeal;
}

/** The seal a session.end event carries, or null (not a session.end, or a session without a recording). */
export function sealOf(e: Pick<AuditEvent, 'seq' | 'action' | 'details'>): SealedRecording | null {
  if (e.action !== 'session.end') return null;
  const r = e.details.recording as Partial<RecordingSeal> | undefined;
  const id = e.details.session_id;
  if (!r || typeof r !== 'object' || typeof id !== 'string') return null;
  const seal: RecordingSeal = {
    file: typeof r.file === 'string' ? r.file : '',
    sha256: typeof r.sha256 === 'string' ? r.sha256 : '',
    bytes: typeof r.bytes === 'number' ? r.bytes : -1,
    events: typeof r.events === 'number' ? r.events : 0,
    ...(typeof r.error === 'string' ? { error: r.error } : {}),
  };
  return { session_id: id, seq: e.seq, seal };
}

/** The events unchanged, with every seal among them pushed onto `into` as they pass (one walk for chain and seals). */
export async function* collectSeals(events: AsyncIterable<AuditEvent> | Iterable<AuditEvent>, into: SealedRecording[]): AsyncGenerator<AuditEvent> {
  for await (const e of events) {
    const s = sealOf(e);
    if (s) into.push(s);
    yield e;
  }
}

/** The sealed file's absolute path, or null when the seal names something outside <data>/recordings. */
export function sealedFilePath(dataDir: string, file: string): string | null {
  if (!file) return null;
  const root = resolve(dataDir, 'recordings');
  const abs = resolve(dataDir, file);
  return abs.startsWith(root + sep) ? abs : null;
}

/** SHA-256 (hex) and size of a file, streamed. */
export async function hashFile(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** One recording against its seal: null when it matches, else what is wrong. */
export async function checkRecording(dataDir: string, s: SealedRecording): Promise<RecordingProblem | null> {
  const { seal } = s;
  const problem = (kind: RecordingProblemKind, actual: number | null, detail: string): RecordingProblem => ({ session_id: s.session_id, seq: s.seq, file: seal.file, problem: kind, expected_bytes: seal.bytes, actual_bytes: actual, detail });
  const path = sealedFilePath(dataDir, seal.file);
  if (!path) return problem('unreadable', null, `the seal in event ${s.seq} names "${seal.file}", which is not a file under recordings/`);
  let size: number;
  try {
    const st = await stat(path);
    if (!st.isFile()) return problem('unreadable', null, `${seal.file} is not a regular file`);
    size = st.size;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return problem('missing', null, `${seal.file} is missing: the recording was deleted or moved`);
    return problem('unreadable', null, `${seal.file} cannot be read (${code ?? (e as Error).message})`);
  }
  if (size < seal.bytes) return problem('truncated', size, `${seal.file} is ${size} bytes, shorter than the ${seal.bytes} sealed: the recording was cut`);
  let actual: { sha256: string; bytes: number };
  try {
    actual = await hashFile(path);
  } catch (e) {
    return problem('unreadable', size, `${seal.file} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (actual.bytes < seal.bytes) return problem('truncated', actual.bytes, `${seal.file} is ${actual.bytes} bytes, shorter than the ${seal.bytes} sealed: the recording was cut`);
  if (actual.bytes > seal.bytes) return problem('edited', actual.bytes, `${seal.file} is ${actual.bytes} bytes, longer than the ${seal.bytes} sealed: something was added to the recording`);
  if (actual.sha256 !== seal.sha256) return problem('edited', actual.bytes, `${seal.file} does not match its sealed SHA-256: the recording was edited`);
  return null;
}

/** Every seal against its file, one file at a time (they can be large). */
export async function checkRecordings(dataDir: string, seals: AsyncIterable<SealedRecording> | Iterable<SealedRecording>): Promise<RecordingsCheck> {
  const problems: RecordingProblem[] = [];
  let checked = 0;
  for await (const s of seals) {
    checked++;
    const p = await checkRecording(dataDir, s);
    if (p) problems.push(p);
  }
  return { ok: problems.length === 0, checked, problems };
}

/** The seals among a stream of events. */
export async function* sealsIn(events: AsyncIterable<AuditEvent>): AsyncGenerator<SealedRecording> {
  for await (const e of events) {
    const s = sealOf(e);
    if (s) yield s;
  }
}

/** The chain's verification with the recordings' added: `ok` only when both are; `recordings.ok` for the files alone. */
export type VerifyWithRecordings = VerifyResult & { recordings: RecordingsCheck };

export function withRecordings(chain: VerifyResult, recordings: RecordingsCheck): VerifyWithRecordings {
  return { ...chain, ok: chain.ok && recordings.ok, recordings };
}
