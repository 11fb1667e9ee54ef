// Idle gateway connections kept for the next statement, at most one per key, so a query does not pay a new TLS login to
// the PostgreSQL gateway (SCRAM, the upstream login, the session's audit) on every call. Each connection is one
// audited gateway session. An MCP session keeps one per (resource, database) (docs/agents.md, "Limits"); the console's
// query runner one per (console session, grant, database) (docs/console.md, "Query runner").
import type pg from 'pg';
import { socketOpen } from './gateway-sql.js';

/** An idle connection is closed after this long: its user has moved on, and its gateway session should end. */
export const POOLED_IDLE_MS = 60_000;

interface Idle {
  client: pg.Client;
  /** The grant and login it was opened under (MCP: the caller's token): it serves only calls under the same ones. */
  grant_id: string;
  login: string;
  timer: NodeJS.Timeout;
  /** Drops it from the pool when the gateway ends its session (grant ended, lock, kill) while it is idle. */
  onGone: () => void;
}

/** Where a connection is kept: a resource and a database of it (null: the resource's own). */
export function poolKey(resource: string, database: string | undefined | null): string {
  return `${resource}\u0000${database ?? ''}`;
}

export function makeGatewayPool(o: { idleMs?: number } = {}) {
  const idleMs = o.idleMs ?? POOLED_IDLE_MS;
  const idle = new Map<string, Idle>();
  let closed = false;

  function release(key: string, e: Idle): void {
    if (idle.get(key) === e) idle.delete(key);
    clearTimeout(e.timer);
    e.client.off('end', e.onGone);
    e.client.off('error', e.onGone);
  }

  function end(c: pg.Client): Promise<void> {
    return c.end().catch(() => {});
  }

  /** Closes every idle connection; settles once they are closed. */
  function closeIdle(): Promise<void> {
    const ending: Promise<void>[] = [];
    for (const [key, e] of idle) {
      release(key, e);
      ending.push(end(e.client));
    }
    return Promise.all(ending).then(() => {});
  }

  return {
    /**
     * The idle connection kept for `key`, taken out of the pool, when it was opened under this grant and login and
     * its socket is still open; otherwise undefined (and a kept one that does not fit is closed).
     */
    take(key: string, grant_id: string, login: string): pg.Client | undefined {
      const e = idle.get(key);
      if (!e) return undefined;
      release(key, e);
      if (e.grant_id === grant_id && e.login === login && socketOpen(e.client)) return e.client;
      void end(e.client);
      return undefined;
    },

    /** Keeps a connection whose statement finished with the connection idle, unless one is kept for `key` already. */
    give(key: string, client: pg.Client, grant_id: string, login: string): void {
      if (closed || idle.has(key) || !socketOpen(client)) return void end(client);
      const e: Idle = {
        client, grant_id, login,
        timer: setTimeout(() => {
          release(key, e);
          void end(client);
        }, idleMs),
        onGone: () => release(key, e),
      };
      e.timer.unref();
      client.once('end', e.onGone);
      client.once('error', e.onGone);
      idle.set(key, e);
    },

    /** Closes the idle connections that logged in under a grant (it ended). */
    dropGrant(grant_id: string): void {
      for (const [key, e] of idle) {
        if (e.grant_id !== grant_id) continue;
        release(key, e);
        void end(e.client);
      }
    },

    /** Closes every idle connection; later ones are kept again. */
    closeIdle,

    /** Its owner ended (the MCP session, the server): closes every idle connection, and any given back later. */
    close(): Promise<void> {
      closed = true;
      return closeIdle();
    },

    size: () => idle.size,
  };
}

export type GatewayPool = ReturnType<typeof makeGatewayPool>;
