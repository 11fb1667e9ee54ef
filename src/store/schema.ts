// The tables, as Kysely sees them: the domain's records (domain/model.ts) with their stored encodings. Times are
// ISO-8601 UTC text (fixed width, so text order is time order); booleans are 0/1 integers so SQLite and PostgreSQL read the same.
import type { Generated } from 'kysely';
import type { AccessRequest, AuditEvent, Grant, Lock, Review, TokenRecord } from '../domain/model.js';

/** A domain record as a row: the named boolean fields stored as 0/1. */
type Row<T, Booleans extends keyof T = never> = Omit<T, Booleans> & { [K in Booleans]: number };

export type RequestsTable = Row<AccessRequest, 'break_glass'>;

export type ReviewsTable = Row<Review, 'post_hoc'>;

export type GrantsTable = Row<Grant, 'break_glass' | 'needs_review'>;

export type LocksTable = Lock;

export interface TokensTable extends TokenRecord {
  /** SHA-256 of the token, hex. */
  hash: string;
  /** SCRAM-SHA-256 StoredKey and ServerKey, hex: database clients log in with the token without it being stored. */
  scram_stored_key: string;
  scram_server_key: string;
  /** SHA1(SHA1(token)), hex, for mysql_native_password logins; null for tokens made before it was stored. */
  mysql_native_verifier?: string | null;
  /** The password console session it was minted in, which it cannot outlive; null otherwise. */
  console_session_id?: string | null;
  /** The grant `airlock connect` minted it for: a newer connect token for that grant replaces it. */
  grant_id?: string | null;
}

/** The details object as canonical JSON text (the text the hash covers). */
export type AuditEventsTable = Omit<AuditEvent, 'details'> & { details: string };

/** One row (id = 1) holding the chain's last seq and hash; locking it serialises appends across processes. */
export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

export interface GrantCredentialsTable {
  grant_id: string;
  resource: string;
  username: string;
  /** AES-256-GCM ciphertext of the per-grant password. */
  secret: string;
  created_at: string;
  dropped_at: string | null;
  /** Failed attempts to drop the role since its grant ended; a pending drop has dropped_at null and next_drop_at set. */
  drop_attempts: Generated<number>;
  drop_error: string | null;
  next_drop_at: string | null;
}

/** An upstream password Airlock holds itself (`password: { stored: true }`), AES-256-GCM encrypted with its resource as context. */
export interface StoredCredentialsTable {
  resource: string;
  username: string;
  secret: string;
  /** A rotation's new password until the upstream has confirmed it; the gateway keeps using `secret` meanwhile. */
  pending_secret: string | null;
  /** 1 when set, +1 at each set or rotation. */
  version: number;
  set_at: string;
  set_by: string;
  rotated_at: string | null;
  /** A rotation in progress (one process at a time, across a cluster) until this time. */
  rotation_lease_until: string | null;
  /** Which rotation holds the lease: its writes are conditioned on it, so one that lost the lease changes nothing. */
  rotation_lease_token: string | null;
  /** Why the last rotation failed; cleared by the next success. */
  last_error: string | null;
  last_error_at: string | null;
}

export interface PasswordsTable {
  principal: string;
  /** scrypt$N$r$p$salt$key (base64url parts). */
  hash: string;
  updated_at: string;
  updated_by: string;
}

export interface ConsoleSessionsTable {
  id: string;
  /** SHA-256 of the session cookie's value, hex. */
  hash: string;
  principal: string;
  /** 'password' or 'token'. */
  method: string;
  /** The access token signed in with; the session ends when that token does. */
  token_id: string | null;
  source: string | null;
  created_at: string;
  expires_at: string;
}

/** One gateway session, kept from its audit events in the same transaction (src/audit/session-rows.ts). */
export interface SessionsTable {
  id: string;
  protocol: string;
  principal: string;
  resource: string | null;
  role: string | null;
  database: string | null;
  grant_id: string | null;
  token_id: string | null;
  source: string | null;
  gateway_instance: string | null;
  /** The seq of its session.start event: its statement timeline is read from there. */
  start_seq: number;
  started_at: string;
  /**
   * Statements so far: each counted when its first event is written (statement.start for one that may write,
   * which is logged before it runs; statement otherwise); the count in session.end replaces it.
   */
  statements: Generated<number>;
  last_statement_at: string | null;
  ended_at: string | null;
  end_reason: string | null;
  duration_ms: number | null;
  killed_by: string | null;
}

/** The host key an ssh resource's address showed first (trust on first use). */
export interface SshKnownHostsTable {
  resource: string;
  /** host:port as the resource names it. */
  address: string;
  /** The public line, "ssh-ed25519 AAAA…". */
  key: string;
  /** SHA256:… as ssh-keygen -l prints it. */
  fingerprint: string;
  first_seen: string;
}

/** A public key a principal registered to log in to the SSH gateway. */
export interface SshPublicKeysTable {
  id: string;
  principal: string;
  /** The public line, "ssh-ed25519 AAAA…". */
  key: string;
  /** SHA256:… as ssh-keygen -l prints it; a key belongs to one principal only. */
  fingerprint: string;
  comment: string | null;
  created_at: string;
  created_by: string;
}

/** A held statement and its review: JSON text in parameters, summary, approvals and the approver lists. */
export interface StatementReviewsTable {
  id: string;
  status: string;
  principal: string;
  principal_kind: string;
  resource: string;
  role: string;
  grant_id: string;
  session_id: string | null;
  protocol: string;
  database: string | null;
  /** The exact text, for reviewers only; the audit log gets `redacted`. */
  statement: string;
  redacted: string | null;
  parameters: string | null;
  summary: string;
  binding: string;
  policy_hash: string;
  approvals_needed: number;
  approvals: string;
  approver_groups: string;
  approver_principals: string;
  sponsor: string | null;
  source: string | null;
  /** The process (change bus origin) whose session holds it: a restart withdraws only a gone process's reviews. */
  instance: string | null;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  decided_by: string | null;
  comment: string | null;
  end_reason: string | null;
  executed_at: string | null;
}

/** One notice for one channel in the outbox (src/notify/outbox.ts); payload is the notice as JSON text. */
export interface NotificationOutboxTable {
  id: string;
  channel: string;
  kind: string;
  event: string;
  /** noticeKey(notice): with channel, unique, so a notice is one message per channel. */
  key: string;
  subject_kind: string | null;
  subject_id: string | null;
  payload: string;
  /** pending | sending | delivered | dead */
  status: string;
  attempts: Generated<number>;
  /** The notice's own time: the order its subject's messages go out in. */
  notice_time: string;
  next_attempt_at: string;
  /** While sending: when the claim lapses (its process died) and which claim holds it. */
  lease_until: string | null;
  lease_token: string | null;
  last_error: string | null;
  /** What the channel's delivery left for later messages on the same subject (a Slack message's ts). */
  ref: string | null;
  created_at: string;
  updated_at: string;
  delivered_at: string | null;
}

export interface MetaTable {
  key: string;
  value: string;
}

/** One person's last single sign-on: the Airlock groups it gave them (JSON) and the IdP's own group names (JSON). */
export interface IdentitiesTable {
  principal: string;
  source: string;
  subject: string;
  email: string | null;
  /** 1 when the principal is in the policy file, 0 when signed in as an unlisted person (allow_unlisted). */
  listed: number;
  groups: string;
  groups_from_idp: string;
  last_sign_in_at: string;
  session_expires_at: string;
}

export interface DB {
  requests: RequestsTable;
  reviews: ReviewsTable;
  grants: GrantsTable;
  locks: LocksTable;
  tokens: TokensTable;
  audit_events: AuditEventsTable;
  audit_head: AuditHeadTable;
  grant_credentials: GrantCredentialsTable;
  meta: MetaTable;
  passwords: PasswordsTable;
  console_sessions: ConsoleSessionsTable;
  sessions: SessionsTable;
  ssh_known_hosts: SshKnownHostsTable;
  ssh_public_keys: SshPublicKeysTable;
  statement_reviews: StatementReviewsTable;
  notification_outbox: NotificationOutboxTable;
  identities: IdentitiesTable;
  stored_credentials: StoredCredentialsTable;
  _unused?: { id: Generated<number> };
}
