// What every protocol front-end needs from the services below it: authenticate, plan a session, register it, audit it.
import type { Grant, Principal, AuditInput } from '../domain/model.js';
import type { ResourceDef, RoleDef } from '../policy/schema.js';
import type { GuardrailConfig } from '../inspect/index.js';
import type { SessionRegistry } from '../access/session-registry.js';
import type { ErrorCode } from '../domain/errors.js';
import type { UpstreamLogin } from '../credentials/provider.js';
import type { Log } from '../domain/log.js';
import type { GatewayProtocol } from './core/session-lifecycle.js';
import type { Recordings } from '../audit/recordings.js';
import type { StatementReviewService } from '../access/statement-reviews.js';
import type { SessionMasking } from '../domain/masking.js';

export type { UpstreamLogin } from '../credentials/provider.js';

/** Everything decided once when a session opens. */
export interface SessionPlan {
  principal: Principal;
  grant: Grant;
  resource: ResourceDef;
  role: RoleDef;
  upstream: UpstreamLogin;
  guardrails: GuardrailConfig;
  read_only: boolean;
  /** The role's column masking with its keys read; null when the role masks nothing (docs/masking.md). */
  masking: SessionMasking | null;
}

export interface ScramCredentials {
  salt: Buffer;
  iterations: number;
  /** One entry per valid (unexpired, unrevoked) token of the principal; empty when none or unknown principal. */
  keys: { token_id: string; stored_key: Buffer; server_key: Buffer; expires_at?: string }[];
}

/** mysql_native_password verifiers, SHA1(SHA1(token)), of a principal's valid tokens. */
export interface MysqlNativeCredentials {
  keys: { token_id: string; verifier: Buffer; expires_at?: string }[];
  /** Valid tokens made before verifiers were stored: they log in only over TLS (cleartext checked in full). */
  without_verifier: number;
}

export interface GatewayAccess {
  /** mysql_native_password material for a principal's tokens (empty when none or unknown principal). */
  mysqlNativeCredentials(principalName: string): Promise<MysqlNativeCredentials>;
  /** SCRAM-SHA-256 material for a principal's tokens (see src/domain/scram.ts). */
  scramCredentials(principalName: string): Promise<ScramCredentials>;
  /** After a successful SCRAM exchange: re-checks the token (expiry, revocation, locks) and returns the principal. */
  principalByToken(principalName: string, tokenId: string): Promise<Principal>;
  /** Checks an access token for a principal name; throws AirlockError (AIRLOCK_TOKEN_INVALID / _EXPIRED / AIRLOCK_UNKNOWN_PRINCIPAL). */
  authenticate(principalName: string, token: string): Promise<Principal>;
  /**
   * Finds the principal's active grant for the resource and builds the session plan; throws AirlockError
   * (AIRLOCK_UNKNOWN_RESOURCE, AIRLOCK_NO_GRANT, AIRLOCK_LOCKED) whose message tells the user what to do.
   * `database` is the optional part after "/" in "resource/dbname". `protocol`: the front-end asking (default
   * postgres); a resource of another kind is refused with AIRLOCK_UNKNOWN_RESOURCE naming the listener to use.
   */
  planSession(principal: Principal, resource: string, database: string | undefined, protocol?: GatewayProtocol): Promise<SessionPlan>;
  /** The policy version in force now: a statement approval is bound to it (src/access/statement-binding.ts). */
  policyHash?(): string;
}

/** Audit events from the gateways, batched. */
export interface AuditSink {
  /**
   * Durable before the returned promise resolves (session start and end, refusals). `urgent`: the caller holds
   * something back until then (a statement that may write), so the event goes in the next commit without waiting
   * for company.
   */
  append(event: AuditInput, how?: { urgent?: boolean }): Promise<void>;
  /**
   * A statement: queued behind everything appended before it and committed with its batch (an `append` after it
   * resolves only once it is committed too), with no promise of its own; `onError` hears if its batch failed.
   */
  appendLazy(event: AuditInput, onError: (err: unknown) => void): void;
}

/**
 * What a gateway counts for /metrics (src/metrics.ts, docs/metrics.md). Called on the hot path, so an implementation
 * bumps plain fields and allocates nothing; the registry reads them when scraped.
 */
export interface GatewayMetrics {
  sessionStarted(): void;
  /** A connection refused before its session opened, with the code its client read. */
  sessionRefused(code: ErrorCode): void;
  /** `durationMs` as audited (0 for a refused statement). */
  statement(decision: 'allowed' | 'refused', rule: string | null, durationMs: number): void;
  /** Bytes written to each side of the sessions, added per write. */
  readonly bytes: RelayedBytes;
}

export interface RelayedBytes {
  toUpstream: number;
  toClient: number;
}

export interface GatewayDeps {
  access: GatewayAccess;
  sessions: SessionRegistry;
  audit: AuditSink;
  /** This process's id (recorded in session.start), so a later start can tell whose sessions were left open. */
  instance?: string;
  metrics?: GatewayMetrics;
  /** Where SSH and exec sessions are recorded (src/audit/recordings.ts); the SQL front-ends do not use it. */
  recordings?: Recordings;
  /** Statement reviews (a role's `review:` rule): the SQL front-ends hold such statements until a person decides. */
  statementReviews?: StatementReviewService;
  log: Log;
}
