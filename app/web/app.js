// Messenger web client: join a room, show history, send and receive live. Rides through restarts and
// deploys like app/src/reconnecting-client.ts: on a close (1012 "service restart" from a draining server,
// 1001, or abnormal) it reconnects after a small random delay, then with capped exponential backoff and full
// jitter; re-joins and catches up from the last seen id; shows each id once, in id order; and sends again
// whatever was not acked (closed before the ack, or refused with SHUTTING_DOWN: held until the draining
// server's own 1012, at most DRAIN_WAIT_MS). The token comes from #token=... or the token field, and goes
// to the server as the `bearer.<JWT>` subprotocol.
const $ = (id) => document.getElementById(id);

// The schedule of app/src/backoff.ts: the first retry within 100 ms (after a deploy another instance is
// already up), then random in [0, min(10 s, 250 ms · 2^(n-1))).
const RETRY = { firstMaxMs: 100, baseMs: 250, maxMs: 10000 };
// An outage shorter than this (a deploy's reconnect takes milliseconds) is not shown.
const NOTICE_MS = 1000;
// After SHUTTING_DOWN, the longest wait for the server's 1012 (which keeps its spread of reconnects).
const DRAIN_WAIT_MS = 3000;
const PAGE = 500;

const state = {
  ws: null, room: null, token: null, lastId: 0, seen: new Set(), attempt: 0, timer: null, notice: null, refSeq: 0,
  // Unacked sends, ref → text, in send order; `inFlight` holds the refs sent on the current socket.
  pending: new Map(), inFlight: new Set(),
  joined: false,
  // The server refused a send with SHUTTING_DOWN: hold sends; `leave` once DRAIN_WAIT_MS passed without its 1012.
  draining: null,
};

function setStatus(text, s) {
  $('status').textContent = text;
  $('status').dataset.state = s;
}

function retryDelay(attempt) {
  const cap = attempt <= 1 ? RETRY.firstMaxMs : Math.min(RETRY.maxMs, RETRY.baseMs * 2 ** Math.min(attempt - 1, 16));
  return Math.random() * cap;
}

function render(m) {
  if (state.seen.has(m.id)) return;
  state.seen.add(m.id);
  if (m.id > state.lastId) state.lastId = m.id;
  const li = document.createElement('li');
  li.dataset.id = String(m.id);
  const ts = document.createElement('span');
  ts.className = 'ts';
  ts.textContent = new Date(m.ts).toLocaleTimeString();
  const user = document.createElement('span');
  user.className = 'user';
  user.textContent = m.user;
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = m.text;
  li.append(ts, user, text);
  // Keep id order even when a catch-up batch arrives after live messages.
  const list = $('messages');
  let before = null;
  for (let n = list.lastElementChild; n; n = n.previousElementSibling) {
    if (Number(n.dataset.id) < m.id) break;
    before = n;
  }
  list.insertBefore(li, before);
  if (!before) li.scrollIntoView({ block: 'end' });
}

function send(frame) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(frame));
}

function catchUp(after) {
  send({ type: 'history', room: state.room, after, limit: PAGE, ref: 'catchup' });
}

// Sends every unacked message not yet on this socket, in order, once the room is joined.
function flushPending() {
  if (!state.joined || state.draining) return;
  for (const [ref, text] of state.pending) {
    if (state.inFlight.has(ref)) continue;
    state.inFlight.add(ref);
    send({ type: 'send', room: state.room, text, ref });
  }
}

function startDraining() {
  if (state.draining) return;
  const d = { leave: false, timer: setTimeout(() => { d.leave = true; maybeLeave(); }, DRAIN_WAIT_MS) };
  state.draining = d;
}

function stopDraining() {
  if (state.draining) clearTimeout(state.draining.timer);
  state.draining = null;
}

// Leaves a draining server once no send is in flight on it: an ack still to come must not be taken for a loss.
function maybeLeave() {
  if (state.draining && state.draining.leave && state.inFlight.size === 0 && state.ws) state.ws.close(1000, 'server restarting');
}

function connect() {
  clearTimeout(state.timer);
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // The token rides as a subprotocol (app/src/protocol.ts WS_PROTOCOL): never in a URL an access log keeps.
  const ws = new WebSocket(`${proto}//${location.host}/ws`, ['messenger', `bearer.${state.token}`]);
  state.ws = ws;
  if (state.attempt === 0) setStatus('connecting…', 'connecting');
  ws.onopen = () => send({ type: 'join', room: state.room, ref: 'join' });
  ws.onmessage = (ev) => {
    if (state.ws !== ws) return;
    let f;
    try { f = JSON.parse(ev.data); } catch { return; }
    if (f.type === 'joined' && f.room === state.room) {
      state.joined = true;
      state.attempt = 0;
      clearTimeout(state.notice);
      state.notice = null;
      setStatus(`connected to #${state.room}`, 'open');
      $('text').disabled = false;
      $('send').disabled = false;
      // First join: the newest page; after a reconnect: everything after the last seen id.
      if (state.lastId > 0) catchUp(state.lastId);
      else send({ type: 'history', room: state.room, limit: 100, ref: 'history' });
      flushPending();
    } else if (f.type === 'history' && f.room === state.room) {
      for (const m of f.messages) render(m);
      // Page on from this page's last id: live messages may already have moved lastId further.
      // A full page, or one the server cut at its byte cap (`more`), continues after its last id.
      if (f.ref === 'catchup' && f.messages.length > 0 && (f.messages.length === PAGE || f.more)) catchUp(f.messages[f.messages.length - 1].id);
    } else if (f.type === 'message' && f.room === state.room) {
      render(f);
    } else if (f.type === 'ack') {
      state.pending.delete(f.ref);
      state.inFlight.delete(f.ref);
      maybeLeave();
    } else if (f.type === 'error' && f.code === 'SHUTTING_DOWN' && state.pending.has(f.ref)) {
      // Not stored; the server is draining: send it again after reconnecting.
      state.inFlight.delete(f.ref);
      startDraining();
      maybeLeave();
    } else if (f.type === 'error') {
      if (state.pending.delete(f.ref)) state.inFlight.delete(f.ref);
      setStatus(`error ${f.code}: ${f.message}`, 'error');
    }
  };
  ws.onclose = (ev) => {
    if (state.ws !== ws) return;
    state.joined = false;
    stopDraining();
    // Whatever was in flight on this socket is sent again on the next one.
    state.inFlight.clear();
    // 1008: refused for abuse. 4001: the token expired while connected (a fresh one is needed).
    if (ev.code === 1008 || ev.code === 4001) {
      $('text').disabled = true;
      $('send').disabled = true;
      setStatus(ev.code === 4001 ? 'session expired: sign in again (a new token)' : `closed (${ev.code})`, 'closed');
      return;
    }
    // The composer stays usable: messages typed now are sent once joined again.
    state.attempt += 1;
    state.timer = setTimeout(connect, retryDelay(state.attempt));
    if (!state.notice) state.notice = setTimeout(() => setStatus(`disconnected (${ev.code}); reconnecting…`, 'closed'), NOTICE_MS);
  };
}

$('connect').addEventListener('submit', (e) => {
  e.preventDefault();
  state.token = $('token').value.trim();
  const room = $('room').value.trim();
  if (room !== state.room) {
    state.room = room;
    state.lastId = 0;
    state.seen.clear();
    state.pending.clear();
    $('messages').replaceChildren();
  }
  if (state.ws) { const old = state.ws; state.ws = null; old.close(1000); }
  clearTimeout(state.notice);
  state.notice = null;
  state.joined = false;
  stopDraining();
  state.inFlight.clear();
  state.attempt = 0;
  connect();
});

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value;
  if (!text.trim()) return;
  const ref = `m${++state.refSeq}`;
  state.pending.set(ref, text);
  flushPending();
  $('text').value = '';
});

const hash = new URLSearchParams(location.hash.slice(1));
if (hash.get('token')) {
  $('token').value = hash.get('token');
  if (hash.get('room')) $('room').value = hash.get('room');
  // Drop the token from the address bar and history.
  history.replaceState(null, '', location.pathname + location.search);
  $('connect').requestSubmit();
}
