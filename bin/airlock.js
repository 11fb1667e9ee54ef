#!/usr/bin/env node
// The airlock command: loads the TypeScript CLI through tsx so a clone works right after `npm ci`.
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv);
