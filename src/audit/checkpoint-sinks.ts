// Where a copy of each signed checkpoint goes besides the chain: a webhook, a file on another volume, or syslog over UDP.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { hostname } from 'node:os';
import { AirlockError } from '../domain/errors.js';

/** What a sink receives: the checkpoint event's seq and its details. */
export interface CheckpointCopy {
  seq: number;
  details: Record<string, unknown>;
}

export interface CheckpointSink {
  /** How the sink is named in logs and listings (the URL without credentials, the file, syslog's address). */
  name: string;
  deliver(copy: CheckpointCopy): Promise<void>;
}

const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * `https://…` or `http://…` (POST JSON), `file:/path` (one JSON line appended and fsynced), `syslog` (UDP to
 * 127.0.0.1:514) or `syslog://host:port` / `udp://host:port` (RFC 5424 over UDP; Node has no local datagram socket
 * for /dev/log without a native package).
 */
export function parseCheckpointSink(text: string): CheckpointSink {
  if (text.startsWith('file:')) {
    const path = text.slice('file:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path.startsWith('/')) throw new AirlockError('AIRLOCK_BAD_INPUT', `--audit-checkpoint-sink file: takes an absolute path, e.g. file:/mnt/audit/checkpoints.jsonl (got "${text}")`);
    return fileSink(path);
  }
  if (text === 'syslog') return syslogSink('127.0.0.1', 514);
  const m = /^(?:syslog|udp):\/\/(\[[^\]]+\]|[^:/]+)(?::(\d{1,5}))?\/?$/.exec(text);
  if (m) return syslogSink(m[1]!.replace(/^\[|\]$/g, ''), Number(m[2] ?? 514));
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    url = new URL('invalid:');
  }
  if (url.protocol === 'https:' || url.protocol === 'http:') return webhookSink(url);
  throw new AirlockError('AIRLOCK_BAD_INPUT', `--audit-checkpoint-sink takes an http(s) URL, file:/path, syslog or udp://host:port (got "${text}")`);
}

function fileSink(path: string): CheckpointSink {
  return {
    name: `file:${path}`,
    async deliver(copy) {
      const fd = openSync(path, 'a', 0o600);
      try {
        writeSync(fd, `${JSON.stringify({ seq: copy.seq, ...copy.details })}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    },
  };
}

function webhookSink(url: URL): CheckpointSink {
  const shown = new URL(url);
  shown.username = '';
  shown.password = '';
  return {
    name: shown.toString(),
    async deliver(copy) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event: 'audit.checkpoint', seq: copy.seq, ...copy.details }), signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS) });
      await res.arrayBuffer().catch(() => undefined);
      if (!res.ok) throw new Error(`the webhook answered ${res.status}`);
    },
  };
}

function syslogSink(host: string, port: number): CheckpointSink {
  return {
    name: `syslog udp://${host}:${port}`,
    deliver(copy) {
      // RFC 5424: <PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG; facility auth (4),
      // severity notice (5): 4 * 8 + 5 = 37.
      const msg = `<37>1 ${String(copy.details.time ?? new Date().toISOString())} ${hostname() || '-'} airlock ${process.pid} audit.checkpoint - ${JSON.stringify({ seq: copy.seq, ...copy.details })}`;
      return new Promise<void>((resolve, reject) => {
        const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
        socket.send(msg, port, host, (err) => {
          socket.close();
          if (err) reject(err);
          else resolve();
        });
      });
    },
  };
}
