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

// The CLI and the console talk to the HTTP API only (ARCHITECTURE.md): no server-side layer, at run time or for types,
// except src/domain (pure types and rules). The exceptions are CLI commands that work without a server; each loads
// what it needs with import() inside its action, so that every other command starts without it.
const serverSide = ['access', 'store', 'policy', 'audit', 'gateway', 'credentials', 'inspect', 'notify', 'api', 'mcp', 'identity'];
const cliOffline = [
  { file: 'src/cli/server-commands.ts', imports: ['../server.js', '../demo.js'], why: '`airlock server` is the server, and --demo starts the demo database' },
  { file: 'src/cli/audit-commands.ts', imports: ['../audit/chain.js', '../store/store.js', '../audit/audit-log.js', '../audit/recording-verify.js', '../audit/checkpoint-verify.js'], why: 'offline `audit verify --file|--data|--store [--recordings]` checks an export or a store (and the recordings in a data directory) with no server running' },
  { file: 'src/cli/audit-checkpoint-commands.ts', imports: [], why: 'describes the result of the offline checkpoint check (types only)' },
  { file: 'src/cli/policy-commands.ts', imports: ['../policy/load.js', '../policy/explain.js'], why: '`policy check FILE` and `policy explain --config FILE` read a local policy file (e.g. in CI, before it is deployed)' },
];
const cliBanned = [...serverSide.map((l) => `../${l}/*`), '../server.js', '../demo.js'];
const cliMessage = 'the CLI talks to the HTTP API only; a command that must work offline imports this with import() in its action and is listed in cliOffline in eslint.config.js';
const cliStaticRule = (allowTypeImports) => ['error', { paths: [parserImport], patterns: [{ group: cliBanned, allowTypeImports, message: cliMessage }] }];
const dynamicBanned = `/^\\.\\.\\/((${serverSide.join('|')})\\/|(server|demo)\\.js$)/`;
const cliDynamicRule = (allowed) => ['error', { selector: `ImportExpression[source.value=${dynamicBanned}]${allowed.map((a) => `:not([source.value='${a}'])`).join('')}`, message: cliMessage }];

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
  {
    files: ['src/cli/**/*.ts'],
    rules: { 'no-restricted-imports': 'off', '@typescript-eslint/no-restricted-imports': cliStaticRule(false), 'no-restricted-syntax': cliDynamicRule([]) },
  },
  ...cliOffline.map(({ file, imports }) => ({
    files: [file],
    rules: { '@typescript-eslint/no-restricted-imports': cliStaticRule(true), 'no-restricted-syntax': cliDynamicRule(imports) },
  })),
  {
    files: ['web/src/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '(^|/)src/(?!domain/)', message: 'the console talks to the HTTP API only; it may share only src/domain (see ARCHITECTURE.md)' }] }],
    },
  },
);
