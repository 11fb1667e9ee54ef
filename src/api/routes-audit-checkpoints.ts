// API routes for signed audit checkpoints: the public key an auditor verifies with, the list, and key rotation.
import { z } from 'zod';
import type { Access } from '../access/access.js';
import type { Checkpoints } from '../audit/checkpoints.js';
import type { RouteDef } from './routing.js';
import { forbidden } from './routing.js';
import { canSeeAll } from './routes-access.js';

const publicKey = z.object({
  key_id: z.string().describe('sha256 of the public key (SPKI DER), hex: the id checkpoints carry in key_id'),
  algorithm: z.literal('ed25519'),
  public_key: z.string().describe('the public key, PEM (SPKI): give it to `airlock audit verify --public-key FILE`'),
});

const checkpoint = z.object({
  seq: z.number().int().describe('the checkpoint event\'s own seq'),
  covers_seq: z.number().int().describe('the seq whose hash it signs (the chain head when it was written)'),
  time: z.string().describe('ISO-8601 UTC'),
  key_id: z.string(),
  next_key_id: z.string().nullable().describe('a rotation: the key that signs from the next checkpoint on'),
  sink: z.string().describe('delivered, failed, none (no sink configured) or unknown (another process or an earlier run sent it)'),
  sink_error: z.string().nullable(),
});

export function checkpointRoutes(deps: { access: Access; checkpoints: Checkpoints }): RouteDef<any, any, any>[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  const { access, checkpoints } = deps;
  return [
    {
      method: 'GET', url: '/api/v1/audit/public-key', tag: 'audit', summary: 'The public key audit checkpoints are signed with, and its key id (admins and auditors)',
      response: publicKey,
      async handler({ caller }) {
        if (!canSeeAll(access, caller)) throw forbidden('Only admins and auditors can read the audit log\'s public key.');
        return checkpoints.publicKey();
      },
    },
    {
      method: 'GET', url: '/api/v1/audit/checkpoints', tag: 'audit', summary: 'Signed checkpoints of the audit chain, oldest first (admins and auditors)',
      response: z.object({ checkpoints: z.array(checkpoint), sink: z.string().nullable(), key_id: z.string() }),
      async handler({ caller }) {
        if (!canSeeAll(access, caller)) throw forbidden('Only admins and auditors can read the audit log.');
        return { checkpoints: await checkpoints.list(), sink: checkpoints.sinkName, key_id: checkpoints.publicKey().key_id };
      },
    },
    {
      method: 'POST', url: '/api/v1/audit/rotate-key', tag: 'audit', summary: 'Make a new checkpoint key, announced in a checkpoint signed by the current one (admin; audited)',
      response: z.object({ previous_key_id: z.string(), key_id: z.string(), checkpoint_seq: z.number().int(), public_key: z.string() }),
      async handler({ caller }) {
        if (!access.policy().isAdmin(caller.principal)) throw forbidden('Only an admin can rotate the audit checkpoint key.');
        const r = await checkpoints.rotateKey({ actor: caller.principal.name, source: caller.source });
        return { previous_key_id: r.previous_key_id, key_id: r.key_id, checkpoint_seq: r.checkpoint.seq, public_key: checkpoints.publicKey().public_key };
      },
    },
  ];
}
