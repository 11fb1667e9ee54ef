// Lint configuration: typescript-eslint's recommended rules plus the layer rule from ARCHITECTURE.md.
import tseslint from 'typescript-eslint';

const layers = ['domain', 'store', 'policy', 'audit', 'notify', 'inspect', 'credentials', 'access', 'gateway', 'mcp', 'api', 'web', 'cli'];
// Each layer may import only layers listed before it (and domain). Same-tier layers stay independent.
const forbidden = {
  domain: layers.filter((l) => l !== 'domain'),
  store: ['policy', 'audit', 'notify', 'inspect', 'credentials', 'access', 'gateway', 'mcp', 'api', 'cli'],
  policy: ['store', 'audit', 'notify', 'inspect', 'credentials', 'access', 'gateway', 'mcp', 'api', 'cli'],
  audit: ['access', 'gateway', 'mcp', 'api', 'cli', 'credentials', 'inspect', 'notify'],
  inspect: ['access', 'gateway', 'mcp', 'api', 'cli', 'store', 'credentials', 'audit', 'notify'],
  credentials: ['access', 'gateway', 'mcp', 'api', 'cli', 'inspect', 'notify'],
  notify: ['access', 'gateway', 'mcp', 'api', 'cli'],
  access: ['gateway', 'mcp', 'api', 'cli'],
  gateway: ['mcp', 'api', 'cli'],
  mcp: ['api', 'cli', 'gateway'],
  api: ['cli', 'mcp'],
};

// The parser's WASM starts compiling when libpg-query is imported; pg-parser.ts sets the compiler flags first.
const parserImport = { name: 'libpg-query', message: 'import the parser from src/inspect/pg-parser.ts, which sets its compiler flags before it loads' };

export default tseslint.config(
  { ignores: ['node_modules/**', '.scratch/**', 'dist/**', 'data/**', 'test-results/**', 'web/dist/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
      'no-restricted-imports': ['error', { paths: [parserImport] }],
    },
  },
  ...Object.entries(forbidden).map(([layer, banned]) => ({
    files: [`src/${layer}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [parserImport],
        patterns: banned.map((b) => ({ group: [`**/${b}/*`, `../${b}/*`, `../../${b}/*`], message: `layer ${layer} must not import ${b} (see ARCHITECTURE.md)` })),
      }],
    },
  })),
  { files: ['src/inspect/pg-parser.ts'], rules: { 'no-restricted-imports': 'off' } },
);
