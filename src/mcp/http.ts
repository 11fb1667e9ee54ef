// /mcp on the API listener: MCP's Streamable HTTP transport. Every request carries a bearer token (no cookies: a web
// page must not drive an agent session as its visitor); an initialize opens a session bound to that principal, and
// the session's later requests must come with a token of the same principal.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { AirlockError } from '../domain/errors.js';
import type { Caller } from '../domain/model.js';
import type { McpDeps } from './context.js';
import { makeHeldStatements } from '../access/held-statements.js';
import { makeMcpSession, type McpSession } from './session.js';

export const MCP_PATH = '/mcp';
/** The header `airlock mcp` sends, so the audit can tell a stdio client bridged by the CLI from a direct HTTP one. */
export const BRIDGE_HEADER = 'x-airlock-mcp-bridge';
/** A session that sees no request for this long is ended (the client starts a new one with initialize). */
export const MCP_IDLE_MS = 60 * 60_000;
/** Open sessions per principal; one more ends the one idle longest. */
export const MAX_SESSIONS_PER_PRINCIPAL = 16;

interface Entry {
  id: string | undefined;
  session: McpSession;
  transport: StreamableHTTPServerTransport;
  principal: string;
  caller: Caller;
  kind: 'http' | 'stdio';
  token_id: string | null;
  started: number;
  last_seen: number;
  /** The client's name and version from its initialize. */
  client: { name: string; version: string } | null;
  ended: boolean;
}

async function authenticate(deps: McpDeps, req: FastifyRequest): Promise<{ caller: Caller; token: string }> {
  const h = req.headers.authorization;
  const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
  if (!m) throw new AirlockError('AIRLOCK_UNAUTHENTICATED', 'Send your access token as "Authorization: Bearer alk_…" (an agent\'s token from `airlock token create`; `airlock mcp` sends AIRLOCK_TOKEN or the saved login).');
  return { caller: await deps.access.tokens.authenticate(m[1]!, req.ip), token: m[1]! };
}

export function registerMcpRoute(app: FastifyInstance, deps: McpDeps) {
  const { access } = deps;
  const held = makeHeldStatements();
  const sessions = new Map<string, Entry>();
  const now = () => access.clock.now().getTime();

  async function end(e: Entry, reason: string): Promise<void> {
    if (e.ended) return;
    e.ended = true;
    if (e.id) sessions.delete(e.id);
    await access.audit.append({ actor: e.principal, action: 'mcp.session.end', target: null, source: e.caller.source, details: { session_id: e.id ?? null, transport: e.kind, client: e.client, reason, tool_calls: e.session.calls(), duration_s: Math.round((now() - e.started) / 1000) } })
      .catch((err: unknown) => deps.log?.error({ err }, 'mcp: could not audit a session end'));
    await e.session.close();
    await e.transport.close().catch(() => {});
  }

  function open(caller: Caller, req: FastifyRequest): Entry {
    const mine = [...sessions.values()].filter((s) => s.principal === caller.principal.name).sort((a, b) => a.last_seen - b.last_seen);
    if (mine.length >= MAX_SESSIONS_PER_PRINCIPAL) void end(mine[0]!, `more than ${MAX_SESSIONS_PER_PRINCIPAL} MCP sessions of ${caller.principal.name}: the one idle longest was ended`);
    const entry = {} as Entry;
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => `mcp_${randomBytes(18).toString('base64url')}`,
      onsessioninitialized: (id) => {
        entry.id = id;
        sessions.set(id, entry);
      },
      onsessionclosed: () => void end(entry, 'the client ended the session'),
    });
    const session = makeMcpSession(deps, held, caller.principal, () => entry.id);
    Object.assign(entry, { id: undefined, session, transport, principal: caller.principal.name, caller, kind: req.headers[BRIDGE_HEADER] === 'stdio' ? 'stdio' : 'http', token_id: caller.token_id, started: now(), last_seen: now(), client: null, ended: false });
    session.server.server.oninitialized = () => {
      const client = session.server.server.getClientVersion();
      entry.client = client ? { name: client.name, version: client.version } : null;
      void access.audit.append({ actor: entry.principal, action: 'mcp.session.start', target: null, source: caller.source, details: { session_id: entry.id ?? null, transport: entry.kind, principal_kind: caller.principal.kind, client: entry.client } })
        .catch((err: unknown) => deps.log?.error({ err }, 'mcp: could not audit a session start'));
    };
    return entry;
  }

  async function handle(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const { caller, token } = await authenticate(deps, req);
    const sid = req.headers['mcp-session-id'];
    let entry: Entry;
    if (typeof sid === 'string') {
      const found = sessions.get(sid);
      if (!found) throw new AirlockError('AIRLOCK_NOT_FOUND', 'There is no MCP session with this id (it ended, or the server restarted); start a new one with initialize.');
      if (found.principal !== caller.principal.name) throw new AirlockError('AIRLOCK_FORBIDDEN', 'This MCP session belongs to another principal; a session\'s requests must carry a token of the principal that opened it.');
      entry = found;
    } else {
      if (req.method !== 'POST' || !isInitializeRequest(req.body)) throw new AirlockError('AIRLOCK_BAD_INPUT', 'Start an MCP session with an initialize request (POST /mcp), then send its Mcp-Session-Id header with every request.');
      entry = open(caller, req);
      await entry.session.refreshTools();
      await entry.session.server.connect(entry.transport);
    }
    entry.token_id = caller.token_id;
    entry.last_seen = now();
    reply.hijack();
    const raw = req.raw as IncomingMessage & { auth?: AuthInfo };
    raw.auth = { token, clientId: caller.principal.name, scopes: [], extra: { caller } };
    try {
      await entry.transport.handleRequest(raw, reply.raw, req.body);
    } catch (err) {
      // Hijacked: Fastify's error handler cannot answer any more, so this does, if nothing was sent yet.
      req.log.error({ err }, 'mcp: the transport failed on a request');
      if (!reply.raw.headersSent) reply.raw.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: `Airlock could not handle this MCP request (request id ${req.id}); the server log has the details` } }));
      else reply.raw.end();
    }
    // An initialize the transport refused (a bad body) leaves a session nobody can reach.
    if (!entry.id && !entry.ended) await end(entry, 'the initialize request was refused');
  }

  // The SDK's transport answers everything of the protocol; Airlock answers authentication and session ownership.
  app.route({ method: ['GET', 'POST', 'DELETE'], url: MCP_PATH, schema: { hide: true }, handler: handle });

  // A revoked token ends the sessions it is in use in now, not at their next request.
  const unsubscribe = access.bus.subscribe((c) => {
    if (c.kind !== 'token' || c.event !== 'revoked') return;
    for (const e of sessions.values()) if (e.token_id === c.id) void end(e, c.message ?? 'the access token in use was revoked');
  });
  const sweep = setInterval(() => {
    for (const e of sessions.values()) if (now() - e.last_seen > MCP_IDLE_MS) void end(e, `no request for ${MCP_IDLE_MS / 60_000} minutes`);
  }, 60_000);
  sweep.unref();
  app.addHook('preClose', async function endMcpSessions() {
    clearInterval(sweep);
    unsubscribe();
    await Promise.all([...sessions.values()].map((e) => end(e, 'the server is shutting down')));
  });
  return { sessions: () => sessions.size };
}
