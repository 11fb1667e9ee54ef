// Policies used by the end-to-end tests: short durations so expiry can be watched in real time.
import { adminUrl } from './pg.js';
export const E2E_POLICY = `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
  - { name: sec, groups: [security] }
admins: { groups: [security] }
auditors: { groups: [security] }
resources:
  - { name: prod-orders, kind: postgres, address: "127.0.0.1:5432", database: orders, labels: { env: prod } }
roles:
  - name: read
    resources: { labels: { env: prod } }
    max_duration: 4h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: true, pattern: "^[A-Z]+-[0-9]+", hint: "Start with a ticket such as OPS-123." }
    pending_timeout: 30m
`;

/**
 * alice (engineers) asks and bob (dba, an admin) approves `read` on orders-db: the test database DB on the tests'
 * PostgreSQL, reached with a per-grant role made by its admin user, whose password the server reads from PASSWORD_ENV.
 * `auditor` makes bob an auditor too; `labels` adds `env: prod`; `tail` is appended (e.g. a notify section).
 */
export function ordersDbPolicy(db: { name: string }, passwordEnv: string, opts: { auditor?: boolean; labels?: boolean; tail?: string } = {}): string {
  const up = new URL(adminUrl());
  return `
version: 1
principals:
  - { name: alice, groups: [engineers] }
  - { name: bob, groups: [dba] }
admins: { principals: [bob] }
${opts.auditor ? 'auditors: { principals: [bob] }\n' : ''}resources:
  - name: orders-db
    kind: postgres
    address: "${up.hostname}:${up.port || 5432}"
    database: ${db.name}
${opts.labels ? '    labels: { env: prod }\n' : ''}    credential: { username: ${decodeURIComponent(up.username) || 'postgres'}, password: { env: ${passwordEnv} }, mode: per_grant_role }
roles:
  - name: read
    resources: { names: [orders-db] }
    privileges: { sql: read }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
${opts.tail ?? ''}`;
}
