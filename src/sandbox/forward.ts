/**
 * A byte forwarder between network namespaces, run as its own process (forward-main.ts): `LISTEN
 * CONNECT [LISTEN CONNECT ...]`, each endpoint `tcp:ADDR:PORT` or `unix:PATH`. A process lives in one network
 * namespace, but a Unix socket path is reachable from all of them, so a forward across namespaces is
 * two of these: one listening on TCP in one namespace and connecting to a socket file, the other,
 * started with `ip netns exec`, listening on that file and connecting on TCP in the other namespace.
 * One process carries every pair (socat would fork a process per connection: 10,000 WebSockets
 * through the edge would be 10,000 processes). Prints `forward ready` once every listener is bound.
 */
import { chmodSync, rmSync } from 'node:fs';
import { connect, createServer, type NetConnectOpts, type Server, type Socket } from 'node:net';

type Endpoint = { path: string } | { host: string; port: number };

export function parseEndpoint(text: string): Endpoint {
  if (text.startsWith('unix:') && text.length > 'unix:'.length) return { path: text.slice('unix:'.length) };
  const m = /^tcp:([0-9.]+):(\d{1,5})$/.exec(text);
  if (m && Number(m[2]) > 0 && Number(m[2]) < 65536) return { host: m[1]!, port: Number(m[2]) };
  throw new Error(`bad endpoint "${text}": use tcp:ADDR:PORT or unix:PATH`);
}

/** Pipes both ways; a half-close passes through (TLS close_notify, HTTP/1.0 bodies), an error ends both. */
function splice(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', end).on('close', end);
  b.on('error', end).on('close', end);
}

function serve(listen: Endpoint, target: Endpoint): Promise<Server> {
  const server = createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    const opts: NetConnectOpts = 'path' in target ? { path: target.path, allowHalfOpen: true } : { ...target, allowHalfOpen: true, noDelay: true };
    splice(client, connect(opts));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    if ('path' in listen) {
      rmSync(listen.path, { force: true }); // a socket file left by a killed forwarder
      server.listen(listen.path, () => {
        chmodSync(listen.path, 0o600); // root's only: it leads into a guest
        resolve(server);
      });
    } else {
      server.listen({ host: listen.host, port: listen.port }, () => resolve(server));
    }
  });
}

/** Binds every pair (all or nothing: a failed bind rejects) and returns the servers. */
export async function startForwards(args: readonly string[]): Promise<Server[]> {
  if (args.length === 0 || args.length % 2 !== 0) throw new Error('usage: forward-main.ts LISTEN CONNECT [LISTEN CONNECT ...]');
  const servers: Server[] = [];
  for (let i = 0; i < args.length; i += 2) servers.push(await serve(parseEndpoint(args[i]!), parseEndpoint(args[i + 1]!)));
  return servers;
}
