// API routes for upstream credentials Airlock keeps itself: set, list and rotate them, and rekey every secret at rest
// (admins only; the values never leave the server).
import { z } from 'zod';
import type { Access } from '../access/access.js';
import type { StoredCredentials, StoredCredentialView } from '../credentials/stored-credentials.js';
import type { RekeyResult } from '../credentials/rekey.js';
import type { RouteDef } from './routing.js';
import { forbidden } from './routing.js';

const time = z.string().describe('ISO-8601 UTC time');

export const storedCredentialRecord = z
  .object({
    resource: z.string(),
    kind: z.string().describe('postgres or mysql'),
    username: z.string().describe('the upstream account'),
    set: z.boolean().describe('false until an admin sets the password (sessions to the resource fail until then)'),
    version: z.number().int().nullable().describe('1 when first set, +1 at each set or rotation'),
    set_at: time.nullable().describe('when an admin last set it'),
    set_by: z.string().nullable(),
    rotated_at: time.nullable().describe('the last successful rotation since it was set'),
    rotate_every: z.string().nullable().describe("the resource's schedule, e.g. 30d"),
    next_rotation_at: time.nullable().describe('when the schedule rotates it next (null without rotate_every)'),
    last_error: z.string().nullable().describe('why the last rotation failed (cleared by a success)'),
    last_error_at: time.nullable(),
  })
  .describe('A stored upstream credential, never its value') satisfies z.ZodType<StoredCredentialView>;

const rekeyRecord = z.object({
  key_version: z.number().int().describe('the key version every secret is now encrypted with'),
  key_file: z.string().nullable().describe('the key file Airlock made (keys in files); null when the key came from AIRLOCK_SECRET_KEY_NEXT'),
  re_encrypted: z.object({ grant_credentials: z.number().int(), stored_credentials: z.number().int() }),
  unreadable: z.number().int().describe('secrets no key of this process decrypts; while any remain the old key is still needed'),
  retired_versions: z.array(z.number().int()).describe('key versions no stored secret uses any more'),
}) satisfies z.ZodType<RekeyResult>;

const resourceParam = z.strictObject({ resource: z.string().min(1).max(63).describe('the resource name') });

export function credentialRoutes(deps: { access: Access; stored: StoredCredentials; rekey(): Promise<RekeyResult> }): RouteDef<any, any, any>[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const { access, stored } = deps;
  const admin = (caller: Parameters<ReturnType<typeof access.policy>['isAdmin']>[0], what: string) => {
    if (!access.policy().isAdmin(caller)) throw forbidden(`Only an admin can ${what}.`);
  };
  return [
    {
      method: 'GET', url: '/api/v1/credentials', tag: 'credentials', summary: 'Stored upstream credentials: account, version, set and rotated times, next rotation; never a value (admin)',
      response: z.object({ credentials: z.array(storedCredentialRecord) }),
      async handler({ caller }) {
        admin(caller.principal, 'list stored credentials');
        return { credentials: await stored.list() };
      },
    },
    {
      method: 'POST', url: '/api/v1/credentials/:resource', tag: 'credentials', summary: "Set the password Airlock keeps for a resource's upstream account (admin; audited without the value)", params: resourceParam,
      body: z.strictObject({ password: z.string().min(1).max(1024).describe('the upstream password; stored encrypted, never shown again') }),
      response: storedCredentialRecord,
      async handler({ caller, params, body }) {
        admin(caller.principal, 'set a stored credential');
        return stored.set(params.resource, body.password, { actor: caller.principal.name, source: caller.source });
      },
    },
    {
      method: 'POST', url: '/api/v1/credentials/:resource/rotate', tag: 'credentials', summary: 'Set a new random password on the upstream account, verify it, then store it (admin; audited)', params: resourceParam,
      response: storedCredentialRecord,
      async handler({ caller, params }) {
        admin(caller.principal, 'rotate a stored credential');
        return stored.rotate(params.resource, { actor: caller.principal.name, source: caller.source });
      },
    },
    {
      method: 'POST', url: '/api/v1/secrets/rekey', tag: 'credentials', summary: 'Re-encrypt every secret at rest with the next key version (admin; audited with counts)',
      response: rekeyRecord,
      async handler({ caller }) {
        admin(caller.principal, 'rekey the secrets at rest');
        const r = await deps.rekey();
        await access.audit.append({ actor: caller.principal.name, action: 'secrets.rekey', source: caller.source, details: { ...r } });
        return r;
      },
    },
  ];
}
