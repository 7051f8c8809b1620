/**
 * The hub's pre-built text frames, read by a real `ws` client: every length class of RFC 6455's
 * header (7-bit, 16-bit, 64-bit), multi-byte UTF-8, and order kept with ws's own sends on the same
 * socket, which is how broadcasts and replies share a connection.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { textFrame } from '../../app/src/ws-frame.js';

// Exact lengths at each header boundary; each starts with its index so a swap shows.
const payloads = [0, 1, 125, 126, 127, 65_535, 65_536, 70_001].map((n, i) => `${i}:${'x'.repeat(n)}`.slice(0, n));
payloads.push('привет, мир — ✓ 🚀');

let http: Server;
let url: string;

beforeAll(async () => {
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  http = createServer();
  http.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      // Each payload both ways in turn: a pre-built frame on the socket, then ws.send.
      for (const p of payloads) {
        socket.write(textFrame(Buffer.from(p)));
        ws.send(p);
      }
      ws.close(1000, 'done');
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => http.close(() => r())));

describe('textFrame', () => {
  it('is read by ws as the same text, in order with ws.send, for every header length', async () => {
    const client = new WebSocket(url, { perMessageDeflate: false });
    const got: string[] = [];
    const binary: boolean[] = [];
    client.on('message', (data, isBinary) => {
      got.push(data.toString());
      binary.push(isBinary);
    });
    const closed = await new Promise<number>((resolve, reject) => {
      client.on('close', (code) => resolve(code));
      client.on('error', reject);
    });
    expect(closed).toBe(1000);
    const expected = payloads.flatMap((p) => [p, p]);
    expect(got.map((s) => s.length)).toEqual(expected.map((s) => s.length));
    expect(got).toEqual(expected);
    expect(binary.every((b) => !b)).toBe(true);
  });

  it('sizes its header by RFC 6455 §5.2', () => {
    expect([...textFrame(Buffer.alloc(125)).subarray(0, 2)]).toEqual([0x81, 125]);
    expect([...textFrame(Buffer.alloc(126)).subarray(0, 4)]).toEqual([0x81, 126, 0, 126]);
    expect([...textFrame(Buffer.alloc(65_535)).subarray(0, 4)]).toEqual([0x81, 126, 0xff, 0xff]);
    expect([...textFrame(Buffer.alloc(65_536)).subarray(0, 10)]).toEqual([0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0]);
    expect(textFrame(Buffer.alloc(65_536)).length).toBe(65_546);
  });
});
