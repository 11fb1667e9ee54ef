// `airlock ssh`, `airlock ssh-config` and `airlock ssh-key`: OpenSSH through the gateway's SSH listener with the user
// name <principal>%<resource>, the gateway's host key pinned, and the access token given through SSH_ASKPASS (never on
// a command line); and the public keys a principal logs in with instead.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { run } from './command.js';
import { credentialsPath, type Client } from './client.js';
import { EXIT, UsageError, table, when } from './output.js';

interface SshListener {
  host: string;
  port: number;
  host_key: string;
  fingerprint: string;
}

interface SshKey {
  id: string;
  principal: string;
  key: string;
  fingerprint: string;
  comment: string | null;
  created_at: string;
}

/** The SSH listener the server reports; a usage error when it runs none. */
async function sshGateway(client: Client): Promise<SshListener> {
  const g = await client.get<{ ssh?: SshListener | null }>('/api/v1/gateways');
  if (!g.ssh) throw new UsageError('This server runs no SSH gateway (airlock server --ssh-listen HOST:PORT).');
  // A listener on every address is reached at the API's host.
  const host = ['0.0.0.0', '::', ''].includes(g.ssh.host) ? new URL(client.server).hostname : g.ssh.host;
  return { ...g.ssh, host };
}

/** known_hosts names a non-default port as [host]:port. */
function knownHostsName(gw: SshListener): string {
  return gw.port === 22 ? gw.host : `[${gw.host}]:${gw.port}`;
}

/** The gateway's host key in a known_hosts file of Airlock's own (next to the CLI's credentials), for StrictHostKeyChecking. */
function knownHostsFile(client: Client, gw: SshListener): string {
  const p = join(dirname(credentialsPath()), `ssh_known_hosts-${new URL(client.server).host.replace(/[^a-zA-Z0-9.-]/g, '_')}`);
  mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
  writeFileSync(p, `${knownHostsName(gw)} ${gw.host_key}\n`, { mode: 0o644 });
  return p;
}

export function userName(principal: string, resource: string): string {
  return `${principal}%${resource}`;
}

/** Runs ssh, the token coming from a 0700 askpass script that prints an environment variable; the exit code is ssh's. */
async function runSsh(args: string[], token: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-ssh-'));
  chmodSync(dir, 0o700);
  const askpass = join(dir, 'askpass');
  writeFileSync(askpass, '#!/bin/sh\nprintf "%s\\n" "$AIRLOCK_SSH_TOKEN"\n', { mode: 0o700 });
  try {
    const child = spawn('ssh', args, {
      stdio: 'inherit',
      env: { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', AIRLOCK_SSH_TOKEN: token, DISPLAY: process.env.DISPLAY ?? ':0' },
    });
    return await new Promise<number>((resolve) => {
      child.on('error', (e) => {
        process.stderr.write(`airlock: could not run ssh: ${e.message} (install the OpenSSH client)\n`);
        resolve(EXIT.error);
      });
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 + 15 : EXIT.error)));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function registerSshCommands(program: Command): void {
  program
    .command('ssh')
    .description('open a shell (or run a command) on an ssh resource you hold a grant on, through the SSH gateway')
    .argument('<resource>', 'resource name')
    .argument('[command...]', 'a command to run instead of a shell (after --)')
    .option('-t', 'force a terminal (ssh -tt) for a command')
    .option('--ssh-option <option...>', 'extra ssh -o options, e.g. ServerAliveInterval=30')
    .option('--json', 'print the ssh command line as JSON instead of running it')
    .action(
      run(async (ctx, resource: string, command: string[], o: { t?: boolean; sshOption?: string[] }) => {
        const client = ctx.client();
        const gw = await sshGateway(client);
        const me = await client.get<{ principal: { name: string } }>('/api/v1/whoami');
        const grants = await client.get<{ grants: { id: string; role: string; expires_at: string }[] }>(`/api/v1/grants?active=true&resource=${encodeURIComponent(resource)}`);
        const grant = grants.grants[0];
        if (!grant) {
          process.stderr.write(`airlock: you hold no active grant for ${resource}; request one: airlock request ${resource} --role ROLE --for 1h --reason "…"\n`);
          return EXIT.refused;
        }
        const args = [
          '-p', String(gw.port),
          '-l', userName(me.principal.name, resource),
          '-o', `UserKnownHostsFile=${knownHostsFile(client, gw)}`,
          '-o', 'StrictHostKeyChecking=yes',
          '-o', 'PreferredAuthentications=publickey,keyboard-interactive,password',
          '-o', 'NumberOfPasswordPrompts=1',
          ...(o.sshOption ?? []).flatMap((x) => ['-o', x]),
          ...(o.t ? ['-tt'] : []),
          gw.host,
          ...(command.length ? ['--', ...command] : []),
        ];
        if (ctx.json) {
          ctx.out('', { grant_id: grant.id, role: grant.role, expires_at: grant.expires_at, command: ['ssh', ...args] });
          return EXIT.ok;
        }
        if (process.stderr.isTTY) process.stderr.write(`# ${grant.role} on ${resource} until ${when(grant.expires_at)} (grant ${grant.id})\n`);
        // A token of its own that ends with the grant (not one bound to it: that would replace, and so cut, the
        // token of another `airlock ssh` to the same resource).
        const ttl = Math.max(1, Math.ceil((Date.parse(grant.expires_at) - Date.now()) / 1000));
        const { token } = await client.post<{ token: string }>('/api/v1/tokens', { principal: me.principal.name, ttl: `${ttl}s`, label: `ssh ${resource} (${grant.id})` });
        return runSsh(args, token);
      }),
    );

  program
    .command('ssh-config')
    .description('print a Host block for ~/.ssh/config that reaches a resource (or every ssh resource) through the gateway')
    .argument('[resource]', 'resource name (default: every ssh resource)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, resource: string | undefined) => {
        const client = ctx.client();
        const gw = await sshGateway(client);
        const me = await client.get<{ principal: { name: string } }>('/api/v1/whoami');
        const listed = await client.get<{ resources: { name: string; kind: string }[] }>('/api/v1/resources');
        const names = resource ? [resource] : listed.resources.filter((r) => r.kind === 'ssh').map((r) => r.name);
        if (resource && listed.resources.find((r) => r.name === resource)?.kind !== 'ssh') throw new UsageError(`${resource} is not an ssh resource; list them with: airlock resources`);
        const known = knownHostsFile(client, gw);
        const blocks = names.map((n) => ({
          host: `airlock-${n}`,
          hostname: gw.host,
          port: gw.port,
          user: userName(me.principal.name, n),
          user_known_hosts_file: known,
        }));
        const human = [
          `# Airlock SSH gateway ${gw.host}:${gw.port}, host key ${gw.fingerprint}. Log in with your access token (or a key from airlock ssh-key add).`,
          ...blocks.map((b) => [`Host ${b.host}`, `  HostName ${b.hostname}`, `  Port ${b.port}`, `  User ${b.user}`, `  UserKnownHostsFile ${b.user_known_hosts_file}`, '  StrictHostKeyChecking yes', ''].join('\n')),
        ].join('\n');
        ctx.out(human, { gateway: gw, hosts: blocks });
      }),
    );

  const key = program.command('ssh-key').description('the SSH public keys you log in to the SSH gateway with');
  key
    .command('add')
    .description('register a public key (the .pub file; never the private key)')
    .argument('<file>', 'a public key file, e.g. ~/.ssh/id_ed25519.pub')
    .option('--principal <name>', 'for another principal (admins)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, file: string, o: { principal?: string }) => {
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (e) {
          throw new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        // A private key never leaves this machine: refused before anything is sent.
        if (/PRIVATE KEY/.test(text)) throw new UsageError(`${file} is a private key: never send it anywhere. Give the public key, ${file}.pub`);
        const k = await ctx.client().post<SshKey>('/api/v1/ssh-keys', { key: text.trim(), ...(o.principal ? { principal: o.principal } : {}) });
        ctx.out(`Added ${k.fingerprint} (${k.comment ?? 'no comment'}) for ${k.principal} as ${k.id}.`, k);
      }),
    );
  key
    .command('list')
    .description('your registered keys (an admin: --principal P, or everyone\'s)')
    .option('--principal <name>', 'one principal\'s keys (admins)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { principal?: string }) => {
        const r = await ctx.client().get<{ keys: SshKey[] }>(`/api/v1/ssh-keys${o.principal ? `?principal=${encodeURIComponent(o.principal)}` : ''}`);
        const rows = r.keys.map((k) => ({ id: k.id, principal: k.principal, fingerprint: k.fingerprint, comment: k.comment ?? '', added: when(k.created_at) }));
        ctx.out(rows.length ? table(rows, ['id', 'principal', 'fingerprint', 'comment', 'added']) : 'No SSH keys registered.\n', r);
      }),
    );
  key
    .command('remove')
    .description('remove a registered key')
    .argument('<id>', 'the key id (airlock ssh-key list)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, id: string) => {
        const k = await ctx.client().del<SshKey>(`/api/v1/ssh-keys/${encodeURIComponent(id)}`);
        ctx.out(`Removed ${k.fingerprint} of ${k.principal}.`, k);
      }),
    );
}
