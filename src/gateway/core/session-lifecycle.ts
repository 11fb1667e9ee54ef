// What every gateway front-end does the same way once a login is planned: the session id, its audit events
// (session.start, statement.start / statement, session.end, session.refused), the session registry, the metrics, and
// the rule that a session nobody can audit does not run. The protocol (wire format, authentication, relay) stays in
// the front-end: postgres/ today; mysql/, ssh/ and exec/ (commands instead of statements) use the same handle.
import { AirlockError, type ErrorCode } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import type { LiveSessionInfo } from '../../access/session-registry.js';
import type { GatewayDeps, SessionPlan } from '../types.js';

/** The front-ends. A new one adds its name here; it is `protocol` in the audit events and the session list. */
export type GatewayProtocol = 'postgres' | 'mysql' | 'ssh' | 'exec';

/** The access token a session logged in with: the session ends when it is revoked or expires. */
export interface LoginToken {
  id: string;
  expires_at: string | null;
}

/** What a front-end knows when its session is about to open. */
export interface SessionOpening {
  protocol: GatewayProtocol;
  plan: SessionPlan;
  source: string | null;
  token: LoginToken;
  /** What the client calls itself (PostgreSQL application_name, MySQL program_name, an SSH client's version); null if nothing. */
  application_name: string | null;
  /** The columns the session sees masked (schema.table.column; never a value or key), when its role masks any. */
  masked_columns?: string[];
}

/**
 * One statement (or, for SSH/exec, one command) as answered or refused. `logged`: the number of its statement.start
 * event when one was written before it ran (logBeforeForward), repeated as statement_no.
 */
export interface StatementOutcome {
  text: string;
  fingerprint: string | null;
  decision: 'allowed' | 'refused';
  rule: string | null;
  rows: number;
  duration_ms: number;
  error: string | null;
  logged?: number;
  /** The statement review (rev_…) a person decided this statement on, when its role holds statements for review. */
  review_id?: string;
}

/** A statement that may write, about to be sent: its statement.start must be durable first. */
export interface StatementStarting {
  logged?: number;
  text: string;
  fingerprint: string | null;
  review_id?: string;
}

/** How the registry (grant end, revoke, lock, token end, admin kill) and a lost audit log end the front-end's session. */
export interface SessionControl {
  /** Ends the session with `reason` shown to the client in the protocol's own words; idempotent. */
  kill(reason: string): void;
  /** The audit log failed under the session (a statement could not be recorded): end it saying so. */
  auditLost(reason: string): void;
  /** Statements sent upstream and not answered yet (shown while a long first statement runs); omitted: none tracked. */
  running?: () => number;
}

/** The message a client reads when its session ended because the audit log failed. */
export const AUDIT_LOST_REASON = 'the audit log is unavailable, so the session was ended';

/**
 * A session past its plan. Made by openSession once session.start is durable; the front-end then calls
 * registered() when it starts relaying, recordStatement()/logBeforeForward() per statement, and end() once.
 */
export class GatewaySession {
  readonly id: string;
  readonly info: LiveSessionInfo;
  readonly started: number;
  private readonly deps: GatewayDeps;
  private readonly source: string | null;
  private control: SessionControl | null = null;
  private unregister: (() => void) | null = null;
  private auditFailedOnce = false;
  private ended = false;

  constructor(deps: GatewayDeps, o: SessionOpening) {
    this.deps = deps;
    this.source = o.source;
    this.id = newId('ses');
    this.started = Date.now();
    const { plan } = o;
    this.info = {
      id: this.id,
      protocol: o.protocol,
      principal: plan.principal.name,
      resource: plan.resource.name,
      role: plan.role.name,
      grant_id: plan.grant.id,
      started_at: new Date(this.started).toISOString(),
      source: o.source,
      statements: 0,
      token_id: o.token.id,
      token_expires_at: o.token.expires_at,
    };
  }

  /** A session event, durable when the promise resolves; details get the session id. */
  audit(action: string, details: Record<string, unknown>): Promise<void> {
    return this.deps.audit.append({ actor: this.info.principal, action, target: this.info.resource, source: this.source, details: { session_id: this.id, ...details } });
  }

  /** Registers the session (from now on a revoke, lock, grant or token end, or admin kill reaches `control.kill`). */
  registered(control: SessionControl): void {
    this.control = control;
    if (control.running) {
      const running = control.running;
      // Read when sessions are listed, so a long first statement shows as running instead of as nothing.
      Object.defineProperty(this.info, 'statements_running', { enumerable: true, get: running });
    }
    this.unregister = this.deps.sessions.register({ info: this.info, kill: control.kill });
    this.deps.metrics?.sessionStarted();
    this.deps.log.info({ session_id: this.id, protocol: this.info.protocol, principal: this.info.principal, resource: this.info.resource, role: this.info.role, source: this.source }, `${this.info.protocol} session started`);
    // Planned before its grant ended or its token was revoked, registered after that end was acted on: cut it in the
    // same words as the sessions that were already running. After the front-end's synchronous start (a microtask),
    // as a kill from the registry would arrive, not in the middle of it.
    const ended = this.deps.sessions.endedReason(this.info);
    if (ended !== null) queueMicrotask(() => control.kill(ended));
  }

  /**
   * A statement answered or refused: counted, measured and audited (batched, no promise of its own). On the hot
   * path: allocates the audit event and nothing else.
   */
  recordStatement(r: StatementOutcome): void {
    this.info.statements++;
    this.deps.metrics?.statement(r.decision, r.rule, r.duration_ms);
    const details: Record<string, unknown> = { session_id: this.id, grant_id: this.info.grant_id, text: r.text, fingerprint: r.fingerprint, decision: r.decision, rule: r.rule, rows: r.rows, duration_ms: r.duration_ms, error: r.error, statement_no: r.logged };
    if (r.review_id !== undefined) details.review_id = r.review_id;
    this.deps.audit.appendLazy({ actor: this.info.principal, action: 'statement', target: this.info.resource, source: this.source, details }, this.auditFailed);
  }

  /**
   * A statement that may write: its statement.start, committed without waiting for company. The front-end holds the
   * statement back until the promise resolves (docs/postgres-gateway.md, "Audit events"); its `statement` follows.
   */
  logBeforeForward(r: StatementStarting): Promise<void> {
    const details: Record<string, unknown> = { session_id: this.id, grant_id: this.info.grant_id, statement_no: r.logged, text: r.text, fingerprint: r.fingerprint };
    if (r.review_id !== undefined) details.review_id = r.review_id;
    return this.deps.audit.append({ actor: this.info.principal, action: 'statement.start', target: this.info.resource, source: this.source, details }, { urgent: true });
  }

  /** A lazily audited statement's batch failed: the session ends (once), since what it does next would go unrecorded. */
  private readonly auditFailed = (err: unknown): void => {
    if (this.auditFailedOnce) return;
    this.auditFailedOnce = true;
    this.deps.log.error({ err: String(err), session_id: this.id }, `${this.info.protocol} gateway: could not audit a statement; ending the session`);
    this.control?.auditLost(AUDIT_LOST_REASON);
  };

  /**
   * The session is over: unregistered, and its session.end (reason, statements, duration, and `extra` such as an SSH
   * session's sealed `recording`) recorded. Idempotent.
   */
  async end(reason: string, extra: Record<string, unknown> = {}): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.unregister?.();
    this.unregister = null;
    this.deps.log.info({ session_id: this.id, reason, statements: this.info.statements }, `${this.info.protocol} session ended`);
    await this.audit('session.end', { ...extra, reason, statements: this.info.statements, duration_ms: Date.now() - this.started }).catch((err: unknown) =>
      this.deps.log.error({ err: String(err), session_id: this.id }, `${this.info.protocol} gateway: could not audit a session end`),
    );
  }
}

/**
 * Records session.start (the same fields for every protocol) and returns the session. Throws AirlockError
 * AIRLOCK_AUDIT_UNAVAILABLE when the event cannot be made durable: no session runs unrecorded. The front-end closes
 * its upstream then and refuses the client in its own words.
 */
export async function openSession(deps: GatewayDeps, o: SessionOpening): Promise<GatewaySession> {
  const s = new GatewaySession(deps, o);
  const { plan } = o;
  try {
    await s.audit('session.start', {
      protocol: o.protocol,
      grant_id: plan.grant.id,
      resource: plan.resource.name,
      database: plan.upstream.database,
      role: plan.role.name,
      source: o.source,
      application_name: o.application_name,
      gateway_instance: deps.instance ?? null,
      token_id: o.token.id,
      ...(o.masked_columns ? { masked_columns: o.masked_columns } : {}),
    });
  } catch (err) {
    deps.log.error({ err: String(err) }, `${o.protocol} gateway: could not audit a session start`);
    throw new AirlockError('AIRLOCK_AUDIT_UNAVAILABLE', 'the audit log is unavailable, so no session can be opened; try again shortly');
  }
  return s;
}

/** A connection refused before its session opened. */
export interface Refused {
  protocol: GatewayProtocol;
  /** The principal, once known: then the refusal is audited; before that it is only logged. */
  principal: string | null;
  resource: string | null;
  source: string | null;
  /** The protocol's own code the client read (SQLSTATE, MySQL error number, SSH reason). */
  code: string;
  airlock_code: ErrorCode;
  reason: string;
}

/** Counts a refusal and records it: a session.refused event when the principal is known, a log line otherwise. */
export async function recordRefusal(deps: GatewayDeps, r: Refused): Promise<void> {
  deps.metrics?.sessionRefused(r.airlock_code);
  if (r.principal !== null && r.resource !== null) {
    await deps.audit
      .append({ actor: r.principal, action: 'session.refused', target: r.resource, source: r.source, details: { protocol: r.protocol, code: r.code, airlock_code: r.airlock_code, reason: r.reason } })
      .catch((e: unknown) => deps.log.error({ err: String(e) }, `${r.protocol} gateway: could not audit a refused session`));
  } else {
    deps.log.info({ source: r.source, reason: r.reason }, `${r.protocol} gateway: connection refused`);
  }
}
