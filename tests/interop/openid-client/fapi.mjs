// A FAPI 2.0 relying party on openid-client v6, driven by tests/interop/test_openid_client_fapi.py:
// private_key_jwt, a pushed authorization request (PAR) and DPoP-bound tokens.
// argv: issuer client_id client_private_jwk(JSON) redirect_uri scope
// stdout line 1: {"authorization_url"}; stdin: the callback URL; stdout line 2: the result.
import * as client from 'openid-client';
import * as readline from 'node:readline';

const [issuer, clientId, privateJwk, redirectUri, scope] = process.argv.slice(2);
const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));
const say = (value) => process.stdout.write(JSON.stringify(value) + '\n');

try {
  const jwk = JSON.parse(privateJwk);
  const key = await crypto.subtle.importKey(
    'jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  // Tillid on http://localhost in tests: allowed explicitly, as openid-client requires.
  const config = await client.discovery(new URL(issuer), clientId,
    { id_token_signed_response_alg: 'ES256' },
    client.PrivateKeyJwt({ key, kid: jwk.kid }),
    { execute: [client.allowInsecureRequests] });
  // A fresh DPoP key for this login; the handle signs every proof and follows the
  // server's DPoP-Nonce (use_dpop_nonce answers are retried by the library).
  const dpopKeys = await client.randomDPoPKeyPair('ES256');
  const DPoP = client.getDPoPHandle(config, dpopKeys);
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: redirectUri,
    scope,
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  }, { DPoP });
  say({ authorization_url: url.href });

  const callback = new URL(await nextLine());
  // Checks state, iss (RFC 9207), the ID token and nonce; the token request carries a proof.
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  }, undefined, { DPoP });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP });
  const result = {
    token_type: tokens.token_type,
    access_token: tokens.access_token,
    id_token_claims: claims,
    userinfo,
    dpop_public_jwk: await crypto.subtle.exportKey('jwk', dpopKeys.publicKey),
  };
  // The same token without its key, as a plain Bearer token: it must be refused.
  try {
    await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    result.as_bearer = 'accepted';
  } catch (error) {
    result.as_bearer = error.cause?.[0]?.parameters?.error || error.code || error.name;
  }
  say(result);
} catch (error) {
  say({ error: error.code || error.name, message: error.message, cause: error.cause?.error });
  process.exitCode = 1;
} finally {
  lines.close();
}
