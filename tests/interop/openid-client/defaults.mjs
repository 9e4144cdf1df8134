// A relying party on openid-client v6 with its defaults: a client secret and no
// clientAuthentication argument (openid-client then uses client_secret_post). Driven by
// tests/interop/test_openid_client.py against a default `clients create` registration.
// argv: issuer client_id client_secret redirect_uri scope service_scope
// stdout line 1: {"authorization_url"}; stdin: the callback URL; stdout line 2: the result.
import * as client from 'openid-client';
import * as readline from 'node:readline';

const [issuer, clientId, clientSecret, redirectUri, scope, serviceScope] = process.argv.slice(2);
const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));
const say = (value) => process.stdout.write(JSON.stringify(value) + '\n');

// How each call to the token endpoint authenticated, as sent on the wire.
const sent = [];
const recordingFetch = (url, options) => {
  if (url.endsWith('/token')) {
    const body = new URLSearchParams(options.body);
    const header = new Headers(options.headers).get('authorization') ?? '';
    sent.push(header.toLowerCase().startsWith('basic ') ? 'client_secret_basic'
      : body.has('client_secret') ? 'client_secret_post' : 'other');
  }
  return fetch(url, options);
};

try {
  // Tillid on http://localhost in tests: allowed explicitly, as openid-client requires.
  const config = await client.discovery(new URL(issuer), clientId, clientSecret, undefined,
    { execute: [client.allowInsecureRequests] });
  config[client.customFetch] = recordingFetch;
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  say({ authorization_url: url.href });

  const callback = new URL(await nextLine());
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const result = { id_token_claims: tokens.claims() };
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  result.refreshed = Boolean(refreshed.access_token);
  result.rotated = refreshed.refresh_token !== tokens.refresh_token;
  const service = await client.clientCredentialsGrant(config, { scope: serviceScope });
  result.service_token_scope = service.scope;
  result.service_token_type = service.token_type;
  result.token_endpoint_auth = sent;
  say(result);
} catch (error) {
  say({ error: error.code || error.name, message: error.message, cause: error.cause?.error,
    description: error.cause?.error_description, token_endpoint_auth: sent });
  process.exitCode = 1;
} finally {
  lines.close();
}
