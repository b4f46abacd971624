// Preloaded into the suite's origin server (node --import) so that it
// listens on loopback only: the suite's server.mjs calls listen(port),
// which would bind every interface.
import net from 'net'

const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (args.length >= 1 && (typeof args[0] === 'number' || /^\d+$/.test(String(args[0]))) &&
      (args.length === 1 || typeof args[1] === 'function')) {
    args.splice(1, 0, '127.0.0.1')
  }
  return listen.apply(this, args)
}
