System.register([], function (_export) {
  // A 2019-shaped stub (System.register, a class started with _start) that needs reTHINK's runtime factory, which
  // rethink-runtimed does not provide: its deploy must fail, saying so.
  return {
    execute: function () {
      _export('default', class NeedsFactory {
        _start(url, bus, config, factory) {
          this._syncher = factory.createSyncher(url, bus, config);
          bus.postMessage({ type: 'update', from: url, to: url + '/status', body: { value: 'live' } });
        }
      });
    },
  };
});
