// Schema migrations, run on every start; the same statements serve SQLite and PostgreSQL.
import { sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { DB } from './schema.js';
import { applySessionLifecycle } from './session-lifecycle.js';

const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('requests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('principal', 'text', (c) => c.notNull())
        .addColumn('resource', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('duration_seconds', 'integer', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('ticket', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('break_glass', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('auto_approved_by', 'text')
        .addColumn('extends_grant_id', 'text')
        .addColumn('grant_id', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('timeout_at', 'text', (c) => c.notNull())
        .addColumn('decided_at', 'text')
        .addColumn('decided_by', 'text')
        .addColumn('source_addr', 'text')
        .execute();
      await db.schema.createIndex('requests_status_timeout').on('requests').columns(['status', 'timeout_at']).execute();
      await db.schema.createIndex('requests_principal').on('requests').columns(['principal', 'created_at']).execute();

      await db.schema
        .createTable('reviews')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('request_id', 'text', (c) => c.notNull())
        .addColumn('reviewer', 'text', (c) => c.notNull())
        .addColumn('decision', 'text', (c) => c.notNull())
        .addColumn('comment', 'text')
        .addColumn('post_hoc', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute();
      // One review per reviewer per request: a second click cannot count twice, even from two processes.
      await db.schema.createIndex('reviews_once').on('reviews').columns(['request_id', 'reviewer', 'post_hoc']).unique().execute();

      await db.schema
        .createTable('grants')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('request_id', 'text', (c) => c.notNull().unique())
        .addColumn('principal', 'text', (c) => c.notNull())
        .addColumn('resource', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('starts_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('ended_at', 'text')
        .addColumn('end_reason', 'text')
        .addColumn('ended_by', 'text')
        .addColumn('break_glass', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('needs_review', 'integer', (c) => c.notNull().defaultTo(0))
        .execute();
      await db.schema.createIndex('grants_status_expires').on('grants').columns(['status', 'expires_at']).execute();
      await db.schema.createIndex('grants_principal_resource').on('grants').columns(['principal', 'resource', 'status']).execute();

      await db.schema
        .createTable('locks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('target_kind', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('lifted_at', 'text')
        .addColumn('lifted_by', 'text')
        .execute();

      await db.schema
        .createTable('tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('principal', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('scram_stored_key', 'text', (c) => c.notNull())
        .addColumn('scram_server_key', 'text', (c) => c.notNull())
        .addColumn('label', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('revoked_at', 'text')
        .addColumn('created_by', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('tokens_principal').on('tokens').columns(['principal']).execute();

      await db.schema
        .createTable('audit_events')
        .addColumn('seq', 'integer', (c) => c.primaryKey())
        .addColumn('time', 'text', (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text')
        .addColumn('source', 'text')
        .addColumn('details', 'text', (c) => c.notNull())
        .addColumn('prev_hash', 'text', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_events_time').on('audit_events').columns(['time']).execute();

      await db.schema
        .createTable('audit_head')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .execute();
      await sql`insert into audit_head (id, seq, hash) values (1, 0, ${'0'.repeat(64)})`.execute(db);

      await db.schema
        .createTable('grant_credentials')
        .addColumn('grant_id', 'text', (c) => c.primaryKey())
        .addColumn('resource', 'text', (c) => c.notNull())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('dropped_at', 'text')
        .execute();

      await db.schema
        .createTable('meta')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();
    },
  },
  '0002_console': {
    async up(db: Kysely<unknown>) {
      // Local console passwords: scrypt hashes with a per-principal salt (the salt is inside the hash text).
      await db.schema
        .createTable('passwords')
        .addColumn('principal', 'text', (c) => c.primaryKey())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('updated_by', 'text', (c) => c.notNull())
        .execute();

      // Console sessions: the cookie's value is kept only as its SHA-256; the row's id is what logs may name.
      await db.schema
        .createTable('console_sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('hash', 'text', (c) => c.notNull().unique())
        .addColumn('principal', 'text', (c) => c.notNull())
        .addColumn('method', 'text', (c) => c.notNull())
        .addColumn('token_id', 'text')
        .addColumn('source', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('console_sessions_principal').on('console_sessions').columns(['principal']).execute();
      await db.schema.createIndex('console_sessions_expires').on('console_sessions').columns(['expires_at']).execute();
    },
  },
  '0003_credential_drops': {
    async up(db: Kysely<unknown>) {
      // A per-grant role that could not be dropped stays on record, with its last error, until a retry succeeds.
      await db.schema.alterTable('grant_credentials').addColumn('drop_attempts', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('grant_credentials').addColumn('drop_error', 'text').execute();
      await db.schema.alterTable('grant_credentials').addColumn('next_drop_at', 'text').execute();
    },
  },
  '0004_tokens_minted_in_console': {
    async up(db: Kysely<unknown>) {
      // A token minted in a password console session is revoked when that session ends (sign-out, expiry).
      await db.schema.alterTable('tokens').addColumn('console_session_id', 'text').execute();
      await db.schema.createIndex('tokens_console_session').on('tokens').columns(['console_session_id']).execute();
    },
  },
  '0005_sessions': {
    async up(db: Kysely<unknown>) {
      // Gateway sessions, one row each, kept by the audit log in the same transaction as the session.start,
      // statement and session.end events that tell them (src/audit/session-rows.ts): the Sessions page reads
      // this instead of replaying the log.
      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('protocol', 'text', (c) => c.notNull())
        .addColumn('principal', 'text', (c) => c.notNull())
        .addColumn('resource', 'text')
        .addColumn('role', 'text')
        .addColumn('database', 'text')
        .addColumn('grant_id', 'text')
        .addColumn('token_id', 'text')
        .addColumn('source', 'text')
        .addColumn('gateway_instance', 'text')
        .addColumn('start_seq', 'integer', (c) => c.notNull())
        .addColumn('started_at', 'text', (c) => c.notNull())
        .addColumn('statements', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_statement_at', 'text')
        .addColumn('ended_at', 'text')
        .addColumn('end_reason', 'text')
        .addColumn('duration_ms', 'integer')
        .addColumn('killed_by', 'text')
        .execute();
      await db.schema.createIndex('sessions_started').on('sessions').columns(['started_at']).execute();
      await db.schema.createIndex('sessions_principal').on('sessions').columns(['principal', 'started_at']).execute();
      await db.schema.createIndex('sessions_grant').on('sessions').columns(['grant_id']).execute();
      await backfillSessions(db);

      // A token `airlock connect` mints for one grant: a newer one for the same grant and principal replaces it.
      await db.schema.alterTable('tokens').addColumn('grant_id', 'text').execute();
      await db.schema.createIndex('tokens_grant').on('tokens').columns(['grant_id', 'principal']).execute();
    },
  },
  '0006_token_mysql_verifier': {
    async up(db: Kysely<unknown>) {
      // MySQL clients prove the token with mysql_native_password, whose verifier is SHA1(SHA1(password)); tokens
      // made before this column log in to the MySQL gateway only over TLS.
      await db.schema.alterTable('tokens').addColumn('mysql_native_verifier', 'text').execute();
    },
  },
  '0007_ssh': {
    async up(db: Kysely<unknown>) {
      // The host key each ssh resource's address showed first (trust on first use, src/gateway/ssh/upstream.ts):
      // a later, different key refuses the session.
      await db.schema
        .createTable('ssh_known_hosts')
        .addColumn('resource', 'text', (c) => c.notNull())
        .addColumn('address', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull())
        .addColumn('first_seen', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('ssh_known_hosts_pk', ['resource', 'address'])
        .execute();
      // Public keys principals registered to log in to the SSH gateway (`airlock ssh-key add`); one principal per key.
      await db.schema
        .createTable('ssh_public_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('principal', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('fingerprint', 'text', (c) => c.notNull().unique())
        .addColumn('comment', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('created_by', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('ssh_public_keys_principal').on('ssh_public_keys').columns(['principal']).execute();
    },
  },
  '0008_statement_reviews': {
    async up(db: Kysely<unknown>) {
      // Statements held until a person approves that exact statement (src/access/statement-review-service.ts). The
      // approvals are a JSON list on the row: every change to it is made under the row's lock.
      await db.schema
        .createTable('statement_reviews')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('principal', 'text', (c) => c.notNull())
        .addColumn('principal_kind', 'text', (c) => c.notNull())
        .addColumn('resource', 'text', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('grant_id', 'text', (c) => c.notNull())
        .addColumn('session_id', 'text')
        .addColumn('protocol', 'text', (c) => c.notNull())
        .addColumn('database', 'text')
        .addColumn('statement', 'text', (c) => c.notNull())
        .addColumn('redacted', 'text')
        .addColumn('parameters', 'text')
        .addColumn('summary', 'text', (c) => c.notNull())
        .addColumn('binding', 'text', (c) => c.notNull())
        .addColumn('policy_hash', 'text', (c) => c.notNull())
        .addColumn('approvals_needed', 'integer', (c) => c.notNull())
        .addColumn('approvals', 'text', (c) => c.notNull())
        .addColumn('approver_groups', 'text', (c) => c.notNull())
        .addColumn('approver_principals', 'text', (c) => c.notNull())
        .addColumn('sponsor', 'text')
        .addColumn('source', 'text')
        .addColumn('instance', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('decided_at', 'text')
        .addColumn('decided_by', 'text')
        .addColumn('comment', 'text')
        .addColumn('end_reason', 'text')
        .addColumn('executed_at', 'text')
        .execute();
      await db.schema.createIndex('statement_reviews_status').on('statement_reviews').columns(['status', 'expires_at']).execute();
      await db.schema.createIndex('statement_reviews_binding').on('statement_reviews').columns(['grant_id', 'binding', 'status']).execute();
      await db.schema.createIndex('statement_reviews_principal').on('statement_reviews').columns(['principal', 'created_at']).execute();
      await db.schema.createIndex('statement_reviews_created').on('statement_reviews').columns(['created_at']).execute();
    },
  },
  '0009_notification_outbox': {
    async up(db: Kysely<unknown>) {
      // The notification outbox (src/notify/outbox.ts): one row per notice per channel, delivered with retries until
      // delivered or dead. UNIQUE (channel, key): processes of a cluster that build the same notice insert it once.
      await db.schema
        .createTable('notification_outbox')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('channel', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('event', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('subject_kind', 'text')
        .addColumn('subject_id', 'text')
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('notice_time', 'text', (c) => c.notNull())
        .addColumn('next_attempt_at', 'text', (c) => c.notNull())
        .addColumn('lease_until', 'text')
        .addColumn('lease_token', 'text')
        .addColumn('last_error', 'text')
        .addColumn('ref', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('delivered_at', 'text')
        .execute();
      await db.schema.createIndex('notification_outbox_once').on('notification_outbox').columns(['channel', 'key']).unique().execute();
      await db.schema.createIndex('notification_outbox_due').on('notification_outbox').columns(['status', 'next_attempt_at']).execute();
      await db.schema.createIndex('notification_outbox_subject').on('notification_outbox').columns(['channel', 'subject_kind', 'subject_id', 'notice_time']).execute();
      await db.schema.createIndex('notification_outbox_created').on('notification_outbox').columns(['created_at']).execute();
    },
  },
  '0010_identities': {
    async up(db: Kysely<unknown>) {
      // What the identity provider said about each person at their last single sign-on (src/identity/identities.ts):
      // the groups it gave them are read back into the policy until their next sign-in.
      await db.schema
        .createTable('identities')
        .addColumn('principal', 'text', (c) => c.primaryKey())
        .addColumn('source', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('email', 'text')
        .addColumn('listed', 'integer', (c) => c.notNull())
        .addColumn('groups', 'text', (c) => c.notNull())
        .addColumn('groups_from_idp', 'text', (c) => c.notNull())
        .addColumn('last_sign_in_at', 'text', (c) => c.notNull())
        .addColumn('session_expires_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('identities_subject').on('identities').columns(['source', 'subject']).execute();
    },
  },
  '0011_stored_credentials': {
    async up(db: Kysely<unknown>) {
      // Upstream passwords Airlock holds itself (src/credentials/stored-credentials.ts), encrypted at rest; a rotation
      // keeps the new one in pending_secret until the upstream has confirmed it, and leases the row while it runs.
      await db.schema
        .createTable('stored_credentials')
        .addColumn('resource', 'text', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('pending_secret', 'text')
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('set_at', 'text', (c) => c.notNull())
        .addColumn('set_by', 'text', (c) => c.notNull())
        .addColumn('rotated_at', 'text')
        .addColumn('rotation_lease_until', 'text')
        .addColumn('rotation_lease_token', 'text')
        .addColumn('last_error', 'text')
        .addColumn('last_error_at', 'text')
        .execute();
    },
  },
};

/** Sessions recorded before the table existed, from their session.start/kill/end events (counts from session.end). */
async function backfillSessions(db: Kysely<unknown>): Promise<void> {
  const rows = await sql<{ seq: number; time: string; actor: string; action: string; target: string | null; source: string | null; details: string }>`
    select seq, time, actor, action, target, source, details from audit_events
    where action in ('session.start', 'session.kill', 'session.end') order by seq`.execute(db);
  // The table as this migration made it has the columns the current rule writes.
  for (const r of rows.rows) await applySessionLifecycle(db as Kysely<DB>, r);
}

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
