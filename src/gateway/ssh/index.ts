// The SSH front-end (docs/ssh-and-exec.md).
export { makeSshGateway, type SshGatewayOptions } from './gateway.js';
export { makeSshLoginDeps } from './login-deps.js';
export { USER_SEPARATOR, parseUserName } from './login.js';
