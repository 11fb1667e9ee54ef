// At start-up, sessions an earlier run left without an end get `session.end` "gateway stopped" — but not those a
// live process holds (PostgreSQL store: seen in pg_stat_activity by its change channel's application name).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { makeAuditLog } from '../../src/audit/audit-log.js';
import { systemClock } from '../../src/domain/clock.js';
import { endUnendedSessions, instanceAppName, liveInstances } from '../../src/access/unended-sessions.js';
import { STORE_KINDS, auditEvents, openTestStore } from '../support/harness.js';

for (const kind of STORE_KINDS) {
  test(`${kind}: open sessions of stopped processes get "gateway stopped"; a live process's are left, once each`, async () => {
    const { store, url, cleanup } = await openTestStore(kind);
    const audit = makeAuditLog({ store, clock: systemClock });
    // A live process: on PostgreSQL, a connection named as cluster.ts names its change channel.
    const live = kind === 'postgres' ? new pg.Client({ connectionString: url, application_name: instanceAppName('inst-live') }) : null;
    await live?.connect();
    try {
      const start = (sid: string, instance: string | null) => ({ actor: 'alice', action: 'session.start', target: 'db', source: '127.0.0.1', details: { session_id: sid, grant_id: 'grt_1', gateway_instance: instance } });
      await store.transaction((trx) => audit.appendInTx(trx, [
        start('ses_dead', 'inst-dead'),
        start('ses_live', 'inst-live'),
        start('ses_closed', 'inst-dead'),
        { actor: 'alice', action: 'session.end', target: 'db', source: '127.0.0.1', details: { session_id: 'ses_closed', reason: 'client closed' } },
      ]));
      const ended = await endUnendedSessions({ store, audit, clock: systemClock, instance: 'inst-new', live: () => liveInstances(store) });
      const ends = (await auditEvents(audit)).filter((e) => e.action === 'session.end');
      const stopped = ends.filter((e) => e.details.reason === 'gateway stopped').map((e) => e.details.session_id).sort();
      // SQLite is one process's store: every open session is from an earlier run.
      assert.deepEqual(stopped, kind === 'postgres' ? ['ses_dead'] : ['ses_dead', 'ses_live']);
      assert.equal(ended, stopped.length);
      const end = ends.find((e) => e.details.session_id === 'ses_dead')!;
      assert.deepEqual([end.actor, end.target, end.source, end.details.grant_id], ['alice', 'db', '127.0.0.1', 'grt_1']);
      // Again (another start): nothing is ended twice; the live process's session is still looked at.
      assert.equal(await endUnendedSessions({ store, audit, clock: systemClock, instance: 'inst-newer', live: () => liveInstances(store) }), 0);
      if (live) {
        await live.end();
        // Its backend leaves pg_stat_activity a moment after the client closes.
        for (const until = Date.now() + 5000; (await liveInstances(store))!.has('inst-live'); ) {
          assert.ok(Date.now() < until, 'the closed connection left pg_stat_activity');
          await new Promise((r) => setTimeout(r, 20));
        }
        const n = await endUnendedSessions({ store, audit, clock: systemClock, instance: 'inst-newest', live: () => liveInstances(store) });
        assert.equal(n, 1, 'once its process is gone, its session gets its end');
      }
      assert.ok((await audit.verify()).ok);
    } finally {
      await live?.end().catch(() => {});
      await cleanup();
    }
  });
}
