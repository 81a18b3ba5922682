// The second peer for bench/compare.sh: the official cometd-nodejs-server 1.2.1 (npm,
// unmodified; long-polling only — it has no WebSocket transport) on Node's http.
// Usage: node bench/cometd_server.cjs PORT   (the Bayeux URL is http://127.0.0.1:PORT/cometd)
const http = require('node:http');
const cometd = require('cometd-nodejs-server');

const port = Number(process.argv[2] ?? 8000);
const server = cometd.createCometDServer({ timeout: 30000 });
const httpServer = http.createServer(server.handle);
httpServer.listen(port, '127.0.0.1', () => console.log(`cometd listening on ${port}`));
process.on('SIGTERM', () => httpServer.close(() => process.exit(0)));
