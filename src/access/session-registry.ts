// The live sessions of this process: every gateway registers its connections here so that
// expiry, revocation, locks and an admin's kill can end them within a second.
import { EventEmitter } from 'node:events';
import { systemClock, type Clock } from '../domain/clock.js';
import { DueQueue } from './expiry.js';

export interface LiveSessionInfo {
  id: string;
  protocol: string;
  principal: string;
  resource: string;
  role: string;
  grant_id: string;
  started_at: string;
  source: string | null;
  /** Statements answered (or refused) so far. */
  statements: number;
  /** Statements sent to the database and not answered yet. */
  readonly statements_running?: number;
  /** The access token the session logged in with: revoking it ends the session. */
  token_id?: string | null;
  /** When that token expires: the session ends then, at the second. */
  token_expires_at?: string | null;
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
  token_id?: string;
}

/**
 * How many ended grants and revoked tokens the registry remembers. A session is planned before it registers (the
 * upstream login and session.start come in between): one planned before its grant or token ended and registered after
 * the end was acted on must still be cut. Ids never come back, so only the count is bounded, far above the number of
 * ends that can happen during one login.
 */
const REMEMBERED_ENDS = 10_000;

/** Longest single wait of the token-expiry timer (a later expiry is re-armed from there). */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function makeSessionRegistry(deps: { clock?: Clock } = {}) {
  const clock = deps.clock ?? systemClock;
  const sessions = new Map<string, LiveSession>();
  const events = new EventEmitter();
  // The tokens' expiries, earliest first, with one timer for the earliest: a token's end is acted on at the
  // second, like a grant's, not noticed at the next login. One entry per token (not per session, so reconnecting
  // clients do not grow the queue), queued while it has sessions here or until it has expired.
  const tokenExpiries = new DueQueue();
  const queuedTokens = new Set<string>();
  const byToken = new Map<string, Set<LiveSession>>();
  let timer: NodeJS.Timeout | null = null;
  let timerAt = Infinity;
  // Ended grants and revoked tokens, with the reason their sessions were given; oldest first (Map order).
  const endedGrants = new Map<string, string>();
  const endedTokens = new Map<string, string>();

  function remember(ended: Map<string, string>, id: string, reason: string): void {
    if (ended.has(id)) return;
    ended.set(id, reason);
    if (ended.size > REMEMBERED_ENDS) ended.delete(ended.keys().next().value!);
  }

  function armTokenTimer(): void {
    const next = tokenExpiries.peek();
    if (!next) {
      if (timer) clearTimeout(timer);
      timer = null;
      timerAt = Infinity;
      return;
    }
    if (timer && timerAt <= next.at) return;
    if (timer) clearTimeout(timer);
    timerAt = next.at;
    timer = setTimeout(endExpiredTokens, Math.min(MAX_TIMER_MS, Math.max(0, next.at - clock.now().getTime())));
    timer.unref();
  }

  function endExpiredTokens(): void {
    timer = null;
    timerAt = Infinity;
    const now = clock.now().getTime();
    while (tokenExpiries.size > 0 && tokenExpiries.peek()!.at <= now) {
      const id = tokenExpiries.pop()!.id;
      queuedTokens.delete(id);
      for (const s of [...(byToken.get(id) ?? [])]) {
        s.kill(`the access token this session logged in with expired at ${s.info.token_expires_at}; connect again with a valid token`);
      }
    }
    armTokenTimer();
  }

  function matches(s: LiveSessionInfo, m: SessionMatch): boolean {
    return (
      (m.grant_id === undefined || s.grant_id === m.grant_id) &&
      (m.principal === undefined || s.principal === m.principal) &&
      (m.resource === undefined || s.resource === m.resource) &&
      (m.role === undefined || s.role === m.role) &&
      (m.session_id === undefined || s.id === m.session_id) &&
      (m.token_id === undefined || s.token_id === m.token_id)
    );
  }

  return {
    /** Adds a session; returns the function that removes it when the connection closes. */
    register(session: LiveSession): () => void {
      sessions.set(session.info.id, session);
      events.emit('started', session.info);
      const { token_id: tokenId, token_expires_at: expires } = session.info;
      if (tokenId && expires) {
        let set = byToken.get(tokenId);
        if (!set) byToken.set(tokenId, (set = new Set()));
        set.add(session);
        if (!queuedTokens.has(tokenId)) {
          queuedTokens.add(tokenId);
          tokenExpiries.push({ at: Date.parse(expires), kind: 'token', id: tokenId });
          armTokenTimer();
        }
      }
      return function unregister() {
        if (tokenId) {
          const set = byToken.get(tokenId);
          if (set?.delete(session) && set.size === 0) byToken.delete(tokenId);
        }
        if (sessions.delete(session.info.id)) events.emit('ended', session.info);
      };
    },
    list(m: SessionMatch = {}): LiveSessionInfo[] {
      return [...sessions.values()].map((s) => s.info).filter((s) => matches(s, m));
    },
    /**
     * A grant ended or a token was revoked: its sessions end now with `reason`, and so does any session of it that
     * registers later (it was planned before the end); returns how many ended now.
     */
    ended(m: { grant_id: string } | { token_id: string }, reason: string): number {
      if ('grant_id' in m) remember(endedGrants, m.grant_id, reason);
      else remember(endedTokens, m.token_id, reason);
      return this.kill(m, reason);
    },
    /** Why a session with this grant and token may not run any more (its grant ended or token was revoked), or null. */
    endedReason(info: Pick<LiveSessionInfo, 'grant_id' | 'token_id'>): string | null {
      return endedGrants.get(info.grant_id) ?? (info.token_id ? endedTokens.get(info.token_id) : undefined) ?? null;
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
