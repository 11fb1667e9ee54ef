// Hosts and addresses: which are this machine's own (loopback: where plain HTTP may listen, where a database's TLS
// is only preferred, which gateway clients may log in without TLS when allowed), and the URL a listener is reached at.
import { BlockList, isIP } from 'node:net';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** localhost and *.localhost (RFC 6761, with or without the trailing dot), 127.0.0.0/8, ::1 and ::ffff:127.x. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  const family = isIP(h);
  return family !== 0 && LOOPBACK.check(h, family === 4 ? 'ipv4' : 'ipv6');
}

/** The URL a listener on host:port is reached at: IPv6 in brackets, and "any address" (0.0.0.0, ::) as loopback. */
export function listenUrl(protocol: 'http' | 'https', host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '[::1]' : host.includes(':') ? `[${host}]` : host;
  return `${protocol}://${h}:${port}`;
}
