// A TCP echo on 127.0.0.1 (an ephemeral port) in one node process: a client sends "ping",
// the server answers "pong:ping".
//   node node_shutdown.js ordinary   both sides close their sockets outright (close(2))
//   node node_shutdown.js rare       both sides end them gracefully: socket.end() makes
//                                    libuv call shutdown(SHUT_WR), which the ordinary
//                                    path never does (the rare path of tests/test_rare_paths.py)
'use strict';
const net = require('net');
const mode = process.argv[2];
if (mode !== 'ordinary' && mode !== 'rare') {
  console.error('usage: node node_shutdown.js ordinary|rare');
  process.exit(2);
}
const server = net.createServer((sock) => {
  sock.on('data', (d) => {
    sock.write('pong:' + d);
    if (mode === 'rare') sock.end(); else sock.destroy();
  });
  sock.on('error', () => {});
});
server.listen(0, '127.0.0.1', () => {
  const c = net.connect(server.address().port, '127.0.0.1', () => c.write('ping'));
  let got = '';
  c.on('data', (d) => {
    got += d;
    if (mode === 'rare') c.end(); else c.destroy();
  });
  c.on('error', (e) => { console.error('client: ' + e.message); process.exitCode = 1; });
  c.on('close', () => {
    server.close();
    if (got !== 'pong:ping') { console.error('got ' + JSON.stringify(got)); process.exitCode = 1; }
    else console.log('node: echo over 127.0.0.1 (' + mode + ')');
  });
});
