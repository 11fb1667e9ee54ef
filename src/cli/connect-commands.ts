// `airlock connect` and `airlock ca`: everything psql or a driver needs to reach a resource through the gateway.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Command } from 'commander';
import { run } from './command.js';
import { credentialsPath } from './client.js';
import { EXIT, UsageError, when } from './output.js';

interface Gateways {
  postgres: { host: string; port: number; ca: string } | null;
}

function caFile(server: string, ca: string): string {
  const p = join(dirname(credentialsPath()), `ca-${new URL(server).host.replace(/[^a-zA-Z0-9.-]/g, '_')}.crt`);
  mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
  writeFileSync(p, ca, { mode: 0o644 });
  return p;
}

export function registerConnectCommands(program: Command): void {
  program
    .command('ca')
    .description('print the CA certificate of the gateways (for sslrootcert)')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx) => {
        const client = ctx.client();
        const g = await client.get<Gateways>('/api/v1/gateways');
        if (!g.postgres) throw new UsageError('This server runs no database gateway.');
        ctx.out(g.postgres.ca, { ca: g.postgres.ca, saved_to: caFile(client.server, g.postgres.ca) });
      }),
    );

  program
    .command('connect')
    .description('connection settings for a resource you hold a grant on (or run psql with them)')
    .argument('<resource>', 'resource name')
    .option('--database <name>', 'a database other than the resource\'s default')
    .option('--exec <program>', 'run this program (e.g. psql) with the settings in its environment')
    .option('--json', 'print only JSON')
    .allowExcessArguments(true)
    .action(
      run(async (ctx, resource: string, o: { database?: string; exec?: string }, cmd: Command) => {
        const client = ctx.client();
        const g = await client.get<Gateways>('/api/v1/gateways');
        if (!g.postgres) throw new UsageError('This server runs no PostgreSQL gateway.');
        const me = await client.get<{ principal: { name: string } }>('/api/v1/whoami');
        const grants = await client.get<{ grants: { id: string; resource: string; role: string; expires_at: string }[] }>(`/api/v1/grants?active=true&resource=${encodeURIComponent(resource)}`);
        const grant = grants.grants[0];
        if (!grant) {
          process.stderr.write(`airlock: you hold no active grant for ${resource}; request one: airlock request ${resource} --role ROLE --for 1h --reason "…"\n`);
          return EXIT.refused;
        }
        // A token that lives exactly as long as the grant: the client's environment never holds a longer-lived one.
        const ttl = Math.max(1, Math.ceil((Date.parse(grant.expires_at) - Date.now()) / 1000));
        // Bound to the grant: the server revokes this principal's previous connect token for it (docs/postgres-gateway.md).
        const token = await client.post<{ token: string }>('/api/v1/tokens', { principal: me.principal.name, ttl: `${ttl}s`, label: `connect ${resource} (${grant.id})`, grant_id: grant.id });
        const root = caFile(client.server, g.postgres.ca);
        const dbname = o.database ? `${resource}/${o.database}` : resource;
        const env = { PGHOST: g.postgres.host, PGPORT: String(g.postgres.port), PGUSER: me.principal.name, PGDATABASE: dbname, PGPASSWORD: token.token, PGSSLMODE: 'verify-full', PGSSLROOTCERT: root };
        const url = `postgres://${encodeURIComponent(me.principal.name)}@${g.postgres.host}:${g.postgres.port}/${encodeURIComponent(dbname)}?sslmode=verify-full&sslrootcert=${encodeURIComponent(root)}`;
        if (o.exec) {
          const args = cmd.args.slice(1);
          const child = spawn(o.exec, args, { stdio: 'inherit', env: { ...process.env, ...env } });
          return new Promise<number>((resolve) => {
            child.on('error', (e) => {
              process.stderr.write(`airlock: could not run ${o.exec}: ${e.message}\n`);
              resolve(EXIT.error);
            });
            child.on('exit', (code) => resolve(code ?? EXIT.error));
          });
        }
        const human = [
          `# ${grant.role} on ${resource} until ${when(grant.expires_at)} (grant ${grant.id})`,
          ...Object.entries(env).map(([k, v]) => `export ${k}=${k === 'PGPASSWORD' ? v : JSON.stringify(v)}`),
          `# then: psql   — or: psql "${url}" with PGPASSWORD set`,
        ].join('\n');
        ctx.out(human, { grant_id: grant.id, expires_at: grant.expires_at, url, env });
        return EXIT.ok;
      }),
    );
}
