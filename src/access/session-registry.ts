// The live sessions of this process: every gateway registers its connections here so that
// expiry, revocation, locks and an admin's kill can end them within a second.
import { EventEmitter } from 'node:events';

export interface LiveSessionInfo {
  id: string;
  protocol: string;
  principal: string;
  resource: string;
  role: string;
  grant_id: string;
  started_at: string;
  source: string | null;
  statements: number;
}

export interface LiveSession {
  readonly info: LiveSessionInfo;
  /** Ends the session: the client gets `reason` (as a FATAL error for databases), the upstream is closed. */
  kill(reason: string): void;
}

export interface SessionMatch {
  grant_id?: string;
  principal?: string;
  resource?: string;
  role?: string;
  session_id?: string;
}

export function makeSessionRegistry() {
  const sessions = new Map<string, LiveSession>();
  const events = new EventEmitter();

  function matches(s: LiveSessionInfo, m: SessionMatch): boolean {
    return (
      (m.grant_id === undefined || s.grant_id === m.grant_id) &&
      (m.principal === undefined || s.principal === m.principal) &&
      (m.resource === undefined || s.resource === m.resource) &&
      (m.role === undefined || s.role === m.role) &&
      (m.session_id === undefined || s.id === m.session_id)
    );
  }

  return {
    /** Adds a session; returns the function that removes it when the connection closes. */
    register(session: LiveSession): () => void {
      sessions.set(session.info.id, session);
      events.emit('started', session.info);
      return function unregister() {
        if (sessions.delete(session.info.id)) events.emit('ended', session.info);
      };
    },
    list(m: SessionMatch = {}): LiveSessionInfo[] {
      return [...sessions.values()].map((s) => s.info).filter((s) => matches(s, m));
    },
    /** Ends every matching session with the reason given; returns how many were ended. */
    kill(m: SessionMatch, reason: string): number {
      if (Object.keys(m).length === 0) return 0; // never "kill everything" by an empty match
      let n = 0;
      for (const s of [...sessions.values()]) {
        if (matches(s.info, m)) {
          s.kill(reason);
          n++;
        }
      }
      return n;
    },
    get size() {
      return sessions.size;
    },
    on(event: 'started' | 'ended', fn: (s: LiveSessionInfo) => void) {
      events.on(event, fn);
    },
  };
}

export type SessionRegistry = ReturnType<typeof makeSessionRegistry>;
