// PostgreSQL wire-protocol constants and the few messages the gateway writes itself, in both directions.
import type { ErrorCode } from '../../domain/errors.js';

/** Startup-phase request codes: the int32 after the length in an untyped packet. */
export const PROTOCOL_3_0 = 196608; // 3 << 16
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;

/** Frontend (client → server) message types. */
export const F = {
  Query: 0x51, // Q
  Parse: 0x50, // P
  Bind: 0x42, // B
  Describe: 0x44, // D
  Execute: 0x45, // E
  Sync: 0x53, // S
  Flush: 0x48, // H
  Close: 0x43, // C
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyFail: 0x66, // f
  Terminate: 0x58, // X
  Password: 0x70, // p: PasswordMessage, SASLInitialResponse and SASLResponse share it
  FunctionCall: 0x46, // F
} as const;

/** Backend (server → client) message types. */
export const B = {
  Authentication: 0x52, // R
  BackendKeyData: 0x4b, // K
  ParameterStatus: 0x53, // S
  ReadyForQuery: 0x5a, // Z
  ErrorResponse: 0x45, // E
  NoticeResponse: 0x4e, // N
  NotificationResponse: 0x41, // A
  CommandComplete: 0x43, // C
  EmptyQueryResponse: 0x49, // I
  DataRow: 0x44, // D
  RowDescription: 0x54, // T
  ParameterDescription: 0x74, // t
  NoData: 0x6e, // n
  ParseComplete: 0x31, // 1
  BindComplete: 0x32, // 2
  CloseComplete: 0x33, // 3
  PortalSuspended: 0x73, // s
  CopyInResponse: 0x47, // G
  CopyOutResponse: 0x48, // H
  CopyBothResponse: 0x57, // W
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  NegotiateProtocolVersion: 0x76, // v
} as const;

/** A typed message: type byte, int32 length (counting itself, not the type byte), then the body. */
export function typedMessage(type: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

/** Body builder for the few messages we compose: strings are NUL-terminated UTF-8. */
export class BodyWriter {
  private parts: Buffer[] = [];
  int32(n: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(n, 0);
    this.parts.push(b);
    return this;
  }
  int16(n: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeInt16BE(n, 0);
    this.parts.push(b);
    return this;
  }
  cstring(s: string): this {
    this.parts.push(Buffer.from(s, 'utf8'), ZERO);
    return this;
  }
  bytes(b: Buffer): this {
    this.parts.push(b);
    return this;
  }
  byte(n: number): this {
    this.parts.push(Buffer.of(n));
    return this;
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

const ZERO = Buffer.of(0);

export interface ErrorFields {
  severity: 'ERROR' | 'FATAL';
  code: string;
  message: string;
  /** The stable Airlock code (docs/errors.md), which every error the gateway writes carries in its hint. */
  airlock: ErrorCode;
  detail?: string;
  hint?: string;
}

/** The hint line that names an error's Airlock code, so a user can look it up. */
export function airlockCodeHint(code: ErrorCode): string {
  return `Airlock error code ${code}; see docs/errors.md`;
}

/** ErrorResponse with S (localized severity), V (non-localized severity), C (SQLSTATE), M, optional D, and H. */
export function errorResponse(f: ErrorFields): Buffer {
  const w = new BodyWriter().byte(0x53).cstring(f.severity).byte(0x56).cstring(f.severity).byte(0x43).cstring(f.code).byte(0x4d).cstring(f.message);
  if (f.detail) w.byte(0x44).cstring(f.detail);
  const codeHint = airlockCodeHint(f.airlock);
  w.byte(0x48).cstring(f.hint ? `${f.hint}\n${codeHint}` : codeHint);
  return typedMessage(B.ErrorResponse, w.byte(0).build());
}

/**
 * NoticeResponse: the fields of an ErrorResponse with severity NOTICE and SQLSTATE 00000. A client shows it while
 * it waits (psql prints "NOTICE:  …" at once); it may come between any two server messages.
 */
export function noticeResponse(message: string, detail?: string): Buffer {
  const w = new BodyWriter().byte(0x53).cstring('NOTICE').byte(0x56).cstring('NOTICE').byte(0x43).cstring('00000').byte(0x4d).cstring(message);
  if (detail) w.byte(0x44).cstring(detail);
  return typedMessage(B.NoticeResponse, w.byte(0).build());
}

export function readyForQuery(status: number): Buffer {
  return typedMessage(B.ReadyForQuery, Buffer.of(status));
}

export const AUTH_OK = typedMessage(B.Authentication, Buffer.from([0, 0, 0, 0]));

export function authSasl(mechanisms: string[]): Buffer {
  const w = new BodyWriter().int32(10);
  for (const m of mechanisms) w.cstring(m);
  return typedMessage(B.Authentication, w.byte(0).build());
}

export function authSaslContinue(data: string): Buffer {
  return typedMessage(B.Authentication, new BodyWriter().int32(11).bytes(Buffer.from(data, 'utf8')).build());
}

export function authSaslFinal(data: string): Buffer {
  return typedMessage(B.Authentication, new BodyWriter().int32(12).bytes(Buffer.from(data, 'utf8')).build());
}

export function backendKeyData(pid: number, secret: number): Buffer {
  return typedMessage(B.BackendKeyData, new BodyWriter().int32(pid).int32(secret).build());
}

/** Tells a client asking for a newer minor version or `_pq_.` options what this gateway speaks (3.0, none). */
export function negotiateProtocolVersion(minor: number, unsupported: string[]): Buffer {
  const w = new BodyWriter().int32((3 << 16) | minor).int32(unsupported.length);
  for (const o of unsupported) w.cstring(o);
  return typedMessage(B.NegotiateProtocolVersion, w.build());
}

/** Untyped startup packet: int32 length (counting itself), int32 protocol version, then name/value pairs and a final NUL. */
export function startupMessage(params: Record<string, string>): Buffer {
  const w = new BodyWriter().int32(PROTOCOL_3_0);
  for (const [k, v] of Object.entries(params)) w.cstring(k).cstring(v);
  const body = w.byte(0).build();
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeInt32BE(4 + body.length, 0);
  body.copy(out, 4);
  return out;
}

export function cancelRequest(pid: number, secret: number): Buffer {
  const out = Buffer.allocUnsafe(16);
  out.writeInt32BE(16, 0);
  out.writeInt32BE(CANCEL_REQUEST, 4);
  out.writeInt32BE(pid, 8);
  out.writeInt32BE(secret, 12);
  return out;
}

export function passwordMessage(password: string): Buffer {
  return typedMessage(F.Password, new BodyWriter().cstring(password).build());
}

export function saslInitialResponse(mechanism: string, data: string): Buffer {
  const payload = Buffer.from(data, 'utf8');
  return typedMessage(F.Password, new BodyWriter().cstring(mechanism).int32(payload.length).bytes(payload).build());
}

export function saslResponse(data: string): Buffer {
  return typedMessage(F.Password, Buffer.from(data, 'utf8'));
}

export function queryMessage(sql: string): Buffer {
  return typedMessage(F.Query, new BodyWriter().cstring(sql).build());
}

export function parseMessage(name: string, sql: string): Buffer {
  return typedMessage(F.Parse, new BodyWriter().cstring(name).cstring(sql).int16(0).build());
}

export const TERMINATE = typedMessage(F.Terminate, Buffer.alloc(0));

/**
 * Reads a NUL-terminated string starting at `start`, never past `end` (the message end): a missing terminator is a
 * protocol error, not a read into the next message. Returns the string and the offset after the NUL.
 */
export function readCString(buf: Buffer, start: number, end: number): [string, number] {
  const nul = buf.indexOf(0, start);
  if (nul < 0 || nul >= end) throw new ProtocolError('a string in a message is not terminated');
  return [buf.toString('utf8', start, nul), nul + 1];
}

/** The client broke the protocol: the session ends with a FATAL 08P01 that carries this message. */
export class ProtocolError extends Error {
  constructor(
    message: string,
    /** How the message is introduced to the user; empty when the message says it all (e.g. a size limit). */
    readonly label = 'protocol error',
  ) {
    super(message);
    this.name = 'ProtocolError';
  }

  /** The text after 'airlock: ' in the FATAL. */
  get userText(): string {
    return this.label ? `${this.label}: ${this.message}` : this.message;
  }
}

/** Message-type byte as a readable name for errors, e.g. 'F' or 0x00. */
export function typeName(type: number): string {
  return type >= 0x20 && type < 0x7f ? `'${String.fromCharCode(type)}'` : `0x${type.toString(16).padStart(2, '0')}`;
}
