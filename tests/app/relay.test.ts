/**
 * The relay on its own (no database): an instance whose dial to a peer failed and sits in a long backoff
 * redials the moment that peer connects to it, so a new release and the old one are relayed both ways
 * within milliseconds; and a burst of inbound peers starts at most one dial per outbound that is down.
 */
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../app/src/log.js';
import type { ChatMessage } from '../../app/src/protocol.js';
import { Relay, RELAY_PATH } from '../../app/src/relay.js';
import { freePort } from '../helpers/mariadb.js';

const SECRET = 'relay-test-secret-0123456789-abcdefgh';
/** Without the redial, a failed dial would wait a full minute. */
const NEVER = { firstMaxMs: 60_000, baseMs: 60_000, maxMs: 60_000, random: () => 1 };

interface Node { relay: Relay; http: http.Server; port: number; got: ChatMessage[] }
const cleanups: Array<() => void | Promise<void>> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A relay behind an http server on `port` that routes the relay path to it, dialling `peers`. */
async function startNode(instance: string, port: number, peers: number[]): Promise<Node> {
  const got: ChatMessage[] = [];
  const relay = new Relay({
    secret: SECRET,
    instance,
    ownPort: () => port,
    peers: peers.map((p) => ({ host: '127.0.0.1', port: p })),
    log: createLogger({}, { level: 'error', write: () => {} }),
    onMessage: (m) => got.push(m),
    backoff: NEVER,
  });
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head) => {
    if (req.url === RELAY_PATH) relay.handleUpgrade(req, socket, head);
    else socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', () => resolve()));
  relay.start();
  cleanups.push(() => {
    relay.stop();
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { relay, http: server, port, got };
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`${what} not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
  return performance.now() - t0;
}

const msg = (id: number): ChatMessage => ({ room: 'r', id, user: 'u', text: `m${id}`, ts: new Date(0).toISOString() });

describe('relay redial', () => {
  it('connects back to a peer the moment it connects in, and relays both ways', async () => {
    const [pOld, pNew] = [await freePort(), await freePort()];
    const old = await startNode('old', pOld, [pOld, pNew]);
    // The old instance's dial to the new port fails and waits out its (here one-minute) backoff.
    await new Promise((r) => setTimeout(r, 100));
    expect(old.relay.connectedPeers).toBe(0);

    const t0 = performance.now();
    const fresh = await startNode('new', pNew, [pOld, pNew]);
    await until(() => fresh.relay.connectedPeers === 1 && old.relay.connectedPeers === 1, 2000, 'both directions');
    const bothWaysMs = performance.now() - t0;
    expect(bothWaysMs).toBeLessThan(1000);

    old.relay.publish(msg(1));
    fresh.relay.publish(msg(2));
    await until(() => fresh.got.length === 1 && old.got.length === 1, 2000, 'relayed messages');
    expect(fresh.got).toEqual([msg(1)]);
    expect(old.got).toEqual([msg(2)]);
  });

  it('starts at most one dial per outbound that is down, however many peers connect in', async () => {
    const [pSelf, pDead, pSilent] = [await freePort(), await freePort(), await freePort()];
    const self = await startNode('self', pSelf, [pDead, pSilent]);
    await new Promise((r) => setTimeout(r, 100));
    expect(self.relay.connectedPeers).toBe(0);
    // pSilent now accepts TCP but never answers the handshake, so a dial to it stays pending.
    const dialsToSilent: net.Socket[] = [];
    const silent = net.createServer((s) => void dialsToSilent.push(s));
    await new Promise<void>((resolve) => silent.listen(pSilent, '127.0.0.1', () => resolve()));
    cleanups.push(() => {
      for (const s of dialsToSilent) s.destroy();
      return new Promise<void>((resolve) => silent.close(() => resolve()));
    });

    // Five peers connect in at once; each accept redials what is down.
    const peers = await Promise.all([0, 1, 2, 3, 4].map(async (i) => startNode(`peer${i}`, await freePort(), [pSelf])));
    await until(() => peers.every((p) => p.relay.connectedPeers === 1), 2000, 'inbound peers');
    await until(() => dialsToSilent.length >= 1, 2000, 'a redial of the silent peer');
    await new Promise((r) => setTimeout(r, 200));
    expect(dialsToSilent).toHaveLength(1);
    expect(self.relay.connectedPeers).toBe(0);
  });
});
