// The one logger shape every layer takes: structured fields first, then the message. pino's Logger satisfies it;
// factories ask for the levels they use (Pick<Log, 'warn'>), and a test can hand in a recorder.
export interface Log {
  info(fields: object, msg?: string): void;
  warn(fields: object, msg?: string): void;
  error(fields: object, msg?: string): void;
}

/** Says nothing: for callers that were given no logger. */
export const silentLog: Log = { info() {}, warn() {}, error() {} };

/** A logger that adds `fields` to every line (pino's child(), for any Log). */
export function withFields(log: Log, fields: object): Log {
  return {
    info: (f, m) => log.info({ ...fields, ...f }, m),
    warn: (f, m) => log.warn({ ...fields, ...f }, m),
    error: (f, m) => log.error({ ...fields, ...f }, m),
  };
}
