/**
 * The peers the chat benchmarks measure messenger-chat against, on the same load: `naive`, a plain
 * `ws` broadcast server speaking the chat's JSON frames (rooms, acks, no auth, no storage), and
 * `socketio`, Socket.IO 4 with rooms (no auth, no storage; WebSocket transport on the same path).
 * `node peers.ts naive|socketio PORT [PATH]` listens on 127.0.0.1:PORT; bundled by esbuild it runs
 * inside a sandbox guest behind the deployed nginx. Says `{"listening":PORT}` over IPC and stdout.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import WebSocket, { WebSocketServer } from 'ws';

function listening(port: number): void {
  process.send?.({ listening: port });
  console.log(JSON.stringify({ listening: port }));
}

function runNaive(port: number): void {
  const wss = new WebSocketServer({ port, host: '127.0.0.1', perMessageDeflate: false });
  const rooms = new Map<string, Set<WebSocket>>();
  let id = 0;
  wss.on('connection', (ws) => {
    const mine = new Set<string>();
    ws.on('message', (data) => {
      let f: { type?: string; room?: string; text?: string; ref?: unknown };
      try { f = JSON.parse(data.toString()); } catch { return; }
      if (f.type === 'join' && f.room) {
        let s = rooms.get(f.room);
        if (!s) rooms.set(f.room, (s = new Set()));
        s.add(ws);
        mine.add(f.room);
        ws.send(JSON.stringify({ type: 'joined', room: f.room, lastId: id, ref: f.ref }));
      } else if (f.type === 'send' && f.room) {
        id += 1;
        const ts = new Date().toISOString();
        ws.send(JSON.stringify({ type: 'ack', ref: f.ref, id, ts }));
        const msg = JSON.stringify({ type: 'message', room: f.room, id, user: 'naive', text: f.text, ts });
        for (const m of rooms.get(f.room) ?? []) m.send(msg);
      }
    });
    ws.on('close', () => { for (const r of mine) rooms.get(r)?.delete(ws); });
    ws.on('error', () => {});
  });
  wss.on('listening', () => listening((wss.address() as { port: number }).port));
}

function runSocketIo(port: number, path: string): void {
  const http = createServer();
  const io = new Server(http, { path, transports: ['websocket'], perMessageDeflate: false, serveClient: false });
  let id = 0;
  io.on('connection', (socket) => {
    socket.on('join', async (room: unknown, ack?: (r: unknown) => void) => {
      if (typeof room !== 'string') return;
      await socket.join(room);
      ack?.({ room, lastId: id });
    });
    socket.on('send', (f: { room?: unknown; text?: unknown }, ack?: (r: unknown) => void) => {
      if (typeof f?.room !== 'string' || typeof f.text !== 'string') return;
      id += 1;
      const ts = new Date().toISOString();
      ack?.({ id, ts });
      io.to(f.room).emit('message', { room: f.room, id, user: 'socketio', text: f.text, ts });
    });
  });
  http.listen(port, '127.0.0.1', () => listening(port));
}

const [kind, portArg, path = '/ws'] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error('usage: peers.ts naive|socketio PORT [PATH]');
if (kind === 'naive') runNaive(port);
else if (kind === 'socketio') runSocketIo(port, path);
else throw new Error('usage: peers.ts naive|socketio PORT [PATH]');
