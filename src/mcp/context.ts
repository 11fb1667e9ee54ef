// What the MCP tools share: their collaborators, the caller of one call, and the shape of answers and refusals.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AirlockError, type ErrorCode } from '../domain/errors.js';
import type { Caller, Principal } from '../domain/model.js';
import type { Access } from '../access/access.js';
import type { Log } from '../domain/log.js';
import type { PgGatewayAddress } from '../access/gateway-sql.js';

export type { PgGatewayAddress } from '../access/gateway-sql.js';

/** The server's own SSH listener and the host key it shows (pinned by the MCP server's SSH client). */
export interface SshGatewayAddress {
  host: string;
  port: number;
  host_key: string;
}

export interface McpDeps {
  access: Access;
  version: string;
  /** The PostgreSQL gateway of this process; null when it is off (query and describe_database then say so). */
  pgGateway: () => PgGatewayAddress | null;
  /** The SSH gateway of this process; null when it is off. */
  sshGateway: () => SshGatewayAddress | null;
  /** Opens a session on the exec front-end (the one the API's websocket uses); absent: exec resources are not served. */
  openExec?: OpenExec;
  log?: Log;
}

/** What the exec front-end sends besides output (src/gateway/exec/session.ts, ExecServerMessage). */
export type ExecMessage = { type: 'ready'; session_id: string } | { type: 'exit'; code: number | null; signal: string | null } | { type: 'error'; code: string; message: string };

/** The MCP server's side of an exec session: one more ExecChannel of the exec front-end, without a terminal. */
export interface ExecChannelLike {
  stdout(data: Buffer): void;
  stderr(data: Buffer): void;
  send(message: ExecMessage): void;
  close(): void;
}

export interface ExecSessionLike {
  readonly id: string;
  run(argv: string[] | undefined): void;
  runLine(line: string): void;
  eof(): void;
  close(reason: string): Promise<void>;
  readonly ended: Promise<void>;
}

/** openExecSession of the exec front-end, bound to its collaborators by the composition root (src/server.ts). */
export type OpenExec = (o: { principal: Principal; token: { id: string; expires_at: string | null }; resource: string; target?: string; tty: null; env: Record<string, string>; source: string | null; application_name: string | null }, channel: ExecChannelLike) => Promise<ExecSessionLike>;

/** One tool call's caller and the token it came with (the gateway logins of query and exec use it as the password). */
export interface CallAuth {
  caller: Caller;
  token: string;
}

/** How a tool tells about a wait in progress: a progress notification when the call asked for them, else a log line. */
export type Progress = (message: string) => Promise<void>;

/** A tool's successful answer: the JSON as text (what every client shows) and as structured content. */
export function answer(value: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }], structuredContent: value };
}

/** A refusal or failure the agent reads: the text starts with the stable code, so it can act on it. */
export function refusal(code: ErrorCode | string, message: string, extra?: Record<string, unknown>): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: `${code}: ${message}` }], ...(extra ? { structuredContent: { code, message, ...extra } } : {}) };
}

/** The code a result carries (for the audit): its refusal code, or 'ok'. */
export function outcomeOf(r: CallToolResult): string {
  if (!r.isError) return 'ok';
  const first = r.content[0];
  const text = first && first.type === 'text' ? first.text : '';
  return /^([A-Z0-9_]+):/.exec(text)?.[1] ?? 'error';
}

/** Any thrown error as a tool refusal: AirlockErrors keep their code; anything else is internal (details in the log). */
export function refusalOf(e: unknown, log?: Log): CallToolResult {
  if (e instanceof AirlockError) return refusal(e.code, e.message);
  log?.error({ err: e }, 'mcp: a tool failed');
  return refusal('AIRLOCK_INTERNAL', 'the tool failed inside Airlock; the server log has the details');
}

/** Seconds from now until `iso`, never negative. */
export function secondsUntil(iso: string, now: Date): number {
  return Math.max(0, Math.floor((Date.parse(iso) - now.getTime()) / 1000));
}
