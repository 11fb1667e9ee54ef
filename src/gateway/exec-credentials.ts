// The upstream "login" of exec resources: there is none to make or drop — the gateway runs the resource's command
// template on its own host — so every grant gets the same local login, and the grant lifecycle has nothing to do.
import type { CredentialProvider, UpstreamLogin } from '../credentials/provider.js';

export function makeExecCredentials(): CredentialProvider {
  return {
    attach() {},
    cleanup: async () => 0,
    retryDue: async () => {},
    pendingDrops: async () => [],
    async upstreamFor(): Promise<UpstreamLogin> {
      // database is the session's target, filled in by the exec front-end once it is chosen.
      return { host: 'local', port: 0, database: '', user: '', password: '' };
    },
    close: async () => {},
  };
}
