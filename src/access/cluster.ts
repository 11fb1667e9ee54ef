// Several processes on one PostgreSQL store: each LISTENs for the others' committed changes, so a revocation, an
// expiry or a lock made anywhere ends the live sessions held here within a second, and watchers here see it too.
import pg from 'pg';
import type { Access } from './access.js';
import type { Change } from './change-bus.js';
import { CHANGE_CHANNEL } from './unit-of-work.js';
import { instanceAppName } from './unended-sessions.js';
import type { Log } from '../domain/log.js';

export function attachClusterFanout(access: Access, storeUrl: string, log: Pick<Log, 'info' | 'warn'>) {
  let client: pg.Client | null = null;
  let stopped = false;
  let retry: NodeJS.Timeout | null = null;

  function onChange(c: Change): void {
    if (c.origin === access.bus.origin) return;
    access.bus.publish([c]);
    if (c.kind === 'grant' && (c.event === 'expired' || c.event === 'revoked')) {
      const n = access.sessions.ended({ grant_id: c.id }, c.message ?? `your grant for ${c.resource} ended`);
      if (n) log.info({ grant_id: c.id, sessions: n, origin: c.origin }, 'ended live sessions of a grant ended by another process');
    } else if (c.kind === 'session' && c.event === 'kill') {
      access.kills.onRequest(c).then(
        (ended) => ended && log.info({ session_id: c.id, by: c.kill?.actor, origin: c.origin }, 'ended a live session killed through another process'),
        (e: unknown) => log.warn({ session_id: c.id, err: e instanceof Error ? e.message : String(e) }, 'could not end a session killed through another process'),
      );
    } else if (c.kind === 'grant' && c.event === 'activated') {
      void access.grants.get(c.id).then((g) => g && access.expiry.add('grant', g.id, g.expires_at));
    }
  }

  async function connect(): Promise<void> {
    // Named after this process, so another one starting can tell that the sessions it holds are live.
    const c = new pg.Client({ connectionString: storeUrl, application_name: instanceAppName(access.bus.origin) });
    c.on('notification', (n) => {
      if (n.channel !== CHANGE_CHANNEL || !n.payload) return;
      try {
        onChange(JSON.parse(n.payload) as Change);
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'ignored a malformed change notification');
      }
    });
    c.on('error', (e) => {
      log.warn({ err: e.message }, 'lost the change channel to the store; reconnecting');
      client = null;
      void c.end().catch(() => {});
      schedule();
    });
    await c.connect();
    await c.query(`LISTEN ${CHANGE_CHANNEL}`);
    client = c;
    // What changed while we were not listening is read from the store by the scheduler's resync.
    await access.expiry.resync().catch(() => {});
  }

  function schedule(): void {
    if (stopped || retry) return;
    retry = setTimeout(() => {
      retry = null;
      connect().catch(() => schedule());
    }, 1000);
  }

  return {
    async start(): Promise<void> {
      await connect();
    },
    async stop(): Promise<void> {
      stopped = true;
      if (retry) clearTimeout(retry);
      await client?.end().catch(() => {});
    },
  };
}
