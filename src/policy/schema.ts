// The policy file's schema (zod): what an airlock.yaml may say, with defaults and the rules that tie fields together.
import { z } from 'zod';
import { parseDuration } from '../domain/duration.js';
import { ruleProblem } from '../domain/command-words.js';
import { MASK_METHODS, type MaskingPolicy, type MaskRule } from '../domain/masking.js';

const name = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'use 1-63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit');

/** A group: a name, which may also hold ":" so groups passed through from an IdP can carry a prefix ("idp:payments"). */
const groupName = z.string().regex(/^[a-z0-9][a-z0-9._:-]{0,62}$/, 'use 1-63 lower-case letters, digits, ".", "_", ":" or "-", starting with a letter or digit');

// A number is accepted by the parser only to say what is wrong with it: a duration needs a unit.
const duration = z.union([z.string(), z.number()]).transform((s, ctx) => {
  const v = typeof s === 'string' ? parseDuration(s) : undefined;
  if (v === undefined || v <= 0) {
    ctx.addIssue({ code: 'custom', message: typeof s === 'number' ? `${s} has no unit; write e.g. 90s, 30m, 1h` : `"${s}" is not a duration; write e.g. 30m, 1h, 8h, 2d` });
    return z.NEVER;
  }
  return v;
});

const regex = z.string().refine((s) => {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}, 'not a valid regular expression');

/** A reference to a secret held outside the policy: an environment variable or a file. Inline secrets are refused. */
export const secretRef = z.union(
  [z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') }), z.strictObject({ file: z.string().min(1) })],
  // Never echo the input: it may be the very secret that must not be written here (or into logs).
  { error: (iss) => (typeof iss.input === 'string' ? 'an inline secret is not allowed here; write a reference: { env: VARIABLE } or { file: /path/to/secret }' : 'write a reference to the secret: { env: VARIABLE } or { file: /path/to/secret }') },
);

/**
 * A resource's upstream password: a reference as above, or `{ stored: true }`, a password Airlock keeps encrypted in
 * its store, set by an admin (`airlock credential set`) and rotatable (docs/credentials.md, "Stored credentials").
 */
export const credentialPassword = z.union(
  [secretRef, z.strictObject({ stored: z.literal(true).describe('the password is held by Airlock, encrypted; an admin sets it with `airlock credential set <resource>`') })],
  // As secretRef: never echo the input, which may be the very secret.
  { error: (iss) => (typeof iss.input === 'string' ? 'an inline secret is not allowed here; write a reference: { env: VARIABLE } or { file: /path/to/secret }, or { stored: true } for a password Airlock keeps' : 'write a reference to the secret: { env: VARIABLE }, { file: /path/to/secret }, or { stored: true } for a password Airlock keeps') },
);

// How long a name may be, and what it may hold, depends on the server: checked per kind in resourceSchema.
const databaseName = z
  .string()
  .min(1, 'a database name cannot be empty')
  .refine((d) => !d.includes('\0'), 'a database name cannot contain a NUL character');

/** Why this name cannot name a database (PostgreSQL) or schema (MySQL) of a resource of this kind, if it cannot. */
function databaseNameProblem(kind: string, d: string): string | undefined {
  // PostgreSQL compares database names byte for byte and cuts them at 63 bytes: a longer name would silently mean another.
  if (kind === 'postgres' && Buffer.byteLength(d, 'utf8') > 63) return 'a database name is at most 63 bytes (PostgreSQL would cut it and mean another database)';
  if (kind === 'mysql') {
    if ([...d].length > 64) return 'a MySQL schema name is at most 64 characters';
    if (/[/\\.]/.test(d)) return 'a MySQL schema name cannot contain "/", "\\" or "." (dbname=<resource>/<schema> names a schema)';
    if (d.endsWith(' ')) return 'a MySQL schema name cannot end with a space';
  }
  return undefined;
}

/** host, host:port or [v6]:port; the port is 1-65535. */
const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:/[\]]+))(?::(\d{1,5}))?$/;

/** Every credential mode, and the kinds each is read for (docs/policy.md, `credential`). */
export const CREDENTIAL_MODES = ['injected', 'per_grant_role', 'per_grant_user', 'certificate'] as const;

/** An OpenSSH public key line: "<type> <base64> [comment]" (a host key pinned in the policy). */
const OPENSSH_PUBLIC_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)) [A-Za-z0-9+/]+={0,2}(?: .*)?$/;

/**
 * How an exec resource reaches its targets: an argv template the gateway runs on its own host, never through a shell.
 * `{target}` is one of `targets`; `{command}` is the requested argv (or default_command), spliced in as separate
 * arguments; `{tty}` is `-t` when the session has a terminal and is dropped otherwise. A string is split on spaces.
 */
const execTemplate = z.strictObject({
  command: z
    .union([z.string().min(1).transform((s) => s.trim().split(/\s+/)), z.array(z.string().min(1)).min(1)])
    .refine((argv) => argv.filter((a) => a === '{command}').length === 1, 'the command template holds {command} exactly once, as a word of its own')
    .refine((argv) => argv.filter((a) => a === '{target}').length === 1, 'the command template holds {target} exactly once, as a word of its own')
    .refine((argv) => !argv[0]!.includes('{'), 'the command template starts with the program to run (e.g. kubectl, docker), not a placeholder')
    .refine((argv) => argv.every((a) => !/\{(?!target\}|command\}|tty\})[^}]*\}/.test(a)), 'the command template knows only {target}, {command} and {tty}')
    .describe('argv template, e.g. kubectl exec -i {tty} -n payments {target} -- {command}'),
  targets: z.array(z.string().min(1).regex(/^[^\s\0]+$/, 'a target is one word (no spaces)')).min(1, 'list the targets sessions may choose (pods, containers, directories)').describe('the targets a session may choose; the first is the default'),
  default_command: z.array(z.string().min(1)).min(1).default(['/bin/sh']).describe('argv run when the session asks for no command (an interactive shell)'),
});

/** How the gateway and the per-grant-role admin reach a PostgreSQL server (see docs/postgres-gateway.md, "Upstream TLS"). */
const upstreamTls = z
  .strictObject({
    mode: z.enum(['verify-full', 'verify-ca', 'require', 'disable'], { error: 'tls.mode is one of verify-full, verify-ca, require, disable' }),
    ca: z.strictObject({ file: z.string().min(1) }).optional().describe('PEM file of the CA(s) that sign the server certificate; Node\'s bundled CA list when absent'),
  })
  .superRefine((t, ctx) => {
    if (t.ca && (t.mode === 'require' || t.mode === 'disable')) {
      ctx.addIssue({ code: 'custom', message: `with tls.mode ${t.mode} no certificate is checked, so tls.ca would be ignored; use mode verify-ca or verify-full, or remove ca`, path: ['ca'] });
    }
  });

const upstreamAuth = z.strictObject({
  allow_md5: z.boolean().default(false).describe('answer an MD5 password request (pg_hba method md5); off by default'),
  allow_cleartext: z.boolean().default(false).describe('answer a clear-text password request (pg_hba method password), and only over TLS; off by default'),
});

export const principalSchema = z.strictObject({
  name,
  kind: z.enum(['user', 'agent']).default('user'),
  groups: z.array(groupName).default([]),
  email: z.string().optional(),
  sso_subject: z.string().min(1).max(255).optional().describe('the IdP subject (sub) this person signs in as with single sign-on; an admin must have one to sign in with SSO at all'),
  sponsor: name.optional().describe('for an agent: the person answerable for it, shown to approvers with each of its requests'),
  may_approve: z.boolean().default(false).describe('for an agent: may it approve or deny requests and statement reviews (default false: agents never decide)'),
});

export const resourceSchema = z.strictObject({
  name,
  kind: z.enum(['postgres', 'mysql', 'ssh', 'exec', 'http']),
  address: z.string().min(1).optional().describe('host:port (or URL for http); not used by exec resources'),
  database: databaseName.optional().describe('the database sessions open when dbname names only the resource; with no `databases`, the only one it covers'),
  databases: z.array(databaseName).min(1, 'list at least one database, or leave databases out').optional().describe('every database on the server this resource covers (dbname=<resource>/<database>)'),
  labels: z.record(z.string(), z.string()).default({}),
  credential: z
    .strictObject({
      username: z.string().min(1).describe('the upstream login (an SSH resource: the Unix user sessions log in as)'),
      password: credentialPassword.optional().describe('postgres and mysql resources: { env }, { file } or { stored: true }'),
      rotate_every: duration.optional().describe('stored passwords: Airlock sets a new random password on the upstream account this often (e.g. 30d)'),
      private_key: secretRef.optional().describe('ssh resources with mode injected: an OpenSSH private key'),
      mode: z.enum(CREDENTIAL_MODES, { error: `credential.mode is one of ${CREDENTIAL_MODES.join(', ')}` }).optional().describe('per-grant credential by default: per_grant_role (PostgreSQL), per_grant_user (MySQL), certificate (SSH)'),
    })
    .optional(),
  host_key: z.string().regex(OPENSSH_PUBLIC_KEY, 'an OpenSSH public key line, e.g. "ssh-ed25519 AAAA…" (ssh-keyscan prints it)').optional().describe('ssh resources: the host key the server must show; without it the first key seen is kept (trust on first use, audited)'),
  exec: execTemplate.optional().describe('exec resources: the command template and its targets'),
  tls: upstreamTls.optional().describe('TLS to the server; default verify-full, or on a loopback address TLS when the server offers it'),
  auth: upstreamAuth.optional().describe('password methods beyond SCRAM-SHA-256 the gateway may answer'),
  description: z.string().optional(),
}).superRefine((r, ctx) => {
  if ((r.tls || r.auth) && r.kind !== 'postgres') ctx.addIssue({ code: 'custom', message: `tls and auth are read for postgres resources only, not ${r.kind}`, path: [r.tls ? 'tls' : 'auth'] });
  if (r.kind !== 'exec' && r.address === undefined) ctx.addIssue({ code: 'custom', message: `a ${r.kind} resource needs an address (host:port)`, path: ['address'] });
  if (r.kind === 'mysql' && r.address !== undefined) mysqlResourceProblems({ ...r, address: r.address }, ctx);
  if (r.kind === 'ssh') sshResourceProblems(r, ctx);
  if (r.kind === 'exec' && !r.exec) ctx.addIssue({ code: 'custom', message: 'an exec resource needs exec: { command: "…{target}…{command}", targets: [...] }', path: ['exec'] });
  if (r.kind !== 'exec' && r.exec) ctx.addIssue({ code: 'custom', message: `exec: is read for exec resources only, not ${r.kind}`, path: ['exec'] });
  if (r.kind !== 'ssh' && r.host_key) ctx.addIssue({ code: 'custom', message: `host_key is read for ssh resources only, not ${r.kind}`, path: ['host_key'] });
  if (r.kind !== 'ssh' && r.credential?.private_key) ctx.addIssue({ code: 'custom', message: `private_key is read for ssh resources only; a ${r.kind} credential has a password`, path: ['credential', 'private_key'] });
  if ((r.kind === 'postgres' || r.kind === 'mysql') && r.credential && !r.credential.password) ctx.addIssue({ code: 'custom', message: `a ${r.kind} credential needs password: { env: VARIABLE } or { file: /path }`, path: ['credential', 'password'] });
  if (r.credential?.rotate_every !== undefined && !(r.credential.password && 'stored' in r.credential.password)) {
    ctx.addIssue({ code: 'custom', message: 'rotate_every needs a password Airlock keeps itself: password: { stored: true } (an { env } or { file } secret is rotated where it lives)', path: ['credential', 'rotate_every'] });
  }
  if (r.kind !== 'ssh' && r.credential?.mode === 'certificate') ctx.addIssue({ code: 'custom', message: 'mode certificate (short-lived SSH certificates) is for ssh resources', path: ['credential', 'mode'] });
  if (r.kind === 'postgres' && r.credential?.mode === 'per_grant_user') {
    ctx.addIssue({ code: 'custom', message: 'per_grant_user is for mysql resources; a PostgreSQL per-grant credential is a role: write mode: per_grant_role (the default) or injected', path: ['credential', 'mode'] });
  }
  if (r.kind === 'postgres' || r.kind === 'mysql') {
    if (r.database !== undefined) {
      const why = databaseNameProblem(r.kind, r.database);
      if (why) ctx.addIssue({ code: 'custom', message: why, path: ['database'] });
    }
    for (const [i, d] of (r.databases ?? []).entries()) {
      const why = databaseNameProblem(r.kind, d);
      if (why) ctx.addIssue({ code: 'custom', message: why, path: ['databases', i] });
    }
  }
  if (r.auth?.allow_cleartext && r.tls?.mode === 'disable') {
    ctx.addIssue({ code: 'custom', message: 'a clear-text password is only ever sent over TLS, and tls.mode is disable; remove allow_cleartext or turn TLS on', path: ['auth', 'allow_cleartext'] });
  }
  const list = r.databases;
  if (!list) return;
  const seen = new Set<string>();
  for (const [i, d] of list.entries()) {
    if (seen.has(d)) ctx.addIssue({ code: 'custom', message: `"${d}" is listed twice`, path: ['databases', i] });
    seen.add(d);
  }
  if (r.database !== undefined && !seen.has(r.database)) {
    ctx.addIssue({ code: 'custom', message: `the default database "${r.database}" is not in databases (${list.join(', ')}); add it there or remove database`, path: ['database'] });
  }
  if (r.kind !== 'postgres' && r.kind !== 'mysql') ctx.addIssue({ code: 'custom', message: `a ${r.kind} resource has no databases`, path: ['databases'] });
}).transform((r) => {
  // One spelling per kind downstream: a mysql resource's per-grant credential is a user, whichever word was written.
  const address = r.address ?? `exec:${r.exec?.command[0] ?? ''}`;
  if (!r.credential) return { ...r, address };
  const mode = r.credential.mode === 'injected' ? 'injected' : r.kind === 'mysql' ? 'per_grant_user' : r.kind === 'ssh' ? 'certificate' : (r.credential.mode ?? 'per_grant_role');
  return { ...r, address, credential: { ...r.credential, mode } };
});

function sshResourceProblems(r: { address?: string; credential?: { mode?: string; private_key?: unknown; password?: unknown } }, ctx: z.RefinementCtx): void {
  const m = r.address === undefined ? null : HOST_PORT.exec(r.address);
  const port = m?.[3] === undefined ? 22 : Number(m[3]);
  if (r.address !== undefined && (!m || port < 1 || port > 65535)) {
    ctx.addIssue({ code: 'custom', message: `"${r.address}" is not host[:port] (the port defaults to 22; write [v6-address]:port for IPv6)`, path: ['address'] });
  }
  // Without a credential, sessions log in with a certificate as the role's ssh.login (checked when a session opens).
  if (!r.credential) return;
  if (r.credential.password) ctx.addIssue({ code: 'custom', message: 'an ssh resource logs in with a certificate or a private key, not a password; remove password', path: ['credential', 'password'] });
  if (r.credential.mode === 'injected' && !r.credential.private_key) ctx.addIssue({ code: 'custom', message: 'mode injected needs private_key: { file: /path/to/key } or { env: VARIABLE }', path: ['credential', 'private_key'] });
  if (r.credential.mode !== 'injected' && r.credential.private_key) ctx.addIssue({ code: 'custom', message: 'private_key is used only with mode: injected; a certificate (the default) needs no key', path: ['credential', 'private_key'] });
}

function mysqlResourceProblems(r: { address: string; database?: string; databases?: string[] }, ctx: z.RefinementCtx): void {
  const m = HOST_PORT.exec(r.address);
  const port = m?.[3] === undefined ? 3306 : Number(m[3]);
  if (!m || port < 1 || port > 65535) {
    ctx.addIssue({ code: 'custom', message: `"${r.address}" is not host[:port] (the port defaults to 3306; write [v6-address]:port for IPv6)`, path: ['address'] });
  }
  // MySQL has no default schema to fall back on, as PostgreSQL has its "postgres" database.
  if (r.database === undefined && r.databases === undefined) {
    ctx.addIssue({ code: 'custom', message: 'a mysql resource names the schema(s) it covers: database: <schema>, or databases: [<schema>, …]', path: ['database'] });
  }
}

const subjectSelector = z.strictObject({
  groups: z.array(groupName).default([]),
  principals: z.array(name).default([]),
});

const HHMM = /^([01]\d|2[0-3]):[0-5]\d$/;
const HHMM_END = /^([01]\d|2[0-3]):[0-5]\d$|^24:00$/;

const timeWindow = z.strictObject({
  days: z.array(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])).default(['mon', 'tue', 'wed', 'thu', 'fri']),
  from: z.string().regex(HHMM, 'HH:MM'),
  to: z.string().regex(HHMM_END, 'HH:MM'),
  zone: z.string().default('UTC').refine((zone) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  }, 'an IANA time zone such as Europe/Berlin or UTC'),
})
  // A window that wraps midnight (22:00-06:00) would otherwise never match; ask for two rules instead.
  .refine((w) => !(HHMM.test(w.from) && HHMM_END.test(w.to)) || w.from < w.to, { message: '"to" must be later than "from" on the same day; split a window across midnight into two rules', path: ['to'] });

const autoApprove = z.strictObject({
  requester_groups: z.array(groupName).min(1),
  max_duration: duration.optional(),
  time_window: timeWindow.optional(),
});

// Read with the same reader the gateway matches commands with: a rule that cannot be read is a policy error now,
// not a refusal of every command later.
const commandRule = z.string().min(1).superRefine((rule, ctx) => {
  const why = ruleProblem(rule);
  if (why) ctx.addIssue({ code: 'custom', message: `the command rule cannot be read: ${why}` });
});

/** Why a masked column's name cannot be read, if it cannot (docs/masking.md, "Policy"). */
function maskColumnProblem(c: string): string | undefined {
  const parts = c.split('.');
  if (parts.length === 1) return `"${c}" names no table; write table.column (e.g. customers.${c}), schema.table.column, or *.${c} for a column of that name in every table`;
  if (parts.length > 3) return `"${c}" has more than three parts; write table.column or schema.table.column`;
  for (const p of parts) {
    if (p === '') return `"${c}" has an empty name; write table.column or schema.table.column`;
    if (p !== '*' && p.includes('*')) return `"${c}": * stands for a whole name (*.email, billing.*.card_number), not for part of one`;
    if (p.includes('"') || p.includes('\0')) return `"${c}": write names as the database stores them, without quotes (unquoted names are lower case in PostgreSQL)`;
    if (p.trim() !== p) return `"${c}": a name cannot start or end with a space`;
  }
  return undefined;
}

const maskEntryObject = z
  .strictObject({
    column: z.string().optional().describe('table.column, schema.table.column, or a pattern where * stands for any name: *.email, billing.*.card_number'),
    label: z.string().regex(/^\S{1,200}$/, 'a label is one word, e.g. pii:email (the column\'s comment, or its first word)').optional().describe('every column whose comment is this label, or starts with it as a word: COMMENT ON COLUMN … IS \'pii:email\''),
    method: z.enum(MASK_METHODS, { error: `method is one of ${MASK_METHODS.join(', ')}` }).default('redact'),
    keep: z.number().int().min(1, 'keep is 1 to 64 characters').max(64, 'keep is 1 to 64 characters').optional().describe('partial: how many trailing characters stay visible (default 4)'),
    key: secretRef.optional().describe('hash: the HMAC key, by reference ({ env } or { file })'),
  })
  .superRefine((e, ctx) => {
    if (e.column === undefined && e.label === undefined) ctx.addIssue({ code: 'custom', message: 'name what to mask: column: table.column, or label: pii:email' });
    if (e.column !== undefined && e.label !== undefined) ctx.addIssue({ code: 'custom', message: 'write column: or label:, not both (two entries mask both)', path: ['label'] });
    const why = e.column === undefined ? undefined : maskColumnProblem(e.column);
    if (why) ctx.addIssue({ code: 'custom', message: why, path: ['column'] });
    if (e.keep !== undefined && e.method !== 'partial') ctx.addIssue({ code: 'custom', message: `keep is read only with method: partial, not ${e.method}`, path: ['keep'] });
    if (e.method === 'hash' && !e.key) ctx.addIssue({ code: 'custom', message: 'method hash needs key: { env: VARIABLE } or { file: /path/to/key } (the HMAC key, never written here)', path: ['method'] });
    if (e.key && e.method !== 'hash') ctx.addIssue({ code: 'custom', message: `key is read only with method: hash, not ${e.method}`, path: ['key'] });
  })
  .transform((e): MaskRule => ({
    ...(e.column !== undefined ? { column: e.column } : { label: e.label! }),
    method: e.method,
    ...(e.method === 'partial' ? { keep: e.keep ?? 4 } : {}),
    ...(e.method === 'hash' && e.key ? { key: e.key } : {}),
  }));

/**
 * One entry of masking.columns: a plain `table.column` (masked with redact; the form older policies wrote), or an
 * object with column or label, method, keep (partial) and key (hash). Compiled to a MaskRule (src/domain/masking.ts).
 */
const maskEntry = z
  .union([z.string(), z.looseObject({})], { error: 'write table.column, or { column: table.column, method: … } or { label: pii:email, method: … }' })
  .transform((v, ctx): MaskRule => {
    if (typeof v === 'string') {
      const why = maskColumnProblem(v);
      if (why) {
        ctx.addIssue({ code: 'custom', message: why });
        return z.NEVER;
      }
      return { column: v, method: 'redact' };
    }
    // Parsed here rather than as a branch of the union, so a problem inside an entry is reported as itself.
    const r = maskEntryObject.safeParse(v);
    if (r.success) return r.data;
    for (const issue of r.error.issues) ctx.addIssue(issue as Parameters<typeof ctx.addIssue>[0]);
    return z.NEVER;
  });

/** A role's masking (docs/masking.md), compiled to a MaskingPolicy: role.masking.rules, role.masking.predicates. */
const maskingSchema = z
  .strictObject({
    predicates: z.enum(['allow', 'refuse'], { error: 'predicates is allow or refuse' }).default('allow').describe('masked columns in WHERE, JOIN ON, ORDER BY…: allow (default) or refuse'),
    columns: z.array(maskEntry).default([]).describe('the columns to mask: table.column, or { column | label, method, keep, key }'),
  })
  .superRefine((m, ctx) => {
    const seen = new Map<string, number>();
    m.columns.forEach((r, i) => {
      const what = r.column ?? `label ${r.label}`;
      const first = seen.get(what);
      if (first !== undefined) ctx.addIssue({ code: 'custom', message: `${what} is listed twice (first at columns[${first}]); keep one entry`, path: ['columns', i] });
      else seen.set(what, i);
    });
  })
  .transform((m): MaskingPolicy => ({ rules: m.columns, predicates: m.predicates }));

// Fields kept for when the gateway relays them; until then true is refused at load, as a session would be.
const NOT_BUILT = (field: string, what: string): string => `${what} is not supported yet: the SSH gateway refuses it in every session; remove ${field} or set it to false`;

export const roleSchema = z.strictObject({
  name,
  description: z.string().optional(),
  resources: z
    .strictObject({
      names: z.array(name).default([]),
      labels: z.record(z.string(), z.string()).optional(),
    })
    .refine((r) => r.names.length > 0 || r.labels !== undefined, 'select resources by names or by labels'),
  privileges: z
    .strictObject({
      sql: z.enum(['read', 'write', 'admin']).default('read'),
      member_of: z.array(z.string()).optional(),
      grants: z.array(z.string().refine((g) => !g.includes(';'), 'a grant must not contain ";"')).optional(),
    })
    .default({ sql: 'read' }),
  max_duration: duration,
  requestable_by: subjectSelector,
  approval: z
    .strictObject({
      approvals: z.number().int().min(1).max(10).default(1),
      approver_groups: z.array(groupName).default([]),
      approver_principals: z.array(name).default([]),
      allow_self_approval: z.boolean().default(false),
      auto_approve: z.array(autoApprove).default([]),
    })
    .refine((a) => a.approver_groups.length + a.approver_principals.length > 0 || a.auto_approve.length > 0, 'name approver_groups or approver_principals (or auto_approve rules)'),
  justification: z
    .strictObject({
      required: z.boolean().default(true),
      pattern: regex.optional(),
      ticket_required: z.boolean().default(false),
      ticket_pattern: regex.optional(),
      hint: z.string().optional(),
    })
    .default({ required: true, ticket_required: false }),
  break_glass: z.boolean().default(false),
  pending_timeout: duration.default(3600),
  guardrails: z
    .strictObject({
      deny_kinds: z.array(z.string()).default([]),
      require_where: z.boolean().default(false),
      max_rows: z.number().int().positive().nullable().default(null),
      keep_literals: z.boolean().default(false),
      allow_functions: z
        .array(z.string().regex(/^[^\s.]+(\.[^\s.]+)?$/, 'a function name, or schema.name'))
        .default([])
        .describe('functions a read-only role may call although the gateway cannot verify that they only read'),
    })
    .optional(),
  masking: maskingSchema.optional().describe('column masking: which result columns the role sees masked, and how (docs/masking.md)'),
  review: z
    .strictObject({
      statements: z.enum(['writes', 'all', 'none']).default('none').describe('which statements wait for a person: those that may write, all, or none'),
      approver_groups: z.array(groupName).default([]).describe('who may review them; default: the approvers of the role'),
      approver_principals: z.array(name).default([]),
      approvals: z.number().int().min(1).max(10).default(1),
      timeout: duration.default(900).describe('how long a held statement waits for a decision before it is refused'),
    })
    .optional()
    .describe('statement review: each statement it selects is held until a person approves that exact statement'),
  ssh: z
    .strictObject({
      login: z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}$/i, 'a Unix user name').optional().describe('the Unix user on the host; default: the resource credential\'s username'),
      shell: z.boolean().default(true).describe('an interactive shell (with commands.allow set, only the listed commands run unless this is true)'),
      port_forwarding: z.boolean().default(false),
      agent_forwarding: z.boolean().default(false).refine((on) => !on, NOT_BUILT('agent_forwarding', 'agent forwarding (ssh -A)')).describe('not supported yet: must be false (the gateway refuses agent forwarding)'),
      x11: z.boolean().default(false).refine((on) => !on, NOT_BUILT('x11', 'X11 forwarding (ssh -X)')).describe('not supported yet: must be false (the gateway refuses X11 forwarding)'),
      file_transfer: z.boolean().default(false).describe('SFTP and scp; each file\'s path, direction and size is audited'),
      record_input: z.boolean().default(false).describe('record keystrokes too (passwords typed at prompts end up in the recording)'),
      env: z.array(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*\*?$/, 'a variable name, or a prefix ending in *')).default(['LANG', 'LC_*', 'TERM']).describe('environment variables a client may set'),
    })
    .default({ shell: true, port_forwarding: false, agent_forwarding: false, x11: false, file_transfer: false, record_input: false, env: ['LANG', 'LC_*', 'TERM'] })
    .describe('what an SSH or exec session under this role may do'),
  commands: z
    .strictObject({
      allow: z.array(commandRule).default([]).describe('commands that may run, as words; * matches within a word, a last word ... matches any further arguments'),
      deny: z.array(commandRule).default([]).describe('commands refused even when allowed'),
    })
    .optional()
    .describe('command rules for SSH exec requests and exec sessions, matched on the parsed argv'),
}).superRefine((r, ctx) => {
  // Without an allow list any command runs, and a command can start a shell (sh -c …, bash -i): shell: false alone
  // would promise what it cannot keep.
  if (!r.ssh.shell && !(r.commands?.allow.length)) {
    ctx.addIssue({ code: 'custom', message: 'ssh.shell: false needs commands.allow: without an allow list any command may run, and any command could start a shell (sh -c, bash -i); list the commands the role may run, or remove shell: false', path: ['ssh', 'shell'] });
  }
});

export const NOTIFY_EVENTS = ['request.created', 'request.approved', 'request.denied', 'request.break_glass', 'request.timed_out', 'grant.revoked', 'lock.created', 'policy.reload_refused', 'review.requested', 'review.decided', 'grant.expiring', 'request.reviewed'] as const;

/** A user or password in a URL is shown wherever the URL is (fetch's own errors quote it): secrets go in references. */
const noUserinfo = (u: string): boolean => {
  try {
    const url = new URL(u);
    return !url.username && !url.password;
  } catch {
    return true;
  }
};

const webhookSchema = z.strictObject({
  name,
  url: z.string().url().refine((u) => /^https?:\/\//.test(u), 'an http:// or https:// URL').refine(noUserinfo, 'webhook URLs cannot carry a user or password; use the signing secret (secret:)'),
  events: z.array(z.enum(NOTIFY_EVENTS)).min(1).default([...NOTIFY_EVENTS]),
  /** Signs each body: X-Airlock-Signature: sha256=<HMAC-SHA256(secret, body)>. */
  secret: secretRef.optional(),
});

const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '::1'];

/** E-mail notices over SMTP (docs/notifications.md, "E-mail"). */
const emailSchema = z
  .strictObject({
    smtp: z.strictObject({
      host: z.string().min(1),
      port: z.number().int().min(1).max(65535).optional().describe('default 587, or 465 with starttls: implicit'),
      starttls: z
        .union([z.literal(true), z.literal(false), z.literal('implicit')])
        .default(true)
        .describe('true: require STARTTLS (refuse to send in clear); implicit: TLS from the first byte (port 465); false: no TLS, loopback relays only'),
      username: z.string().min(1).optional(),
      password: secretRef.optional(),
      ca: z.string().min(1).optional().describe('PEM file of a private CA that signs the SMTP server certificate'),
    }),
    from: z.string().regex(/^(?:[^<>\r\n]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/, 'an address, e.g. "Airlock <airlock@example.com>" or airlock@example.com'),
    security_group: name.optional().describe('the group told of break-glass access (its members with an email)'),
    expiry_warning: duration.default(600).describe('how long before a grant ends its holder is told'),
    events: z.array(z.enum(NOTIFY_EVENTS)).min(1).default(['request.created', 'request.approved', 'request.denied', 'request.break_glass', 'review.requested', 'review.decided', 'grant.expiring']),
  })
  .superRefine((e, ctx) => {
    // Without TLS the password and every notice cross the network in clear: only a relay on this host may do that.
    if (e.smtp.starttls === false && !LOOPBACK_HOSTS.includes(e.smtp.host)) ctx.addIssue({ code: 'custom', message: 'starttls: false sends in clear text; it is allowed only for a relay on this host (localhost, 127.0.0.1, ::1)', path: ['smtp', 'starttls'] });
    if (e.smtp.password && !e.smtp.username) ctx.addIssue({ code: 'custom', message: 'a password needs a username', path: ['smtp', 'username'] });
  });

/** What a Slack channel posts by default: what approvers act on, and the decisions that update those messages. */
export const SLACK_DEFAULT_EVENTS = ['request.created', 'request.break_glass', 'review.requested', 'request.approved', 'request.denied', 'request.timed_out', 'request.reviewed', 'review.decided'] as const;

const slackChannelName = z.string().regex(/^(#[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{2,})$/, 'a channel name such as "#airlock-approvals" or a channel id such as C0123456789');

const slackSchema = z.strictObject({
  name,
  bot_token: secretRef.describe('the bot token (xoxb-…) the app posts with; needs chat:write and users:read.email'),
  signing_secret: secretRef.describe("the app's signing secret: interaction payloads are checked against it"),
  channel: slackChannelName.default('#airlock-approvals').describe('where messages go when no routing rule matches'),
  channels: z
    .strictObject({
      roles: z.record(name, slackChannelName).default({}).describe('role name → channel: the first rule looked at'),
      labels: z.record(z.string().regex(/^[^=]+=.*$/, 'a label written key=value, e.g. team=payments'), slackChannelName).default({}).describe('"key=value" of a resource label → channel, in the order written'),
    })
    .default({ roles: {}, labels: {} }),
  events: z.array(z.enum(NOTIFY_EVENTS)).min(1).default([...SLACK_DEFAULT_EVENTS]),
  users: z.record(z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'a Slack user id such as U0123456789'), name).default({}).describe('Slack user id → principal; looked at before the verified e-mail'),
  team_id: z.string().regex(/^[TE][A-Z0-9]{2,}$/, 'a Slack workspace id such as T0123456789').optional().describe('the workspace whose clicks count: others, and its Slack Connect guests, are refused'),
  app_id: z.string().regex(/^A[A-Z0-9]{2,}$/, 'a Slack app id such as A0123456789').optional().describe("the app whose clicks count (api_app_id): another app's are refused"),
  api_url: z.string().url().refine((u) => /^https?:\/\//.test(u), 'an http:// or https:// URL').refine(noUserinfo, 'api_url cannot carry a user or password; the bot token is the credential').default('https://slack.com/api').describe('the Web API base URL (tests, Enterprise Grid)'),
});
/** Single sign-on with an OpenID Connect provider (docs/identity.md). */
const oidcSchema = z
  .strictObject({
    issuer: z.string().url().refine((u) => /^https:\/\//.test(u) || /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(u), 'the issuer is an https:// URL (http:// only on loopback, for tests)').describe('the IdP\'s issuer URL; its /.well-known/openid-configuration is read at start'),
    client_id: z.string().min(1),
    client_secret: secretRef.optional().describe('the client secret, by reference; none for a public client'),
    scopes: z.array(z.string().min(1)).default(['openid', 'profile', 'email', 'groups']).refine((s) => s.includes('openid'), 'scopes must include openid'),
    groups_claim: z.string().min(1).default('groups').describe('the ID token (or userinfo) claim that lists the person\'s groups'),
    principal_claim: z.string().min(1).default('preferred_username').describe('the claim that names the principal; email_local_part: the part of email before "@"'),
    group_mapping: z.record(z.string(), z.array(groupName)).optional().describe('IdP group → Airlock groups; IdP groups not listed give nothing'),
    group_prefix: z.string().regex(/^[a-z0-9][a-z0-9._:-]{0,19}$/, '1 to 20 of a-z 0-9 . _ : -, starting with a letter or digit (an empty prefix would let IdP group names be the policy\'s own)').optional().describe('pass every IdP group already in Airlock form through as <prefix><group>'),
    email_domains: z.array(z.string().regex(/^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/, 'a domain such as corp.example')).min(1).optional().describe('the organisation\'s e-mail domains; required with principal_claim: email_local_part'),
    allow_unlisted: z.boolean().default(false).describe('may people not in principals sign in (their groups then come from the IdP only)'),
    console_session_max: duration.default(12 * 3600).describe('the longest a console session or `airlock login --sso` token lasts; never longer than the IdP session'),
    display_name: z.string().min(1).max(60).default('single sign-on').describe('shown on the button: "Sign in with <display_name>"'),
  })
  .refine((o) => !(o.group_mapping && o.group_prefix !== undefined), { message: 'use group_mapping or group_prefix, not both', path: ['group_prefix'] })
  .refine((o) => o.principal_claim !== 'email_local_part' || o.email_domains !== undefined, { message: 'principal_claim: email_local_part needs email_domains (the local part names a person only inside your own domains)', path: ['email_domains'] });

export const policySchema = z.strictObject({
  version: z.literal(1),
  principals: z.array(principalSchema).default([]),
  admins: subjectSelector.default({ groups: [], principals: [] }),
  auditors: subjectSelector.default({ groups: [], principals: [] }),
  resources: z.array(resourceSchema).default([]),
  roles: z.array(roleSchema).default([]),
  notify: z.strictObject({ webhooks: z.array(webhookSchema).default([]), slack: z.array(slackSchema).default([]), email: emailSchema.optional() }).default({ webhooks: [], slack: [] }),
  identity: z.strictObject({ oidc: oidcSchema.optional() }).optional(),
});

export type PolicyDoc = z.infer<typeof policySchema>;
export type PrincipalDef = z.infer<typeof principalSchema>;
export type ResourceDef = z.infer<typeof resourceSchema>;
export type RoleDef = z.infer<typeof roleSchema>;
export type SecretRef = z.infer<typeof secretRef>;
export type CredentialPassword = z.infer<typeof credentialPassword>;
export type AutoApproveRule = z.infer<typeof autoApprove>;
export type TimeWindow = z.infer<typeof timeWindow>;
export type OidcDef = z.infer<typeof oidcSchema>;
export type WebhookDef = z.infer<typeof webhookSchema>;
export type EmailDef = z.infer<typeof emailSchema>;
export type SlackDef = z.infer<typeof slackSchema>;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];
