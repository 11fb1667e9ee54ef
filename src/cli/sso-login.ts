// `airlock login --sso`: signs in through the company's identity provider and returns an Airlock token bound to that
// sign-in — by the device flow where the IdP offers it (a URL and a code to confirm anywhere), otherwise through this
// machine's browser, which (once the person confirms on Airlock's page, comparing a code) hands a one-time code to a
// listener on 127.0.0.1.
import { createServer } from 'node:http';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Client } from './client.js';
import { ApiError } from './client.js';
import { relative } from './output.js';
import { cliConfirmationCode } from '../domain/cli-code.js';

export interface SsoToken {
  token: string;
  expires_at: string;
  principal: string;
  groups: string[];
  method: 'device' | 'browser';
}

const SPIN = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const BROWSER_TIMEOUT_MS = 5 * 60_000;

const say = (s: string) => process.stderr.write(`${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A live line on a terminal (redrawn), nothing otherwise: the instructions above it are what a log needs. */
function statusLine(text: () => string): () => void {
  if (!process.stderr.isTTY) return () => undefined;
  let frame = 0;
  const t = setInterval(() => process.stderr.write(`\r\x1b[2K${SPIN[frame++ % SPIN.length]} ${text()}`), 250);
  return () => {
    clearInterval(t);
    process.stderr.write('\r\x1b[2K');
  };
}

async function deviceFlow(client: Client): Promise<SsoToken> {
  const d = await client.post<{ handle: string; user_code: string; verification_uri: string; verification_uri_complete: string | null; interval: number; expires_in: number }>('/api/v1/auth/sso/device');
  say(`To sign in, open ${d.verification_uri_complete ?? d.verification_uri}`);
  say(`and confirm the code ${d.user_code}${d.verification_uri_complete ? '' : ' when asked'}.`);
  const until = Date.now() + d.expires_in * 1000;
  const stop = statusLine(() => `waiting for you to confirm ${d.user_code} at the identity provider; the code expires ${relative(until - Date.now())}`);
  try {
    for (;;) {
      // The server polls the IdP at the interval the IdP asked for; asking the server as often costs nothing more.
      await sleep(Math.max(1, d.interval) * 1000);
      const r = await client.post<{ status: 'pending' } | (Omit<SsoToken, 'method'> & { status: 'approved' })>('/api/v1/auth/sso/device/poll', { handle: d.handle });
      if (r.status === 'approved') return { token: r.token, expires_at: r.expires_at, principal: r.principal, groups: r.groups, method: 'device' };
    }
  } finally {
    stop();
  }
}

/** Opens `url` in the desktop's browser; false when there is no opener (then the URL printed above is the way). */
function openBrowser(url: string): Promise<boolean> {
  const opener = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  return new Promise((resolve) => {
    try {
      const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
      child.once('error', () => resolve(false));
      child.once('spawn', () => {
        child.unref();
        resolve(true);
      });
    } catch {
      resolve(false);
    }
  });
}

async function browserFlow(client: Client): Promise<SsoToken> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  let gotCode: (code: string) => void = () => undefined;
  const code = new Promise<string>((r) => (gotCode = r));
  const listener = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    const c = u.pathname === '/callback' ? u.searchParams.get('code') : null;
    if (!c) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not here.');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end('<!doctype html><meta charset="utf-8"><title>Airlock</title><p>Signed in to Airlock. You can close this tab and go back to the terminal.</p>');
    gotCode(c);
  });
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  try {
    const port = (listener.address() as AddressInfo).port;
    const start = `${client.server}/api/v1/auth/sso/start?cli_redirect=${encodeURIComponent(`http://127.0.0.1:${port}/callback`)}&challenge=${challenge}`;
    const opened = await openBrowser(start);
    say(opened ? `Your browser opens the sign-in; if it does not, open:\n${start}` : `Open this address in a browser on this machine to sign in:\n${start}`);
    // Airlock's page asks the person to confirm with the code of the CLI that asked: a link someone else made (their
    // loopback, their challenge) shows another code.
    say(`After you sign in, Airlock asks you to confirm; allow only if it shows the code ${cliConfirmationCode(challenge)}.`);
    const stop = statusLine(() => 'waiting for the sign-in in the browser');
    let timer: NodeJS.Timeout | undefined;
    try {
      const c = await Promise.race([code, new Promise<never>((_r, reject) => (timer = setTimeout(() => reject(new ApiError({ title: 'Single sign-on did not complete', status: 0, code: 'AIRLOCK_SSO_FAILED', detail: 'No sign-in came back from the browser within 5 minutes; run airlock login --sso again.' })), BROWSER_TIMEOUT_MS)))]);
      const r = await client.post<Omit<SsoToken, 'method'>>('/api/v1/auth/sso/exchange', { code: c, verifier });
      return { ...r, method: 'browser' };
    } finally {
      clearTimeout(timer);
      stop();
    }
  } finally {
    listener.closeAllConnections();
    listener.close();
  }
}

/** Signs in with the server's IdP: the device flow when it has one (unless `browser`), else the browser. */
export async function loginWithSso(client: Client, opts: { browser: boolean }): Promise<SsoToken> {
  const s = await client.get<{ enabled: boolean; display_name: string | null; device_flow: boolean }>('/api/v1/auth/sso');
  if (!s.enabled) throw new ApiError({ title: 'Single sign-on is not configured', status: 404, code: 'AIRLOCK_SSO_NOT_CONFIGURED', detail: `${client.server} has no single sign-on configured (identity.oidc in its policy); log in with a token instead.` });
  say(`Signing in with ${s.display_name ?? 'single sign-on'} …`);
  return s.device_flow && !opts.browser ? deviceFlow(client) : browserFlow(client);
}
