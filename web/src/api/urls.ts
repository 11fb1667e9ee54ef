// Every URL the console uses: the API's (all under /api/v1) and the console's own page paths.

const API = '/api/v1';
const seg = (s: string) => encodeURIComponent(s);

function query(params: Record<string, string | number | boolean | null | undefined>): string {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '' && v !== false) u.set(k, String(v));
  const s = u.toString();
  return s ? `?${s}` : '';
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  target?: string;
  since?: string;
  until?: string;
  afterSeq?: number;
  limit?: number;
}

export interface ReportQuery {
  since: string;
  until?: string;
  resource?: string;
  principal?: string;
}

const auditParams = (q: AuditQuery) => ({ actor: q.actor, action: q.action, target: q.target, since: q.since, until: q.until, after_seq: q.afterSeq, limit: q.limit });

export const api = {
  session: () => `${API}/console/session`,
  signIn: () => `${API}/console/sign-in`,
  signOut: () => `${API}/console/sign-out`,
  sso: () => `${API}/auth/sso`,
  ssoStart: () => `${API}/auth/sso/start`,
  whoami: () => `${API}/whoami`,
  events: () => `${API}/events`,
  gateways: () => `${API}/gateways`,
  gatewayCa: () => `${API}/gateways/ca.crt`,
  resources: () => `${API}/resources`,
  requests: (scope: 'mine' | 'reviewable' | 'all', status?: string) => `${API}/requests${query({ scope, status })}`,
  newRequest: () => `${API}/requests`,
  request: (id: string) => `${API}/requests/${seg(id)}`,
  approve: (id: string) => `${API}/requests/${seg(id)}/approve`,
  deny: (id: string) => `${API}/requests/${seg(id)}/deny`,
  cancel: (id: string) => `${API}/requests/${seg(id)}/cancel`,
  statementReviews: (q: { status?: string; principal?: string; limit?: number } = {}) => `${API}/statement-reviews${query(q)}`,
  statementReview: (id: string) => `${API}/statement-reviews/${seg(id)}`,
  approveStatement: (id: string) => `${API}/statement-reviews/${seg(id)}/approve`,
  denyStatement: (id: string) => `${API}/statement-reviews/${seg(id)}/deny`,
  grants: (q: { active?: boolean; principal?: string; resource?: string } = {}) => `${API}/grants${query({ active: q.active, principal: q.principal, resource: q.resource })}`,
  revoke: (id: string) => `${API}/grants/${seg(id)}/revoke`,
  sessions: () => `${API}/sessions`,
  sessionHistory: (q: { principal?: string; limit?: number } = {}) => `${API}/sessions/history${query(q)}`,
  statements: (id: string, since?: Date | null) => `${API}/sessions/${seg(id)}/statements${query({ since: since ? new Date(since.getTime() - 1000).toISOString() : undefined })}`,
  kill: (id: string) => `${API}/sessions/${seg(id)}/kill`,
  recordings: (q: { principal?: string; resource?: string; limit?: number } = {}) => `${API}/recordings${query(q)}`,
  recording: (id: string) => `${API}/sessions/${seg(id)}/recording`,
  liveTerminal: (id: string) => `${API}/sessions/${seg(id)}/live`,
  auditEvents: (q: AuditQuery) => `${API}/audit/events${query(auditParams(q))}`,
  auditExport: (q: AuditQuery) => `${API}/audit/events${query({ ...auditParams(q), format: 'jsonl', limit: 100000 })}`,
  auditVerify: () => `${API}/audit/verify`,
  locks: () => `${API}/locks`,
  liftLock: (id: string) => `${API}/locks/${seg(id)}/lift`,
  principals: () => `${API}/principals`,
  tokens: (principal?: string) => `${API}/tokens${query({ principal })}`,
  newToken: () => `${API}/tokens`,
  revokeToken: (id: string) => `${API}/tokens/${seg(id)}/revoke`,
  sshKeys: () => `${API}/ssh-keys`,
  policy: () => `${API}/policy`,
  explain: (principal: string, resource?: string) => `${API}/policy/explain${query({ principal, resource })}`,
  notifications: (q: { status?: string; limit?: number } = {}) => `${API}/notifications${query(q)}`,
  retryNotification: (id: string) => `${API}/notifications/${seg(id)}/retry`,
  reportAccess: (q: ReportQuery) => `${API}/reports/access${query({ since: q.since, until: q.until, resource: q.resource, principal: q.principal })}`,
  reportCsv: (q: ReportQuery, tz: string) => `${API}/reports/access${query({ since: q.since, until: q.until, resource: q.resource, principal: q.principal, format: 'csv', tz })}`,
  queryRun: () => `${API}/query/run`,
  queryResult: (id: string, offset: number, limit: number) => `${API}/query/results/${seg(id)}${query({ offset, limit })}`,
  queryCancel: () => `${API}/query/cancel`,
  queryExport: () => `${API}/query/export`,
  reportStanding: (q: ReportQuery & { hours: number; gapMinutes?: number }) => `${API}/reports/standing${query({ since: q.since, until: q.until, resource: q.resource, principal: q.principal, hours: q.hours, gap_minutes: q.gapMinutes })}`,
};

/** The console's pages; the server answers each of these paths with the console. */
export const page = {
  myAccess: () => '/',
  reviews: () => '/reviews',
  request: (id: string) => `/requests/${seg(id)}`,
  sessions: () => '/sessions',
  session: (id: string) => `/sessions/${seg(id)}`,
  audit: () => '/audit',
  reports: () => '/reports',
  admin: () => '/admin',
};

export type Route =
  | { name: 'my-access' }
  | { name: 'reviews' }
  | { name: 'request'; id: string }
  | { name: 'sessions' }
  | { name: 'session'; id: string }
  | { name: 'audit' }
  | { name: 'reports' }
  | { name: 'admin' }
  | { name: 'not-found'; path: string };

/** The page for a location path (the inverse of `page`). */
export function routeOf(path: string): Route {
  const parts = path.replace(/\/+$/, '').split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  if (parts.length === 0) return { name: 'my-access' };
  const [a, b] = parts;
  if (parts.length === 1 && a === 'reviews') return { name: 'reviews' };
  if (parts.length === 1 && a === 'sessions') return { name: 'sessions' };
  if (parts.length === 1 && a === 'audit') return { name: 'audit' };
  if (parts.length === 1 && a === 'admin') return { name: 'admin' };
  if (parts.length === 1 && a === 'reports') return { name: 'reports' };
  if (parts.length === 2 && a === 'requests' && b) return { name: 'request', id: b };
  if (parts.length === 2 && a === 'sessions' && b) return { name: 'session', id: b };
  return { name: 'not-found', path };
}
