// Builds the real access services on a real store (SQLite file in a temp dir, or a fresh PostgreSQL database).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../src/store/store.js';
import { makeAuditLog, type AuditLog } from '../../src/audit/audit-log.js';
import { makeAccess, type Access } from '../../src/access/access.js';
import { parsePolicy } from '../../src/policy/load.js';
import type { Policy } from '../../src/policy/compile.js';
import { manualClock, type Clock } from '../../src/domain/clock.js';
import type { AuditEvent, Caller } from '../../src/domain/model.js';
import { createTestDatabase } from './pg.js';

export const TEST_POLICY = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
  - { name: carol, groups: [dba] }
  - { name: dave, groups: [engineers, oncall] }
  - { name: sec, groups: [security] }
  - { name: agent-1, kind: agent, groups: [agents] }
admins: { groups: [security] }
auditors: { groups: [security] }
resources:
  - { name: prod-orders, kind: postgres, address: "127.0.0.1:5432", database: orders, labels: { env: prod, team: payments } }
  - { name: staging-orders, kind: postgres, address: "127.0.0.1:5432", database: orders, labels: { env: staging } }
  - { name: bastion, kind: ssh, address: "127.0.0.1:22", labels: { env: prod } }
roles:
  - name: read
    resources: { labels: { env: prod } }
    privileges: { sql: read }
    max_duration: 4h
    requestable_by: { groups: [engineers, agents] }
    approval:
      approver_groups: [dba]
      auto_approve:
        - { requester_groups: [oncall], max_duration: 1h }
    justification: { required: true, pattern: "^[A-Z]+-[0-9]+", hint: "Start with a ticket such as OPS-123." }
    pending_timeout: 10m
  - name: write
    resources: { names: [prod-orders] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers, dba] }
    approval: { approvals: 2, approver_groups: [dba] }
    break_glass: true
  - name: self-ok
    resources: { names: [staging-orders] }
    max_duration: 2h
    requestable_by: { groups: [dba] }
    approval: { approver_groups: [dba], allow_self_approval: true }
    justification: { required: false }
`;

export type StoreKind = 'sqlite' | 'postgres';
export const STORE_KINDS: StoreKind[] = ['sqlite', 'postgres'];

export interface Harness {
  store: Store;
  access: Access;
  policy: Policy;
  clock: ReturnType<typeof manualClock>;
  caller(name: string, source?: string): Caller;
  close(): Promise<void>;
}

/** Every event of the log, in seq order. */
export async function auditEvents(audit: AuditLog): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const e of audit.events()) out.push(e);
  return out;
}

/** A fresh store of `kind`; `url` opens the same store again (another connection, another thread). */
export async function openTestStore(kind: StoreKind): Promise<{ store: Store; url: string; cleanup: () => Promise<void> }> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'airlock-store-'));
    const url = join(dir, 'airlock.db');
    const store = await openStore({ url });
    return { store, url, cleanup: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); } };
  }
  const db = await createTestDatabase('airlock_store');
  const store = await openStore({ url: db.url });
  return { store, url: db.url, cleanup: async () => { await store.close(); await db.drop(); } };
}

export async function makeHarness(kind: StoreKind, opts: { policy?: string; clock?: Clock; start?: string } = {}): Promise<Harness> {
  const { store, cleanup } = await openTestStore(kind);
  const clock = manualClock(opts.start ?? '2026-03-02T10:00:00.000Z');
  const policy = parsePolicy(opts.policy ?? TEST_POLICY, 'test.yaml');
  const audit = makeAuditLog({ store, clock });
  const access = makeAccess({ store, clock: opts.clock ?? clock, audit, policy: () => policy });
  return {
    store,
    access,
    policy,
    clock,
    caller: (name, source = '127.0.0.1') => {
      const principal = policy.principal(name);
      if (!principal) throw new Error(`no principal ${name} in the test policy`);
      return { principal, source, token_id: null };
    },
    async close() {
      await access.expiry.stop();
      await audit.flush();
      await cleanup();
    },
  };
}
