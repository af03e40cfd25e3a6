// A real browser (Debian's headless Chromium, driven by playwright-core) through the
// authorization code flow (SPEC §8): log in, consent, land on the client's redirect with a
// code — cookies, SameSite, CSP and redirects as a user's browser sees them. The client's
// redirect URI is a tiny HTTP server here that notes the URL it was called with; the code is
// then redeemed with openid-client. Started by tests/e2e/test_oauth_browser.py.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { after, test } from 'node:test';

import * as client from 'openid-client';
import { chromium } from 'playwright-core';

import { env } from './env.mjs';

const ISSUER = env('GATEHOUSE_URL');
const REDIRECT_URI = env('GH_REDIRECT_URI');

test('authorization code flow in headless Chromium', async () => {
  const config = await client.discovery(new URL(ISSUER), env('GH_CLIENT_ID'), env('GH_CLIENT_SECRET'), undefined,
                                        { execute: [client.allowInsecureRequests] });
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI, scope: 'openid profile', state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256' });

  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-background-networking', '--disable-dev-shm-usage'] });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    const problems = [];
    page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
    page.on('pageerror', (e) => problems.push(String(e)));
    // The client's callback: answer it and keep the URL it was called with.
    let callback = null;
    const target = new URL(REDIRECT_URI);
    const app = createServer((req, res) => {
      const called = new URL(req.url, target.origin);
      if (called.pathname === target.pathname) callback = called;  // not the browser's /favicon.ico
      res.writeHead(200, { 'content-type': 'text/plain' }).end('client callback');
    });
    await new Promise((resolve) => app.listen(Number(target.port), '127.0.0.1', resolve));
    after(() => app.close());

    const login = await page.goto(url.href);
    assert.equal(login.status(), 200);
    const csp = login.headers()['content-security-policy'];
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(login.headers()['x-frame-options'], 'DENY');
    await page.fill('input[name="username"]', env('GH_USERNAME'));
    await page.fill('input[name="password"]', env('GH_PASSWORD'));
    await Promise.all([page.waitForLoadState('load'), page.click('button[type="submit"]')]);
    assert.match(await page.content(), /Allow access\?/);

    const cookies = Object.fromEntries((await context.cookies()).map((c) => [c.name, c]));
    assert.ok(cookies.gatehouse_session, 'a session cookie after logging in');
    assert.equal(cookies.gatehouse_session.httpOnly, true);
    assert.equal(cookies.gatehouse_session.sameSite, 'Lax');
    assert.equal(cookies.gatehouse_csrf.httpOnly, true);
    assert.equal(cookies.gatehouse_csrf.sameSite, 'Strict');
    // The page's inline style is allowed by its hash: the page looks as designed.
    const margin = await page.evaluate(() => getComputedStyle(document.body).marginTop);
    assert.equal(margin, '48px');

    await Promise.all([page.waitForURL((u) => u.href.startsWith(REDIRECT_URI)),
                       page.click('button[value="allow"]')]);
    assert.ok(callback, 'the browser reached the client redirect');
    assert.equal(callback.searchParams.get('state'), state);
    assert.equal(callback.searchParams.get('iss'), ISSUER);
    assert.deepEqual(problems, [], `browser console errors (CSP violations?): ${problems.join('\n')}`);

    const tokens = await client.authorizationCodeGrant(config, callback, {
      pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
    assert.equal(tokens.claims().preferred_username, env('GH_USERNAME'));

    // Back again: logged in and consented, the browser goes straight through.
    callback = null;
    const again = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT_URI, scope: 'openid profile', state: 'again',
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256' });
    await page.goto(again.href);
    assert.ok(callback?.searchParams.get('code'), 'no second login or consent');
  } finally {
    await browser.close();
  }
});
