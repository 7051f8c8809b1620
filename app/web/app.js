// Messenger web client: join a room, show history, send and receive live, reconnect with backoff and
// catch up from the last seen id. The token comes from #token=... or the token field.
const $ = (id) => document.getElementById(id);
const state = { ws: null, room: null, token: null, lastId: 0, seen: new Set(), attempt: 0, timer: null, refSeq: 0, pending: new Map() };

function setStatus(text, s) {
  $('status').textContent = text;
  $('status').dataset.state = s;
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

function connect() {
  clearTimeout(state.timer);
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/ws?token=${encodeURIComponent(state.token)}`);
  state.ws = ws;
  setStatus('connecting…', 'connecting');
  ws.onopen = () => {
    state.attempt = 0;
    setStatus(`connected to #${state.room}`, 'open');
    $('text').disabled = false;
    $('send').disabled = false;
    send({ type: 'join', room: state.room, ref: 'join' });
  };
  ws.onmessage = (ev) => {
    let f;
    try { f = JSON.parse(ev.data); } catch { return; }
    if (f.type === 'joined' && f.room === state.room) {
      // First join: the newest page; after a reconnect: everything after the last seen id.
      send(state.lastId > 0
        ? { type: 'history', room: state.room, after: state.lastId, limit: 500, ref: 'catchup' }
        : { type: 'history', room: state.room, limit: 100, ref: 'history' });
    } else if (f.type === 'history' && f.room === state.room) {
      for (const m of f.messages) render(m);
      if (f.ref === 'catchup' && f.messages.length === 500) {
        send({ type: 'history', room: state.room, after: state.lastId, limit: 500, ref: 'catchup' });
      }
    } else if (f.type === 'message' && f.room === state.room) {
      render(f);
    } else if (f.type === 'ack') {
      state.pending.delete(f.ref);
    } else if (f.type === 'error') {
      setStatus(`error ${f.code}: ${f.message}`, 'error');
    }
  };
  ws.onclose = (ev) => {
    $('text').disabled = true;
    $('send').disabled = true;
    if (state.ws !== ws) return;
    if (ev.code === 1008 || ev.code === 4001) { setStatus(`closed (${ev.code})`, 'closed'); return; }
    state.attempt += 1;
    const delay = Math.min(15000, 500 * 2 ** Math.min(state.attempt, 5)) * (0.5 + Math.random() / 2);
    setStatus(`disconnected (${ev.code}); retrying in ${Math.round(delay / 1000)} s`, 'closed');
    state.timer = setTimeout(connect, delay);
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
    $('messages').replaceChildren();
  }
  if (state.ws) { const old = state.ws; state.ws = null; old.close(1000); }
  connect();
});

$('composer').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('text').value;
  if (!text.trim()) return;
  const ref = `m${++state.refSeq}`;
  state.pending.set(ref, text);
  send({ type: 'send', room: state.room, text, ref });
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
