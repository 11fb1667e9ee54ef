// Reads the client's startup packets (SSL/GSS negotiation, cancel, StartupMessage) and decides which connection
// parameters may reach the upstream server: only harmless session settings, never ones that loosen a guard.
import { CANCEL_REQUEST, GSSENC_REQUEST, ProtocolError, SSL_REQUEST, readCString } from './protocol.js';
import type { ErrorCode } from '../../domain/errors.js';
import { SESSION_ENCODING, encodingOf } from '../../inspect/index.js';

export type StartupPacket =
  | { kind: 'ssl' }
  | { kind: 'gssenc' }
  | { kind: 'cancel'; pid: number; secret: number }
  | { kind: 'startup'; minor: number; params: Map<string, string> };

/** Parses one untyped packet (length already checked by the reader): int32 length, int32 code, body. */
export function parseStartupPacket(pkt: Buffer): StartupPacket {
  const code = pkt.readInt32BE(4);
  if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
    if (pkt.length !== 8) throw new ProtocolError('the SSL/GSS negotiation request has an invalid length');
    return { kind: code === SSL_REQUEST ? 'ssl' : 'gssenc' };
  }
  if (code === CANCEL_REQUEST) {
    if (pkt.length !== 16) throw new ProtocolError('the cancel request has an invalid length');
    return { kind: 'cancel', pid: pkt.readInt32BE(8), secret: pkt.readInt32BE(12) };
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) throw new ProtocolError(`unsupported frontend protocol ${major}.${minor}: the gateway speaks protocol 3.0`);
  const params = new Map<string, string>();
  let at = 8;
  for (;;) {
    if (at >= pkt.length) throw new ProtocolError('the startup packet is not terminated');
    if (pkt[at] === 0) {
      if (at !== pkt.length - 1) throw new ProtocolError('the startup packet has bytes after its end');
      break;
    }
    const [name, next] = readCString(pkt, at, pkt.length);
    const [value, after] = readCString(pkt, next, pkt.length);
    if (params.has(name)) throw new ProtocolError(`the startup packet names parameter "${name}" twice`);
    params.set(name, value);
    at = after;
  }
  return { kind: 'startup', minor, params };
}

/**
 * Session settings a client may pass at connection time (directly or as `options=-c name=value`). Anything else —
 * default_transaction_read_only, role, session_authorization, log settings — could undo a guard the
 * gateway or the per-grant role sets, so it is refused rather than silently dropped.
 */
const ALLOWED_SETTINGS = new Map(
  [
    'application_name',
    'client_encoding',
    'DateStyle',
    'TimeZone',
    'IntervalStyle',
    'extra_float_digits',
    'search_path',
    'statement_timeout',
    'lock_timeout',
    'idle_in_transaction_session_timeout',
    'idle_session_timeout',
    'client_min_messages',
    'bytea_output',
    'standard_conforming_strings',
  ].map((n) => [n.toLowerCase(), n]),
);

export interface StartupRequest {
  user: string;
  /** Airlock resource name: the part of `database` before "/". */
  resource: string;
  /** The part after "/", if any: a database on the resource's server. */
  database: string | undefined;
  application_name: string;
  /** Settings to pass to the upstream server as startup parameters. */
  settings: Record<string, string>;
  /** `_pq_.` protocol options the client asked for; the gateway supports none and says so. */
  unsupported_options: string[];
}

/** Turns StartupMessage parameters into a request; throws StartupRefusal for settings the gateway won't pass on. */
export function readStartupRequest(params: Map<string, string>): StartupRequest {
  const user = params.get('user');
  if (!user) throw new StartupRefusal('28000', 'no user name given: connect with user=<your Airlock principal name>', 'AIRLOCK_UNAUTHENTICATED');
  const dbParam = params.get('database') || user;
  const slash = dbParam.indexOf('/');
  const resource = slash < 0 ? dbParam : dbParam.slice(0, slash);
  const database = slash < 0 ? undefined : dbParam.slice(slash + 1) || undefined;
  const settings: Record<string, string> = {};
  const unsupported: string[] = [];
  let appName: string | undefined;
  let fallbackAppName: string | undefined;
  for (const [name, value] of params) {
    if (name === 'user' || name === 'database') continue;
    if (name.startsWith('_pq_.')) unsupported.push(name);
    else if (name === 'replication') {
      if (!['false', 'off', 'no', '0'].includes(value.toLowerCase())) {
        throw new StartupRefusal('42501', 'replication connections are not allowed through the gateway');
      }
    } else if (name === 'options') for (const [k, v] of parseOptions(value)) addSetting(settings, k, v);
    else if (name === 'fallback_application_name') fallbackAppName = value;
    else addSetting(settings, name, value);
    if (name === 'application_name') appName = value;
  }
  const application_name = appName ?? settings.application_name ?? fallbackAppName ?? '';
  if (application_name) settings.application_name = application_name;
  return { user, resource, database, application_name, settings, unsupported_options: unsupported };
}

function addSetting(settings: Record<string, string>, name: string, value: string): void {
  const canonical = ALLOWED_SETTINGS.get(name.toLowerCase());
  if (!canonical) {
    throw new StartupRefusal(
      '42501',
      `the connection setting "${name}" is not passed through the gateway; allowed: ${[...ALLOWED_SETTINGS.values()].join(', ')}`,
    );
  }
  if (canonical === 'standard_conforming_strings' && !['on', 'true', 'yes', '1'].includes(value.trim().toLowerCase())) {
    throw new StartupRefusal('42501', 'standard_conforming_strings must stay on through the gateway (the guardrails read statements that way)');
  }
  if (canonical === 'client_encoding') {
    // SQL_ASCII is what libpq asks for in the C locale ("no conversion"); on the UTF8 the gateway sets instead the
    // server still checks every byte as UTF-8, so such clients work, and see the text they would have seen.
    const enc = encodingOf(value);
    if (enc !== SESSION_ENCODING && enc !== 'SQL_ASCII') {
      throw new StartupRefusal(
        '42501',
        `client encoding "${value}" is not allowed through the gateway, which reads statements as UTF-8 (another encoding could hide a quote or a second statement inside a character): connect with client_encoding=UTF8 (PGCLIENTENCODING=UTF8)`,
        'AIRLOCK_ENCODING_REFUSED',
      );
    }
    settings[canonical] = SESSION_ENCODING;
    return;
  }
  settings[canonical] = value;
}

/**
 * Splits the `options` parameter the way the server does (whitespace separates, backslash escapes) and accepts only
 * `-c name=value` / `--name=value` switches; other postmaster switches are refused.
 */
export function parseOptions(options: string): [string, string][] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < options.length; i++) {
    const ch = options[i]!;
    if (ch === '\\' && i + 1 < options.length) {
      cur += options[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  const out: [string, string][] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    let setting: string | undefined;
    if (w === '-c') setting = words[++i];
    else if (w.startsWith('-c')) setting = w.slice(2);
    else if (w.startsWith('--')) setting = w.slice(2);
    const eq = setting?.indexOf('=') ?? -1;
    if (setting === undefined || eq <= 0) {
      throw new StartupRefusal('42501', `the connection option "${w}" is not supported by the gateway; use -c name=value`);
    }
    out.push([setting.slice(0, eq).replace(/-/g, '_'), setting.slice(eq + 1)]);
  }
  return out;
}

/** A startup the gateway refuses: sent as FATAL with this SQLSTATE and 'airlock: ' + message. */
export class StartupRefusal extends Error {
  constructor(
    readonly sqlstate: string,
    message: string,
    readonly airlock: ErrorCode = 'AIRLOCK_SETTING_REFUSED',
  ) {
    super(message);
    this.name = 'StartupRefusal';
  }
}

/** Escapes a value for the `options` startup parameter, whose words are split at whitespace. */
export function escapeOption(s: string): string {
  return s.replace(/[\\\s]/g, (c) => `\\${c}`);
}

/**
 * Why a ParameterStatus from the server (at login or at any later time) shows a session the gateway cannot inspect
 * faithfully, or null. The gateway logs in with client_encoding=UTF8 and standard_conforming_strings=on and refuses
 * statements that change them, but a function, a role or database setting, or a server it does not know might
 * change them anyway; the server reports both whenever they change, so this check is the last word.
 */
export function reportedSettingRisk(msg: Buffer, readOnly = false): string | null {
  const [name, at] = readCString(msg, 5, msg.length);
  const [value] = readCString(msg, at, msg.length);
  switch (name.toLowerCase()) {
    // PostgreSQL 14+ reports it: a function the guardrails let through (one an admin listed) may have turned it off,
    // and the next transaction would write.
    case 'default_transaction_read_only':
      return !readOnly || value === 'on' ? null : `the database server reported default_transaction_read_only ${value}, but this session is read-only`;
    case 'client_encoding':
      return encodingOf(value) === SESSION_ENCODING ? null : `the database server reported client_encoding ${value}, but the gateway reads statements only as UTF8`;
    case 'standard_conforming_strings':
      return value === 'on' ? null : `the database server reported standard_conforming_strings ${value}, but the gateway reads string literals only with it on`;
    default:
      return null;
  }
}
