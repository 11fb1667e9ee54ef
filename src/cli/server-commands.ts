// `airlock server`: starts Airlock (with --demo: plus an embedded demo database and demo tokens).
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { run } from './main.js';
import { UsageError } from './output.js';
// The server and the demo database load only when this command runs: every other command starts without them.
import type { RunningServer, ServerExtension } from '../server.js';

export function parseHostPort(text: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`${what} must be HOST:PORT, e.g. 127.0.0.1:8080 (got "${text}")`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

const DEMO_TOKEN_TTL = 12 * 3600;

export function registerServerCommands(program: Command): void {
  program
    .command('server')
    .description('start Airlock')
    .option('--config <file>', 'policy file (YAML)', 'airlock.yaml')
    .option('--data <dir>', 'data directory (SQLite store, keys, certificates)', './data')
    .option('--listen <host:port>', 'API and console address', '127.0.0.1:8080')
    .option('--store <url>', 'postgres://… to keep all state in PostgreSQL (several processes may share it)')
    .option('--pg-listen <host:port>', 'PostgreSQL gateway address ("off" to disable)', '127.0.0.1:6432')
    .option('--pg-allow-loopback-cleartext', 'accept database logins without TLS from loopback clients (local demos, benchmarks)')
    .option('--deployment-id <id>', 'this Airlock\'s id on shared database servers (1-12 of a-z0-9; default: chosen at first start and kept in the store; env AIRLOCK_DEPLOYMENT_ID)')
    .option('--demo', 'also start an embedded demo PostgreSQL with sample data and print demo tokens')
    .option('--json', 'print the start-up information as JSON')
    .action(
      run(async (ctx, o: { config: string; data: string; listen: string; store?: string; pgListen: string; pgAllowLoopbackCleartext?: boolean; deploymentId?: string; demo?: boolean }, cmd: Command) => {
        const listen = parseHostPort(o.listen, '--listen');
        const pgListen = o.pgListen === 'off' ? null : parseHostPort(o.pgListen, '--pg-listen');
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
          server = await startServer({ config, dataDir, listen, storeUrl: o.store, pgListen, pgAllowCleartextLoopback: Boolean(o.pgAllowLoopbackCleartext), bootstrapToken: process.env.AIRLOCK_BOOTSTRAP_TOKEN, deploymentId: o.deploymentId, extensions });
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
        if (ctx.json) ctx.out('', info);
        else process.stdout.write(banner(info, demoTokens));
        await new Promise<void>((resolveStop) => {
          const stop = async (sig: string) => {
            process.stderr.write(`\n${sig}: stopping Airlock…\n`);
            await server.close();
            await demoStop?.();
            resolveStop();
          };
          process.once('SIGINT', () => void stop('SIGINT'));
          process.once('SIGTERM', () => void stop('SIGTERM'));
        });
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
    `  Data:      ${info.data} (${info.store})`,
    `  Policy:    ${info.policy} (reloads on change or SIGHUP)`,
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
      `  AIRLOCK_TOKEN=${demoTokens.carol ?? '<carol>'} npx airlock audit verify`,
    );
  }
  return `${lines.join('\n')}\n`;
}
