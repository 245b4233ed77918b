'use strict';
// The reference JavaScript echo stub, in reTHINK's classic shape (what the JavaScript stub host runs: see
// docs/STUBS.md, "Running reTHINK stubs"): `activate(url, bus, config)` returns {name, instance}; the stub
// hears every message routed to it on the bus's '*' listener and answers each request with its body's value.
// `make bench` measures it beside the native echo stub.

class EchoStub {
  constructor(url, bus, config) {
    this._url = url;
    this._bus = bus;
    this._greeting = config.greeting;
    bus.addListener('*', (msg) => this._onMessage(msg));
    this._status('created');
    this._status('live');
  }

  _status(value) {
    this._bus.postMessage({ type: 'update', from: this._url, to: `${this._url}/status`, body: { value } });
  }

  _onMessage(msg) {
    if (msg.type === 'response' || msg.id === undefined || msg.id === null) return;
    const value = msg.body ? msg.body.value : undefined;
    const body = { code: 200 };
    if (value !== undefined) body.value = this._greeting ? `${this._greeting}, ${value}` : value;
    this._bus.postMessage({ id: msg.id, type: 'response', from: msg.to, to: msg.from, body });
  }

  disconnect() {}
}

module.exports = function activate(url, bus, config) {
  return { name: 'EchoStub', instance: new EchoStub(url, bus, config) };
};
