// The PostgreSQL front-end's public surface: the gateway factory and its TLS material.
export { makePgGateway, DEFAULT_MAX_MESSAGE_BYTES, type PgGateway, type PgGatewayOptions } from './gateway.js';
export { loadOrCreateTls, type TlsMaterial } from '../core/tls.js';
