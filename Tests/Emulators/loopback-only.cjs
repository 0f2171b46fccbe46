// Preloaded (node --require) into kinesis-mock, which always listens on every interface: 0.0.0.0 is
// hard-coded in kinesis-local 0.6.2 and no setting changes it. Test servers must only be reachable
// on loopback, so any listen() that names a port but no host is pinned to 127.0.0.1.
'use strict';
const net = require('net');

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const [first, second] = args;
  if (typeof first === 'number' && (args.length === 1 || typeof second === 'function')) {
    args.splice(1, 0, '127.0.0.1');
  } else if (first !== null && typeof first === 'object' && first.host === undefined && first.path === undefined) {
    args[0] = { ...first, host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};
