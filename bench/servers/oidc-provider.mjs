// Baseline for the token endpoint: the oidc-provider package's client_credentials grant over
// HTTPS with the same certificate, in-memory storage (its default adapter).
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import Provider from 'oidc-provider';

const [port, tlsDir] = process.argv.slice(2);
const issuer = `https://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{ client_id: 'bench', client_secret: 'bench-secret-bench-secret-bench-secret', grant_types: ['client_credentials'], redirect_uris: [], response_types: [], scope: 'api' }],
  features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
  scopes: ['api'],
});
provider.proxy = false;
const server = https.createServer({ key: fs.readFileSync(path.join(tlsDir, 'server-key.pem')), cert: fs.readFileSync(path.join(tlsDir, 'server.pem')) }, provider.callback());
server.listen(Number(port), '127.0.0.1', () => process.stdout.write(`READY ${JSON.stringify({ port: Number(port), tokenPath: '/token' })}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
