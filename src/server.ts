// The composition root: builds the store, policy, audit log, access services, API and gateways, then listens.
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hostname as osHostname } from 'node:os';
import type { Logger } from 'pino';
import { sql } from 'kysely';
import { makeLogger, checkLogOptions } from './logging.js';
import { checkTokenShape } from './access/tokens.js';
import { systemClock, type Clock } from './domain/clock.js';
import { openStore, type Store } from './store/store.js';
import { makeAuditLog, type AuditLog } from './audit/audit-log.js';
import { startAuditWriter } from './audit/audit-writer.js';
import { makePolicySource, type PolicySource, type ReloadOutcome } from './policy/source.js';
import { formatProblem } from './policy/load.js';
import { BOOTSTRAP_ADMIN } from './policy/compile.js';
import { makeAccess, type Access } from './access/access.js';
import { buildApi, type GatewayInfo } from './api/app.js';
import { makePgGateway } from './gateway/postgres/index.js';
import { makeMysqlGateway } from './gateway/mysql/index.js';
import { mysqlInspectorFor } from './gateway/mysql/inspector.js';
import { makeSshGateway, makeSshLoginDeps } from './gateway/ssh/index.js';
import { connectUpstream, type SshLogin } from './gateway/ssh/upstream.js';
import { loadOrCreateTls, type TlsMaterial } from './gateway/core/tls.js';
import { readTlsFiles, checkPlainHttpAllowed } from './server-tls.js';
import type { Readiness } from './api/health.js';
import { makePgCredentials } from './gateway/pg-credentials.js';
import { makeMysqlCredentials } from './gateway/mysql-credentials.js';
import { makeSshCredentials } from './gateway/ssh-credentials.js';
import { makeExecCredentials } from './gateway/exec-credentials.js';
import { makeGatewayAccess } from './gateway/core/planner.js';
import type { CredentialProviders } from './credentials/provider.js';
import { makeOutbox, type Outbox, type OutboxOptions } from './notify/outbox.js';
import { makeChannelRegistry } from './notify/channels.js';
import { createHash } from 'node:crypto';
import { attachNotifications } from './access/notifications.js';
import { attachClusterFanout } from './access/cluster.js';
import { endUnendedSessions, liveInstances } from './access/unended-sessions.js';
import { resolveSecret } from './credentials/secret-ref.js';
import { checkDeploymentId, newDeploymentId } from './credentials/pg-role-names.js';
import { AirlockError } from './domain/errors.js';
import { listenUrl } from './domain/addresses.js';
import { makeMetrics } from './metrics.js';
import { startMetricsListener } from './api/routes-metrics.js';
import type { FastifyInstance } from 'fastify';
import { makeRecordings, type Recordings } from './audit/recordings.js';
import { makeCheckpoints, type CheckpointOptions, type Checkpoints } from './audit/checkpoints.js';
import { loadCheckpointKey, publicKeyPath } from './audit/checkpoint-key.js';
import { parseCheckpointSink } from './audit/checkpoint-sinks.js';
import type { McpDeps } from './mcp/context.js';
import { registerMcpRoute } from './mcp/http.js';
import { openExecSession } from './gateway/exec/session.js';
import { makeIdentities } from './identity/identities.js';
import { makeSso } from './identity/sso.js';
import { loadSecretKeys } from './credentials/secret-keys.js';
import { makeStoredCredentials } from './credentials/stored-credentials.js';
import { rekeySecrets } from './credentials/rekey.js';
import { changeUpstreamPassword, firstLogin } from './gateway/upstream-password.js';

export const VERSION = (JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json'), 'utf8')) as { version: string }).version;

export interface ServerOptions {
  config: string;
  dataDir: string;
  listen: { host: string; port: number };
  /** postgres://… for a shared store; default SQLite in dataDir. */
  storeUrl?: string;
  /** The PostgreSQL gateway's address; null turns it off. Default 127.0.0.1:6432. */
  pgListen?: { host: string; port: number } | null;
  /** Accept non-TLS database logins from loopback clients (tests, local demos). */
  pgAllowCleartextLoopback?: boolean;
  /** The MySQL/MariaDB gateway's address; null turns it off. Default 127.0.0.1:3307. */
  mysqlListen?: { host: string; port: number } | null;
  /** Accept MySQL logins without TLS from loopback clients (local demos, tests). Default: as pgAllowCleartextLoopback. */
  mysqlAllowCleartextLoopback?: boolean;
  /** The SSH gateway's address; null or absent: none (the CLI's default is 127.0.0.1:2222). */
  sshListen?: { host: string; port: number } | null;
  /**
   * The source-address SSH certificates carry (addresses or CIDR blocks as the hosts see the gateway); [] leaves it
   * out. Absent: the address this machine routes from toward each host.
   */
  sshSourceAddresses?: string[];
  /**
   * The URL people reach the console and API at (behind a proxy or load balancer): links in e-mail and chat, the SSO
   * redirect. Default: the API listener's own URL.
   */
  publicUrl?: string;
  bootstrapToken?: string;
  /**
   * Which Airlock this is on shared database servers (1-12 of [a-z0-9]); its per-grant roles carry it. Default: the
   * id kept in the store, chosen at first start.
   */
  deploymentId?: string;
  clock?: Clock;
  logger?: Logger;
  /** For the logger made when none is given: level (default AIRLOCK_LOG_LEVEL or info) and format (json | pretty). */
  logLevel?: string;
  logFormat?: string;
  /**
   * HTTPS for the API and console: PEM files, or 'auto' for a server certificate from Airlock's own CA in
   * <dataDir>/tls (the one the gateways use). None: plain HTTP, which is served only on loopback unless allowHttp.
   */
  tls?: { certFile: string; keyFile: string } | 'auto';
  /** Serve plain HTTP on an address that is not loopback (behind a proxy that terminates TLS). */
  allowHttp?: boolean;
  watchPolicy?: boolean;
  /** Also serve GET /metrics on this address (it is always on the API listener too). */
  metricsListen?: { host: string; port: number } | null;
  /** Extra start-up work after the services exist and before listening (the demo database, gateways). */
  extensions?: ServerExtension[];
  /** Notification delivery: attempts, back-off, time limits (src/notify/outbox.ts; defaults suit production). */
  notify?: OutboxOptions;
  /**
   * Signed checkpoints of the audit chain (docs/audit.md): the Ed25519 key by reference (default: made at first start
   * under <dataDir>/audit), every N events (1000) or T seconds (300), and an optional sink (URL, file:/path, syslog).
   */
  auditCheckpoints?: { keyFile?: string; every?: number; intervalS?: number; sink?: string; tickMs?: number };
}

export interface ServerExtension {
  name: string;
  start(ctx: ServerContext): Promise<{ info?: Record<string, string>; stop(): Promise<void> } | void>;
}

export interface ServerContext {
  store: Store;
  audit: AuditLog;
  access: Access;
  policySource: PolicySource;
  log: Logger;
  dataDir: string;
  /** SSH and exec session recordings: the one instance every front-end writes with and the API reads and watches. */
  recordings: Recordings;
  /** The console's public base URL without a trailing slash (--public-url, else the API listener's URL once listening). */
  publicUrl(): string;
  /** Every channel's messages: queued, retried, dead-lettered (docs/notifications.md). */
  outbox: Outbox;
  /** Signed checkpoints of the audit chain and the key that signs them. */
  checkpoints: Checkpoints;
}

export interface RunningServer extends ServerContext {
  apiUrl: string;
  gateways: GatewayInfo;
  /** The SSH listener's address and host key; null when it is off. */
  sshGateway: { host: string; port: number; host_key: string; fingerprint: string } | null;
  app: FastifyInstance;
  /** The admin token made at first start, shown once; null when it already existed. */
  bootstrapToken: string | null;
  info: Record<string, string>;
  reloadPolicy(actor: string, source: string | null): Promise<ReloadOutcome>;
  /**
   * Stops accepting, ends event streams and gateway sessions (each told why), records server.stop, flushes the audit
   * log and closes the store. `reason` goes into server.stop (e.g. "SIGTERM").
   */
  close(reason?: string): Promise<void>;
  /** While close() runs: what it has not finished yet, e.g. ["postgres gateway (2 connections)"]. */
  stillOpen(): string[];
}

const BOOTSTRAP_TTL = 7 * 86400;

/**
 * The deployment id lives in the store, so every process of a cluster shares it and a restart keeps it: a new id
 * would leave the roles made under the old one to nobody. A configured id must match the stored one for that reason.
 */
async function deploymentId(store: Store, configured: string | undefined): Promise<string> {
  const key = 'deployment_id';
  const read = async () => (await store.db.selectFrom('meta').select('value').where('key', '=', key).executeTakeFirst())?.value;
  const stored = await read();
  if (stored !== undefined) {
    if (configured !== undefined && configured !== stored) {
      throw new AirlockError('AIRLOCK_BAD_INPUT', `the deployment id "${configured}" differs from "${stored}", which this store was started with and its per-grant database roles carry; remove the setting or set it to "${stored}"`);
    }
    return stored;
  }
  const id = checkDeploymentId(configured ?? newDeploymentId());
  // Two processes starting together on a new shared store: the first insert wins and both use it.
  await store.db.insertInto('meta').values({ key, value: id }).onConflict((oc) => oc.column('key').doNothing()).execute();
  return (await read()) ?? id;
}
const ENV_BOOTSTRAP_TTL = 366 * 86400;

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  // Settings are checked before anything opens, so a refused start leaves nothing behind.
  const logSettings = checkLogOptions({ level: opts.logLevel ?? process.env.AIRLOCK_LOG_LEVEL, format: opts.logFormat });
  if (opts.bootstrapToken) checkTokenShape(opts.bootstrapToken, 'AIRLOCK_BOOTSTRAP_TOKEN');
  if (!opts.tls) checkPlainHttpAllowed(opts.listen.host, opts.allowHttp ?? false);
  const tlsFiles = opts.tls && opts.tls !== 'auto' ? await readTlsFiles(opts.tls.certFile, opts.tls.keyFile) : null;
  const log = opts.logger ?? makeLogger(logSettings);
  const clock = opts.clock ?? systemClock;
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const policySource = makePolicySource(opts.config);
  const storeUrl = opts.storeUrl ?? join(dataDir, 'airlock.db');
  const store = await openStore({ url: storeUrl });
  // Checked before anything else starts, so a refused start leaves nothing running.
  const deployment = await deploymentId(store, opts.deploymentId).catch(async (e: unknown) => {
    await store.close();
    throw e;
  });
  // From here on a failed start (a port taken, a bad certificate, …) undoes what it opened, so the process can exit.
  const undo: (() => Promise<unknown> | unknown)[] = [() => store.close()];
  try {
    return await startOnStore(opts, { log, clock, dataDir, policySource, store, storeUrl, deployment, tlsFiles }, undo);
  } catch (e) {
    for (const u of undo.reverse()) {
      try {
        await u();
      } catch (err) {
        log.warn({ err }, 'could not undo a step of the failed start');
      }
    }
    throw addressInUse(e, opts);
  }
}

/** A listen address another process holds, said with the flag that chose it instead of Node's bare EADDRINUSE. */
function addressInUse(e: unknown, opts: ServerOptions): unknown {
  const err = e as NodeJS.ErrnoException & { port?: number };
  if (err?.code !== 'EADDRINUSE') return e;
  const flags: [string, { host: string; port: number } | null | undefined][] = [['--listen', opts.listen], ['--metrics-listen', opts.metricsListen], ['--pg-listen', opts.pgListen], ['--mysql-listen', opts.mysqlListen], ['--ssh-listen', opts.sshListen]];
  const flag = flags.find(([, a]) => a && a.port === err.port)?.[0];
  const address = err.message.replace(/^.*address already in use\s*/, '') || `port ${err.port}`;
  return new AirlockError('AIRLOCK_CONFIG_INVALID', `${address}${flag ? ` (${flag})` : ''} is already in use by another process; stop it or choose another address`);
}

interface Opened {
  log: Logger;
  clock: Clock;
  dataDir: string;
  policySource: PolicySource;
  store: Store;
  storeUrl: string;
  deployment: string;
  tlsFiles: { key: string; cert: string } | null;
}

/** The rest of startServer once the store is open; pushes onto `undo` what must be closed if it throws. */
async function startOnStore(opts: ServerOptions, { log, clock, dataDir, policySource, store, storeUrl, deployment, tlsFiles }: Opened, undo: (() => Promise<unknown> | unknown)[]): Promise<RunningServer> {
  // Batched audit appends commit on their own thread (a ":memory:" store has no second connection to give it).
  const writer = storeUrl === ':memory:' ? undefined : startAuditWriter(storeUrl);
  undo.push(() => writer?.close());
  const metrics = makeMetrics({ version: VERSION });
  const audit = makeAuditLog({ store, clock, writer, metrics: metrics.audit });
  // The policy every service sees: the file's, with the groups each person's last single sign-on gave them.
  const identities = makeIdentities({ store, clock, audit });
  await identities.load();
  const access = makeAccess({ store, clock, audit, policy: () => identities.overlay(policySource.current()), onError: (e) => log.error({ err: e }, 'expiry scheduler error') });
  undo.push(() => access.expiry.stop());
  undo.push(() => access.expiryWarnings.stop());
  metrics.attach(access, audit);

  // Links in messages use the public URL, known once the API listens (channels format when they deliver).
  let listenedUrl = '';
  const publicUrl = () => (opts.publicUrl ?? listenedUrl).replace(/\/+$/, '');
  const channels = makeChannelRegistry(() => policySource.current(), { resolveSecret: (ref) => resolveSecret(ref), log, clock, publicUrl });
  const outbox = makeOutbox({
    store, clock, audit, log,
    channels: () => channels.current(),
    onSettled: (d) => d.kind === 'webhook' && metrics.webhookDelivery({ webhook: d.channel, event: d.event, ok: d.ok }),
  }, opts.notify);
  const notifyError = (e: unknown) => log.warn({ err: (e as Error).message }, 'could not queue a notification');
  const detachNotifications = attachNotifications(access, (n) => void outbox.enqueue(n).catch(notifyError), (e) => log.warn({ err: (e as Error).message }, 'could not build a notification'));
  undo.push(() => detachNotifications());
  undo.push(() => outbox.stop());

  /** Audits (and, when refused, announces) the outcome of a reload, whatever triggered it. */
  async function recordReload(o: ReloadOutcome, actor: string, source: string | null): Promise<ReloadOutcome> {
    if (o.ok) {
      log.info({ hash: o.policy.hash, changed: o.changed, by: actor }, 'policy reloaded');
      await access.uow(async (_trx, rec) => {
        rec.audit({ actor, action: 'policy.reload', target: opts.config, source, details: { previous_hash: o.previous_hash, hash: o.policy.hash, changed: o.changed } });
        rec.change({ kind: 'policy', id: o.policy.hash, event: 'reloaded', time: clock.now().toISOString() });
      });
    } else {
      log.error({ problems: o.problems.map(formatProblem), by: actor }, 'policy reload refused; keeping the previous policy');
      await audit.append({ actor, action: 'policy.reload_refused', target: opts.config, source, details: { kept_hash: o.kept_hash, problems: o.problems.map(formatProblem) } });
      // The same refusal of the same file, seen by every process of a cluster (or a watcher firing twice), is told once.
      const refusal = `${o.kept_hash.slice(0, 12)}-${createHash('sha256').update(o.problems.map(formatProblem).join('\n')).digest('hex').slice(0, 12)}`;
      void outbox.enqueue({ event: 'policy.reload_refused', subject: { kind: 'policy', id: refusal }, time: clock.now().toISOString(), text: `The policy file ${opts.config} was not loaded (${o.problems.length} problem(s)); the previous policy stays in force. First: ${formatProblem(o.problems[0]!)}`, data: { file: opts.config, problems: o.problems.map(formatProblem) } }).catch(notifyError);
    }
    return o;
  }
  const reloadPolicy = (actor: string, source: string | null) => recordReload(policySource.reload(), actor, source);

  // Access ends on time even across downtime: expire everything overdue before serving anything.
  const overdue = await access.expiry.start();
  if (overdue.grants || overdue.requests) log.info(overdue, 'expired overdue grants and timed out requests from while Airlock was down');
  // After the overdue expiries: only grants still active hear that they are about to end.
  await access.expiryWarnings.start();

  let bootstrapToken: string | null = null;
  if (opts.bootstrapToken) {
    await access.tokens.ensure(opts.bootstrapToken, BOOTSTRAP_ADMIN, ENV_BOOTSTRAP_TTL, 'AIRLOCK_BOOTSTRAP_TOKEN');
  } else {
    const done = await store.db.selectFrom('meta').select('value').where('key', '=', 'bootstrapped').executeTakeFirst();
    if (!done) {
      bootstrapToken = `alk_${(await import('node:crypto')).randomBytes(32).toString('base64url')}`;
      await access.tokens.ensure(bootstrapToken, BOOTSTRAP_ADMIN, BOOTSTRAP_TTL, 'first start');
      await store.db.insertInto('meta').values({ key: 'bootstrapped', value: clock.now().toISOString() }).execute();
    }
  }

  await access.uow(async (_trx, rec) => {
    rec.audit({ actor: 'airlock', action: 'server.start', details: { version: VERSION, policy_hash: policySource.current().hash, store: store.dialect, overdue } });
  });

  // One per process: a live session is watched through the instance its front-end records with.
  const recordings = makeRecordings(dataDir);
  const cpOpts = opts.auditCheckpoints ?? {};
  const checkpointOptions: CheckpointOptions = { every: cpOpts.every ?? 1000, intervalS: cpOpts.intervalS ?? 300, tickMs: cpOpts.tickMs, sink: cpOpts.sink ? parseCheckpointSink(cpOpts.sink) : undefined };
  const checkpointKey = loadCheckpointKey({ file: cpOpts.keyFile, dataDir });
  const checkpoints = makeCheckpoints({ store, clock, audit, key: checkpointKey, log }, checkpointOptions);
  await checkpoints.start();
  undo.push(() => checkpoints.stop());
  const ctx: ServerContext = { store, audit, access, policySource, log, dataDir, recordings, publicUrl, outbox, checkpoints };
  /** What close() stops, in order, each with the name it is reported by when it does not finish in time. */
  const stops: { name: () => string; stop: () => Promise<void> }[] = [];
  undo.push(async () => {
    for (const s of stops) await s.stop().catch((err: unknown) => log.warn({ err, step: s.name() }, 'could not undo a step of the failed start'));
  });
  if (store.dialect === 'postgres' && opts.storeUrl) {
    const fanout = attachClusterFanout(access, opts.storeUrl, log);
    await fanout.start();
    stops.push({ name: () => 'cluster fan-out (LISTEN connection)', stop: () => fanout.stop() });
  }
  // Sessions an earlier run left open (it was killed) get their end before this one serves; with several processes
  // on one store, those another live process holds are left alone (docs/lifecycle.md).
  const unended = await endUnendedSessions({ store, audit, clock, instance: access.bus.origin, live: () => liveInstances(store) });
  if (unended) log.info({ sessions: unended }, 'recorded the end of gateway sessions left open by an earlier run');
  // Statements an earlier run held for review have no session left to run in (docs/policy.md, "review").
  const orphanReviews = await access.statementReviews.withdrawOrphans(await liveInstances(store));
  if (orphanReviews) log.info({ reviews: orphanReviews }, 'withdrew statement reviews held by sessions of an earlier run');
  const info: Record<string, string> = {};
  info.audit_key_id = checkpoints.publicKey().key_id;
  if (checkpointKey.generated) info.audit_public_key = publicKeyPath(checkpointKey.path);
  const gateways: GatewayInfo = {};
  let sshGateway: RunningServer['sshGateway'] = null;

  // Database credentials: per-grant roles follow the grants; those of grants that ended while we were down go now.
  info.deployment_id = deployment;
  // One provider per resource kind with gateway sessions (src/credentials/provider.ts).
  // Secrets at rest: versioned keys (docs/credentials.md); passwords Airlock keeps itself, rotated on their schedule.
  const keys = loadSecretKeys({ dataDir });
  const stored = makeStoredCredentials({ db: store.db, clock, policy: () => access.policy(), keys, uow: access.uow, changePassword: changeUpstreamPassword, tryLogin: firstLogin, log });
  await stored.start();
  stops.push({ name: () => 'credential rotation schedule', stop: async () => stored.stop() });
  const mysqlCredentials = makeMysqlCredentials({ access, dataDir, deploymentId: deployment, log, keys, stored });
  // SSH: the user CA and host key under <dataDir>/ssh/, made at first start.
  const sshCredentials = makeSshCredentials({ access, dataDir, log, sourceAddresses: opts.sshSourceAddresses });
  const credentials: CredentialProviders = {
    postgres: makePgCredentials({ access, dataDir, deploymentId: deployment, log, keys, stored }),
    mysql: mysqlCredentials,
    ssh: sshCredentials,
    exec: makeExecCredentials(),
  };
  const { hostKey, userCa } = sshCredentials.keys;
  gateways.ssh_keys = { host_key: hostKey.publicLine, host_key_fingerprint: hostKey.fingerprint, user_ca: userCa.publicLine, user_ca_fingerprint: userCa.fingerprint };
  for (const [kind, provider] of Object.entries(credentials)) {
    provider.attach();
    stops.push({ name: () => `${kind} credential connections`, stop: () => provider.close() });
    const cleaned = await provider.cleanup();
    if (cleaned) log.info({ kind, logins: cleaned }, 'dropped per-grant database logins of grants that ended');
  }
  // Per-grant MySQL users end on time while Airlock is down only through the server's event scheduler: say at start
  // where it is off (a warning per resource, with how to turn it on). In the background: a server that does not
  // answer must not hold up the start.
  void mysqlCredentials.serverExpiry().catch((e: unknown) => log.warn({ err: (e as Error).message }, 'could not ask the MySQL servers whether their event scheduler runs'));

  // One CA and server certificate for the gateways and (with --tls auto) the API; made once here.
  let ownTls: TlsMaterial | null = null;
  const tlsMaterial = async () => (ownTls ??= await loadOrCreateTls(dataDir, { hostnames: tlsHostnames(opts.listen.host) }));
  const listening: Record<string, () => boolean> = {};
  if (opts.pgListen !== null) {
    const tls = await tlsMaterial();
    const gw = makePgGateway(
      { access: makeGatewayAccess({ access, credentials }), sessions: access.sessions, audit, instance: access.bus.origin, log, metrics: metrics.gateway('postgres'), recordings, statementReviews: access.statementReviews },
      { listen: opts.pgListen ?? { host: '127.0.0.1', port: 6432 }, tls: { key: tls.key, cert: tls.cert }, allowCleartextWithoutTls: opts.pgAllowCleartextLoopback ?? false },
    );
    const addr = await gw.start();
    listening.postgres = () => gw.listening;
    stops.unshift({ name: () => `postgres gateway (${gw.connections} connection(s))`, stop: () => gw.stop() });
    gateways.postgres = { host: addr.host, port: addr.port, ca: tls.ca, ca_path: tls.caPath };
    info.gateway_postgres = `${addr.host}:${addr.port} (TLS; CA: ${tls.caPath})`;
  }
  if (opts.mysqlListen !== null) {
    const tls = await tlsMaterial();
    const gw = makeMysqlGateway(
      { access: makeGatewayAccess({ access, credentials }), sessions: access.sessions, audit, instance: access.bus.origin, log, metrics: metrics.gateway('mysql'), recordings, statementReviews: access.statementReviews },
      {
        listen: opts.mysqlListen ?? { host: '127.0.0.1', port: 3307 },
        tls: { key: tls.key, cert: tls.cert },
        allowCleartextWithoutTls: opts.mysqlAllowCleartextLoopback ?? opts.pgAllowCleartextLoopback ?? false,
        inspectorFor: mysqlInspectorFor,
      },
    );
    const addr = await gw.start();
    listening.mysql = () => gw.listening;
    stops.unshift({ name: () => `mysql gateway (${gw.connections} connection(s))`, stop: () => gw.stop() });
    gateways.mysql = { host: addr.host, port: addr.port, ca: tls.ca, ca_path: tls.caPath };
    info.gateway_mysql = `${addr.host}:${addr.port} (TLS; CA: ${tls.caPath})`;
  }
  // Off unless asked for: `airlock server` always passes --ssh-listen (default 127.0.0.1:2222); a program that embeds
  // the server and says nothing about SSH gets no SSH listener rather than a clash on port 2222.
  if (opts.sshListen) {
    // The listener's host key and the user CA live in <data>/ssh (made at first start, read by the provider).
    const { keys, knownHosts } = sshCredentials;
    const gw = makeSshGateway(
      { access: makeGatewayAccess({ access, credentials }), sessions: access.sessions, audit, instance: access.bus.origin, log, metrics: metrics.gateway('ssh'), recordings },
      {
        listen: opts.sshListen,
        hostKey: keys.hostKey.privateKey,
        login: makeSshLoginDeps(access),
        recordings,
        connectUpstream: (plan, o) =>
          connectUpstream(plan.upstream as SshLogin, { ...o, onHostKey: (line) => knownHosts.check(plan.resource.name, `${plan.upstream.host}:${plan.upstream.port}`, line) }),
      },
    );
    const addr = await gw.start();
    listening.ssh = () => gw.listening;
    stops.unshift({ name: () => `ssh gateway (${gw.connections} connection(s))`, stop: () => gw.stop() });
    sshGateway = { host: addr.host, port: addr.port, host_key: keys.hostKey.publicLine, fingerprint: keys.hostKey.fingerprint };
    gateways.ssh = sshGateway;
    info.gateway_ssh = `${addr.host}:${addr.port} (host key ${keys.hostKey.fingerprint}; user <principal>%<resource>)`;
  }
  for (const ext of opts.extensions ?? []) {
    const r = await ext.start(ctx);
    if (r) {
      stops.unshift({ name: () => `extension ${ext.name}`, stop: r.stop });
      Object.assign(info, r.info ?? {});
    }
  }

  // Nothing is served before the audit writer is up (it started next to everything above); if it cannot start,
  // neither does the server.
  await writer?.ready;
  if (opts.metricsListen) {
    const listener = await startMetricsListener(opts.metricsListen, metrics.api);
    stops.push({ name: () => 'metrics listener', stop: () => listener.close() });
    info.metrics_listen = listener.url;
  }
  const https = opts.tls === 'auto' ? await tlsMaterial() : tlsFiles;
  if (opts.tls === 'auto') info.api_tls_ca = ownTls!.caPath;
  const readiness: Readiness = {
    store: async () => {
      await sql`select 1`.execute(store.db);
      return { ok: true, detail: `${store.dialect} answers` };
    },
    policy: () => ({ ok: true, detail: `policy ${policySource.current().hash.slice(0, 12)} from ${opts.config}` }),
    audit_writer: () => {
      const h = audit.health();
      return h.lastFailure === null ? { ok: true, detail: `${h.queued} event(s) queued` } : { ok: false, detail: `the last audit batch did not commit: ${h.lastFailure}` };
    },
    gateways: () => {
      const down = Object.entries(listening).filter(([, up]) => !up()).map(([n]) => n);
      return down.length === 0 ? { ok: true, detail: Object.keys(listening).length ? `${Object.keys(listening).join(', ')} listening` : 'none configured' } : { ok: false, detail: `not listening: ${down.join(', ')}` };
    },
  };
  // Exec sessions (a websocket on the API), recorded under <data>/recordings.
  const exec = { access: makeGatewayAccess({ access, credentials }), sessions: access.sessions, audit, instance: access.bus.origin, log, metrics: metrics.gateway('exec'), recordings };
  // AI agents over MCP (/mcp): the same services, and SQL and commands through this process's own gateways.
  const mcp: McpDeps = {
    access, version: VERSION, log,
    openExec: (o, channel) => openExecSession(exec, o, channel),
    pgGateway: () => (gateways.postgres ? { host: gateways.postgres.host, port: gateways.postgres.port, ca: gateways.postgres.ca } : null),
    sshGateway: () => (sshGateway ? { host: sshGateway.host, port: sshGateway.port, host_key: sshGateway.host_key } : null),
  };
  // Processes sharing a PostgreSQL store learn of sign-ins made on the others by re-reading the identities table.
  if (store.dialect === 'postgres') {
    const reread = setInterval(() => void identities.load().catch((err: unknown) => log.warn({ err }, 'could not re-read the single sign-on identities')), 15_000);
    reread.unref();
    stops.push({ name: () => 'single sign-on identities re-read', stop: async () => clearInterval(reread) });
  }
  const sso = makeSso({ policy: () => policySource.current(), identities, audit, clock, resolveSecret: (ref) => resolveSecret(ref) });
  stops.push({ name: () => 'single sign-on device flows', stop: async () => sso.close() });
  const app = await buildApi({ access, policySource, reloadPolicy, version: VERSION, gateways: () => gateways, logger: log, https: https ? { key: https.key, cert: https.cert } : undefined, readiness, metrics: metrics.api, behindTlsProxy: !https && (opts.allowHttp ?? false), exec, recordings, outbox, sso: { sso, publicUrl }, checkpoints, credentials: { stored, rekey: () => rekeySecrets({ db: store.db, transaction: (fn) => store.transaction(fn), keys }) } });
  registerMcpRoute(app, mcp);
  undo.push(() => app.close());
  await app.listen({ host: opts.listen.host, port: opts.listen.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.listen.port;
  const apiUrl = listenUrl(https ? 'https' : 'http', opts.listen.host, port);
  listenedUrl = apiUrl;
  info.metrics = `${apiUrl}/metrics`;
  // Messages an earlier run (or a process that died) left pending go out from here on.
  outbox.start();

  const onHup = () => void reloadPolicy('signal:SIGHUP', null);
  process.on('SIGHUP', onHup);
  if (opts.watchPolicy !== false) policySource.watch((o) => void recordReload(o, 'file-watch', null));

  let closing: Promise<void> | null = null;
  const open = new Set<() => string>();
  /** Runs one shutdown step, listed in stillOpen() while it runs; a failure is logged and the next step goes on. */
  async function step(name: () => string, fn: () => Promise<unknown>): Promise<void> {
    open.add(name);
    try {
      await fn();
    } catch (e) {
      log.error({ err: e, step: name() }, 'a shutdown step failed');
    } finally {
      open.delete(name);
    }
  }
  async function shutdown(reason: string): Promise<void> {
    process.off('SIGHUP', onHup);
    detachNotifications();
    policySource.close();
    const sessionsBefore = access.sessions.list().length;
    await step(() => 'HTTP listener (API, console, event streams)', () => app.close());
    for (const s of stops) await step(s.name, s.stop);
    await step(() => 'expiry scheduler', () => access.expiry.stop());
    await step(() => 'expiry warnings', () => access.expiryWarnings.stop());
    await step(() => 'notification deliveries', () => outbox.stop());
    await step(() => 'audit log (server.stop and the last events)', async () => {
      await audit.append({ actor: 'airlock', action: 'server.stop', details: { reason, version: VERSION, sessions_ended: sessionsBefore } });
      await audit.flush();
    });
    await step(() => 'audit checkpoint (the last one, covering server.stop)', () => checkpoints.stop());
    await step(() => 'audit writer thread', async () => writer?.close());
    await step(() => 'store', () => store.close());
    log.info({ reason }, 'Airlock stopped');
  }
  return {
    ...ctx,
    apiUrl,
    gateways,
    sshGateway,
    app,
    bootstrapToken,
    info,
    reloadPolicy,
    close(reason = 'close') {
      return (closing ??= shutdown(reason));
    },
    stillOpen: () => [...open].map((n) => n()),
  };
}

/** Names the auto certificate covers besides localhost and loopback: the listen address if specific, and this host. */
function tlsHostnames(listenHost: string): string[] {
  const names = [osHostname()];
  if (!['0.0.0.0', '::', '', 'localhost'].includes(listenHost)) names.push(listenHost);
  return names.filter((n) => /^[A-Za-z0-9.:-]+$/.test(n));
}
