// `airlock mcp`: an MCP server on stdin/stdout for agents that start their tools as a process (Claude Code, Claude
// Desktop). It holds no tools itself: every JSON-RPC message goes both ways between stdio and the server's /mcp
// (Streamable HTTP, with the token), so the one MCP implementation lives in the server. stdout carries only the
// protocol; everything else goes to stderr.
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { isInitializeRequest, isJSONRPCRequest, type JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ApiError, DEFAULT_SERVER, makeClient, readSaved } from './client.js';
import { EXIT, exitCodeFor } from './output.js';

/** The server's audit tells a stdio client bridged here from a direct HTTP client by this header. */
const BRIDGE_HEADER = 'x-airlock-mcp-bridge';

function say(line: string): void {
  process.stderr.write(`airlock mcp: ${line}\n`);
}

interface Connection {
  server: string;
  token: string | undefined;
  ca: string | undefined;
}

function connection(o: { server?: string; token?: string }): Connection {
  const saved = readSaved();
  const server = (o.server ?? process.env.AIRLOCK_SERVER ?? saved.server ?? DEFAULT_SERVER).replace(/\/+$/, '');
  const token = o.token ?? process.env.AIRLOCK_TOKEN ?? saved.token;
  const ca = process.env.AIRLOCK_CA ? readFileSync(process.env.AIRLOCK_CA, 'utf8') : saved.server?.replace(/\/+$/, '') === server ? saved.ca : undefined;
  return { server, token, ca };
}

/** fetch for an https server whose certificate only `ca` verifies (the global fetch cannot be given a CA). */
function fetchTrusting(ca: string): FetchLike {
  return async function fetchWithCa(url, init) {
    const https = await import('node:https');
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    return new Promise<Response>((resolve, reject) => {
      const req = https.request(url, { method: init?.method ?? 'GET', headers, ca, signal: init?.signal ?? undefined }, (res) => {
        const out = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out.set(k, Array.isArray(v) ? v.join(', ') : v);
        const status = res.statusCode ?? 0;
        const empty = [101, 204, 205, 304].includes(status);
        resolve(new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage, headers: out }));
      });
      req.on('error', reject);
      req.end(typeof init?.body === 'string' ? init.body : undefined);
    });
  };
}

/** An error from the HTTP side, in one line for stderr and the JSON-RPC error the MCP client gets. */
function describe(e: unknown, server: string): string {
  const err = e as Error & { code?: number };
  if (err.code === 401) return `the token was refused by ${server} (expired or revoked?); set AIRLOCK_TOKEN to a valid one and restart`;
  if (err.code === 404) return `the MCP session on ${server} has ended and a new one could not be opened`;
  if (err.code === 403) return `${server} refused the request: ${err.message}`;
  return `${server}/mcp did not answer: ${err.message}`;
}

/** Checks server and token before speaking MCP, so a client's log shows why nothing works. Returns an exit code or 0. */
async function preflight(c: Connection, o: { server?: string; token?: string }): Promise<number> {
  if (!c.token) {
    say('no access token: set AIRLOCK_TOKEN (an agent\'s token: airlock token create --principal NAME), pass --token, or run `airlock login`');
    return EXIT.usage;
  }
  try {
    const me = await makeClient({ server: o.server ?? c.server, token: c.token }).get<{ principal: { name: string; kind: string } }>('/api/v1/whoami');
    say(`serving MCP on stdio for ${me.principal.name} (${me.principal.kind}) through ${c.server}/mcp`);
    return 0;
  } catch (e) {
    if (e instanceof ApiError) {
      const p = e.problem;
      say(p.status === 401 ? `the token was refused by ${c.server}: ${p.detail} [${p.code}]` : `${p.detail} [${p.code}]`);
    } else say(e instanceof Error ? e.message : String(e));
    return exitCodeFor(e);
  }
}

/**
 * Bridges until stdin ends (the MCP client went away); resolves with the exit code. When the server has forgotten the
 * session (404: it restarted, or the session sat idle past its limit), the bridge opens a new one with the client's own
 * initialize, tells the client its tools may have changed, and sends the message again: the agent does not notice.
 */
async function bridge(c: Connection): Promise<number> {
  const stdio = new StdioServerTransport();
  const toClient = (m: JSONRPCMessage) => void stdio.send(m).catch((e: unknown) => say(`could not write to stdout: ${(e as Error).message}`));
  /** Ids of initialize requests whose answer sets the protocol version; the bridge's own are not passed on. */
  const initializeIds = new Set<string | number>();
  const ownIds = new Map<string | number, () => void>();
  let initialize: JSONRPCMessage | null = null;
  let reopened = 0;

  function open(): StreamableHTTPClientTransport {
    const t = new StreamableHTTPClientTransport(new URL(`${c.server}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${c.token}`, [BRIDGE_HEADER]: 'stdio' } },
      ...(c.server.startsWith('https:') && c.ca ? { fetch: fetchTrusting(c.ca) } : {}),
    });
    t.onerror = (e) => {
      if ((e as { code?: number }).code !== 404) say(describe(e, c.server));
    };
    t.onmessage = (m: JSONRPCMessage) => {
      if ('id' in m && 'result' in m && initializeIds.delete(m.id)) {
        // The HTTP transport sends the protocol version agreed at initialize with every later request.
        const v = (m.result as { protocolVersion?: unknown }).protocolVersion;
        if (typeof v === 'string') t.setProtocolVersion(v);
      }
      const own = 'id' in m ? ownIds.get(m.id as string | number) : undefined;
      if (own) return own();
      toClient(m);
    };
    return t;
  }

  let http = open();
  let reopening: Promise<void> | null = null;
  /** A new server session, initialized as the client initialized the first one. */
  function reopen(): Promise<void> {
    reopening ??= (async () => {
      const old = http;
      http = open();
      await old.close().catch(() => {});
      await http.start();
      const id = `airlock-mcp-reinitialize-${++reopened}`;
      const answered = new Promise<void>((r) => ownIds.set(id, r));
      initializeIds.add(id);
      await http.send({ ...(initialize as object), id } as JSONRPCMessage);
      await answered;
      ownIds.delete(id);
      await http.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      say('the server had ended the MCP session; a new one was opened');
      toClient({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    })().finally(() => (reopening = null));
    return reopening;
  }

  async function forward(m: JSONRPCMessage): Promise<void> {
    try {
      await reopening;
      await http.send(m);
    } catch (e) {
      if ((e as { code?: number }).code !== 404 || !initialize) throw e;
      await reopen();
      await http.send(m);
    }
  }

  stdio.onerror = (e) => say(`a message on stdin is not JSON-RPC: ${e.message}`);
  stdio.onmessage = (m: JSONRPCMessage) => {
    if (isJSONRPCRequest(m) && isInitializeRequest(m)) {
      initializeIds.add(m.id);
      initialize = m;
    }
    // A request the server never got must still be answered, or the client waits for ever.
    forward(m).catch((e: unknown) => {
      say(describe(e, c.server));
      if (isJSONRPCRequest(m)) toClient({ jsonrpc: '2.0', id: m.id, error: { code: -32000, message: `airlock mcp: ${describe(e, c.server)}` } });
    });
  };
  const ended = new Promise<void>((resolve) => {
    stdio.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await http.start();
  await stdio.start();
  await ended;
  // The client is gone: end the server's session (audited as mcp.session.end) before leaving.
  await http.terminateSession().catch(() => {});
  await http.close().catch(() => {});
  return EXIT.ok;
}

export function registerMcpCommand(program: Command): void {
  program
    .command('mcp')
    .description('an MCP server on stdin/stdout for AI agents (e.g. `claude mcp add airlock -- airlock mcp`), bridged to the server\'s /mcp with AIRLOCK_TOKEN or the saved login; see docs/agents.md')
    .action(async function airlockMcp(_opts: unknown, cmd: Command) {
      const g = cmd.optsWithGlobals() as { server?: string; token?: string };
      let c: Connection;
      try {
        c = connection(g);
      } catch (e) {
        say(`cannot read AIRLOCK_CA: ${(e as Error).message}`);
        process.exitCode = EXIT.usage;
        return;
      }
      const refused = await preflight(c, g);
      if (refused) {
        process.exitCode = refused;
        return;
      }
      process.exitCode = await bridge(c);
      // Sockets the HTTP transport keeps alive must not hold the process once the client has gone.
      setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
    });
}
