// Step-up seen by a relying party on openid-client v6, driven by tests/interop/test_openid_client.py.
// argv: issuer client_id client_secret redirect_uri scope acr_values_json (one entry per login)
// For each login: stdout {"authorization_url"}; stdin the callback URL; stdout the ID token claims.
import * as client from 'openid-client';
import * as readline from 'node:readline';

const [issuer, clientId, clientSecret, redirectUri, scope, acrJson] = process.argv.slice(2);
const lines = readline.createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once('line', resolve));
const say = (value) => process.stdout.write(JSON.stringify(value) + '\n');

try {
  const config = await client.discovery(new URL(issuer), clientId, clientSecret,
    client.ClientSecretBasic(clientSecret), { execute: [client.allowInsecureRequests] });
  for (const acrValues of JSON.parse(acrJson)) {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const parameters = {
      redirect_uri: redirectUri, scope, state, nonce,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
    };
    if (acrValues) parameters.acr_values = acrValues;
    say({ authorization_url: client.buildAuthorizationUrl(config, parameters).href });
    const tokens = await client.authorizationCodeGrant(config, new URL(await nextLine()), {
      pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce,
      idTokenExpected: true,
    });
    say({ id_token_claims: tokens.claims() });
  }
} catch (error) {
  say({ error: error.code || error.name, message: error.message, cause: error.cause?.error });
  process.exitCode = 1;
} finally {
  lines.close();
}
