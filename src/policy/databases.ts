// Which databases on its server a resource covers: the only ones a session under a grant on it may open.
import type { ResourceDef } from './schema.js';

/** PostgreSQL's own default when a client names no database; a resource that names none covers only this one. */
const SERVER_DEFAULT = 'postgres';

/** The database a session opens when dbname names only the resource. */
export function defaultDatabase(resource: ResourceDef): string {
  return resource.database ?? resource.databases?.[0] ?? SERVER_DEFAULT;
}

/** Every database the resource covers, the default first. */
export function coveredDatabases(resource: ResourceDef): string[] {
  const first = defaultDatabase(resource);
  return [first, ...(resource.databases ?? []).filter((d) => d !== first)];
}

/**
 * The database a session asked for, when the resource covers it; undefined otherwise. PostgreSQL matches a startup
 * database name byte for byte (no case folding, no quotes, no trimming), so this compares the same way: any other
 * spelling names a different database, which is exactly what must be refused.
 */
export function coveredDatabase(resource: ResourceDef, asked: string | undefined): string | undefined {
  if (asked === undefined) return defaultDatabase(resource);
  return coveredDatabases(resource).includes(asked) ? asked : undefined;
}
