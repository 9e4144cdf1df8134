// A relying party on openid-client v6, driven by tests/interop/test_openid_client.py.
// argv: issuer client_id client_secret redirect_uri scope
// stdout line 1: {"authorization_url"}; stdin: the callback URL; stdout line 2: the result.
import * as client from 'openid-client';
import * as readline from 'node:readline';

const [issuer, clientId, clientSecret, redirectUri, scope] = process.argv.slice(2);
const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));
const say = (value) => process.stdout.write(JSON.stringify(value) + '\n');

try {
  // Tillid on http://localhost in tests: allowed explicitly, as openid-client requires.
  const config = await client.discovery(new URL(issuer), clientId, clientSecret,
    client.ClientSecretBasic(clientSecret), { execute: [client.allowInsecureRequests] });
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
  // Checks state, iss (RFC 9207, as discovery advertises it), the ID token and nonce.
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const result = { id_token_claims: claims, userinfo };
  if (tokens.refresh_token) {
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    result.refreshed_userinfo = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
    result.rotated = refreshed.refresh_token !== tokens.refresh_token;
    await client.tokenRevocation(config, refreshed.refresh_token);
    try {
      await client.refreshTokenGrant(config, refreshed.refresh_token);
      result.after_revocation = 'still worked';
    } catch (error) {
      result.after_revocation = error.error || error.code;
    }
  }
  result.end_session_url = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: redirectUri.replace('/callback', '/goodbye'),
    state: 'bye-state',
  }).href;
  say(result);
} catch (error) {
  say({ error: error.code || error.name, message: error.message, cause: error.cause?.error });
  process.exitCode = 1;
} finally {
  lines.close();
}
