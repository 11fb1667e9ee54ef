// The short code `airlock login --sso --browser` prints and Airlock's confirmation page shows, both derived from the
// CLI's PKCE challenge: a person compares them before giving a command-line tool their access.
import { createHash } from 'node:crypto';

// Crockford's base32 without I, L, O, U: nothing to misread between a terminal and a browser.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Six characters from the challenge (30 bits): enough to tell one's own CLI from someone else's. */
export function cliConfirmationCode(challenge: string): string {
  const h = createHash('sha256').update(`airlock-cli-confirm:${challenge}`).digest();
  let out = '';
  for (let i = 0; i < 6; i++) out += ALPHABET[h[i]! & 31];
  return out;
}
