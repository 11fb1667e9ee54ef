// GET /api/v1/exec: exec sessions over a websocket (docs/ssh-and-exec.md, "Exec into containers"). The bearer token
// authenticates; the exec front-end (src/gateway/exec/) plans, runs, records and cuts. Frames: binary = stdin (to
// the gateway) and stdout (from it); text = JSON control messages.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import websocketPlugin from '@fastify/websocket';
import type { WebSocket } from 'ws';
import { AirlockError } from '../domain/errors.js';
import type { Access } from '../access/access.js';
import type { GatewayDeps } from '../gateway/types.js';
import { openExecSession, type ExecChannel, type ExecSession } from '../gateway/exec/session.js';

/** Output not yet written to a client's connection past which the command's output stops being read (a slow client). */
export const EXEC_OUTPUT_HIGH = 1024 * 1024;
/** ... and below which it is read again. */
const EXEC_OUTPUT_LOW = 256 * 1024;

/** The largest frame a client may send (stdin chunk or control message). */
export const EXEC_MAX_FRAME = 1024 * 1024;

export interface ExecRouteDeps {
  access: Access;
  gateway: GatewayDeps;
}

type Query = Record<string, string | string[] | undefined>;

/** For the OpenAPI document: the websocket's query and its upgrade (the frames are in docs/ssh-and-exec.md). */
const EXEC_ROUTE_SCHEMA = {
  summary: 'Exec session on an exec resource, over a websocket: binary frames are stdin/stdout, text frames JSON control messages (docs/ssh-and-exec.md)',
  tags: ['exec'],
  querystring: {
    type: 'object',
    properties: {
      resource: { type: 'string', description: 'the exec resource' },
      target: { type: 'string', description: 'one of its targets (default: the first)' },
      tty: { type: 'string', enum: ['0', '1', 'true', 'false'], description: '1: a pseudo-terminal' },
      cols: { type: 'integer', minimum: 1, maximum: 1000 },
      rows: { type: 'integer', minimum: 1, maximum: 1000 },
      env: { type: 'array', items: { type: 'string' }, description: 'NAME=value, kept when the role\'s ssh.env allows NAME' },
      principal: { type: 'string', description: 'when given, must own the bearer token' },
    },
    required: ['resource'],
  },
  response: {
    101: { description: 'Switching Protocols: the websocket; refusals arrive as {"type":"error","code":…} before it closes', content: { 'application/octet-stream': { schema: { type: 'string' } } } },
    default: { description: 'An error', content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } } },
  },
};

const one = (q: Query, k: string): string | undefined => {
  const v = q[k];
  return Array.isArray(v) ? v[v.length - 1] : v;
};
const many = (q: Query, k: string): string[] => {
  const v = q[k];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
};

function size(text: string | undefined, fallback: number): number {
  const n = Number(text);
  return Number.isInteger(n) && n >= 1 && n <= 1000 ? n : fallback;
}

/** Client → gateway control messages. */
type ClientMessage = { type: 'exec'; argv?: string[]; command?: string } | { type: 'resize'; cols: number; rows: number } | { type: 'eof' };

function readMessage(text: string): ClientMessage | null {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof m !== 'object' || m === null) return null;
  const o = m as Record<string, unknown>;
  if (o.type === 'exec') {
    const argvOk = o.argv === undefined || (Array.isArray(o.argv) && o.argv.length <= 4096 && o.argv.every((a) => typeof a === 'string' && !a.includes('\0')));
    const lineOk = o.command === undefined || typeof o.command === 'string';
    if (!argvOk || !lineOk || (o.argv !== undefined && o.command !== undefined)) return null;
    return { type: 'exec', argv: o.argv as string[] | undefined, command: o.command as string | undefined };
  }
  if (o.type === 'resize' && Number.isInteger(o.cols) && Number.isInteger(o.rows)) return { type: 'resize', cols: o.cols as number, rows: o.rows as number };
  if (o.type === 'eof') return { type: 'eof' };
  return null;
}

export async function registerExecRoute(app: FastifyInstance, deps: ExecRouteDeps): Promise<void> {
  await app.register(websocketPlugin, { options: { maxPayload: EXEC_MAX_FRAME } });
  const execSocket = makeExecSocket(deps);
  // wsHandler with a plain handler (not `websocket: true`, which hides the route from the OpenAPI document).
  app.route({ method: 'GET', url: '/api/v1/exec', schema: EXEC_ROUTE_SCHEMA, handler: notUpgraded, wsHandler: execSocket });
}

async function notUpgraded(): Promise<never> {
  throw new AirlockError('AIRLOCK_BAD_INPUT', 'GET /api/v1/exec is a websocket: connect with an Upgrade: websocket request (airlock exec does; see docs/ssh-and-exec.md)');
}

function makeExecSocket(deps: ExecRouteDeps) {
  return function execSocket(socket: WebSocket, req: FastifyRequest): void {
    const pending: { data: Buffer; binary: boolean }[] = [];
    let session: ExecSession | null = null;
    let gone = false;
    // Backpressure: past EXEC_OUTPUT_HIGH bytes not yet written to the client's connection, the command's output is
    // no longer read (flow.pause) until a write completes with at most EXEC_OUTPUT_LOW left (flow.resume).
    let flow: { pause(): void; resume(): void } | null = null;
    let paused = false;
    const written = (): void => {
      if (paused && socket.bufferedAmount <= EXEC_OUTPUT_LOW) {
        paused = false;
        flow?.resume();
      }
    };
    const sent = (data: Buffer | string, binary: boolean): void => {
      if (socket.readyState !== socket.OPEN) return;
      socket.send(data, { binary }, written);
      if (!paused && socket.bufferedAmount > EXEC_OUTPUT_HIGH) {
        paused = true;
        flow?.pause();
      }
    };
    const sendJson = (m: unknown): void => sent(JSON.stringify(m), false);
    const channel: ExecChannel = {
      stdout: (d) => sent(d, true),
      stderr: (d) => sendJson({ type: 'stderr', data: d.toString('base64') }),
      send: sendJson,
      close: () => socket.close(1000),
      setFlow: (f) => {
        flow = f;
        if (paused) f.pause();
      },
    };
    const handle = (data: Buffer, binary: boolean): void => {
      const s = session!;
      if (binary) return s.stdin(data);
      const m = readMessage(data.toString('utf8'));
      if (!m) return void s.close('the client broke the exec protocol', { code: 'AIRLOCK_PROTOCOL_ERROR', message: 'a text frame must be a JSON control message: {"type":"exec","argv":[…]}, {"type":"resize","cols":…,"rows":…} or {"type":"eof"}' });
      if (m.type === 'exec') return m.command !== undefined ? s.runLine(m.command) : s.run(m.argv);
      if (m.type === 'resize') return s.resize(size(String(m.cols), 80), size(String(m.rows), 24));
      s.eof();
    };
    socket.on('message', (data: Buffer | ArrayBuffer | Buffer[], binary: boolean) => {
      const buf = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      if (session) handle(buf, binary);
      else if (pending.length < 64) pending.push({ data: buf, binary });
      else socket.close(1008);
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      gone = true;
      void session?.close('the client closed the connection');
    });

    void (async function openExec() {
      const q = (req.query ?? {}) as Query;
      try {
        const h = req.headers.authorization;
        // Bearer tokens only: a browser's cookie would let any web page open a shell as its visitor.
        const m = h ? /^Bearer\s+(\S+)$/i.exec(h) : null;
        if (!m) throw new AirlockError('AIRLOCK_UNAUTHENTICATED', 'Send your access token as "Authorization: Bearer alk_…" (airlock exec does).');
        const caller = await deps.access.tokens.authenticate(m[1]!, req.ip);
        // Optional, as a database login's user name: a token of anyone else is refused rather than used.
        const asked = one(q, 'principal');
        if (asked !== undefined && asked !== caller.principal.name) throw new AirlockError('AIRLOCK_TOKEN_INVALID', `This token belongs to another principal, not "${asked.slice(0, 100)}".`);
        const token = caller.token_id ? await deps.access.tokens.byId(caller.token_id) : undefined;
        if (!token) throw new AirlockError('AIRLOCK_TOKEN_INVALID', 'The access token is not valid (expired or revoked). Get a new one: airlock token create');
        const resource = one(q, 'resource');
        if (!resource) throw new AirlockError('AIRLOCK_BAD_INPUT', 'name the resource: /api/v1/exec?resource=<name> (airlock exec <resource>)');
        const tty = ['1', 'true'].includes(one(q, 'tty') ?? '') ? { cols: size(one(q, 'cols'), 80), rows: size(one(q, 'rows'), 24) } : null;
        const env: Record<string, string> = {};
        for (const kv of many(q, 'env')) {
          const i = kv.indexOf('=');
          if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
        }
        const s = await openExecSession(
          deps.gateway,
          { principal: caller.principal, token: { id: token.id, expires_at: token.expires_at }, resource, target: one(q, 'target'), tty, env, source: req.ip, application_name: String(req.headers['user-agent'] ?? '').slice(0, 100) || null },
          channel,
        );
        session = s;
        if (gone) return void s.close('the client closed the connection');
        for (const p of pending.splice(0)) handle(p.data, p.binary);
      } catch (e) {
        const err = e instanceof AirlockError ? e : new AirlockError('AIRLOCK_INTERNAL', 'the exec session could not be opened; see the server log');
        if (!(e instanceof AirlockError)) req.log.error({ err: e }, 'exec: could not open a session');
        sendJson({ type: 'error', code: err.code, message: err.message });
        socket.close(1008);
      }
    })();
  };
}
