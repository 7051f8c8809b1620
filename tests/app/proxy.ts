/**
 * A tiny switchable TCP proxy on loopback, standing in for nginx's upstream in the deploy tests: each new
 * connection is piped to the current target port; switching the target leaves open connections where they
 * are, as an nginx reload does. `cut()` drops every open connection (an abnormal close for the client), and
 * while `hold` is set nothing a client sends is forwarded (a frame lost in transit).
 */
import net from 'node:net';

export interface TestProxy {
  readonly port: number;
  /** Port new connections are piped to. */
  target: number;
  /** Drop what clients send instead of forwarding it. */
  hold: boolean;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Destroys every open connection. */
  cut(): void;
  close(): Promise<void>;
}

export async function startProxy(target: number): Promise<TestProxy> {
  const open = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted += 1;
    const upstream = net.connect(proxy.target, '127.0.0.1');
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('error', () => {});
      s.on('close', () => open.delete(s));
    }
    client.on('data', (d) => {
      if (!proxy.hold) upstream.write(d);
    });
    client.on('end', () => upstream.end());
    client.on('close', () => upstream.destroy());
    upstream.pipe(client);
    // The upstream gone (e.g. it refused the connection): let the client have what was already sent, then close.
    upstream.on('close', () => {
      client.end();
      setTimeout(() => client.destroy(), 1000).unref();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const proxy: TestProxy = {
    port: (server.address() as net.AddressInfo).port,
    target,
    hold: false,
    get accepted() {
      return accepted;
    },
    cut() {
      for (const s of open) s.destroy();
    },
    close() {
      this.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return proxy;
}
