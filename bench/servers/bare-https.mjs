// Baseline for the API read path: a bare node:https server answering the same JSON body with no
// authentication, no routing and no database, using the same certificate as privgate.
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';

const [port, tlsDir] = process.argv.slice(2);
const body = JSON.stringify({
  ssh: { shell: true, file_transfer: true, exec: true, tunnels: true, x11: true, other: true },
  rdp: { file_transfer: true, audio: true, clipboard: true },
  web: { file_transfer: true, audio: true, clipboard: true },
  vnc: { file_transfer: true, clipboard: true },
  db: { max_bytes_download: 0, max_bytes_upload: 0 },
});
const server = https.createServer(
  { key: fs.readFileSync(path.join(tlsDir, 'server-key.pem')), cert: fs.readFileSync(path.join(tlsDir, 'server.pem')) },
  (request, response) => {
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  },
);
server.listen(Number(port), '127.0.0.1', () => process.stdout.write(`READY ${JSON.stringify({ port: Number(port) })}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
