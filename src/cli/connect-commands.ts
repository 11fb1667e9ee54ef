// `airlock connect`, `airlock ca` and `airlock gateways`: everything psql, mariadb/mysql or a driver needs to reach a
// resource through the gateway for its kind.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { run } from './command.js';
import { credentialsPath, type Client } from './client.js';
import { EXIT, UsageError, table, when } from './output.js';
import { MYSQL_CLIENTS, POSTGRES_CLIENTS, mysqlCommandLine, mysqlExec, mysqlUrl, type MysqlSettings } from './mysql-connect.js';

interface Listener {
  host: string;
  port: number;
  ca: string;
}

/** GET /api/v1/gateways; `mysql`, `listeners` and `ca` are absent from servers older than the MySQL gateway. */
export interface Gateways {
  postgres: Listener | null;
  mysql?: Listener | null;
  listeners?: { kind: string; host: string; port: number }[];
  ca?: string | null;
  ssh?: { host_key: string; host_key_fingerprint: string; user_ca: string; user_ca_fingerprint: string } | null;
}

interface Grant {
  id: string;
  resource: string;
  role: string;
  expires_at: string;
}

/** The resource kinds a gateway serves, and how each is reached. */
const GATEWAY_FOR: Record<string, 'postgres' | 'mysql'> = { postgres: 'postgres', mysql: 'mysql' };

/** Every listener a server reports, also from a server that only knows `postgres`. */
export function listenersOf(g: Gateways): { kind: string; host: string; port: number }[] {
  return g.listeners ?? (g.postgres ? [{ kind: 'postgres', host: g.postgres.host, port: g.postgres.port }] : []);
}

function caFile(server: string, ca: string): string {
  const p = join(dirname(credentialsPath()), `ca-${new URL(server).host.replace(/[^a-zA-Z0-9.-]/g, '_')}.crt`);
  mkdirSync(dirname(p), { recursive: true, mode: 0o700 });
  writeFileSync(p, ca, { mode: 0o644 });
  return p;
}

function runProgram(program: string, args: string[], env: Record<string, string>): Promise<number> {
  const child = spawn(program, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  return new Promise<number>((resolve) => {
    child.on('error', (e) => {
      process.stderr.write(`airlock: could not run ${program}: ${e.message}\n`);
      resolve(EXIT.error);
    });
    child.on('exit', (code) => resolve(code ?? EXIT.error));
  });
}

/** Refuses a client of the other protocol before a token is made for nothing. */
function checkProgram(kind: string, resource: string, program: string | undefined): void {
  if (!program) return;
  const name = basename(program);
  if (kind === 'mysql' && !MYSQL_CLIENTS.has(name)) {
    const why = POSTGRES_CLIENTS.has(name) ? `${name} speaks PostgreSQL's protocol` : `--exec runs a MySQL client, not ${name}`;
    throw new UsageError(`${resource} is a mysql resource and ${why}; run: airlock connect ${resource} --exec mariadb (or --exec mysql)`);
  }
  if (kind === 'mysql' && name !== 'mariadb' && name !== 'mysql') {
    throw new UsageError(`--exec runs mariadb or mysql for a mysql resource; for ${name}, take the settings from: airlock connect ${resource} --json`);
  }
  if (kind === 'postgres' && MYSQL_CLIENTS.has(name)) {
    throw new UsageError(`${resource} is a postgres resource and ${name} speaks MySQL's protocol; run: airlock connect ${resource} --exec psql`);
  }
}

/** A token that lives exactly as long as the grant, bound to it: the server revokes this principal's previous one. */
async function connectToken(client: Client, principal: string, resource: string, grant: Grant): Promise<string> {
  const ttl = Math.max(1, Math.ceil((Date.parse(grant.expires_at) - Date.now()) / 1000));
  return (await client.post<{ token: string }>('/api/v1/tokens', { principal, ttl: `${ttl}s`, label: `connect ${resource} (${grant.id})`, grant_id: grant.id })).token;
}

export function registerConnectCommands(program: Command): void {
  program
    .command('ca')
    .description('print the CA certificate of the gateways (for sslrootcert, --ssl-ca), or the gateway\'s SSH keys')
    .option('--ssh', 'print the SSH gateway\'s host key line and its fingerprint (check it at the first ssh)')
    .option('--ssh-user-ca', 'print the SSH user CA line, for the TrustedUserCAKeys file of each host')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx, o: { ssh?: boolean; sshUserCa?: boolean }) => {
        const client = ctx.client();
        const g = await client.get<Gateways>('/api/v1/gateways');
        if (o.ssh || o.sshUserCa) {
          if (!g.ssh) throw new UsageError('This server has no SSH keys (it predates SSH support); upgrade and restart it.');
          if (o.ssh && o.sshUserCa) throw new UsageError('Give --ssh or --ssh-user-ca, not both.');
          if (o.ssh) ctx.out(`${g.ssh.host_key}\n${g.ssh.host_key_fingerprint}\n`, { host_key: g.ssh.host_key, fingerprint: g.ssh.host_key_fingerprint });
          // The line alone, so `airlock ca --ssh-user-ca >> /etc/ssh/airlock_user_ca.pub` makes the host's file.
          else ctx.out(`${g.ssh.user_ca}\n`, { user_ca: g.ssh.user_ca, fingerprint: g.ssh.user_ca_fingerprint });
          return;
        }
        const ca = g.ca ?? g.postgres?.ca ?? g.mysql?.ca;
        if (!ca) throw new UsageError('This server runs no database gateway.');
        ctx.out(ca, { ca, saved_to: caFile(client.server, ca) });
      }),
    );

  program
    .command('gateways')
    .description('where each database gateway listens (PostgreSQL, MySQL), and the CA file that checks them')
    .option('--json', 'print only JSON')
    .action(
      run(async (ctx) => {
        const client = ctx.client();
        const g = await client.get<Gateways>('/api/v1/gateways');
        const listeners = listenersOf(g);
        const ca = g.ca ?? g.postgres?.ca ?? g.mysql?.ca;
        const saved = ca ? caFile(client.server, ca) : null;
        const rows = listeners.map((l) => ({ kind: l.kind, address: `${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`, clients: l.kind === 'mysql' ? 'mariadb, mysql, mysql2' : 'psql, libpq, JDBC', tls: 'required' }));
        const human = listeners.length ? `${table(rows, ['kind', 'address', 'clients', 'tls'])}CA: ${saved}\n` : 'This server runs no database gateway.\n';
        ctx.out(human, { listeners: listeners.map((l) => ({ kind: l.kind, host: l.host, port: l.port })), ca_file: saved });
      }),
    );

  program
    .command('connect')
    .description('connection settings for a resource you hold a grant on (or run psql, mariadb or mysql with them)')
    .argument('<resource>', 'resource name')
    .option('--database <name>', 'a database (PostgreSQL) or schema (MySQL) other than the resource\'s default')
    .option('--exec <program>', 'run this program with the settings: psql (or another libpq program) for postgres, mariadb or mysql for mysql')
    .option('--json', 'print only JSON')
    .allowExcessArguments(true)
    .action(
      run(async (ctx, resource: string, o: { database?: string; exec?: string }, cmd: Command) => {
        const client = ctx.client();
        const g = await client.get<Gateways>('/api/v1/gateways');
        const listed = await client.get<{ resources: { name: string; kind: string }[] }>('/api/v1/resources');
        const kind = listed.resources.find((r) => r.name === resource)?.kind ?? 'postgres';
        const gatewayKind = GATEWAY_FOR[kind];
        if (!gatewayKind) throw new UsageError(`${resource} is a ${kind} resource; airlock connect reaches postgres and mysql resources.`);
        checkProgram(kind, resource, o.exec);
        const gw = gatewayKind === 'mysql' ? g.mysql : g.postgres;
        if (!gw) throw new UsageError(gatewayKind === 'mysql' ? 'This server runs no MySQL gateway (airlock server --mysql-listen HOST:PORT).' : 'This server runs no PostgreSQL gateway.');
        const me = await client.get<{ principal: { name: string } }>('/api/v1/whoami');
        const grants = await client.get<{ grants: Grant[] }>(`/api/v1/grants?active=true&resource=${encodeURIComponent(resource)}`);
        const grant = grants.grants[0];
        if (!grant) {
          process.stderr.write(`airlock: you hold no active grant for ${resource}; request one: airlock request ${resource} --role ROLE --for 1h --reason "…"\n`);
          return EXIT.refused;
        }
        const token = await connectToken(client, me.principal.name, resource, grant);
        const root = caFile(client.server, gw.ca);
        const dbname = o.database ? `${resource}/${o.database}` : resource;
        const headline = `# ${grant.role} on ${resource} until ${when(grant.expires_at)} (grant ${grant.id})`;
        const extra = cmd.args.slice(1);

        if (gatewayKind === 'mysql') {
          const s: MysqlSettings = { host: gw.host, port: gw.port, user: me.principal.name, password: token, database: dbname, ssl_ca: root };
          if (o.exec) {
            const { args, env } = mysqlExec(s, o.exec, extra);
            return runProgram(o.exec, args, env);
          }
          const command = mysqlCommandLine(s);
          const human = [
            headline,
            `host: ${s.host}`, `port: ${s.port}`, `user: ${s.user}`, `password: ${s.password}`, `database: ${s.database}`, `ssl-ca: ${s.ssl_ca}`,
            '# the client reads the password from MYSQL_PWD, so it never shows on a command line:',
            `export MYSQL_PWD=${s.password}`,
            command,
            `# Oracle MySQL 8 client: ${mysqlCommandLine(s, 'mysql', 'oracle')}`,
            `# mysql2 / mariadb connector: ${mysqlUrl(s)} with the password above and ssl: { ca: <the ssl-ca file's contents> }`,
            `# or simply: airlock connect ${resource} --exec mariadb`,
          ].join('\n');
          ctx.out(human, { grant_id: grant.id, expires_at: grant.expires_at, ...s, command, url: mysqlUrl(s) });
          return EXIT.ok;
        }

        const env = { PGHOST: gw.host, PGPORT: String(gw.port), PGUSER: me.principal.name, PGDATABASE: dbname, PGPASSWORD: token, PGSSLMODE: 'verify-full', PGSSLROOTCERT: root };
        const url = `postgres://${encodeURIComponent(me.principal.name)}@${gw.host}:${gw.port}/${encodeURIComponent(dbname)}?sslmode=verify-full&sslrootcert=${encodeURIComponent(root)}`;
        if (o.exec) return runProgram(o.exec, extra, env);
        const human = [
          headline,
          ...Object.entries(env).map(([k, v]) => `export ${k}=${k === 'PGPASSWORD' ? v : JSON.stringify(v)}`),
          `# then: psql   — or: psql "${url}" with PGPASSWORD set`,
        ].join('\n');
        ctx.out(human, { grant_id: grant.id, expires_at: grant.expires_at, url, env });
        return EXIT.ok;
      }),
    );
}
