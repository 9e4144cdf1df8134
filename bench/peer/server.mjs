// The peer for `make bench`: Node's oidc-provider (panva), one process, its in-memory
// adapter, answering the same client_credentials and introspection requests as Tillid.
//
//   node bench/peer/server.mjs PORT CLIENT_ID CLIENT_SECRET
//
// client_credentials tokens for the default resource are JWTs signed ES256 (as Tillid's);
// tokens for urn:bench:opaque are opaque, because oidc-provider introspects only the tokens
// it stores (a JWT access token is not stored), so the introspection run uses those.
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const [port, clientId, clientSecret] = process.argv.slice(2);
const { privateKey } = await generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig', kid: 'bench-es256' };
const scope = 'attributes:read';

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: 'ES256',
    scope,
  }],
  jwks: { keys: [jwk] },
  scopes: [scope],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'urn:bench:api',
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({
        scope,
        accessTokenTTL: 300,
        accessTokenFormat: resource === 'urn:bench:opaque' ? 'opaque' : 'jwt',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
provider.proxy = false;
// The in-memory adapter warns once that it is for development: expected here.
provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`peer listening on http://127.0.0.1:${port}\n`);
});
