// The demo set-up behind `npm start`: an embedded PostgreSQL with a sample shop database, registered as
// resource demo-orders, and tokens for the demo principals, so a newcomer can try the whole flow with only Node.
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPg } from './store/embedded-postgres.js';

const SAMPLE_SCHEMA = `
CREATE TABLE customers (
  id serial PRIMARY KEY,
  name text NOT NULL,
  email text NOT NULL UNIQUE,
  phone text,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orders (
  id serial PRIMARY KEY,
  customer_id int NOT NULL REFERENCES customers(id),
  status text NOT NULL CHECK (status IN ('new', 'paid', 'shipped', 'cancelled')),
  total_cents int NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO customers (name, email, phone)
SELECT 'Customer ' || i, 'customer' || i || '@example.com', '+1-555-01' || lpad(i::text, 2, '0')
FROM generate_series(1, 50) AS i;
INSERT INTO orders (customer_id, status, total_cents, created_at)
SELECT 1 + (i % 50), (ARRAY['new','paid','shipped','cancelled'])[1 + (i % 4)], 500 + (i * 137) % 20000, now() - (i || ' hours')::interval
FROM generate_series(1, 500) AS i;
`;

export interface DemoDatabase {
  pg: EmbeddedPg;
  policyFile: string;
  stop(): Promise<void>;
}

/** Starts (and on first use, creates) the demo database under dataDir/demo-pg and writes the demo policy. */
export async function startDemoDatabase(dataDir: string, log: (line: string) => void): Promise<DemoDatabase> {
  // PostgreSQL runs as the postgres user when Airlock runs as root: it needs to pass through the data dir.
  if (process.getuid?.() === 0) chmodSync(dataDir, 0o711);
  const dir = join(dataDir, 'demo-pg');
  const portFile = join(dataDir, 'demo-pg.port');
  const port = existsSync(portFile) ? Number(readFileSync(portFile, 'utf8')) : undefined;
  const embedded = await startEmbeddedPostgres({ dir, port, persistent: true, log: (l) => log(l.trim()) });
  writeFileSync(portFile, String(embedded.port));
  const client = new pg.Client(embedded.url);
  await client.connect();
  try {
    const has = await client.query("SELECT 1 FROM pg_database WHERE datname = 'orders'");
    if (has.rowCount === 0) {
      await client.query('CREATE DATABASE orders');
      const db = new pg.Client(embedded.url.replace(/\/postgres$/, '/orders'));
      await db.connect();
      try {
        await db.query(SAMPLE_SCHEMA);
      } finally {
        await db.end();
      }
    }
  } finally {
    await client.end();
  }
  process.env.AIRLOCK_DEMO_PG_PASSWORD = decodeURIComponent(new URL(embedded.url).password);
  const template = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'demo.yaml'), 'utf8');
  const policyFile = join(dataDir, 'demo-policy.yaml');
  // The exec demo's one target: a directory with a log to look at.
  const box = join(dataDir, 'demo-box');
  mkdirSync(box, { recursive: true, mode: 0o700 });
  if (!existsSync(join(box, 'app.log'))) writeFileSync(join(box, 'app.log'), 'payments: charge accepted (order 1041)\npayments: charge declined (order 1042): card expired\n');
  const text = template.replace('${DEMO_PG_PORT}', String(embedded.port)).replace('${DEMO_BOX_DIR}', box);
  // Keep a user's edits, but always point at the port the database runs on now.
  const current = existsSync(policyFile) ? readFileSync(policyFile, 'utf8') : null;
  if (current === null) writeFileSync(policyFile, text, { mode: 0o600 });
  else writeFileSync(policyFile, current.replace(/address: "127\.0\.0\.1:\d+"/, `address: "127.0.0.1:${embedded.port}"`), { mode: 0o600 });
  return { pg: embedded, policyFile, stop: () => embedded.stop() };
}
