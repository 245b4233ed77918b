System.register([], function (_export) {
  // A message-node protostub in reTHINK's 2019 published shape, written for rethink-runtimed's tests: a
  // webpack-style bundle wrapped in SystemJS's System.register, whose default export is a class started with
  // _start(url, bus, config, factory). It speaks the Vert.x message node's protocol over the browser's global
  // WebSocket and reconnects at once when the connection drops, re-opening its session with its token.
  return {
    execute: function () {
      _export((function (modules) {
        var cache = {};
        function load(id) {
          if (cache[id]) return cache[id].exports;
          var module = cache[id] = { exports: {} };
          modules[id].call(module.exports, module, module.exports, load);
          return module.exports;
        }
        return load(7);
      })({
        7: function (module, exports) {
          'use strict';
          Object.defineProperty(exports, '__esModule', { value: true });
          exports.default = class VertxStub2019 {
            _start(url, bus, config) {
              if (!url || !bus || !config || !config.url || !config.runtimeURL) {
                throw new Error('url, bus, config.url and config.runtimeURL are needed');
              }
              this._url = url;
              this._bus = bus;
              this._config = config;
              this._session = config.runtimeURL;
              this._reOpen = false;
              this._continuous = true;
              this._id = 0;
              bus.addListener('*', (msg) => {
                this._open(() => {
                  if (!this._filter(msg)) return;
                  msg.body = msg.body || {};
                  msg.body.via = this._session;
                  this._sock.send(JSON.stringify(msg));
                });
              });
              this._status('created');
              this._open(() => {});
            }

            connect() {
              this._continuous = true;
              this._open(() => {});
            }

            disconnect() {
              this._continuous = false;
              if (this._sock && this._sock.readyState === 1) {
                this._id += 1;
                this._sock.send(JSON.stringify({ id: this._id, type: 'close', from: this._session, to: 'mn:/session' }));
              }
            }

            _status(value, desc) {
              var msg = { type: 'update', from: this._url, to: this._url + '/status', body: { value: value } };
              if (desc) msg.body.desc = desc;
              this._bus.postMessage(msg);
            }

            _filter(msg) {
              return !(msg.body && msg.body.via === this._session);
            }

            _open(callback) {
              if (!this._continuous) return;
              if (this._sock) {
                this._whenReady(callback);
                return;
              }
              var sock = this._sock = new WebSocket(this._config.url);
              this._live = false;
              sock.onopen = () => this._sendOpen(callback);
              sock.onmessage = (event) => {
                var msg = JSON.parse(event.data);
                if (msg.from === 'mn:/session') {
                  if (this._onSession) this._onSession(msg);
                } else if (this._filter(msg)) {
                  msg.body = msg.body || {};
                  msg.body.via = this._session;
                  this._bus.postMessage(msg);
                }
              };
              sock.onclose = (event) => {
                if (this._sock === sock) {
                  delete this._sock;
                  this._live = false;
                }
                this._status('disconnected', 'connection closed with code ' + event.code);
                if (this._continuous) this._open(() => {});
              };
            }

            _whenReady(callback) {
              // Only once the session is open (or re-opened) on this connection: the node drops what comes
              // before. A connection that closes meanwhile hands the message to the next one.
              var sock = this._sock;
              if (!this._continuous) return;
              if (sock.readyState === 1 && this._live) callback();
              else if (sock.readyState <= 1) {
                setTimeout(() => (this._sock === sock ? this._whenReady(callback) : this._open(callback)), 5);
              } else setTimeout(() => this._open(callback), 5);
            }

            _sendOpen(callback) {
              this._status('in-progress');
              this._id += 1;
              var msg = { id: this._id, type: this._reOpen ? 're-open' : 'open', from: this._session, to: 'mn:/session' };
              var answered = false;
              this._onSession = (reply) => {
                if (reply.type !== 'response' || reply.id !== msg.id) return;
                answered = true;
                if (reply.body.code === 200) {
                  if (reply.body.runtimeToken) {
                    this._reOpen = true;
                    this._session = this._config.runtimeURL + '/' + reply.body.runtimeToken;
                  }
                  this._live = true;
                  this._status('live');
                  callback();
                } else {
                  this._continuous = false;
                  this._status('failed', reply.body.desc);
                }
              };
              this._sock.send(JSON.stringify(msg));
              setTimeout(() => {
                if (!answered) this._status('disconnected', 'Timeout from mn:/session');
              }, 3000);
            }
          };
        },
      }));
    },
  };
});
