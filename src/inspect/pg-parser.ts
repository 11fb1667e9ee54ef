// The real PostgreSQL parser (libpg-query, WASM). Everything in Airlock reaches it through here, so the compiler
// setting in baseline-wasm.ts is in force before the module compiles.
import './baseline-wasm.js';

export { fingerprintSync, loadModule, normalizeSync, parseSync, scanSync } from 'libpg-query';
