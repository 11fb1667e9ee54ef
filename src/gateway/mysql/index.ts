export { makeMysqlGateway, DEFAULT_MAX_PACKET_BYTES, type MysqlGateway, type MysqlGatewayOptions } from './gateway.js';
export type { MysqlInspector, StatementRecord } from './commands.js';
export { upstreamFacts, type UpstreamFacts } from './upstream.js';
