// The server's one pino logger: JSON lines (or a readable one-line format) on stderr, with secrets redacted.
import pino, { type Logger, type LevelWithSilent } from 'pino';
import { AirlockError } from './domain/errors.js';

export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];
export const LOG_LEVELS: readonly LevelWithSilent[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** Field names whose values are secrets wherever they appear (top level and two levels down). */
const SECRET_KEYS = ['password', 'passwd', 'token', 'access_token', 'admin_token', 'bootstrap_token', 'secret', 'client_secret', 'authorization', 'cookie', 'csrf', 'api_key', 'private_key', 'adminUrl', 'storeUrl', 'connectionString'];
/**
 * pino `redact` paths. Request logging only carries method and URL, but an error object or a handler may attach
 * headers, and libraries (pg) attach connection settings to their errors.
 */
export const REDACT_PATHS = [
  ...SECRET_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]),
  'req.headers.authorization', 'req.headers.cookie', 'req.headers["x-airlock-csrf"]', 'res.headers["set-cookie"]', 'headers["set-cookie"]', '*.headers["set-cookie"]',
];
const CENSOR = '[redacted]';

export interface LoggerOptions {
  level?: string;
  format?: string;
  /** Where lines go; default stderr (fd 2), so the banner on stdout stays readable and pipes stay parseable. */
  destination?: NodeJS.WritableStream | { write(line: string): unknown };
}

export function checkLogOptions(o: { level?: string; format?: string }): { level: LevelWithSilent; format: LogFormat } {
  const level = (o.level ?? 'info').toLowerCase();
  const format = (o.format ?? 'json').toLowerCase();
  if (!LOG_LEVELS.includes(level as LevelWithSilent)) throw new AirlockError('AIRLOCK_CONFIG_INVALID', `The log level "${o.level}" is not one of ${LOG_LEVELS.join(', ')} (--log-level or AIRLOCK_LOG_LEVEL).`);
  if (!LOG_FORMATS.includes(format as LogFormat)) throw new AirlockError('AIRLOCK_CONFIG_INVALID', `The log format "${o.format}" is not one of ${LOG_FORMATS.join(', ')} (--log-format or AIRLOCK_LOG_FORMAT).`);
  return { level: level as LevelWithSilent, format: format as LogFormat };
}

export function makeLogger(opts: LoggerOptions = {}): Logger {
  const { level, format } = checkLogOptions(opts);
  const options = { level, redact: { paths: REDACT_PATHS, censor: CENSOR }, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (format === 'json') return pino(options, (opts.destination as pino.DestinationStream | undefined) ?? pino.destination(2));
  const out = opts.destination ?? process.stderr;
  return pino(options, { write: (line: string) => void out.write(prettyLine(line)) });
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname']);

/** One JSON log line as `2026-03-02 10:31:00.123 UTC INFO  message key=value …`, the error's stack indented below. */
export function prettyLine(jsonLine: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return jsonLine.endsWith('\n') ? jsonLine : `${jsonLine}\n`;
  }
  const time = typeof o.time === 'string' ? o.time.replace('T', ' ').replace('Z', ' UTC') : new Date().toISOString().replace('T', ' ').replace('Z', ' UTC');
  const level = (LEVEL_NAMES[o.level as number] ?? String(o.level)).padEnd(5);
  let stack = '';
  const fields: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (SKIP.has(k) || v === undefined) continue;
    if (k === 'err' && v && typeof v === 'object') {
      const e = v as { message?: string; stack?: string; type?: string };
      fields.push(`err=${quote(e.message ?? e.type ?? 'error')}`);
      if (e.stack) stack = `\n    ${e.stack.split('\n').slice(1).map((s) => s.trim()).join('\n    ')}`;
      continue;
    }
    fields.push(`${k}=${typeof v === 'string' ? quote(v) : typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(1) : JSON.stringify(v)}`);
  }
  return `${time} ${level} ${String(o.msg ?? '')}${fields.length ? ` ${fields.join(' ')}` : ''}${stack}\n`;
}

function quote(s: string): string {
  return /^[^\s"=]+$/.test(s) ? s : JSON.stringify(s);
}
