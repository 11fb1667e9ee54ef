// The API's response bodies as zod schemas, built from the domain's records: each route names its own with one
// `response:` line, and the OpenAPI document (@fastify/swagger) publishes them. Bodies are sent as the handlers
// return them; test/integration/api-openapi.test.ts checks real answers against these schemas.
import type { SessionSummary, StatementEntry } from '../access/session-history.js';
import { z } from 'zod';
import { accessRequestRecord as requestRecord, auditEventRecord, grantRecord, lockRecord, principalKind, principalRecord, reviewRecord, tokenRecord } from '../domain/model.js';
import { ERRORS, type ErrorCode } from '../domain/errors.js';
import { MASK_METHODS } from '../domain/masking.js';
import type { LiveSessionInfo } from '../access/session-registry.js';
import type { VerifyResult } from '../audit/chain.js';
import type { ReviewOutcome } from '../access/reviews.js';
import type { Explanation } from '../policy/explain.js';

const time = z.string().describe('ISO-8601 UTC time');
/** A request as the API shows it: who asks is a person or an agent, and an agent's sponsor, for its approvers. */
const accessRequestRecord = requestRecord.extend({
  principal_kind: principalKind.optional().describe("'user' or 'agent'"),
  sponsor: z.string().nullable().optional().describe("an agent's sponsor: the person answerable for it (from the policy)"),
});
const errorCode = z.enum(Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]]).describe('a stable code, listed in docs/errors.md');

/** What every error answer is (application/problem+json), registered once as the `Problem` component. */
export const PROBLEM_SCHEMA = {
  $id: 'Problem',
  type: 'object',
  required: ['type', 'title', 'status', 'code', 'detail'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string', description: 'A stable AIRLOCK_… code, listed in docs/errors.md' },
    detail: { type: 'string', description: 'A sentence that says what happened and what to do' },
    details: { type: 'object' },
  },
} as const;

const liveSession = z.object({
  id: z.string().describe('ses_…'),
  protocol: z.string(),
  principal: z.string(),
  resource: z.string(),
  role: z.string(),
  grant_id: z.string(),
  started_at: time,
  source: z.string().nullable(),
  statements: z.number().int(),
  statements_running: z.number().int().optional().describe('statements sent and not yet answered'),
  token_id: z.string().nullable().optional(),
  token_expires_at: time.nullable().optional(),
}) satisfies z.ZodType<LiveSessionInfo>;

const sessionSummary = z.object({
  id: z.string(),
  protocol: z.string(),
  principal: z.string(),
  resource: z.string().nullable(),
  role: z.string().nullable(),
  grant_id: z.string().nullable(),
  source: z.string().nullable(),
  started_at: time.nullable(),
  ended_at: time.nullable(),
  end_reason: z.string().nullable(),
  killed_by: z.string().nullable(),
  statements: z.number().int().nullable(),
  statements_running: z.number().int().nullable().describe('of a live session: statements sent and not yet answered'),
  duration_ms: z.number().nullable(),
  live: z.boolean(),
}) satisfies z.ZodType<SessionSummary>;

const statementEntry = z.object({
  seq: z.number().int(),
  time,
  text: z.string(),
  fingerprint: z.string().nullable(),
  decision: z.string(),
  rule: z.string().nullable(),
  rows: z.number().nullable(),
  duration_ms: z.number().nullable(),
  error: z.string().nullable(),
}) satisfies z.ZodType<StatementEntry>;

const chainHead = z.object({ seq: z.number().int(), hash: z.string() });

const verifyResult = z.object({
  ok: z.boolean(),
  events: z.number().int(),
  head: chainHead,
  first_bad_seq: z.number().int().optional(),
  reason: z.string().optional(),
  recordings: z.object({
    ok: z.boolean(),
    checked: z.number().int().describe('sealed recordings checked'),
    problems: z.array(z.object({
      session_id: z.string(),
      seq: z.number().int().describe('the session.end event holding the seal'),
      file: z.string(),
      problem: z.enum(['missing', 'truncated', 'edited', 'unreadable']),
      expected_bytes: z.number().int(),
      actual_bytes: z.number().int().nullable(),
      detail: z.string(),
    })),
  }).optional().describe('with recordings=true: each session.end\'s recording against its seal; `ok` above is false when one fails'),
}) satisfies z.ZodType<VerifyResult>;

const reviewOutcome = z.object({ request: accessRequestRecord, review: reviewRecord, grant_id: z.string().nullable() }) satisfies z.ZodType<ReviewOutcome>;

const autoApprove = z.object({ requester_groups: z.array(z.string()), max_duration: z.string().nullable(), time_window: z.string().nullable(), applies_to_principal: z.boolean() });
const justification = z.object({ required: z.boolean(), pattern: z.string().nullable(), ticket_required: z.boolean(), hint: z.string().nullable() });

const explanation = z.object({
  principal: z.object({ name: z.string(), kind: z.string(), groups: z.array(z.string()), group_sources: z.record(z.string(), z.array(z.enum(['file', 'idp']))).describe('where each group comes from: the policy file, the identity provider at the last sign-in, or both'), admin: z.boolean(), auditor: z.boolean() }),
  policy_hash: z.string(),
  entries: z.array(z.object({
    resource: z.string(),
    role: z.string(),
    allowed: z.boolean(),
    max_duration: z.string(),
    max_duration_seconds: z.number().int(),
    approval: z.object({ approvals: z.number().int(), approvers: z.array(z.string()), approver_groups: z.array(z.string()), self_approval: z.boolean(), auto_approve: z.array(autoApprove) }),
    justification,
    break_glass: z.boolean(),
    read_only: z.boolean(),
    review: z.object({
      statements: z.enum(['writes', 'all']),
      approvals: z.number().int(),
      reviewers: z.array(z.string()).describe('who may approve the held statements (never the asker)'),
      approver_groups: z.array(z.string()),
      approver_principals: z.array(z.string()),
      timeout: z.string(),
      timeout_seconds: z.number().int(),
    }).nullable().optional().describe('statement review: statements held until a person approves each; null when the role holds none'),
    masking: z.object({
      predicates: z.enum(['allow', 'refuse']).describe('masked columns in WHERE, JOIN ON, ORDER BY…: allowed or refused'),
      columns: z.array(z.object({
        column: z.string().optional().describe('table.column, schema.table.column, or a pattern with *'),
        label: z.string().optional().describe('a column comment label such as pii:email'),
        method: z.enum(MASK_METHODS),
        keep: z.number().int().optional().describe('partial: the trailing characters left visible'),
        example: z.string().describe('the method on a sample value; hash is described, never computed with the real key'),
      })),
    }).nullable().optional().describe('column masking (docs/masking.md): the columns the role shows masked; null when none'),
    refusals: z.array(z.object({ code: errorCode, rule: z.string(), message: z.string() })),
  })),
}) satisfies z.ZodType<Explanation>;

const consoleSession = z.object({ signed_in: z.literal(true), principal: z.string(), method: z.enum(['password', 'token', 'sso']), created_at: time, expires_at: time, csrf: z.string().describe(`echo it in the x-airlock-csrf header of changes`) });

const gatewayListener = z.object({ host: z.string(), port: z.number().int(), ca: z.string().describe('PEM of the CA that signs its certificate') });

/** Response bodies by route; a status key (201) where the route answers with another status than 200. */
export const responses = {
  healthz: z.object({ ok: z.literal(true), version: z.string() }),
  gateways: z.object({
    postgres: gatewayListener.nullable().describe('the PostgreSQL gateway (psql, libpq, JDBC); null when it is off'),
    mysql: gatewayListener.nullable().describe('the MySQL/MariaDB gateway (mariadb, mysql, mysql2); null when it is off'),
    listeners: z.array(z.object({ kind: z.enum(['postgres', 'mysql']).describe('the resource kind it serves'), host: z.string(), port: z.number().int() })).describe('every gateway listening'),
    ca: z.string().nullable().describe('PEM of the CA that signs every gateway\'s certificate; null when no gateway runs'),
    ssh: z.object({
      host: z.string().nullable().describe('the SSH gateway\'s address (user <principal>%<resource>); null when this process runs no SSH listener'),
      port: z.number().int().nullable(),
      host_key: z.string().describe('the public line of the host key the SSH gateway shows ("ssh-ed25519 AAAA…"), for known_hosts'),
      fingerprint: z.string().describe('the host key\'s SHA256 fingerprint, as ssh-keygen -l prints it'),
      host_key_fingerprint: z.string().describe('the same (kept for `airlock ca --ssh`)'),
      user_ca: z.string().describe('the public line of the SSH user CA, for hosts\' TrustedUserCAKeys'),
      user_ca_fingerprint: z.string(),
    }).nullable().describe('the SSH gateway and its public keys (never a private key); null when the server has none'),
  }),
  openapi: z.looseObject({ openapi: z.string() }).describe('this document'),
  whoami: z.object({
    principal: principalRecord,
    admin: z.boolean(),
    auditor: z.boolean(),
    approver_of: z.array(z.string()).describe('roles whose requests the caller may review'),
    token: z.object({ id: z.string(), expires_at: time }).nullable(),
  }),
  resources: z.object({
    resources: z.array(z.object({
      name: z.string(),
      kind: z.string(),
      labels: z.record(z.string(), z.string()),
      description: z.string().nullable(),
      roles: z.array(z.object({
        role: z.string(),
        max_duration: z.string(),
        max_duration_seconds: z.number().int(),
        approvals: z.number().int(),
        approvers: z.array(z.string()),
        justification,
        break_glass: z.boolean(),
        read_only: z.boolean(),
        auto_approve: z.array(autoApprove),
      })),
    })),
  }),
  requestCreated: { 201: accessRequestRecord },
  requests: z.object({ requests: z.array(accessRequestRecord) }),
  requestWithReviews: accessRequestRecord.extend({ reviews: z.array(reviewRecord) }),
  reviewOutcome,
  request: accessRequestRecord,
  grants: z.object({ grants: z.array(grantRecord) }),
  grantWithSessions: grantRecord.extend({ sessions: z.array(liveSession).describe('its live sessions on this process') }),
  grant: grantRecord,
  locks: z.object({ locks: z.array(lockRecord) }),
  lockCreated: { 201: lockRecord.extend({ grants_ended: z.number().int() }) },
  lock: lockRecord,
  tokens: z.object({ tokens: z.array(tokenRecord) }),
  tokenCreated: { 201: tokenRecord.extend({ token: z.string().describe('the token itself (alk_…), shown this once') }) },
  token: tokenRecord,
  sessions: z.object({ sessions: z.array(liveSession) }),
  sessionKilled: z.object({ killed: z.literal(true), session: liveSession }),
  sessionHistory: z.object({ sessions: z.array(sessionSummary) }),
  sessionStatements: z.object({ session: sessionSummary, statements: z.array(statementEntry), truncated: z.boolean() }),
  policy: z.object({ file: z.string(), hash: z.string(), policy: z.looseObject({}).describe('the policy file as loaded; secret references hidden') }),
  explanation,
  policyReload: z.looseObject({ ok: z.boolean() }).describe('ok with changed and the hashes, or the problems found (the previous policy stays)'),
  auditVerify: verifyResult,
  auditEvents: z.object({ events: z.array(auditEventRecord), head: chainHead }).describe('with format=jsonl: one event per line (application/x-ndjson)'),
  consoleSignIn: consoleSession.omit({ signed_in: true }).extend({ id: z.string() }),
  consoleSignOut: z.object({ signed_out: z.boolean() }),
  consoleSession: z.union([consoleSession, z.object({ signed_in: z.literal(false), detail: z.string().nullable().describe('why an earlier session ended, when one did') })]),
  passwordSet: z.object({ principal: z.string(), updated_at: time, console_sessions_ended: z.number().int() }),
  principals: z.object({
    principals: z.array(z.object({
      name: z.string(),
      kind: z.string(),
      groups: z.array(z.string()),
      email: z.string().nullable(),
      admin: z.boolean(),
      auditor: z.boolean(),
      approver_of: z.array(z.string()),
      password_set_at: time.nullable(),
      valid_tokens: z.number().int(),
    })),
  }),
  /** Not JSON: the certificate file itself. */
  gatewayCa: { 200: { content: 'application/x-pem-file', description: 'the CA certificate (PEM)' } },
} as const;

/** The event stream is not JSON either, and its route is registered apart from the table (events.ts). */
export const EVENT_STREAM_ROUTE_SCHEMA = {
  summary: 'Server-sent events: request, grant, lock, session and statement review changes you may see',
  tags: ['events'],
  response: {
    200: { description: 'text/event-stream; each event is a change as JSON', content: { 'text/event-stream': { schema: { type: 'string' } } } },
    default: { description: 'An error', content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } } },
  },
};
