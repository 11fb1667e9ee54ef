// The attack a plain hash chain cannot see: rewrite the audit log in the store and recompute every hash and the head,
// from the documented encoding alone (docs/audit.md), as someone with write access to the whole store could.
import { createHash } from 'node:crypto';
import type { Store, AuditRow } from '../../src/store/store.js';
import type { AuditEvent } from '../../src/domain/model.js';
import { canonicalJson } from '../../src/domain/canonical-json.js';

const GENESIS = '0'.repeat(64);

/** hex(SHA-256(canonical({ seq, time, actor, action, target, source, details, prev_hash }))), per docs/audit.md. */
export function attackerHash(e: Omit<AuditEvent, 'hash'>): string {
  const { seq, time, actor, action, target, source, details, prev_hash } = e;
  return createHash('sha256').update(canonicalJson({ seq, time, actor, action, target, source, details, prev_hash }), 'utf8').digest('hex');
}

export async function readAll(store: Store): Promise<AuditEvent[]> {
  const rows = await store.db.selectFrom('audit_events').selectAll().orderBy('seq').execute();
  return rows.map((r) => ({ seq: Number(r.seq), time: r.time, actor: r.actor, action: r.action, target: r.target, source: r.source, details: JSON.parse(r.details) as Record<string, unknown>, prev_hash: r.prev_hash, hash: r.hash }));
}

/**
 * Lets `edit` change, drop or add events, then renumbers them from 1, recomputes every prev_hash and hash, and writes
 * the log and the head row back: the result verifies as a chain.
 */
export async function rewriteChain(store: Store, edit: (events: AuditEvent[]) => AuditEvent[]): Promise<void> {
  const events = edit(await readAll(store));
  let prev = GENESIS;
  const rows: AuditRow[] = events.map((e, i) => {
    const unhashed = { ...e, seq: i + 1, prev_hash: prev };
    const hash = attackerHash(unhashed);
    prev = hash;
    return { seq: i + 1, time: e.time, actor: e.actor, action: e.action, target: e.target, source: e.source, details: canonicalJson(e.details), prev_hash: unhashed.prev_hash, hash };
  });
  await store.transaction(async (trx) => {
    await trx.deleteFrom('audit_events').execute();
    if (rows.length) await store.insertAuditRows(trx, rows);
    await trx.updateTable('audit_head').set({ seq: rows.length, hash: prev }).where('id', '=', 1).execute();
  });
}
