// Port forwarding through the gateway: local (-L, direct-tcpip channels) and remote (-R, tcpip-forward requests)
// forwards are relayed to the host only when the role has ssh.port_forwarding; each is audited, allowed or refused.
// Unix-socket forwards are always refused.
import type { Connection } from 'ssh2';
import { clip, type ChannelContext } from './channels.js';

export function handleForwarding(cx: ChannelContext, client: Connection, refused: (rule: string, text: string) => void): void {
  const allowed = cx.plan.role.ssh.port_forwarding;
  const audit = (text: string): void => cx.session.recordStatement({ text: clip(text), fingerprint: null, decision: 'allowed', rule: 'ssh.port_forwarding', rows: 0, duration_ms: 0, error: null });

  client.on('tcpip', (accept, reject, info) => {
    const text = `direct-tcpip ${info.destIP}:${info.destPort}`;
    // Nothing new is relayed after the cut (the connection closes a moment later).
    if (cx.cutReason() !== null) return reject();
    if (!allowed) {
      refused('ssh.port_forwarding', text);
      return reject();
    }
    cx.upstream.forwardOut(info.srcIP, info.srcPort, info.destIP, info.destPort, (err, up) => {
      if (err) return reject();
      audit(text);
      const ch = accept();
      ch.on('error', () => {});
      up.on('error', () => {});
      up.pipe(ch).pipe(up);
      ch.once('close', () => up.close());
      up.once('close', () => ch.close());
    });
  });

  client.on('openssh.streamlocal', (_accept, reject, info) => {
    refused('ssh.port_forwarding', `direct-streamlocal ${info.socketPath}`);
    reject();
  });

  client.on('request', (accept, reject, name, info) => {
    if (cx.cutReason() !== null) return reject?.();
    if (name === 'tcpip-forward' || name === 'cancel-tcpip-forward') {
      const bind = info as { bindAddr: string; bindPort: number };
      const text = `${name} ${bind.bindAddr}:${bind.bindPort}`;
      if (!allowed) {
        refused('ssh.port_forwarding', text);
        return reject?.();
      }
      if (name === 'cancel-tcpip-forward') return cx.upstream.unforwardIn(bind.bindAddr, bind.bindPort, (err) => (err ? reject?.() : accept?.()));
      cx.upstream.forwardIn(bind.bindAddr, bind.bindPort, (err, port) => {
        if (err) return reject?.();
        audit(text);
        (accept as ((port?: number) => void) | undefined)?.(port);
      });
      return;
    }
    refused('ssh.port_forwarding', `${name}`);
    reject?.();
  });

  if (allowed) {
    cx.upstream.on('tcp connection', (details, accept, reject) => {
      if (cx.cutReason() !== null) return reject();
      client.forwardOut(details.destIP, details.destPort, details.srcIP, details.srcPort, (err, ch) => {
        if (err) return reject();
        const up = accept();
        ch.on('error', () => {});
        up.on('error', () => {});
        up.pipe(ch).pipe(up);
      });
    });
  }
}
