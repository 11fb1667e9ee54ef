// Changes to requests, grants, locks and statement reviews, told to whoever watches (the SSE stream, `--wait`, the console)
// after they are committed.
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { LiveSessionInfo } from './session-registry.js';
import type { KillRequest } from './session-kill.js';

export type ChangeKind = 'request' | 'grant' | 'lock' | 'session' | 'policy' | 'token' | 'statement_review';

export interface Change {
  kind: ChangeKind;
  id: string;
  /** e.g. 'created', 'approved', 'denied', 'expired', 'revoked'. */
  event: string;
  status?: string;
  principal?: string;
  resource?: string;
  role?: string;
  time: string;
  /** Who made the change, when a person did (a review, a cancellation): a page can tell its viewer's own doing. */
  actor?: string;
  /** For a grant that ended or a token revoked: the sentence its live sessions are ended with. */
  message?: string;
  /** The process that made the change (set when changes travel between processes). */
  origin?: string;
  /** event 'kill': an admin's kill of a session that may be held by another process (see session-kill.ts). */
  kill?: KillRequest;
  /** event 'killed': the session the process that held it has ended. */
  session?: LiveSessionInfo;
}

export function makeChangeBus() {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    /** This process's id, so a process can tell its own changes from others' when they come back over the store. */
    origin: randomUUID(),
    publish(changes: Change[]): void {
      for (const c of changes) emitter.emit('change', c);
    },
    subscribe(fn: (c: Change) => void): () => void {
      emitter.on('change', fn);
      return () => emitter.off('change', fn);
    },
  };
}

export type ChangeBus = ReturnType<typeof makeChangeBus>;
