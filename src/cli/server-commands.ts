// `airlock server`: starts Airlock (with --demo: plus an embedded demo database and demo tokens).
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { run } from './main.js';
import { UsageError, printJson } from './output.js';
import { parseDuration } from '../domain/duration.js';
import { checkSwitchesFromEnv, flagOrEnv } from './env-options.js';
// The server and the demo database load only when this command runs: every other command starts without them.
import type { RunningServer, ServerExtension } from '../server.js';

export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`${what} must be HOST:PORT, e.g. 127.0.0.1:8080 (got "${text}")`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

const DEMO_TOKEN_TTL = 12 * 3600;

/** "10s", "1m30s", or a bare number of seconds (as environment variables often hold it). */
export function parseShutdownTimeout(text: string): number {
  const seconds = /^\d+(\.\d+)?$/.test(text.trim()) ? Number(text) : parseDuration(text);
  if (seconds === undefined || !(seconds > 0) || seconds > 3600) throw new UsageError(`--shutdown-timeout must be a duration from 1s to 1h, e.g. 10s or 1m (got "${text}")`);
  return seconds * 1000;
}

/**
 * --ssh-source-address: the certificate's source-address critical option. "off": none (the certificate is good from
 * any address); else addresses or CIDR blocks, comma-separated, as the hosts see the gateway (behind NAT or a load
 * balancer, its outside address). Absent: undefined, the address this machine routes from toward each host.
 */
export function parseSshSourceAddress(text: string | undefined, what = '--ssh-source-address'): string[] | undefined {
  if (text === undefined) return undefined;
  if (text.trim() === 'off') return [];
  const list = text.split(',').map((a) => a.trim());
  for (const a of list) {
    const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(a);
    const family = m ? isIP(m[1]!) : 0;
    if (!m || family === 0 || (m[2] !== undefined && Number(m[2]) > (family === 4 ? 32 : 128))) {
      throw new UsageError(`${what} takes IP addresses or CIDR blocks, comma-separated (e.g. 203.0.113.7 or 10.0.0.0/8,2001:db8::/32), or "off" for certificates without a source address (got "${a}")`);
    }
  }
  return list;
}

interface ServerFlags {
  config: string;
  data: string;
  listen: string;
  store?: string;
  pgListen: string;
  pgAllowLoopbackCleartext?: boolean;
  mysqlListen: string;
  sshListen: string;
  sshSourceAddress?: string;
  publicUrl?: string;
  deploymentId?: string;
  metricsListen?: string;
  demo?: boolean;
  tls?: string;
  tlsCert?: string;
  tlsKey?: string;
  allowHttp?: boolean;
  logLevel?: string;
  logFormat: string;
  shutdownTimeout: string;
  auditSigningKey?: string;
  auditCheckpointEvery: string;
  auditCheckpointInterval: string;
  auditCheckpointSink?: string;
}

/** --audit-checkpoint-every and --audit-checkpoint-interval (docs/audit.md, "Signed checkpoints"). */
export function parseCheckpointSettings(o: Pick<ServerFlags, 'auditSigningKey' | 'auditCheckpointEvery' | 'auditCheckpointInterval' | 'auditCheckpointSink'>) {
  const every = Number(o.auditCheckpointEvery);
  if (!/^\d+$/.test(o.auditCheckpointEvery.trim()) || every < 1 || every > 10_000_000) throw new UsageError(`--audit-checkpoint-every must be a number of events from 1 to 10000000 (got "${o.auditCheckpointEvery}")`);
  const text = o.auditCheckpointInterval.trim();
  const intervalS = /^\d+$/.test(text) ? Number(text) : parseDuration(text);
  if (intervalS === undefined || !(intervalS >= 1) || intervalS > 7 * 86400) throw new UsageError(`--audit-checkpoint-interval must be a duration from 1s to 7d, e.g. 5m (got "${o.auditCheckpointInterval}")`);
  return { keyFile: o.auditSigningKey ? resolve(o.auditSigningKey) : undefined, every, intervalS, sink: o.auditCheckpointSink || undefined };
}

function publicUrlArg(text: string | undefined): string | undefined {
  if (text === undefined || text === '') return undefined;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`--public-url must be an http(s) URL such as https://airlock.example.com, not "${text}"`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new UsageError(`--public-url must be an http(s) URL such as https://airlock.example.com, not "${text}"`);
  return u.toString().replace(/\/+$/, '');
}

function tlsSetting(o: ServerFlags): { certFile: string; keyFile: string } | 'auto' | undefined {
  if (o.tls !== undefined && o.tls !== 'auto') throw new UsageError(`--tls takes only "auto" (a certificate from Airlock's own CA); for your own certificate use --tls-cert FILE --tls-key FILE (got "${o.tls}")`);
  if (o.tls === 'auto' && (o.tlsCert || o.tlsKey)) throw new UsageError('give either --tls auto or --tls-cert/--tls-key, not both');
  if (o.tls === 'auto') return 'auto';
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) throw new UsageError('--tls-cert and --tls-key go together: give both files (PEM), or --tls auto');
  return o.tlsCert && o.tlsKey ? { certFile: resolve(o.tlsCert), keyFile: resolve(o.tlsKey) } : undefined;
}

/** Log lines a person reads in a terminal are pretty unless asked otherwise; anything else (a pipe, a file, a service manager) gets JSON. */
function logFormat(o: ServerFlags, cmd: Command): string {
  return cmd.getOptionValueSource('logFormat') === 'default' && process.stderr.isTTY ? 'pretty' : o.logFormat;
}

export function registerServerCommands(program: Command): void {
  program
    .command('server')
    .description('start Airlock')
    .addOption(new Option('--config <file>', 'policy file (YAML)').default('airlock.yaml').env('AIRLOCK_CONFIG'))
    .addOption(new Option('--data <dir>', 'data directory (SQLite store, keys, certificates)').default('./data').env('AIRLOCK_DATA_DIR'))
    .addOption(new Option('--listen <host:port>', 'API and console address').default('127.0.0.1:8080').env('AIRLOCK_LISTEN'))
    .addOption(new Option('--store <url>', 'postgres://… to keep all state in PostgreSQL (several processes may share it); prefer the variable, which keeps a password out of the process list').env('AIRLOCK_STORE_URL'))
    .addOption(new Option('--pg-listen <host:port>', 'PostgreSQL gateway address ("off" to disable)').default('127.0.0.1:6432').env('AIRLOCK_PG_LISTEN'))
    .addOption(new Option('--mysql-listen <host:port>', 'MySQL/MariaDB gateway address ("off" to disable)').default('127.0.0.1:3307').env('AIRLOCK_MYSQL_LISTEN'))
    .addOption(new Option('--ssh-listen <host:port>', 'SSH gateway address, users log in as <principal>%<resource> ("off" to disable)').default('127.0.0.1:2222').env('AIRLOCK_SSH_LISTEN'))
    .addOption(new Option('--public-url <url>', 'the URL people reach the console at (behind a proxy): links in e-mail and chat, the SSO redirect (default: the listener\'s URL)').env('AIRLOCK_PUBLIC_URL'))
    .addOption(new Option('--ssh-source-address <addr,...|off>', 'the source-address SSH certificates carry: the addresses hosts see the gateway connect from (behind NAT or a load balancer), or "off" for none (default: the local address toward each host)').env('AIRLOCK_SSH_SOURCE_ADDRESS'))
    .addOption(new Option('--pg-allow-loopback-cleartext', 'accept database logins without TLS from loopback clients, PostgreSQL and MySQL (local demos, benchmarks)').env('AIRLOCK_PG_ALLOW_LOOPBACK_CLEARTEXT'))
    .addOption(new Option('--deployment-id <id>', "this Airlock's id on shared database servers (1-12 of a-z0-9; default: chosen at first start and kept in the store)").env('AIRLOCK_DEPLOYMENT_ID'))
    .addOption(new Option('--metrics-listen <host:port>', 'also serve GET /metrics on this address (it is on the API listener too)').env('AIRLOCK_METRICS_LISTEN'))
    .addOption(new Option('--demo', 'also start an embedded demo PostgreSQL with sample data and print demo tokens').env('AIRLOCK_DEMO'))
    .addOption(new Option('--tls-cert <file>', 'serve the API and console over HTTPS with this certificate (PEM, chain included)').env('AIRLOCK_TLS_CERT'))
    .addOption(new Option('--tls-key <file>', 'the private key of --tls-cert (PEM, unencrypted)').env('AIRLOCK_TLS_KEY'))
    .addOption(new Option('--tls <mode>', '"auto": HTTPS with a certificate from Airlock\'s own CA (<data>/tls/ca.crt)').env('AIRLOCK_TLS'))
    .addOption(new Option('--allow-http', 'serve plain HTTP on an address that is not loopback (only behind a proxy that terminates TLS)').env('AIRLOCK_ALLOW_HTTP'))
    .addOption(new Option('--log-level <level>', 'trace, debug, info, warn, error, fatal or silent').env('AIRLOCK_LOG_LEVEL'))
    .addOption(new Option('--log-format <format>', 'log lines on stderr: json (for machines) or pretty (one readable line per event)').default('json').env('AIRLOCK_LOG_FORMAT'))
    .addOption(new Option('--shutdown-timeout <duration>', 'on SIGTERM/SIGINT, how long to wait for sessions, streams and the audit log before exiting 1').default('10s').env('AIRLOCK_SHUTDOWN_TIMEOUT'))
    .addOption(new Option('--audit-signing-key <file>', 'the Ed25519 private key (PEM, PKCS#8) that signs audit checkpoints (default: made at first start as <data>/audit/checkpoint-key.pem)').env('AIRLOCK_AUDIT_SIGNING_KEY_FILE'))
    .addOption(new Option('--audit-checkpoint-every <events>', 'sign a checkpoint of the audit chain after this many events').default('1000').env('AIRLOCK_AUDIT_CHECKPOINT_EVERY'))
    .addOption(new Option('--audit-checkpoint-interval <duration>', '…or after this long, when events came since the last one').default('5m').env('AIRLOCK_AUDIT_CHECKPOINT_INTERVAL'))
    .addOption(new Option('--audit-checkpoint-sink <url>', 'also send each checkpoint to an https:// webhook, file:/path (a JSON line, fsynced) or syslog / udp://host:514').env('AIRLOCK_AUDIT_CHECKPOINT_SINK'))
    .option('--json', 'print the start-up information as JSON')
    .action(
      run(async (ctx, o: ServerFlags, cmd: Command) => {
        checkSwitchesFromEnv(cmd);
        const listen = parseHostPort(o.listen, flagOrEnv(cmd, 'listen'));
        const tls = tlsSetting(o);
        const shutdownMs = parseShutdownTimeout(o.shutdownTimeout);
        const pgListen = o.pgListen === 'off' ? null : parseHostPort(o.pgListen, flagOrEnv(cmd, 'pgListen'));
        const mysqlListen = o.mysqlListen === 'off' ? null : parseHostPort(o.mysqlListen, flagOrEnv(cmd, 'mysqlListen'));
        const sshListen = o.sshListen === 'off' ? null : parseHostPort(o.sshListen, flagOrEnv(cmd, 'sshListen'));
        const sshSourceAddresses = parseSshSourceAddress(o.sshSourceAddress, flagOrEnv(cmd, 'sshSourceAddress'));
        const metricsListen = o.metricsListen ? parseHostPort(o.metricsListen, flagOrEnv(cmd, 'metricsListen')) : null;
        const auditCheckpoints = parseCheckpointSettings(o);
        const { startServer, VERSION } = await import('../server.js');
        const dataDir = resolve(o.data);
        let config = o.config;
        const extensions: ServerExtension[] = [];
        let demoStop: (() => Promise<void>) | null = null;
        if (o.demo) {
          const { mkdirSync } = await import('node:fs');
          mkdirSync(dataDir, { recursive: true, mode: 0o700 });
          if (!ctx.json) process.stderr.write('Starting the demo database (embedded PostgreSQL)…\n');
          const { startDemoDatabase } = await import('../demo.js');
          const demo = await startDemoDatabase(dataDir, () => {});
          demoStop = demo.stop;
          if (cmd.getOptionValueSource('config') === 'default') config = demo.policyFile;
        }
        let server: RunningServer;
        try {
          server = await startServer({ config, dataDir, listen, storeUrl: o.store, pgListen, mysqlListen, sshListen, sshSourceAddresses, publicUrl: publicUrlArg(o.publicUrl), pgAllowCleartextLoopback: Boolean(o.pgAllowLoopbackCleartext), bootstrapToken: process.env.AIRLOCK_BOOTSTRAP_TOKEN, deploymentId: o.deploymentId, metricsListen, extensions, tls, allowHttp: Boolean(o.allowHttp), logLevel: o.logLevel, logFormat: logFormat(o, cmd), auditCheckpoints });
        } catch (e) {
          await demoStop?.();
          throw e;
        }
        const demoTokens: Record<string, string> = {};
        if (o.demo) {
          for (const name of ['alice', 'bob', 'carol']) {
            if (!server.policySource.current().principal(name)) continue;
            const t = `alk_${randomBytes(32).toString('base64url')}`;
            await server.access.tokens.ensure(t, name, DEMO_TOKEN_TTL, 'demo');
            demoTokens[name] = t;
          }
        }
        const info = { version: VERSION, api: `${server.apiUrl}/api/v1`, console: `${server.apiUrl}/`, openapi: `${server.apiUrl}/api/v1/openapi.json`, data: dataDir, store: server.store.dialect, policy: config, admin_token: server.bootstrapToken, demo_tokens: o.demo ? demoTokens : undefined, ...server.info };
        const running = server;
        const stopped = new Promise<void>((resolveStop) => {
          let stopping = false;
          const giveUp = (why: string) => {
            const open = running.stillOpen();
            const detail = `Airlock did not stop ${why}; still open: ${open.length ? open.join(', ') : 'nothing Airlock tracks (a handle outside it)'}.`;
            running.log.error({ code: 'AIRLOCK_SHUTDOWN_INCOMPLETE', still_open: open }, detail);
            if (ctx.json) printJson({ error: { code: 'AIRLOCK_SHUTDOWN_INCOMPLETE', detail, still_open: open } });
            else process.stderr.write(`airlock: ${detail} [AIRLOCK_SHUTDOWN_INCOMPLETE]\n`);
            process.exit(1);
          };
          const stop = async (sig: string) => {
            if (stopping) return giveUp(`before a second ${sig}`);
            stopping = true;
            running.log.info({ signal: sig, deadline_ms: shutdownMs }, 'stopping Airlock');
            if (!ctx.json) process.stdout.write(`\n${sig}: stopping Airlock (at most ${shutdownMs / 1000} s)…\n`);
            const deadline = setTimeout(() => giveUp(`within ${shutdownMs / 1000} s (--shutdown-timeout)`), shutdownMs);
            await running.close(sig);
            await demoStop?.();
            clearTimeout(deadline);
            if (!ctx.json) process.stdout.write('Airlock stopped.\n');
            // Everything Airlock opened is closed; a library's stray handle must not keep the process from exiting.
            setTimeout(() => process.exit(process.exitCode ?? 0), 2_000).unref();
            resolveStop();
          };
          process.on('SIGINT', () => void stop('SIGINT'));
          process.on('SIGTERM', () => void stop('SIGTERM'));
        });
        // Printed only now that SIGTERM/SIGINT stop it cleanly: whoever reads the banner may signal at once (a
        // supervisor, a test), and a signal with no handler yet would end the process without its shutdown.
        // The banner is for people (stdout); log lines are for machines (stderr), so the two never interleave.
        if (ctx.json) ctx.out('', info);
        else process.stdout.write(banner(info, demoTokens));
        await stopped;
      }),
    );
}

function banner(info: Record<string, unknown>, demoTokens: Record<string, string>): string {
  const lines = [
    `Airlock ${info.version} is running.`,
    `  Console:   ${info.console}`,
    `  API:       ${info.api}   (OpenAPI: ${info.openapi})`,
    ...Object.entries(info)
      .filter(([k]) => k.startsWith('gateway_'))
      .map(([k, v]) => `  ${k.replace('gateway_', '').padEnd(9)}: ${v}`),
    ...(info.api_tls_ca ? [`  HTTPS CA:  ${info.api_tls_ca} (for the CLI: export AIRLOCK_CA=${info.api_tls_ca})`] : []),
    `  Data:      ${info.data} (${info.store})`,
    `  Policy:    ${info.policy} (reloads on change or SIGHUP)`,
    `  Metrics:   ${[info.metrics, info.metrics_listen].filter(Boolean).join(' and ')}`,
    `  Audit key: ${String(info.audit_key_id).slice(0, 16)}… (public key: ${info.audit_public_key ?? 'GET /api/v1/audit/public-key'})`,
  ];
  if (info.admin_token) lines.push('', `Admin token (shown only now; valid 7 days): ${info.admin_token}`);
  if (Object.keys(demoTokens).length) {
    lines.push('', 'Demo tokens (valid 12h): alice asks, bob approves, carol is an admin and auditor:');
    for (const [n, t] of Object.entries(demoTokens)) lines.push(`  ${n.padEnd(6)} ${t}`);
    const server = String(info.api).replace(/\/api\/v1$/, '');
    lines.push(
      '',
      'Try it (in another terminal):',
      `  export AIRLOCK_SERVER=${server}`,
      `  AIRLOCK_TOKEN=${demoTokens.alice ?? '<alice>'} npx airlock request demo-orders --role read --for 30m --reason "DEMO-1 look at orders" --wait`,
      `  AIRLOCK_TOKEN=${demoTokens.bob ?? '<bob>'} npx airlock requests --reviewable`,
      `  AIRLOCK_TOKEN=${demoTokens.bob ?? '<bob>'} npx airlock approve <request id>`,
      `  AIRLOCK_TOKEN=${demoTokens.alice ?? '<alice>'} npx airlock exec demo-box -- cat app.log   # after a grant of role shell (recorded: airlock recordings)`,
      `  AIRLOCK_TOKEN=${demoTokens.carol ?? '<carol>'} npx airlock audit verify --recordings`,
    );
  }
  return `${lines.join('\n')}\n`;
}
