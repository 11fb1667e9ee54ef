// What the SSH login asks the services below: an access token checked with its id and expiry (so the session ends
// with the token), and a principal's registered public keys (table ssh_public_keys, managed by /api/v1/ssh-keys).
import ssh2 from 'ssh2';
import { AirlockError } from '../../domain/errors.js';
import type { Access } from '../../access/access.js';
import type { KeyLogin, SshLoginDeps } from './login.js';

export function makeSshLoginDeps(access: Access): SshLoginDeps {
  return {
    async tokenLogin(name, token, source) {
      const caller = await access.tokens.authenticate(token, source);
      if (caller.principal.name !== name) throw new AirlockError('AIRLOCK_TOKEN_INVALID', `this token belongs to another principal, not "${name}"`);
      const t = caller.token_id ? await access.tokens.byId(caller.token_id) : undefined;
      if (!t) throw new AirlockError('AIRLOCK_TOKEN_INVALID', 'The access token is not valid (expired or revoked). Get a new one: airlock token create');
      return { principal: caller.principal, token: { id: t.id, expires_at: t.expires_at } };
    },

    async publicKeyLogin(name, blob): Promise<KeyLogin | null> {
      const principal = access.policy().principal(name);
      if (!principal) return null;
      const rows = await access.store.db.selectFrom('ssh_public_keys').select(['id', 'key', 'fingerprint']).where('principal', '=', name).execute();
      for (const r of rows) {
        const k = ssh2.utils.parseKey(r.key);
        if (k instanceof Error) continue;
        const parsed = Array.isArray(k) ? k[0] : k;
        if (parsed && parsed.getPublicSSH().equals(blob)) return { principal, key_id: r.id, fingerprint: r.fingerprint };
      }
      return null;
    },
  };
}
