// Public surface of statement inspection: classification, guardrail decisions, parse cache, parser start-up.

export { defaultGuardrails, hasGuardrails, DEFAULT_MAX_STATEMENT_BYTES, type GuardrailConfig } from './config.js';
export type { StatementInfo } from './classify.js';
export type { CursorOp } from './cursors.js';
export type { Decision } from './decide.js';
export { initInspect } from './analysis.js';
export { makeParseCache, type ParseCache, type ParseCacheStats, type ParseCacheLimits } from './parse-cache.js';
export { makeInspector, sharedParseCache, closeInspectWorkers, ASYNC_THRESHOLD_CHARS, type Inspector, type SqlDialect } from './inspector.js';
/** The dialect-neutral name of the interface every SQL dialect's inspector implements. */
export type { Inspector as SqlInspector } from './inspector.js';
export { maskLiterals } from './redact.js';
export { encodingOf, isSessionEncoding, SESSION_ENCODING } from './encodings.js';
export { buildCatalog, CATALOG_QUERIES, type CatalogRows } from './database-catalog.js';
export type { FunctionCatalog } from './function-rules.js';
export { makeMysqlInspector, splitMysqlStatements, type MysqlInspectorOptions } from './mysql/index.js';
