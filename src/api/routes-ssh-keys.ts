// API routes for the public keys principals log in to the SSH gateway with (`airlock ssh-key`): a principal manages
// its own keys, an admin anyone's; each addition and removal is audited (ssh_key.added / ssh_key.removed).
import { z } from 'zod';
import { randomBytes } from 'node:crypto';
import { AirlockError } from '../domain/errors.js';
import type { Access } from '../access/access.js';
import type { Caller } from '../domain/model.js';
import { fingerprint, parsePublicKeyLine, formatPublicKeyLine } from '../credentials/ssh-cert.js';
import type { RouteDef } from './routing.js';
import { forbidden } from './routing.js';
import { canSeeAll } from './routes-access.js';

const keyRecord = z.object({
  id: z.string(),
  principal: z.string(),
  key: z.string().describe('the public line, "ssh-ed25519 AAAA…"'),
  fingerprint: z.string().describe('SHA256:…, as ssh-keygen -l prints it'),
  comment: z.string().nullable(),
  created_at: z.string(),
  created_by: z.string(),
});

const KEY_TYPES = new Set(['ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com']);

/** One OpenSSH public key line → its normalized line (type and base64, no comment) and comment; refuses anything else. */
export function checkPublicKeyLine(text: string): { line: string; comment: string | null; fingerprint: string } {
  const t = text.trim();
  if (/PRIVATE KEY/.test(t)) {
    throw new AirlockError('AIRLOCK_SSH_KEY_INVALID', 'this is a private key: never send it anywhere. Give the public key instead, the .pub file next to it (e.g. ~/.ssh/id_ed25519.pub)');
  }
  if (t.includes('\n')) throw new AirlockError('AIRLOCK_SSH_KEY_INVALID', 'give one public key line ("ssh-ed25519 AAAA… comment"), not several lines');
  const [type, b64, ...rest] = t.split(/\s+/);
  if (!type || !KEY_TYPES.has(type) || !b64) {
    throw new AirlockError('AIRLOCK_SSH_KEY_INVALID', `not an OpenSSH public key line: it must start with one of ${[...KEY_TYPES].join(', ')} and its base64 key (as in a .pub file)`);
  }
  let parsed;
  try {
    parsed = parsePublicKeyLine(`${type} ${b64}`);
  } catch (e) {
    throw new AirlockError('AIRLOCK_SSH_KEY_INVALID', `the public key line does not parse: ${(e as Error).message}`);
  }
  if (parsed.type !== type) throw new AirlockError('AIRLOCK_SSH_KEY_INVALID', `the key says it is ${type} but holds a ${parsed.type} key`);
  return { line: formatPublicKeyLine(parsed.type, parsed.blob), comment: rest.join(' ').slice(0, 200) || null, fingerprint: fingerprint(parsed.blob) };
}

export function sshKeyRoutes(access: Access): RouteDef<any, any, any>[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const db = () => access.store.db;
  const mayManage = (caller: Caller, principal: string, what: string) => {
    if (principal !== caller.principal.name && !access.policy().isAdmin(caller.principal)) throw forbidden(`Only an admin can ${what} another principal's SSH keys.`);
  };
  return [
    {
      method: 'GET', url: '/api/v1/ssh-keys', tag: 'identity', summary: 'Registered SSH public keys: yours, or anyone\'s (or one principal\'s) for admins and auditors',
      query: z.strictObject({ principal: z.string().max(100).optional() }),
      response: z.object({ keys: z.array(keyRecord) }),
      async handler({ caller, query }) {
        // Admins and auditors see everyone's keys (the console's Admin page); others their own.
        const admin = canSeeAll(access, caller);
        if (query.principal && !admin) mayManage(caller, query.principal, 'list');
        let q = db().selectFrom('ssh_public_keys').selectAll().orderBy('created_at');
        const who = query.principal ?? (admin ? undefined : caller.principal.name);
        if (who) q = q.where('principal', '=', who);
        return { keys: await q.execute() };
      },
    },
    {
      method: 'POST', url: '/api/v1/ssh-keys', tag: 'identity', summary: 'Register an SSH public key to log in to the SSH gateway with (audited)',
      body: z.strictObject({ key: z.string().min(1).max(20_000).describe('one OpenSSH public key line'), principal: z.string().max(100).optional().describe('default: you; an admin may name another') }),
      response: { 201: keyRecord },
      async handler({ caller, body, reply }) {
        const principal = body.principal ?? caller.principal.name;
        mayManage(caller, principal, 'add');
        if (!access.policy().principal(principal)) throw new AirlockError('AIRLOCK_UNKNOWN_PRINCIPAL', `"${principal}" is not in the policy.`);
        const k = checkPublicKeyLine(body.key);
        const row = { id: `key_${randomBytes(10).toString('hex')}`, principal, key: k.line, fingerprint: k.fingerprint, comment: k.comment, created_at: access.clock.now().toISOString(), created_by: caller.principal.name };
        await access.uow(async (trx, rec) => {
          const taken = await trx.selectFrom('ssh_public_keys').select(['principal']).where('fingerprint', '=', k.fingerprint).executeTakeFirst();
          if (taken) throw new AirlockError('AIRLOCK_BAD_INPUT', taken.principal === principal ? `this key (${k.fingerprint}) is already registered for ${principal}` : `this key (${k.fingerprint}) is registered for another principal; a key logs in as one principal only`);
          await trx.insertInto('ssh_public_keys').values(row).execute();
          rec.audit({ actor: caller.principal.name, action: 'ssh_key.added', target: principal, source: caller.source, details: { id: row.id, fingerprint: row.fingerprint, comment: row.comment } });
        });
        reply.status(201);
        return row;
      },
    },
    {
      method: 'DELETE', url: '/api/v1/ssh-keys/:id', tag: 'identity', summary: 'Remove a registered SSH public key (audited); the SSH sessions logged in with it end at once',
      params: z.strictObject({ id: z.string().min(1).max(100) }),
      response: keyRecord,
      async handler({ caller, params }) {
        const row = await db().selectFrom('ssh_public_keys').selectAll().where('id', '=', params.id).executeTakeFirst();
        if (!row) throw new AirlockError('AIRLOCK_NOT_FOUND', `there is no SSH key ${params.id}; list yours with: airlock ssh-key list`);
        mayManage(caller, row.principal, 'remove');
        await access.uow(async (trx, rec) => {
          await trx.deleteFrom('ssh_public_keys').where('id', '=', row.id).execute();
          rec.audit({ actor: caller.principal.name, action: 'ssh_key.removed', target: row.principal, source: caller.source, details: { id: row.id, fingerprint: row.fingerprint } });
          // A key login's session carries the key's id as its token id (ssh-key:<id>, src/gateway/ssh/login.ts): the key
          // is revoked as a token is, so its live sessions end now, here and on every other process, and one planned
          // with it before this commit is cut when it registers.
          rec.change({ kind: 'token', id: `ssh-key:${row.id}`, event: 'revoked', principal: row.principal, time: access.clock.now().toISOString(), message: `your SSH key was removed by ${caller.principal.name} (${row.fingerprint}); log in again with an access token or another registered key` });
        });
        return row;
      },
    },
  ];
}
