// Console single sign-on in Chromium: "Sign in with <IdP>", the IdP's own login form, back in the console as that
// person with the IdP's groups; a refused ID token lands on the sign-in page with a sentence saying why.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { startServerProcess, type ServerProcess } from '../support/server-process.js';
import { ensureConsoleBuilt, launchBrowser, person, screenshot, type Person } from '../support/browser.js';
import { startTestIdp, type TestIdp } from '../support/oidc-provider.js';

let idp: TestIdp;
let server: ServerProcess;
let browser: Browser;
const people: Person[] = [];

before(async () => {
  ensureConsoleBuilt();
  idp = await startTestIdp({ users: { alice: { password: 'alice-pw', email: 'alice@example.com', groups: ['Payments'] } } });
  server = await startServerProcess({
    policy: `
version: 1
principals:
  - { name: alice, groups: [staff] }
  - { name: bob, groups: [] }
resources:
  - { name: prod-orders, kind: postgres, address: "127.0.0.1:5432", database: orders }
roles:
  - name: pg-read
    resources: { names: [prod-orders] }
    max_duration: 1h
    requestable_by: { groups: [payments-oncall] }
    approval: { approver_principals: [bob] }
identity:
  oidc:
    issuer: ${idp.issuer}
    client_id: ${idp.clientId}
    client_secret: { env: AIRLOCK_TEST_OIDC_CLIENT_SECRET }
    group_mapping: { Payments: [payments-oncall] }
    display_name: Acme SSO
`,
    env: { AIRLOCK_TEST_OIDC_CLIENT_SECRET: idp.clientSecret },
  });
  idp.serve(server.url);
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await idp?.stop();
  assert.deepEqual(people.flatMap((p) => p.errors), []);
});

async function signInThroughIdp(p: Person): Promise<void> {
  await p.page.goto(server.url);
  await p.page.getByRole('link', { name: 'Sign in with Acme SSO' }).click();
  await p.page.getByRole('textbox', { name: 'Username' }).fill('alice');
  await p.page.getByRole('textbox', { name: 'Password' }).fill('alice-pw');
  await p.page.getByRole('button', { name: 'Sign in to the test IdP' }).click();
}

test('"Sign in with Acme SSO" goes through the IdP\'s login form and back into the console as that person', async () => {
  const alice = await person(browser, 'alice');
  people.push(alice);
  await alice.page.goto(server.url);
  await screenshot(alice.page, 'sso-sign-in-page');
  await signInThroughIdp(alice);
  await alice.page.getByTestId('signed-in-as').waitFor();
  assert.equal(await alice.page.getByTestId('signed-in-as').textContent(), 'alice');
  await screenshot(alice.page, 'sso-signed-in');
  // The session is the browser's: the API answers for alice, with the group the IdP gave.
  const me = await alice.page.evaluate(async () => (await (await fetch('/api/v1/whoami')).json()) as { principal: { groups: string[] } });
  assert.deepEqual([...me.principal.groups].sort(), ['payments-oncall', 'staff']);
  assert.equal(new URL(alice.page.url()).search, '', 'nothing of the sign-in is left in the address bar');
});

test('an ID token the console must refuse brings the person back to the sign-in page with the reason', async () => {
  const p = await person(browser, 'alice-refused');
  people.push(p);
  idp.tamper = 'wrong_audience';
  try {
    await signInThroughIdp(p);
    const alert = p.page.getByRole('alert');
    await alert.waitFor();
    assert.match((await alert.textContent()) ?? '', /^Single sign-on did not complete: the ID token is not meant for this client/);
    assert.equal(await p.page.getByRole('link', { name: 'Sign in with Acme SSO' }).count(), 1, 'the button is there to try again');
    await screenshot(p.page, 'sso-refused');
  } finally {
    idp.tamper = null;
  }
});
