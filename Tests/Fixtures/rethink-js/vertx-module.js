// A message-node protostub as an ES module, written for rethink-runtimed's tests: `import WebSocket from 'ws'`
// and `export default function activate(url, bus, config, factory)`, as reTHINK's stub sources were before
// bundling. It connects in activate, and when the connection drops it tries again after a short pause,
// re-opening its session with its token.
import WebSocket from 'ws';

class VertxModuleStub {
  constructor(url, bus, config) {
    if (!url || !bus || !config || !config.url || !config.runtimeURL) {
      throw new Error('url, bus, config.url and config.runtimeURL are needed');
    }
    this._url = url;
    this._bus = bus;
    this._config = config;
    this._session = config.runtimeURL;
    this._reOpen = false;
    this._id = 0;
    this._live = false;
    this._queue = [];
    bus.addListener('*', (msg) => {
      if (msg.body && msg.body.via === this._session) return;
      msg.body = msg.body || {};
      msg.body.via = this._session;
      if (this._live) this._sock.send(JSON.stringify(msg));
      else this._queue.push(msg);
    });
    this._status('created');
    this._open();
  }

  _status(value, desc) {
    const msg = { type: 'update', from: this._url, to: `${this._url}/status`, body: { value } };
    if (desc) msg.body.desc = desc;
    this._bus.postMessage(msg);
  }

  _open() {
    const sock = (this._sock = new WebSocket(this._config.url));
    sock.onopen = () => {
      this._status('in-progress');
      this._id += 1;
      const open = { id: this._id, type: this._reOpen ? 're-open' : 'open', from: this._session, to: 'mn:/session' };
      this._openID = open.id;
      sock.send(JSON.stringify(open));
    };
    sock.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.from === 'mn:/session') {
        if (msg.type !== 'response' || msg.id !== this._openID) return;
        if (msg.body.code !== 200) {
          this._status('failed', msg.body.desc);
          return;
        }
        if (msg.body.runtimeToken) {
          this._reOpen = true;
          this._session = `${this._config.runtimeURL}/${msg.body.runtimeToken}`;
        }
        this._live = true;
        this._status('live');
        for (const queued of this._queue.splice(0)) {
          queued.body.via = this._session;
          sock.send(JSON.stringify(queued));
        }
      } else if (!(msg.body && msg.body.via === this._session)) {
        msg.body = msg.body || {};
        msg.body.via = this._session;
        this._bus.postMessage(msg);
      }
    };
    sock.onclose = (event) => {
      this._live = false;
      if (this._stopped) return;
      this._status('disconnected', `connection closed with code ${event.code}`);
      setTimeout(() => this._open(), 50);
    };
  }

  disconnect() {
    this._stopped = true;
    if (this._live) {
      this._id += 1;
      this._sock.send(JSON.stringify({ id: this._id, type: 'close', from: this._session, to: 'mn:/session' }));
    }
  }
}

export default function activate(url, bus, config) {
  return { name: 'VertxModuleStub', instance: new VertxModuleStub(url, bus, config) };
}
