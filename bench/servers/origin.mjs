// The loopback origin behind Squid for the ICAP benchmark and the soak run: node:http with
// keep-alive, fixed bodies from memory. GET /1k → 1 KiB, /1m → 1 MiB, both text/plain (a type
// browsers render: no download, no page policy, so an allowed response needs no adaptation).
// Usage: node origin.mjs PORT — prints `READY {"port":…}` once listening.
import http from 'node:http';

const port = Number(process.argv[2] ?? 0);
const bodies = {
  '/1k': Buffer.alloc(1024, 'a'),
  '/1m': Buffer.alloc(1024 * 1024, 'b'),
};

const server = http.createServer((request, response) => {
  // Drain any request body before answering (uploads in the soak run).
  request.resume();
  request.on('end', () => {
    const path = (request.url ?? '/').replace(/^https?:\/\/[^/]+/, '').split('?')[0];
    const body = bodies[path];
    if (request.method === 'POST') {
      response.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' }).end('ok');
      return;
    }
    if (!body) {
      response.writeHead(404, { 'content-type': 'text/plain', 'content-length': '0' }).end();
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length), 'cache-control': 'no-store' });
    response.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`READY ${JSON.stringify({ port: server.address().port })}\n`);
});
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
