// The logger shape every layer is given: pino's, fields first and then the message; the level is the method called.
export interface Log {
  info(fields: object, msg?: string): void;
  warn(fields: object, msg?: string): void;
  error(fields: object, msg?: string): void;
}

/** For callers that want no log lines (tests, one-off tools). */
export const silentLog: Log = { info() {}, warn() {}, error() {} };
