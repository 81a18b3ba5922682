// The peer for bench/compare.sh: a Faye 1.4.3 Bayeux server (npm, unmodified) on Node's http.
// Usage: node bench/faye_server.cjs PORT   (mount /faye)
const http = require('node:http');
const faye = require('faye');

const port = Number(process.argv[2] ?? 8000);
const bayeux = new faye.NodeAdapter({ mount: '/faye', timeout: 30 });
const server = http.createServer();
bayeux.attach(server);
server.listen(port, '127.0.0.1', () => console.log(`faye listening on ${port}`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
