// `airlock credential set|list|rotate` and `airlock secrets rekey`: the upstream passwords Airlock keeps itself, and
// the key that encrypts every secret at rest (admin). A password is read from a prompt or stdin, never from argv.
import type { Command } from 'commander';
import { run } from './command.js';
import { table, when, UsageError } from './output.js';
import { promptHidden, readFirstLine } from './passwd-command.js';

interface CredentialView {
  resource: string;
  username: string;
  set: boolean;
  version: number | null;
  set_at: string | null;
  set_by: string | null;
  rotated_at: string | null;
  rotate_every: string | null;
  next_rotation_at: string | null;
  last_error: string | null;
}

export function registerCredentialCommands(program: Command): void {
  const credential = program.command('credential').description('upstream passwords Airlock keeps itself (password: { stored: true }) (admin)');

  credential
    .command('set')
    .description("store the password of a resource's upstream account, encrypted (read from a prompt without echo, or the first line of stdin)")
    .argument('<resource>', 'resource name')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, resource: string) => {
        let password: string;
        if (process.stdin.isTTY) {
          password = await promptHidden(`Password of ${resource}'s upstream account: `);
          const again = await promptHidden('Type it again: ');
          if (again !== password) throw new UsageError('The two passwords differ; nothing was stored.');
        } else {
          password = await readFirstLine();
        }
        if (!password) throw new UsageError('No password given: type it when asked, or send it on stdin.');
        const r = await ctx.client().post<CredentialView>(`/api/v1/credentials/${encodeURIComponent(resource)}`, { password });
        ctx.out(`Stored the password of ${r.username} for ${r.resource} (version ${r.version}).`, r);
      }),
    );

  credential
    .command('list')
    .description('stored credentials: account, version, when set and rotated, next scheduled rotation (never a value)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx) => {
        const r = await ctx.client().get<{ credentials: CredentialView[] }>('/api/v1/credentials');
        const rows = r.credentials.map((c) => ({
          resource: c.resource, username: c.username, version: c.set ? String(c.version) : 'not set',
          set: c.set_at ? `${when(c.set_at)} by ${c.set_by}` : '-', rotated: when(c.rotated_at),
          every: c.rotate_every ?? '-', next_rotation: when(c.next_rotation_at), last_error: c.last_error ?? '',
        }));
        ctx.out(table(rows, ['resource', 'username', 'version', 'set', 'rotated', 'every', 'next_rotation', 'last_error']), r);
      }),
    );

  credential
    .command('rotate')
    .description('set a new random password on the upstream account, verify a new login with it, then store it')
    .argument('<resource>', 'resource name')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, resource: string) => {
        const r = await ctx.client().post<CredentialView>(`/api/v1/credentials/${encodeURIComponent(resource)}/rotate`);
        ctx.out(`Rotated the password of ${r.username} for ${r.resource} (version ${r.version}); new sessions use it, open ones go on.`, r);
      }),
    );

  program
    .command('secrets')
    .description('the key that encrypts secrets at rest (admin)')
    .command('rekey')
    .description('re-encrypt every stored secret with the next key version (AIRLOCK_SECRET_KEY_NEXT, or a new key file)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx) => {
        const r = await ctx.client().post<{ key_version: number; key_file: string | null; re_encrypted: Record<string, number>; unreadable: number; retired_versions: number[] }>('/api/v1/secrets/rekey');
        const n = Object.values(r.re_encrypted).reduce((a, b) => a + b, 0);
        const old = r.retired_versions.length ? ` Key version(s) ${r.retired_versions.join(', ')} are no longer needed once every process runs with v${r.key_version}.` : '';
        const left = r.unreadable ? ` ${r.unreadable} secret(s) could not be decrypted and were left as they are: keep the old key until they are dealt with.` : '';
        ctx.out(`Re-encrypted ${n} secret(s) with key version ${r.key_version}${r.key_file ? ` (new key file ${r.key_file})` : ''}.${old}${left}`, r);
      }),
    );
}
