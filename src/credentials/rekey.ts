// `airlock secrets rekey`: re-encrypts every secret Airlock keeps at rest with the next key version, batch by batch,
// so that afterwards the older keys are no longer needed (docs/credentials.md, "Rekeying secrets at rest").
import type { Kysely, Transaction } from 'kysely';
import type { DB } from '../store/schema.js';
import { decrypt, encrypt, keyVersionOf } from './encryption.js';
import type { SecretKeys } from './secret-keys.js';

export interface RekeyResult {
  /** The key version every secret is now encrypted with. */
  key_version: number;
  /** Where the new key was written when Airlock made it (keys in files); null when it came from AIRLOCK_SECRET_KEY_NEXT. */
  key_file: string | null;
  /** Secrets re-encrypted, per table. */
  re_encrypted: { grant_credentials: number; stored_credentials: number };
  /** Secrets no key of this process decrypts (left as they are): while any remain, the old key is still needed. */
  unreadable: number;
  /** The key versions the store no longer uses: their keys may be removed once every process runs with the new one. */
  retired_versions: number[];
}

const BATCH = 200;

/** One column of encrypted text: its table, key, and the AES-GCM context each row was encrypted with. */
interface Column {
  table: 'grant_credentials' | 'stored_credentials';
  column: 'secret' | 'pending_secret';
  key: 'grant_id' | 'resource';
  context(id: string): string;
}

/** Every encrypt() caller's column; a new one must be listed here, or a rekey would leave it on the old key. */
const COLUMNS: Column[] = [
  { table: 'grant_credentials', column: 'secret', key: 'grant_id', context: (id) => id },
  { table: 'stored_credentials', column: 'secret', key: 'resource', context: (id) => `stored-credential:${id}` },
  { table: 'stored_credentials', column: 'pending_secret', key: 'resource', context: (id) => `stored-credential:${id}` },
];

/**
 * Moves to the next key first (new writes from this process use it), then re-encrypts what older keys wrote, one
 * transaction per batch; a row that changed meanwhile is left to the next batch, which reads it again.
 */
export async function rekeySecrets(deps: { db: Kysely<DB>; transaction<T>(fn: (trx: Transaction<DB>) => Promise<T>): Promise<T>; keys: SecretKeys }): Promise<RekeyResult> {
  const before = deps.keys.versions();
  const target = deps.keys.rekeyTarget();
  deps.keys.promote(target.version);
  const prefix = `v${target.version}:`;
  const counts = { grant_credentials: 0, stored_credentials: 0 };
  let unreadable = 0;
  for (const col of COLUMNS) {
    const skip = new Set<string>();
    for (;;) {
      const rows = (await deps.db.selectFrom(col.table).select([`${col.key} as id`, `${col.column} as text`] as never[]).where(col.column, 'is not', null).where(col.column, 'not like', `${prefix}%`).limit(BATCH + skip.size).execute()) as unknown as { id: string; text: string }[];
      const todo = rows.filter((r) => !skip.has(r.id)).slice(0, BATCH);
      if (todo.length === 0) break;
      await deps.transaction(async (trx) => {
        for (const r of todo) {
          let plain: string;
          try {
            plain = decrypt(deps.keys, r.text, col.context(r.id));
          } catch {
            skip.add(r.id);
            unreadable++;
            continue;
          }
          const res = await trx.updateTable(col.table).set({ [col.column]: encrypt(deps.keys, plain, col.context(r.id)) } as never).where(col.key as never, '=', r.id as never).where(col.column as never, '=', r.text as never).executeTakeFirst();
          if (Number(res.numUpdatedRows) === 1) counts[col.table]++;
        }
      });
    }
  }
  const inUse = new Set<number>();
  for (const col of COLUMNS) {
    const rows = (await deps.db.selectFrom(col.table).select(`${col.column} as text` as never).where(col.column, 'is not', null).where(col.column, 'not like', `${prefix}%`).execute()) as unknown as { text: string }[];
    for (const r of rows) inUse.add(keyVersionOf(r.text) ?? 0);
  }
  return { key_version: target.version, key_file: target.file ?? null, re_encrypted: counts, unreadable, retired_versions: before.filter((v) => v !== target.version && !inUse.has(v)) };
}
