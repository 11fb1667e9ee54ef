// An admin's kill of a live session wherever it runs: on this process, or — several processes on one PostgreSQL
// store — on the process that holds it, which hears the request over the store's change channel and answers there.
import { AirlockError } from '../domain/errors.js';
import type { Access } from './access.js';
import type { Change } from './change-bus.js';
import type { LiveSessionInfo } from './session-registry.js';

/** How long the asking process waits for the process that holds the session to say it has ended it. */
export const REMOTE_KILL_WAIT_MS = 3000;

export interface KillRequest {
  /** Who asks (an admin), as the audit and the client's FATAL name them. */
  actor: string;
  source: string | null;
  session_id: string;
  reason: string;
}

export function makeSessionKill(access: Pick<Access, 'sessions' | 'audit' | 'store' | 'bus' | 'uow' | 'clock'>, opts: { waitMs?: number } = {}) {
  const waitMs = opts.waitMs ?? REMOTE_KILL_WAIT_MS;

  /** Audited first, then ended with the sentence the client reads. */
  async function killHere(req: KillRequest, s: LiveSessionInfo): Promise<void> {
    const reason = req.reason.trim();
    await access.audit.append({ actor: req.actor, action: 'session.kill', target: s.resource, source: req.source, details: { session_id: s.id, grant_id: s.grant_id, principal: s.principal, reason } });
    access.sessions.kill({ session_id: s.id }, `your session was ended by ${req.actor}${reason ? `: ${reason}` : ''}`);
  }

  function notFound(id: string): AirlockError {
    return new AirlockError('AIRLOCK_NOT_FOUND', `There is no live session ${id}. List them with: airlock sessions`);
  }

  return {
    /** Ends the session, here or on the process that holds it; resolves with what is known of it. */
    async kill(req: KillRequest): Promise<LiveSessionInfo> {
      const here = access.sessions.list({ session_id: req.session_id })[0];
      if (here) {
        await killHere(req, here);
        return here;
      }
      // Only a PostgreSQL store is shared by several processes.
      if (access.store.dialect !== 'postgres') throw notFound(req.session_id);
      let unsubscribe: () => void = () => {};
      const answered = new Promise<LiveSessionInfo | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), waitMs);
        unsubscribe = access.bus.subscribe((c) => {
          if (c.kind === 'session' && c.event === 'killed' && c.id === req.session_id && c.session) {
            clearTimeout(timer);
            resolve(c.session);
          }
        });
      });
      try {
        // Committed with nothing but the notification: every process on the store hears it.
        await access.uow(async (_trx, rec) => rec.change({ kind: 'session', id: req.session_id, event: 'kill', time: access.clock.now().toISOString(), kill: req }));
        const s = await answered;
        if (!s) throw notFound(req.session_id);
        return s;
      } finally {
        unsubscribe();
      }
    },

    /** Another process asks for a kill (cluster fan-out): if the session is here, end it and say so over the store. */
    async onRequest(c: Change): Promise<boolean> {
      if (c.kind !== 'session' || c.event !== 'kill' || !c.kill) return false;
      const s = access.sessions.list({ session_id: c.id })[0];
      if (!s) return false;
      await killHere(c.kill, s);
      await access.uow(async (_trx, rec) => rec.change({ kind: 'session', id: s.id, event: 'killed', principal: s.principal, resource: s.resource, role: s.role, time: access.clock.now().toISOString(), session: s }));
      return true;
    },
  };
}

export type SessionKill = ReturnType<typeof makeSessionKill>;
