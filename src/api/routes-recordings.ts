// API routes for session recordings: the list (from session.end events that carry a seal), one recording as an
// asciicast file (served only while it matches its seal), and a live session's terminal as server-sent events.
// Who may see a session may see its recording and watch it (src/access/visibility.ts); viewing and watching are audited.
import { Transform, type TransformCallback } from 'node:stream';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { z } from 'zod';
import { AirlockError } from '../domain/errors.js';
import type { Caller } from '../domain/model.js';
import type { Access } from '../access/access.js';
import type { Recordings, CastEvent } from '../audit/recordings.js';
import { checkRecording, sealOf, sealedFilePath, type SealedRecording } from '../audit/recording-verify.js';
import { rowToEvent } from '../audit/audit-log.js';
import type { RouteDef } from './routing.js';

/** The protocols whose sessions are not terminals, so never recorded: the list skips them. */
const UNRECORDED_PROTOCOLS = ['postgres', 'mysql'];
/** How far back the list looks by default. */
export const RECORDINGS_DAYS = 30;
const HEARTBEAT_MS = 15_000;
/** A watcher this far behind (bytes queued on its connection) is cut off rather than buffered without end. */
const MAX_WATCHER_BACKLOG = 8 * 1024 * 1024;

export interface RecordingSummary {
  session_id: string;
  principal: string;
  resource: string | null;
  role: string | null;
  protocol: string;
  started_at: string;
  ended_at: string | null;
  duration_ms: number | null;
  end_reason: string | null;
  file: string;
  sha256: string;
  bytes: number;
  events: number;
  /** The session.end event holding the seal. */
  seq: number;
}

const time = z.string().describe('ISO-8601 UTC time');
const recordingSummary = z.object({
  session_id: z.string(),
  principal: z.string(),
  resource: z.string().nullable(),
  role: z.string().nullable(),
  protocol: z.string().describe('ssh or exec'),
  started_at: time,
  ended_at: time.nullable(),
  duration_ms: z.number().nullable(),
  end_reason: z.string().nullable(),
  file: z.string().describe('relative to the data directory'),
  sha256: z.string().describe('the seal: SHA-256 of the whole file'),
  bytes: z.number().int(),
  events: z.number().int(),
  seq: z.number().int().describe('the session.end event holding the seal'),
}) satisfies z.ZodType<RecordingSummary>;

const sessionId = z.strictObject({ id: z.string().min(1).max(100).describe('ses_…') });

export interface RecordingRouteDeps {
  access: Access;
  recordings: Recordings;
}

export function recordingRoutes(deps: RecordingRouteDeps): { routes: RouteDef<any, any, any>[]; closeStreams(): void } { // eslint-disable-line @typescript-eslint/no-explicit-any
  const { access, recordings } = deps;
  const { store } = access;
  const openStreams = new Set<() => void>();

  const notFound = (id: string) => new AirlockError('AIRLOCK_NOT_FOUND', `There is no session ${id} that you can see.`);

  /** The session's row when the caller may see it. */
  async function visibleSession(caller: Caller, id: string) {
    await access.audit.flush();
    const row = await store.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row || !access.visibility.canSeeSession(caller, row)) throw notFound(id);
    return row;
  }

  /** The seal in the session's session.end, or null (still live, not recorded, or ended without one). */
  async function sealFor(row: { id: string; principal: string; start_seq: number; ended_at: string | null }): Promise<SealedRecording | null> {
    if (row.ended_at === null) return null;
    // The id is matched as text first (no index on details), then for sure once parsed.
    const rows = await store.db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', '>', Number(row.start_seq))
      .where('action', '=', 'session.end')
      .where('actor', '=', row.principal)
      .where('details', 'like', `%"session_id":"${row.id.replace(/[\\"%]/g, '')}"%`)
      .orderBy('seq')
      .limit(5)
      .execute();
    for (const r of rows) {
      const s = sealOf(rowToEvent(r));
      if (s && s.session_id === row.id) return s;
    }
    return null;
  }

  async function list(caller: Caller, q: { principal?: string; resource?: string; since?: string; limit: number }): Promise<RecordingSummary[]> {
    const principal = access.visibility.listedPrincipal(caller, q.principal, 'sessions');
    await access.audit.flush();
    const since = q.since ? new Date(q.since).toISOString() : new Date(access.clock.now().getTime() - RECORDINGS_DAYS * 86400_000).toISOString();
    const out: RecordingSummary[] = [];
    // Sessions newest first, a page at a time, until `limit` of them have a seal.
    let before: { started_at: string; start_seq: number } | null = null;
    for (let pages = 0; out.length < q.limit && pages < 20; pages++) {
      let query = store.db.selectFrom('sessions').selectAll().where('started_at', '>=', since).where('ended_at', 'is not', null).where('protocol', 'not in', UNRECORDED_PROTOCOLS);
      if (principal) query = query.where('principal', '=', principal);
      if (q.resource) query = query.where('resource', '=', q.resource);
      if (before) {
        const b = before;
        query = query.where((eb) => eb.or([eb('started_at', '<', b.started_at), eb.and([eb('started_at', '=', b.started_at), eb('start_seq', '<', b.start_seq)])]));
      }
      const rows = await query.orderBy('started_at', 'desc').orderBy('start_seq', 'desc').limit(q.limit).execute();
      for (const r of rows) {
        const s = await sealFor(r);
        if (!s) continue;
        out.push({
          session_id: r.id, principal: r.principal, resource: r.resource, role: r.role, protocol: r.protocol, started_at: r.started_at, ended_at: r.ended_at,
          duration_ms: r.duration_ms === null ? null : Number(r.duration_ms), end_reason: r.end_reason,
          file: s.seal.file, sha256: s.seal.sha256, bytes: s.seal.bytes, events: s.seal.events, seq: s.seq,
        });
        if (out.length >= q.limit) break;
      }
      if (rows.length < q.limit) break;
      const last = rows[rows.length - 1]!;
      before = { started_at: last.started_at, start_seq: Number(last.start_seq) };
    }
    return out;
  }

  return {
    closeStreams() {
      for (const end of [...openStreams]) end();
    },
    routes: [
      {
        method: 'GET', url: '/api/v1/recordings', tag: 'sessions', summary: `Recorded sessions (SSH, exec), newest first: yours, or everyone's for admins and auditors; from the seals in their session.end events (default: the last ${RECORDINGS_DAYS} days)`,
        response: z.object({ recordings: z.array(recordingSummary) }),
        query: z.strictObject({
          principal: z.string().max(100).optional(),
          resource: z.string().max(100).optional(),
          since: z.string().datetime({ offset: true }).optional().describe(`ISO time; default ${RECORDINGS_DAYS} days ago`),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        handler: async ({ caller, query }) => ({ recordings: await list(caller, query) }),
      },
      {
        method: 'GET', url: '/api/v1/sessions/:id/recording', tag: 'sessions', summary: 'A session\'s recording as an asciicast v2 file; refused (409 AIRLOCK_RECORDING_SEAL_BROKEN) when it no longer matches its seal. Audited as recording.viewed',
        params: sessionId,
        response: { 200: { content: 'application/x-asciicast', description: 'the asciicast v2 file, exactly as sealed' } },
        async handler({ caller, params, reply }) {
          const row = await visibleSession(caller, params.id);
          const sealed = await sealFor(row);
          if (!sealed) {
            const why = row.ended_at === null
              ? recordings.live().includes(row.id) ? 'it is still running; watch it live instead (Watch on the Sessions page, or GET /api/v1/sessions/:id/live)' : 'it is still running and is not recorded on this server process'
              : UNRECORDED_PROTOCOLS.includes(row.protocol) ? `it is a ${row.protocol} session, whose statements are in its timeline instead` : 'its session.end carries no recording (the server stopped under it, or it was not recorded)';
            throw new AirlockError('AIRLOCK_NO_RECORDING', `Session ${row.id} has no recording to play: ${why}.`);
          }
          const problem = await checkRecording(recordings.dataDir, sealed);
          const who = { actor: caller.principal.name, target: row.resource, source: caller.source };
          if (problem) {
            await access.audit.append({ ...who, action: 'recording.seal_broken', details: { session_id: row.id, principal: row.principal, file: problem.file, problem: problem.problem, detail: problem.detail } });
            throw new AirlockError('AIRLOCK_RECORDING_SEAL_BROKEN', `The recording of session ${row.id} does not match the seal in its session.end event (${problem.problem}: ${problem.detail}), so it is not served. Tell your security team; \`airlock audit verify --recordings\` lists every such recording.`, { problem: problem.problem, file: problem.file, expected_bytes: problem.expected_bytes, actual_bytes: problem.actual_bytes });
          }
          // Durable before a byte is served: nobody watches a recording unrecorded.
          await access.audit.append({ ...who, action: 'recording.viewed', details: { session_id: row.id, principal: row.principal, file: sealed.seal.file, sha256: sealed.seal.sha256 } });
          const path = sealedFilePath(recordings.dataDir, sealed.seal.file)!;
          // Hashed again as it is sent: a file changed since the check ends the answer short instead of arriving whole.
          const hash = createHash('sha256');
          let sent = 0;
          const guard = new Transform({
            transform(chunk: Buffer, _enc, cb: TransformCallback) {
              sent += chunk.length;
              if (sent > sealed.seal.bytes) return cb(new Error('the recording changed while it was sent'));
              hash.update(chunk);
              cb(null, chunk);
            },
            flush(cb: TransformCallback) {
              cb(sent === sealed.seal.bytes && hash.digest('hex') === sealed.seal.sha256 ? null : new Error('the recording changed while it was sent'));
            },
          });
          return reply
            .type('application/x-asciicast')
            .header('content-length', String(sealed.seal.bytes))
            .header('content-disposition', `inline; filename="${row.id}.cast"`)
            .header('cache-control', 'no-store')
            .header('x-airlock-recording-sha256', sealed.seal.sha256)
            .send(createReadStream(path).pipe(guard));
        },
      },
      {
        method: 'GET', url: '/api/v1/sessions/:id/live', tag: 'sessions', summary: 'Watch a live SSH or exec session on this server process (server-sent events): the asciicast header (with `time`, seconds since the start), the latest output so far, then each event as it happens; `end` (and `done`, for asciinema-player) when the session ends. Audited as session.watched',
        params: sessionId,
        response: { 200: { content: 'text/event-stream', description: 'unnamed events: the header object, then [time, "o"|"i"|"r", data] arrays; a named `end` event when the session ends' } },
        async handler({ caller, params, req, reply }) {
          const id = params.id;
          const live = access.sessions.list({ session_id: id })[0];
          const row = live ? null : await store.db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
          const session = live ?? row;
          if (!session || !access.visibility.canWatchSession(caller, session)) throw notFound(id);
          if (!recordings.live().includes(id)) {
            if (live) throw new AirlockError('AIRLOCK_NO_RECORDING', `Session ${id} is a ${live.protocol} session, which is not recorded as a terminal; its statements are on its timeline.`);
            throw new AirlockError('AIRLOCK_SESSION_NOT_LIVE', `Session ${id} is not live on this server process: it ${row?.ended_at ? 'has ended; replay its recording instead (airlock replay ' + id + ')' : 'runs on another Airlock process; watch it through that one'}.`);
          }
          await access.audit.append({ actor: caller.principal.name, action: 'session.watched', target: session.resource, source: caller.source, details: { session_id: id, principal: session.principal } });
          reply.hijack();
          const res = reply.raw;
          res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
          res.write(`: watching ${id} as ${caller.principal.name}\n\n`);
          let unsubscribe: (() => void) | null = null;
          let heartbeat: NodeJS.Timeout | null = null;
          let done = false;
          const close = () => {
            if (done) return;
            done = true;
            if (heartbeat) clearInterval(heartbeat);
            unsubscribe?.();
            openStreams.delete(end);
          };
          const end = (why = 'the server is shutting down') => {
            if (done) return;
            close();
            res.end(`event: end\ndata: ${JSON.stringify({ session_id: id, reason: why })}\n\nevent: done\ndata: {}\n\n`, () => res.socket?.end());
          };
          const send = (data: string) => {
            if (done) return;
            res.write(`data: ${data}\n\n`);
            if (res.writableLength > MAX_WATCHER_BACKLOG) end('this watcher fell too far behind the session; reload to watch again');
          };
          unsubscribe = recordings.watch(id, {
            header(h, started) {
              const header = JSON.parse(h) as Record<string, unknown>;
              // The player's clock for a watcher who joins late: seconds since the recording started.
              const t0 = started ?? (Number(header.timestamp) || 0) * 1000;
              send(JSON.stringify({ ...header, time: Math.max(0, (Date.now() - t0) / 1000) }));
            },
            event(e: CastEvent) {
              send(JSON.stringify(e));
            },
            ended() {
              end('the session ended');
            },
          });
          if (!unsubscribe) {
            // It ended between the check and now.
            end('the session ended');
            return undefined;
          }
          openStreams.add(end);
          heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
          req.raw.on('close', close);
          res.on('error', close);
          return undefined;
        },
      },
    ],
  };
}
