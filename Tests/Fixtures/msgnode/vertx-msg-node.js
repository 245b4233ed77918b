'use strict';
// A test message node speaking the WebSocket protocol of reTHINK's Vert.x message node (its SessionManager,
// SubscriptionManager and routing by `to`), for the tests of reTHINK's own protostubs (Node and Debian's node-ws).
//
//   node vertx-msg-node.js --domain acme.example --events FILE [--port N] [--state FILE]
//
// - WebSocket connections on /ws only (others are refused), one JSON message per text frame.
// - `{"type":"open","from":<runtimeURL>,"to":"mn:/session"}`: a session `<runtimeURL>/<token>` is created and
//   bound to the connection; it listens on its own URL and on `<runtimeURL>/sm`; the answer is
//   `{"type":"response","from":"mn:/session","to":<runtimeURL>,"body":{"code":200,"runtimeToken":<token>}}`.
// - `re-open` from a session URL binds that session to the new connection (200), or is answered 400
//   "Reconnection fail. Incorrect runtime token!" when the node does not know it. `close` ends the session.
// - `subscribe`/`unsubscribe` to `domain://msg-node.<domain>/sm` with `body.subscribe` (or `body.resources`):
//   the session listens (no longer listens) on those addresses; answered 200 from that address.
// - Anything else is published to every session listening on its `to` (the sender's included, as Vert.x's
//   event bus does); a request nobody listens for is answered 404 (a Vert.x node would drop it; the tests want
//   an answer instead of a timeout).
// - `--state FILE` keeps the sessions across a restart (as a Vert.x cluster keeps them across a node's
//   restart); without it a restarted node knows no session. `--events FILE` gets one JSON line per event
//   (`listening` with the port first), which the tests wait on.
// It stops on SIGTERM.

const fs = require('fs');
const http = require('http');
const crypto = require('crypto');
const WebSocket = require('/usr/share/nodejs/ws'); // Debian's node-ws

function options(argv) {
  const result = { port: 0, domain: null, state: null, events: null };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    if (!(name in result)) throw new Error(`unknown option ${argv[i]}`);
    result[name] = name === 'port' ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!result.domain || !result.events) throw new Error('--domain and --events are required');
  return result;
}

const settings = options(process.argv.slice(2));
const SESSION = 'mn:/session';
const subscriptionManager = `domain://msg-node.${settings.domain}/sm`;

function event(fields) {
  fs.appendFileSync(settings.events, JSON.stringify({ time: Date.now(), ...fields }) + '\n');
}

/// sessionURL -> { runtimeURL, listeners: Set, socket }
const sessions = new Map();

function saveState() {
  if (!settings.state) return;
  const plain = {};
  for (const [url, session] of sessions) {
    plain[url] = { runtimeURL: session.runtimeURL, listeners: [...session.listeners] };
  }
  fs.writeFileSync(settings.state + '.partial', JSON.stringify(plain));
  fs.renameSync(settings.state + '.partial', settings.state);
}

function loadState() {
  if (!settings.state || !fs.existsSync(settings.state)) return;
  const plain = JSON.parse(fs.readFileSync(settings.state, 'utf8'));
  for (const [url, session] of Object.entries(plain)) {
    sessions.set(url, { runtimeURL: session.runtimeURL, listeners: new Set(session.listeners), socket: null });
  }
}

function send(socket, msg) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg));
}

function reply(socket, request, from, code, extra = {}) {
  send(socket, { id: request.id, type: 'response', from, to: request.from, body: { code, ...extra } });
}

function onSession(socket, resource, msg) {
  if (msg.type === 'open') {
    const token = crypto.randomUUID();
    const url = `${msg.from}/${token}`;
    sessions.set(url, { runtimeURL: msg.from, listeners: new Set([url, `${msg.from}/sm`]), socket });
    resource.session = url;
    saveState();
    event({ event: 'open', session: url, runtimeURL: msg.from });
    reply(socket, msg, SESSION, 200, { runtimeToken: token });
  } else if (msg.type === 're-open') {
    const session = sessions.get(msg.from);
    if (!session) {
      event({ event: 're-open-refused', session: msg.from });
      reply(socket, msg, SESSION, 400, { desc: 'Reconnection fail. Incorrect runtime token!' });
      return;
    }
    session.socket = socket;
    resource.session = msg.from;
    event({ event: 're-open', session: msg.from });
    reply(socket, msg, SESSION, 200);
  } else if (msg.type === 'close') {
    if (resource.session) {
      sessions.delete(resource.session);
      saveState();
      event({ event: 'close', session: resource.session });
      resource.session = null;
    }
    socket.close(1000);
  } else {
    reply(socket, msg, SESSION, 400, { desc: `Unrecognized type '${msg.type}'` });
  }
}

function onSubscription(socket, session, msg) {
  const body = msg.body || {};
  if (body.resources && body.subscribe) {
    reply(socket, msg, subscriptionManager, 500, {
      desc: "You cant use field body.resources' and 'body.subscribe' at the same time",
    });
    return;
  }
  const list = body.resources || body.subscribe;
  if (!Array.isArray(list)) {
    reply(socket, msg, subscriptionManager, 500, { desc: "No mandatory field 'body.resources' or 'body.subscribe'" });
    return;
  }
  if (msg.type === 'subscribe') list.forEach((address) => session.listeners.add(String(address)));
  else if (msg.type === 'unsubscribe') list.forEach((address) => session.listeners.delete(String(address)));
  else {
    reply(socket, msg, subscriptionManager, 500, { desc: `Unrecognized type '${msg.type}'` });
    return;
  }
  saveState();
  event({ event: msg.type, session: sessionURLOf(session), addresses: list });
  reply(socket, msg, subscriptionManager, 200);
}

function sessionURLOf(session) {
  for (const [url, candidate] of sessions) if (candidate === session) return url;
  return null;
}

function route(socket, msg) {
  let delivered = 0;
  for (const session of sessions.values()) {
    if (session.listeners.has(msg.to) && session.socket && session.socket.readyState === WebSocket.OPEN) {
      send(session.socket, msg);
      delivered += 1;
    }
  }
  event({ event: 'routed', type: msg.type, from: msg.from, to: msg.to, id: msg.id, delivered });
  if (delivered === 0 && msg.id !== undefined && msg.type !== 'response') {
    reply(socket, msg, msg.to, 404, { desc: `No route to ${msg.to}` });
  }
}

function onMessage(socket, resource, text) {
  let msg;
  try {
    msg = JSON.parse(text);
  } catch (error) {
    event({ event: 'bad-frame', error: error.message });
    return;
  }
  if (msg.to === SESSION) {
    onSession(socket, resource, msg);
    return;
  }
  const session = resource.session ? sessions.get(resource.session) : null;
  if (!session) {
    if (msg.id !== undefined) reply(socket, msg, SESSION, 400, { desc: 'No session: open one at mn:/session first' });
    return;
  }
  if (msg.to === subscriptionManager) onSubscription(socket, session, msg);
  else route(socket, msg);
}

loadState();
const server = http.createServer((request, response) => {
  response.writeHead(404);
  response.end();
});
const wss = new WebSocket.Server({ noServer: true });
server.on('upgrade', (request, socket, head) => {
  if (request.url !== '/ws') {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(request, socket, head, (ws) => {
    const resource = { session: null };
    ws.on('message', (data, isBinary) => {
      if (!isBinary) onMessage(ws, resource, data.toString());
    });
    ws.on('close', () => {
      const session = resource.session && sessions.get(resource.session);
      if (session && session.socket === ws) session.socket = null;
      event({ event: 'connection-closed', session: resource.session });
    });
    ws.on('error', () => {});
  });
});
server.listen(settings.port, '127.0.0.1', () => {
  event({ event: 'listening', port: server.address().port });
});
process.on('SIGTERM', () => {
  for (const client of wss.clients) client.terminate();
  server.close();
  process.exit(0);
});
