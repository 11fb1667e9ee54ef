// Runs the test files under test/ with node's test runner, after making sure a real PostgreSQL is there for them:
// the machine's server when one answers (AIRLOCK_TEST_PG_URL or 127.0.0.1:5432), else an embedded-postgres started here.
import { spawn } from 'node:child_process';
import { readdirSync, statSync, mkdtempSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPg } from '../src/store/embedded-postgres.js';

// Files that install the packed tarball (npm may compile better-sqlite3 from source, for minutes): they run after the
// others, alone, with a longer per-file timeout, so the compile neither times out nor slows timing-sensitive tests.
const SLOW_FILES = ['test/e2e/package.test.ts'];
const SLOW_TIMEOUT_MS = 30 * 60_000;

function find(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

async function reachable(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const files = (args.length ? args.flatMap((a) => (statSync(a).isDirectory() ? find(a) : [a])) : find('test')).sort();
  let embedded: EmbeddedPg | undefined;
  let url = process.env.AIRLOCK_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  if (!(await reachable(url))) {
    console.log(`# no PostgreSQL answers at ${url.replace(/:[^:@/]+@/, ':***@')}; starting embedded-postgres for the tests`);
    const parent = mkdtempSync(join(tmpdir(), 'airlock-testpg-'));
    chmodSync(parent, 0o711); // PostgreSQL runs as the postgres user when we are root: it must reach its data dir
    embedded = await startEmbeddedPostgres({ dir: join(parent, 'pg') });
    url = embedded.url;
  }
  const concurrency = process.env.AIRLOCK_TEST_CONCURRENCY ?? '2';
  // Two runs print two summaries; the counts of both are added up and closed with one line for the whole suite.
  const totals = { pass: 0, fail: 0, skipped: 0, cancelled: 0 };
  const runFiles = (list: string[], timeoutMs: number, conc: string) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=tap', `--test-concurrency=${conc}`, `--test-timeout=${timeoutMs}`, ...list], {
      stdio: ['inherit', 'pipe', 'inherit'],
      env: { ...process.env, AIRLOCK_TEST_PG_URL: url },
    });
    const last: Partial<Record<keyof typeof totals, number>> = {};
    createInterface({ input: child.stdout! }).on('line', (line) => {
      process.stdout.write(`${line}\n`);
      const m = /^# (pass|fail|skipped|cancelled) (\d+)$/.exec(line);
      if (m) last[m[1] as keyof typeof totals] = Number(m[2]);
    });
    return new Promise<number>((resolve) =>
      child.on('close', (c) => {
        for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += last[k] ?? 0;
        resolve(c ?? 1);
      }),
    );
  };
  const slow = files.filter((f) => SLOW_FILES.some((s) => f.endsWith(s)));
  const rest = files.filter((f) => !slow.includes(f));
  let code = rest.length ? await runFiles(rest, 240_000, concurrency) : 0;
  if (slow.length) code = (await runFiles(slow, SLOW_TIMEOUT_MS, '1')) || code;
  const failed = totals.fail + totals.cancelled;
  console.log(`\n${totals.pass} passed, ${failed} failed${totals.skipped ? `, ${totals.skipped} skipped` : ''}`);
  if (code === 0 && failed > 0) code = 1;
  await embedded?.stop();
  return code;
}

process.exit(await main());
