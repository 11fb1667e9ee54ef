// The console's models and the one place where the API's wire format (snake_case JSON, ISO times) becomes them.
// Missing or odd fields get defaults here, so pages never check the wire shape themselves.

import { formatDuration } from '../lib/time.js';

type Json = Record<string, unknown>;

export const obj = (v: unknown): Json => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const str = (v: unknown, d = ''): string => (typeof v === 'string' ? v : d);
const optStr = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
export const num = (v: unknown, d = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);
export const optNum = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const bool = (v: unknown): boolean => v === true || v === 1;
const strs = (v: unknown): string[] => arr(v).filter((x): x is string => typeof x === 'string');
const date = (v: unknown): Date => new Date(typeof v === 'string' ? v : NaN);
const optDate = (v: unknown): Date | null => (typeof v === 'string' && v ? new Date(v) : null);
function labels(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(obj(v))) if (typeof x === 'string') out[k] = x;
  return out;
}

export type RequestStatus = 'pending' | 'approved' | 'denied' | 'cancelled' | 'timed_out';
export type GrantStatus = 'active' | 'expired' | 'revoked';

export interface Me {
  name: string;
  kind: string;
  groups: string[];
  admin: boolean;
  auditor: boolean;
  approverOf: string[];
}

export interface ConsoleSession {
  principal: string;
  method: 'password' | 'token' | 'sso';
  expiresAt: Date;
  csrf: string;
}

export interface RoleOffer {
  role: string;
  maxDuration: string;
  maxDurationSeconds: number;
  approvals: number;
  approvers: string[];
  readOnly: boolean;
  breakGlass: boolean;
  justification: { required: boolean; pattern: string | null; ticketRequired: boolean; hint: string | null };
  autoApprove: { requesterGroups: string[]; maxDuration: string | null; timeWindow: string | null }[];
}

export interface Resource {
  name: string;
  kind: string;
  labels: Record<string, string>;
  description: string | null;
  roles: RoleOffer[];
}

export interface AccessRequest {
  id: string;
  principal: string;
  resource: string;
  role: string;
  durationSeconds: number;
  reason: string;
  ticket: string | null;
  status: RequestStatus;
  breakGlass: boolean;
  autoApprovedBy: string | null;
  extendsGrantId: string | null;
  grantId: string | null;
  createdAt: Date;
  timeoutAt: Date;
  decidedAt: Date | null;
  decidedBy: string | null;
  reviews: Review[];
  /** 'agent' for a service identity such as an AI agent; reviewers see it flagged. */
  principalKind: 'user' | 'agent';
  /** The person answerable for an agent, when it has one. */
  sponsor: string | null;
}

export interface Review {
  id: string;
  reviewer: string;
  decision: 'approve' | 'deny';
  comment: string | null;
  postHoc: boolean;
  createdAt: Date;
}

export interface Grant {
  id: string;
  requestId: string;
  principal: string;
  resource: string;
  role: string;
  status: GrantStatus;
  startsAt: Date;
  expiresAt: Date;
  endedAt: Date | null;
  endReason: string | null;
  endedBy: string | null;
  breakGlass: boolean;
  needsReview: boolean;
}

export interface LiveSession {
  id: string;
  protocol: string;
  principal: string;
  resource: string;
  role: string;
  grantId: string;
  startedAt: Date;
  source: string | null;
  /** Statements answered so far. */
  statements: number;
  /** Statements sent to the database and not answered yet. */
  running: number;
}

export interface SessionSummary {
  id: string;
  protocol: string;
  principal: string;
  resource: string;
  role: string | null;
  grantId: string | null;
  source: string | null;
  startedAt: Date | null;
  endedAt: Date | null;
  endReason: string | null;
  killedBy: string | null;
  statements: number | null;
  durationMs: number | null;
  live: boolean;
}

export interface Statement {
  seq: number;
  time: Date;
  text: string;
  fingerprint: string | null;
  decision: 'allowed' | 'refused';
  rule: string | null;
  rows: number | null;
  durationMs: number | null;
  error: string | null;
}

export interface AuditEvent {
  seq: number;
  time: Date;
  actor: string;
  action: string;
  target: string | null;
  source: string | null;
  details: Json;
  hash: string;
}

export interface ChainStatus {
  ok: boolean;
  events: number;
  headSeq: number;
  firstBadSeq: number | null;
  reason: string | null;
}

export interface Lock {
  id: string;
  targetKind: 'principal' | 'resource' | 'role';
  target: string;
  reason: string;
  createdBy: string;
  createdAt: Date;
  liftedAt: Date | null;
}

export interface Token {
  id: string;
  principal: string;
  label: string | null;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  createdBy: string;
}

export interface PrincipalInfo {
  name: string;
  kind: string;
  groups: string[];
  email: string | null;
  admin: boolean;
  auditor: boolean;
  approverOf: string[];
  passwordSetAt: Date | null;
  validTokens: number;
}

export interface ExplainEntry {
  resource: string;
  role: string;
  allowed: boolean;
  maxDuration: string;
  approvals: number;
  approvers: string[];
  readOnly: boolean;
  breakGlass: boolean;
  justificationHint: string | null;
  refusals: { code: string; rule: string; message: string }[];
}

export interface Explanation {
  principal: string;
  groups: string[];
  policyHash: string;
  entries: ExplainEntry[];
}

export interface PostgresGateway {
  host: string;
  port: number;
}

/** Where each protocol's gateway listens; null when the server runs none for it. */
export interface Gateways {
  postgres: GatewayListener | null;
  mysql: GatewayListener | null;
}

export type GatewayListener = PostgresGateway;

/** An SSE change: what the live parts of the console listen for. */
export interface Change {
  kind: 'request' | 'grant' | 'lock' | 'session' | 'policy' | 'statement_review';
  id: string;
  event: string;
  status: string | null;
  principal: string | null;
  resource: string | null;
  role: string | null;
  /** Who made the change, when a person did (a review, a cancellation). */
  actor: string | null;
}

export function makeMe(json: unknown): Me {
  const j = obj(json);
  const p = obj(j.principal);
  return { name: str(p.name), kind: str(p.kind, 'user'), groups: strs(p.groups), admin: bool(j.admin), auditor: bool(j.auditor), approverOf: strs(j.approver_of) };
}

export function makeConsoleSession(json: unknown): ConsoleSession {
  const j = obj(json);
  return { principal: str(j.principal), method: j.method === 'token' || j.method === 'sso' ? j.method : 'password', expiresAt: date(j.expires_at), csrf: str(j.csrf) };
}

function makeRoleOffer(json: unknown): RoleOffer {
  const j = obj(json);
  const just = obj(j.justification);
  return {
    role: str(j.role),
    maxDuration: str(j.max_duration),
    maxDurationSeconds: num(j.max_duration_seconds),
    approvals: num(j.approvals, 1),
    approvers: strs(j.approvers),
    readOnly: bool(j.read_only),
    breakGlass: bool(j.break_glass),
    justification: { required: just.required !== false, pattern: optStr(just.pattern), ticketRequired: bool(just.ticket_required), hint: optStr(just.hint) },
    autoApprove: arr(j.auto_approve).map((a) => {
      const r = obj(a);
      return { requesterGroups: strs(r.requester_groups), maxDuration: optStr(r.max_duration), timeWindow: optStr(r.time_window) };
    }),
  };
}

export function makeResource(json: unknown): Resource {
  const j = obj(json);
  return { name: str(j.name), kind: str(j.kind), labels: labels(j.labels), description: optStr(j.description), roles: arr(j.roles).map(makeRoleOffer) };
}

const REQUEST_STATUSES: RequestStatus[] = ['pending', 'approved', 'denied', 'cancelled', 'timed_out'];

export function makeReview(json: unknown): Review {
  const j = obj(json);
  return { id: str(j.id), reviewer: str(j.reviewer), decision: j.decision === 'deny' ? 'deny' : 'approve', comment: optStr(j.comment), postHoc: bool(j.post_hoc), createdAt: date(j.created_at) };
}

export function makeRequest(json: unknown): AccessRequest {
  const j = obj(json);
  const status = REQUEST_STATUSES.includes(j.status as RequestStatus) ? (j.status as RequestStatus) : 'pending';
  return {
    id: str(j.id),
    principal: str(j.principal),
    resource: str(j.resource),
    role: str(j.role),
    durationSeconds: num(j.duration_seconds),
    reason: str(j.reason),
    ticket: optStr(j.ticket),
    status,
    breakGlass: bool(j.break_glass),
    autoApprovedBy: optStr(j.auto_approved_by),
    extendsGrantId: optStr(j.extends_grant_id),
    grantId: optStr(j.grant_id),
    createdAt: date(j.created_at),
    timeoutAt: date(j.timeout_at),
    decidedAt: optDate(j.decided_at),
    decidedBy: optStr(j.decided_by),
    reviews: arr(j.reviews).map(makeReview),
    principalKind: j.principal_kind === 'agent' ? 'agent' : 'user',
    sponsor: optStr(j.sponsor),
  };
}

export function makeGrant(json: unknown): Grant {
  const j = obj(json);
  const status: GrantStatus = j.status === 'expired' || j.status === 'revoked' ? j.status : 'active';
  return {
    id: str(j.id),
    requestId: str(j.request_id),
    principal: str(j.principal),
    resource: str(j.resource),
    role: str(j.role),
    status,
    startsAt: date(j.starts_at),
    expiresAt: date(j.expires_at),
    endedAt: optDate(j.ended_at),
    endReason: optStr(j.end_reason),
    endedBy: optStr(j.ended_by),
    breakGlass: bool(j.break_glass),
    needsReview: bool(j.needs_review),
  };
}

export function makeLiveSession(json: unknown): LiveSession {
  const j = obj(json);
  return { id: str(j.id), protocol: str(j.protocol, 'postgres'), principal: str(j.principal), resource: str(j.resource), role: str(j.role), grantId: str(j.grant_id), startedAt: date(j.started_at), source: optStr(j.source), statements: num(j.statements), running: num(j.statements_running) };
}

export function makeSessionSummary(json: unknown): SessionSummary {
  const j = obj(json);
  return {
    id: str(j.id),
    protocol: str(j.protocol, 'postgres'),
    principal: str(j.principal),
    resource: str(j.resource),
    role: optStr(j.role),
    grantId: optStr(j.grant_id),
    source: optStr(j.source),
    startedAt: optDate(j.started_at),
    endedAt: optDate(j.ended_at),
    endReason: optStr(j.end_reason),
    killedBy: optStr(j.killed_by),
    statements: optNum(j.statements),
    durationMs: optNum(j.duration_ms),
    live: bool(j.live),
  };
}

export function makeStatement(json: unknown): Statement {
  const j = obj(json);
  return { seq: num(j.seq), time: date(j.time), text: str(j.text), fingerprint: optStr(j.fingerprint), decision: j.decision === 'refused' ? 'refused' : 'allowed', rule: optStr(j.rule), rows: optNum(j.rows), durationMs: optNum(j.duration_ms), error: optStr(j.error) };
}

export function makeAuditEvent(json: unknown): AuditEvent {
  const j = obj(json);
  return { seq: num(j.seq), time: date(j.time), actor: str(j.actor), action: str(j.action), target: optStr(j.target), source: optStr(j.source), details: obj(j.details), hash: str(j.hash) };
}

export function makeChainStatus(json: unknown): ChainStatus {
  const j = obj(json);
  return { ok: bool(j.ok), events: num(j.events), headSeq: num(obj(j.head).seq), firstBadSeq: optNum(j.first_bad_seq), reason: optStr(j.reason) };
}

export function makeLock(json: unknown): Lock {
  const j = obj(json);
  const kind = j.target_kind === 'resource' || j.target_kind === 'role' ? j.target_kind : 'principal';
  return { id: str(j.id), targetKind: kind, target: str(j.target), reason: str(j.reason), createdBy: str(j.created_by), createdAt: date(j.created_at), liftedAt: optDate(j.lifted_at) };
}

export function makeToken(json: unknown): Token {
  const j = obj(json);
  return { id: str(j.id), principal: str(j.principal), label: optStr(j.label), createdAt: date(j.created_at), expiresAt: date(j.expires_at), revokedAt: optDate(j.revoked_at), createdBy: str(j.created_by) };
}

/** A public key a principal registered to log in to the SSH gateway (GET /api/v1/ssh-keys). */
export interface SshKey {
  id: string;
  principal: string;
  fingerprint: string;
  comment: string | null;
  createdAt: Date;
  createdBy: string;
}

export function makeSshKey(json: unknown): SshKey {
  const j = obj(json);
  return { id: str(j.id), principal: str(j.principal), fingerprint: str(j.fingerprint), comment: optStr(j.comment), createdAt: date(j.created_at), createdBy: str(j.created_by) };
}

export function makePrincipalInfo(json: unknown): PrincipalInfo {
  const j = obj(json);
  return { name: str(j.name), kind: str(j.kind, 'user'), groups: strs(j.groups), email: optStr(j.email), admin: bool(j.admin), auditor: bool(j.auditor), approverOf: strs(j.approver_of), passwordSetAt: optDate(j.password_set_at), validTokens: num(j.valid_tokens) };
}

export function makeExplanation(json: unknown): Explanation {
  const j = obj(json);
  const p = obj(j.principal);
  return {
    principal: str(p.name),
    groups: strs(p.groups),
    policyHash: str(j.policy_hash),
    entries: arr(j.entries).map((e) => {
      const x = obj(e);
      const a = obj(x.approval);
      return {
        resource: str(x.resource),
        role: str(x.role),
        allowed: bool(x.allowed),
        maxDuration: str(x.max_duration),
        approvals: num(a.approvals, 1),
        approvers: strs(a.approvers),
        readOnly: bool(x.read_only),
        breakGlass: bool(x.break_glass),
        justificationHint: optStr(obj(x.justification).hint),
        refusals: arr(x.refusals).map((r) => {
          const y = obj(r);
          return { code: str(y.code), rule: str(y.rule), message: str(y.message) };
        }),
      };
    }),
  };
}

function makeListener(json: unknown): GatewayListener | null {
  const l = obj(json);
  return typeof l.host === 'string' && typeof l.port === 'number' ? { host: l.host, port: l.port } : null;
}

export function makePostgresGateway(json: unknown): PostgresGateway | null {
  return makeListener(obj(json).postgres);
}

/** GET /gateways; a server from before the MySQL gateway has no `mysql` key, which reads as none. */
export function makeGateways(json: unknown): Gateways {
  return { postgres: makeListener(obj(json).postgres), mysql: makeListener(obj(json).mysql) };
}

export type StatementReviewStatus = 'pending' | 'approved' | 'denied' | 'timed_out' | 'withdrawn' | 'executed';

/** A statement a gateway holds until a person approves that exact text (GET /api/v1/statement-reviews). */
export interface StatementReview {
  id: string;
  status: StatementReviewStatus;
  principal: string;
  principalKind: 'user' | 'agent';
  sponsor: string | null;
  resource: string;
  role: string;
  grantId: string;
  sessionId: string | null;
  protocol: string;
  database: string | null;
  /** The exact text, literals and all. */
  statement: string;
  parameters: (string | null)[] | null;
  summary: { kinds: string[]; tables: string[]; hasWhere: boolean | null; writes: boolean };
  approvalsNeeded: number;
  approvals: { reviewer: string; at: Date; comment: string | null }[];
  approverGroups: string[];
  approverPrincipals: string[];
  /** Whether the server says the viewer may decide it; null when the server does not say. */
  mayDecide: boolean | null;
  createdAt: Date;
  expiresAt: Date;
  decidedAt: Date | null;
  decidedBy: string | null;
  comment: string | null;
  executedAt: Date | null;
  /** Why it ended without a decision (withdrawn, timed out), when the server says. */
  endReason: string | null;
}

const STATEMENT_REVIEW_STATUSES: StatementReviewStatus[] = ['pending', 'approved', 'denied', 'timed_out', 'withdrawn', 'executed'];

export function makeStatementReview(json: unknown): StatementReview {
  const j = obj(json);
  const s = obj(j.summary);
  const sponsor = optStr(j.sponsor);
  return {
    id: str(j.id),
    status: STATEMENT_REVIEW_STATUSES.includes(j.status as StatementReviewStatus) ? (j.status as StatementReviewStatus) : 'pending',
    principal: str(j.principal),
    // Only agents have sponsors, so a sponsor marks an agent even where the server leaves the kind out.
    principalKind: j.principal_kind === 'agent' || (j.principal_kind === undefined && sponsor !== null) ? 'agent' : 'user',
    sponsor,
    resource: str(j.resource),
    role: str(j.role),
    grantId: str(j.grant_id),
    sessionId: optStr(j.session_id),
    protocol: str(j.protocol, 'postgres'),
    database: optStr(j.database),
    statement: str(j.statement),
    parameters: Array.isArray(j.parameters) ? j.parameters.map((p) => (typeof p === 'string' ? p : null)) : null,
    // Unknown means it may write: a reviewer should not be told "reads only" on a guess.
    summary: { kinds: strs(s.kinds), tables: strs(s.tables), hasWhere: typeof s.has_where === 'boolean' ? s.has_where : null, writes: s.writes !== false },
    approvalsNeeded: num(j.approvals_needed, 1),
    approvals: arr(j.approvals).map((a) => {
      const x = obj(a);
      return { reviewer: str(x.reviewer), at: date(x.at), comment: optStr(x.comment) };
    }),
    approverGroups: strs(j.approver_groups),
    approverPrincipals: strs(j.approver_principals),
    mayDecide: typeof j.may_decide === 'boolean' ? j.may_decide : null,
    createdAt: date(j.created_at),
    expiresAt: date(j.expires_at),
    decidedAt: optDate(j.decided_at),
    decidedBy: optStr(j.decided_by),
    comment: optStr(j.comment),
    executedAt: optDate(j.executed_at),
    endReason: optStr(j.end_reason),
  };
}

const CHANGE_KINDS = ['request', 'grant', 'lock', 'session', 'policy', 'statement_review'] as const;

export function makeChange(json: unknown): Change | null {
  const j = obj(json);
  const kind = CHANGE_KINDS.find((k) => k === j.kind);
  if (!kind) return null;
  return { kind, id: str(j.id), event: str(j.event), status: optStr(j.status), principal: optStr(j.principal), resource: optStr(j.resource), role: optStr(j.role), actor: optStr(j.actor) };
}

/** The policy document, as much of it as the console renders; credentials are reduced to how they work, never what they are. */
export interface PolicyView {
  file: string;
  hash: string;
  admins: { groups: string[]; principals: string[] };
  auditors: { groups: string[]; principals: string[] };
  principals: { name: string; kind: string; groups: string[] }[];
  resources: { name: string; kind: string; address: string; database: string | null; labels: Record<string, string>; credentialMode: string | null; description: string | null }[];
  roles: {
    name: string;
    description: string | null;
    resourceNames: string[];
    resourceLabels: Record<string, string> | null;
    sql: string;
    maxDuration: string;
    requestableBy: { groups: string[]; principals: string[] };
    approval: { approvals: number; approverGroups: string[]; approverPrincipals: string[]; selfApproval: boolean; autoApprove: number };
    justification: { required: boolean; pattern: string | null; hint: string | null; ticketRequired: boolean };
    breakGlass: boolean;
    pendingTimeout: string;
    guardrails: { denyKinds: string[]; requireWhere: boolean; maxRows: number | null } | null;
    maskedColumns: string[];
  }[];
  /** Where notices go: each channel of `notify`, with where it sends to in one line (never a secret). */
  notify: { name: string; kind: 'webhook' | 'slack' | 'email'; target: string; events: string[] }[];
}

function notifyChannels(v: unknown): PolicyView['notify'] {
  const n = obj(v);
  const webhooks = arr(n.webhooks).map((w) => {
    const x = obj(w);
    return { name: str(x.name), kind: 'webhook' as const, target: str(x.url), events: strs(x.events) };
  });
  const slack = arr(n.slack).map((s) => {
    const x = obj(s);
    const routes = obj(x.channels);
    const rules = [...Object.entries(obj(routes.roles)).map(([role, c]) => `role ${role} → ${str(c)}`), ...Object.entries(obj(routes.labels)).map(([label, c]) => `${label} → ${str(c)}`)];
    const only = [x.team_id ? `workspace ${str(x.team_id)}` : '', x.app_id ? `app ${str(x.app_id)}` : ''].filter(Boolean);
    return { name: str(x.name), kind: 'slack' as const, target: [str(x.channel, '#airlock-approvals'), ...rules, ...(only.length ? [`clicks from ${only.join(', ')} only`] : [])].join(' · '), events: strs(x.events) };
  });
  const email = n.email ? obj(n.email) : null;
  const smtp = obj(email?.smtp);
  const tls = smtp.starttls === 'implicit' ? 'implicit TLS' : smtp.starttls === false ? 'no TLS' : 'STARTTLS required';
  const mail = email ? [{ name: 'email', kind: 'email' as const, target: `${str(smtp.host)}:${num(smtp.port, smtp.starttls === 'implicit' ? 465 : 587)} (${tls}) from ${str(email.from)}`, events: strs(email.events) }] : [];
  return [...webhooks, ...slack, ...mail];
}

function subjects(v: unknown) {
  const j = obj(v);
  return { groups: strs(j.groups), principals: strs(j.principals) };
}

const seconds = (v: unknown): string => (typeof v === 'number' ? formatDuration(v) : str(v));

export function makePolicyView(json: unknown): PolicyView {
  const j = obj(json);
  const doc = obj(j.policy);
  return {
    file: str(j.file),
    hash: str(j.hash),
    admins: subjects(doc.admins),
    auditors: subjects(doc.auditors),
    principals: arr(doc.principals).map((p) => {
      const x = obj(p);
      return { name: str(x.name), kind: str(x.kind, 'user'), groups: strs(x.groups) };
    }),
    resources: arr(doc.resources).map((r) => {
      const x = obj(r);
      const cred = x.credential ? obj(x.credential) : null;
      return { name: str(x.name), kind: str(x.kind), address: str(x.address), database: optStr(x.database), labels: labels(x.labels), credentialMode: cred ? str(cred.mode, 'per_grant_role') : null, description: optStr(x.description) };
    }),
    roles: arr(doc.roles).map((r) => {
      const x = obj(r);
      const res = obj(x.resources);
      const ap = obj(x.approval);
      const just = obj(x.justification);
      const g = x.guardrails ? obj(x.guardrails) : null;
      return {
        name: str(x.name),
        description: optStr(x.description),
        resourceNames: strs(res.names),
        resourceLabels: res.labels ? labels(res.labels) : null,
        sql: str(obj(x.privileges).sql, 'read'),
        maxDuration: seconds(x.max_duration),
        requestableBy: subjects(x.requestable_by),
        approval: { approvals: num(ap.approvals, 1), approverGroups: strs(ap.approver_groups), approverPrincipals: strs(ap.approver_principals), selfApproval: bool(ap.allow_self_approval), autoApprove: arr(ap.auto_approve).length },
        justification: { required: just.required !== false, pattern: optStr(just.pattern), hint: optStr(just.hint), ticketRequired: bool(just.ticket_required) },
        breakGlass: bool(x.break_glass),
        pendingTimeout: seconds(x.pending_timeout),
        guardrails: g ? { denyKinds: strs(g.deny_kinds), requireWhere: bool(g.require_where), maxRows: optNum(g.max_rows) } : null,
        maskedColumns: maskedColumns(x.masking),
      };
    }),
    notify: notifyChannels(doc.notify),
  };
}

/** A role's masking as the API sends it ({ predicates, rules: [{ column | label, method }] }) → "customers.email (email)". */
function maskedColumns(masking: unknown): string[] {
  return arr(obj(masking).rules).map((r) => {
    const x = obj(r);
    const what = typeof x.column === 'string' ? x.column : `label ${str(x.label)}`;
    return `${what} (${str(x.method, 'redact')})`;
  });
}

export type NotificationStatus = 'pending' | 'sending' | 'delivered' | 'dead';

/** One message of one channel in the notification outbox (GET /api/v1/notifications). */
export interface Notification {
  id: string;
  channel: string;
  kind: string;
  event: string;
  subject: { kind: string; id: string } | null;
  status: NotificationStatus;
  attempts: number;
  text: string;
  lastError: string | null;
  nextAttemptAt: Date | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

export function makeNotification(json: unknown): Notification {
  const j = obj(json);
  const s = obj(j.subject);
  const status = (['pending', 'sending', 'delivered', 'dead'] as const).find((x) => x === j.status) ?? 'pending';
  return {
    id: str(j.id), channel: str(j.channel), kind: str(j.kind), event: str(j.event),
    subject: typeof s.kind === 'string' && typeof s.id === 'string' ? { kind: s.kind, id: s.id } : null,
    status, attempts: num(j.attempts), text: str(j.text), lastError: optStr(j.last_error),
    nextAttemptAt: status === 'pending' ? optDate(j.next_attempt_at) : null, createdAt: date(j.created_at), deliveredAt: optDate(j.delivered_at),
  };
}
