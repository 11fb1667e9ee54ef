// Keeps the SQL parser's WASM on V8's baseline compiler; imported before libpg-query, which compiles on import.
//
// The parser runs on V8's baseline WASM compiler only (Liftoff). By default V8 recompiles hot WASM functions with its
// optimizing compiler in the background; for PostgreSQL's grammar that costs ~100 MB of resident memory that is
// never given back and about half a second of CPU, and it arrives unannounced after a process's first statements
// (it once looked like the gateway's memory growing with a large result). Without it a cold inspect of an ordinary
// SELECT takes ~30 % longer (519 µs instead of 400 µs in one sitting; docs/guardrails.md); cached statements are
// unaffected.
// The flag is process-wide but only read when WASM is compiled, and this parser is the only WASM Airlock loads.
import { setFlagsFromString } from 'node:v8';

setFlagsFromString('--liftoff-only');
