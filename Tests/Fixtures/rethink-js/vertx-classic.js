'use strict';
// A message-node protostub in reTHINK's classic shape, written for rethink-runtimed's tests: CommonJS as Babel
// compiled it (`exports.default = activate`), `activate(url, bus, config)` returning {name, instance}, `ws` from
// require. Like reTHINK's classic stubs it reports the old status `connected`, connects lazily (on connect() or
// on the first message to send) and, when the connection drops, only reconnects for the next message, re-opening
// its session with its token.
Object.defineProperty(exports, '__esModule', { value: true });
exports.default = activate;

var _ws = require('ws');
var WebSocket = _ws && _ws.__esModule ? _ws.default : _ws;

function VertxClassicStub(url, bus, config) {
  if (!url || !bus || !config || !config.url || !config.runtimeURL) {
    throw new Error('url, bus, config.url and config.runtimeURL are needed');
  }
  var self = this;
  this._url = url;
  this._bus = bus;
  this._config = config;
  this._session = config.runtimeURL;
  this._reOpen = false;
  this._id = 0;
  this._connectedWith = undefined;
  bus.addListener('*', function (msg) {
    self._open(function () {
      if (!self._filter(msg)) return;
      msg.body = msg.body || {};
      msg.body.via = self._session;
      self._sock.send(JSON.stringify(msg));
    });
  });
  this._status('created');
}

VertxClassicStub.prototype.connect = function (identity) {
  this._connectedWith = identity;
  this._open(function () {});
};

VertxClassicStub.prototype.disconnect = function () {
  if (this._sock && this._sock.readyState === 1) {
    this._id += 1;
    this._sock.send(JSON.stringify({ id: this._id, type: 'close', from: this._session, to: 'mn:/session' }));
  }
};

VertxClassicStub.prototype._status = function (value, desc) {
  var msg = { type: 'update', from: this._url, to: this._url + '/status', body: { value: value } };
  if (desc) msg.body.desc = desc;
  this._bus.postMessage(msg);
};

VertxClassicStub.prototype._filter = function (msg) {
  return !(msg.body && msg.body.via === this._session);
};

VertxClassicStub.prototype._open = function (callback) {
  var self = this;
  if (this._sock) {
    // Only once the session is open (or re-opened): the node drops what comes before on a new connection.
    if (this._sock.readyState === 1 && this._live) callback();
    else this._waiting.push(callback);
    return;
  }
  this._live = false;
  this._waiting = [callback];
  var sock = this._sock = new WebSocket(this._config.url);
  sock.onopen = function () {
    self._sendOpen();
  };
  sock.onmessage = function (event) {
    var msg = JSON.parse(event.data);
    if (msg.from === 'mn:/session') {
      if (self._onSession) self._onSession(msg);
    } else if (self._filter(msg)) {
      msg.body = msg.body || {};
      msg.body.via = self._session;
      self._bus.postMessage(msg);
    }
  };
  sock.onclose = function (event) {
    self._live = false;
    if (self._sock === sock) delete self._sock;
    self._status('disconnected', 'connection closed with code ' + event.code);
  };
};

VertxClassicStub.prototype._sendOpen = function () {
  var self = this;
  this._status('in-progress');
  this._id += 1;
  var msg = { id: this._id, type: this._reOpen ? 're-open' : 'open', from: this._session, to: 'mn:/session' };
  this._onSession = function (reply) {
    if (reply.type !== 'response' || reply.id !== msg.id) return;
    if (reply.body.code === 200) {
      if (reply.body.runtimeToken) {
        self._reOpen = true;
        self._session = self._config.runtimeURL + '/' + reply.body.runtimeToken;
      }
      self._live = true;
      self._status('connected');
      var waiting = self._waiting;
      self._waiting = [];
      waiting.forEach(function (callback) { callback(); });
    } else {
      self._status('failed', reply.body.desc);
    }
  };
  this._sock.send(JSON.stringify(msg));
};

function activate(url, bus, config) {
  return { name: 'VertxClassicStub', instance: new VertxClassicStub(url, bus, config) };
}
