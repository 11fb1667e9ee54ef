// Real PostgreSQL for tests: a fresh database per test file on the server the test runner found (or started).
import pg from 'pg';
import { randomBytes } from 'node:crypto';

export function adminUrl(): string {
  return process.env.AIRLOCK_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

export function urlForDatabase(base: string, database: string): string {
  const u = new URL(base);
  u.pathname = `/${database}`;
  return u.toString();
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database with a random name; drop() terminates its sessions and removes it. */
export async function createTestDatabase(prefix = 'airlock_t'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client(adminUrl());
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: urlForDatabase(adminUrl(), name),
    async drop() {
      const c = new pg.Client(adminUrl());
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
