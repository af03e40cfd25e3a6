// openid-client v6 (a certified OpenID relying party) and jose against a running Gatehouse,
// with their default settings (SPEC §8): discovery, client credentials, the authorization code
// flow with PKCE through Gatehouse's HTML login and consent forms (fetch and a cookie jar),
// ID token validation, userinfo, refresh, introspection, revocation, and jose's remote JWKS
// verification of access and ID tokens. Started by tests/e2e/test_oauth_node.py, which
// provides the server, the clients and the user through the environment.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as client from 'openid-client';

import { env } from './env.mjs';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const ISSUER = env('GATEHOUSE_URL');
const REDIRECT_URI = env('GH_REDIRECT_URI');
const USER = { username: env('GH_USERNAME'), password: env('GH_PASSWORD') };
// The test server is plain HTTP on loopback: the one setting openid-client must be told.
const insecure = { execute: [client.allowInsecureRequests] };

const webConfig = await client.discovery(new URL(ISSUER), env('GH_CLIENT_ID'), env('GH_CLIENT_SECRET'), undefined,
                                         insecure);
const serviceConfig = await client.discovery(new URL(ISSUER), env('GH_SERVICE_ID'), env('GH_SERVICE_SECRET'),
                                             undefined, insecure);
const JWKS = createRemoteJWKSet(new URL(webConfig.serverMetadata().jwks_uri));

// A browser that is just fetch, a cookie jar and the SPEC §8 form contract.
class Browser {
  constructor() { this.cookies = new Map(); }
  async go(url, init = {}) {
    const headers = new Headers(init.headers ?? {});
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1));
    }
    return res;
  }
  static hidden(html) {
    const fields = {};
    for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      fields[m[1]] = m[2].replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<')
        .replaceAll('&gt;', '>').replaceAll('&amp;', '&');
    }
    return fields;
  }
  async post(html, extra) {
    const body = new URLSearchParams({ ...Browser.hidden(html), ...extra });
    return this.go(new URL('/oauth/authorize', ISSUER), {
      method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  }
}

// Log in and allow, as the user would; returns the redirect back to the client.
async function userAuthorizes(url) {
  const browser = new Browser();
  let res = await browser.go(url);
  assert.equal(res.status, 200);
  let html = await res.text();
  assert.match(html, /name="password"/);
  res = await browser.post(html, { username: USER.username, password: USER.password });
  if (res.status === 200) {
    html = await res.text();
    assert.match(html, /name="decision" value="allow"/);
    res = await browser.post(html, { decision: 'allow' });
  }
  assert.equal(res.status, 303);
  return new URL(res.headers.get('location'));
}

async function codeFlow(scope) {
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(webConfig, {
    redirect_uri: REDIRECT_URI, scope, state, nonce,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier), code_challenge_method: 'S256' });
  const callback = await userAuthorizes(url);
  return client.authorizationCodeGrant(webConfig, callback, {
    pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
}

test('discovery names every endpoint', () => {
  const m = webConfig.serverMetadata();
  assert.equal(m.issuer, ISSUER);
  assert.deepEqual(m.code_challenge_methods_supported, ['S256']);
  assert.equal(m.authorization_response_iss_parameter_supported, true);
  for (const k of ['authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'introspection_endpoint',
                   'revocation_endpoint', 'jwks_uri']) assert.ok(m[k]?.startsWith(ISSUER), k);
});

test('client credentials, then jose verifies the access token against the JWKS', async () => {
  const tokens = await client.clientCredentialsGrant(serviceConfig, { scope: 'orders:read' });
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.equal(tokens.scope, 'orders:read');
  const { payload, protectedHeader } = await jwtVerify(tokens.access_token, JWKS, {
    issuer: ISSUER, audience: ISSUER, typ: 'at+jwt' });
  assert.equal(payload.client_id, env('GH_SERVICE_ID'));
  assert.equal(protectedHeader.alg, 'ES256');
});

test('authorization code + PKCE, ID token, userinfo, refresh, introspection, revocation', async () => {
  const tokens = await codeFlow('openid profile email offline_access');
  const claims = tokens.claims();
  assert.ok(claims.sub);
  assert.equal(claims.preferred_username, USER.username);
  assert.ok(claims.auth_time > 0);

  // jose on its own: the ID token (RS256) and the access token (at+jwt).
  const id = await jwtVerify(tokens.id_token, JWKS, { issuer: ISSUER, audience: env('GH_CLIENT_ID') });
  assert.equal(id.protectedHeader.alg, 'RS256');
  await jwtVerify(tokens.access_token, JWKS, { issuer: ISSUER, audience: ISSUER, typ: 'at+jwt' });

  const info = await client.fetchUserInfo(webConfig, tokens.access_token, claims.sub);
  assert.equal(info.sub, claims.sub);
  assert.equal(info.preferred_username, USER.username);

  const refreshed = await client.refreshTokenGrant(webConfig, tokens.refresh_token);
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
  assert.ok(refreshed.access_token);

  // The service client is a resource server (introspect: true): it may look at any token.
  const active = await client.tokenIntrospection(serviceConfig, refreshed.access_token);
  assert.equal(active.active, true);
  assert.equal(active.client_id, env('GH_CLIENT_ID'));
  await client.tokenRevocation(webConfig, refreshed.refresh_token);
  const gone = await client.tokenIntrospection(serviceConfig, refreshed.refresh_token);
  assert.equal(gone.active, false);
  await assert.rejects(client.refreshTokenGrant(webConfig, refreshed.refresh_token),
                       (e) => e.error === 'invalid_grant');
});

test('a wrong client secret is invalid_client', async () => {
  const wrong = await client.discovery(new URL(ISSUER), env('GH_SERVICE_ID'), 'gcs_wrong', undefined, insecure);
  await assert.rejects(client.clientCredentialsGrant(wrong), (e) => e.error === 'invalid_client');
});
