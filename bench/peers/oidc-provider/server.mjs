// node oidc-provider (v9, in-memory adapter), set up as the peer of bench/oauth.sh: two
// client_credentials clients whose access tokens are an ES256 JWT (resource urn:bench:jwt)
// or opaque (urn:bench:opaque), introspection on. Prints "listening <port>" when ready.
// Usage: node server.mjs PORT
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const key = async (alg, kid) => {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), alg, use: 'sig', kid };
};
const client = (id) => ({
  client_id: id, client_secret: `${id}-secret-0123456789abcdef0123456789abcdef`,
  grant_types: ['client_credentials'], redirect_uris: [], response_types: [],
  token_endpoint_auth_method: 'client_secret_basic',
});

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [client('bench-jwt'), client('bench-opaque')],
  jwks: { keys: [await key('RS256', 'rs1'), await key('ES256', 'es1')] },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx, c) => (c.clientId === 'bench-jwt' ? 'urn:bench:jwt' : 'urn:bench:opaque'),
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({
        scope: 'api:read',
        accessTokenTTL: 3600,
        accessTokenFormat: resource === 'urn:bench:jwt' ? 'jwt' : 'opaque',
        jwt: { sign: { alg: 'ES256' } },
      }),
    },
  },
});
provider.listen(port, '127.0.0.1', () => console.log(`listening ${port}`));
