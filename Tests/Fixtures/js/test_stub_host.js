'use strict';
// The JavaScript stub host (stubkit/js/rethink-stub-host.js) as a real node process on pipes, unconfined: the
// MiniBUS handshake, reTHINK's bus semantics, the three loaders, activation, the factory, globals and logging.
// Run by `make test-stubkit`: node --test Tests/Fixtures/js/

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const HOST = path.join(ROOT, 'stubkit', 'js', 'rethink-stub-host.js');
const FIXTURES = path.join(ROOT, 'Tests', 'Fixtures', 'rethink-js');
const URL_ = 'hyperty-runtime://host.example/protostub/1';
const RUNTIME = 'hyperty-runtime://localhost/test-runtime';

/// A host process running `source` (written to a package file) or the package at `file`.
class HostProcess {
  constructor({ source, file, responseTimeoutMs = 2000, name = 'stub.js' }) {
    let directory = null;
    if (!file) {
      directory = fs.mkdtempSync(path.join(os.tmpdir(), 'rethink-host-test-'));
      file = path.join(directory, name);
      fs.writeFileSync(file, source);
    }
    this.child = spawn(process.execPath, [HOST, `--response-timeout-ms=${responseTimeoutMs}`, file], {
      env: { RETHINK_STUB_URL: URL_, RETHINK_RUNTIME_URL: RUNTIME, RETHINK_DOMAIN: 'host.example', PATH: '/usr/bin' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.lines = [];
    this.waiters = [];
    this.stderr = '';
    let buffered = '';
    this.child.stdout.on('data', (chunk) => {
      buffered += chunk;
      let index;
      while ((index = buffered.indexOf('\n')) >= 0) {
        this.lines.push(JSON.parse(buffered.slice(0, index)));
        buffered = buffered.slice(index + 1);
        this.wake();
      }
    });
    this.child.stderr.on('data', (chunk) => {
      this.stderr += chunk;
      this.wake();
    });
    // The package written for this host goes with it, so runs leave nothing in the temporary directory.
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code) => {
        if (directory) fs.rmSync(directory, { recursive: true, force: true });
        resolve(code);
      }),
    );
  }

  wake() {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  send(msg) {
    this.child.stdin.write(JSON.stringify(msg) + '\n');
  }

  deploy(config = {}, identity = {}) {
    this.send({
      id: 1, type: 'create', from: 'hyperty-runtime://sandbox/external', to: 'hyperty-runtime://sandbox/internal',
      body: { url: URL_, config: { ...config, runtimeURL: RUNTIME }, identity },
    });
  }

  /// The next line written to stdout that `match` accepts (earlier ones are consumed), within `ms`.
  async next(match = () => true, ms = 5000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const index = this.lines.findIndex(match);
      if (index >= 0) return this.lines.splice(0, index + 1).pop();
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching line within ${ms} ms; stderr: ${this.stderr}`);
      await new Promise((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, left);
      });
    }
  }

  async stderrMatching(pattern, ms = 5000) {
    const deadline = Date.now() + ms;
    while (!pattern.test(this.stderr)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`stderr never matched ${pattern}: ${this.stderr}`);
      await new Promise((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, left);
      });
    }
  }

  async stop() {
    this.child.stdin.end();
    return this.exited;
  }
}

const isStatus = (value) => (msg) => msg.type === 'update' && msg.body && msg.body.value === value;
const deployAnswer = (msg) => msg.id === 1 && msg.type === 'response';

// A classic stub whose behaviour the messages routed to it choose (body.value.action).
const PROBE = `
'use strict';
exports.default = function activate(url, bus, config) {
  const instance = {
    connect(identity) { bus.postMessage({ type: 'update', from: url, to: url + '/status', body: { value: 'live', desc: 'connected as ' + JSON.stringify(identity) } }); },
    disconnect() { console.error('disconnect called'); },
  };
  bus.postMessage({ type: 'update', from: url, to: url + '/status', body: { value: 'created' } });
  bus.addListener('hyperty://host.example/listened', (msg) => {
    bus.postMessage({ type: 'create', from: url, to: 'hyperty://host.example/report', body: { value: 'listener:' + msg.body.value } });
  });
  bus.addListener('domain://host.example/thing', (msg) => {
    bus.postMessage({ type: 'create', from: url, to: 'hyperty://host.example/report', body: { value: 'thing-listener' } });
  });
  bus.addListener('*', (msg) => {
    const action = msg.body && msg.body.value && msg.body.value.action;
    const report = (value) => bus.postMessage({ type: 'create', from: url, to: 'hyperty://host.example/report', body: { value } });
    if (action === 'ask') {
      const id = bus.postMessage({ type: 'read', from: url, to: 'hyperty://host.example/peer' }, (reply) => report({ reply }));
      report({ askedWith: id });
    } else if (action === 'notify') {
      const id = bus.postMessage({ type: 'create', from: url, to: 'hyperty://host.example/peer' });
      report({ notifiedWith: id === undefined ? null : id });
    } else if (action === 'status-twice') {
      for (let i = 0; i < 3; i++) bus.postMessage({ type: 'update', from: url, to: url + '/status', body: { value: 'disconnected', desc: 'same' } });
      bus.postMessage({ type: 'update', from: url, to: url + '/status', body: { value: 'live' } });
    } else if (action === 'log') {
      console.log('a log line', { nested: { deep: [1, 2] } });
      console.warn('a warning');
      report('logged');
    } else if (action === 'throw') {
      throw new Error('listener exploded');
    } else if (action === 'globals') {
      report({ webSocket: typeof WebSocket, fetch: typeof fetch, atob: atob(btoa('ok')), self: self === globalThis, window: typeof window, setTimeout: typeof setTimeout });
    } else if (action) {
      report({ star: msg.to });
    } else {
      report({ star: msg.to });
    }
  });
  return { name: 'Probe', instance };
};
`;

test('the deploy answer comes first, then what the stub posted while it was activated, then connect(identity)', async () => {
  const host = new HostProcess({ source: PROBE });
  host.deploy({}, { user: 'alice' });
  assert.deepEqual(host.lines.length, 0);
  const first = await host.next();
  assert.equal(first.id, 1);
  assert.equal(first.type, 'response');
  assert.equal(first.from, 'hyperty-runtime://sandbox/internal');
  assert.equal(first.to, 'hyperty-runtime://sandbox/external');
  assert.equal(first.body.code, 200);
  const created = await host.next();
  assert.equal(created.body.value, 'created');
  assert.equal(created.from, URL_);
  assert.equal(created.to, `${URL_}/status`);
  assert.equal(created.id, undefined, 'a status update carries no id');
  const live = await host.next();
  assert.equal(live.body.value, 'live');
  assert.equal(live.body.desc, 'connected as {"user":"alice"}');
  assert.equal(await host.stop(), 0);
});

test('a message before the deploy message is answered 503', async () => {
  const host = new HostProcess({ source: PROBE });
  host.send({ id: 9, type: 'read', from: 'hyperty://a.example/x', to: 'hyperty://host.example/y' });
  const answer = await host.next();
  assert.equal(answer.id, 9);
  assert.equal(answer.body.code, 503);
  assert.equal(answer.to, 'hyperty://a.example/x');
  await host.stop();
});

test('a request with a callback gets an id and its answer by from+id; one without a callback gets no id', async () => {
  const host = new HostProcess({ source: PROBE });
  host.deploy();
  await host.next(isStatus('live'));
  host.send({ type: 'execute', from: RUNTIME + '/client/1', to: 'hyperty://host.example/x', body: { value: { action: 'ask' } } });
  const request = await host.next((msg) => msg.to === 'hyperty://host.example/peer');
  assert.equal(request.from, URL_);
  assert.equal(typeof request.id, 'number');
  const asked = await host.next((msg) => msg.to === 'hyperty://host.example/report');
  assert.equal(asked.body.value.askedWith, request.id, 'postMessage returns the id it gave');
  // A provisional answer keeps the callback; the final one ends it; neither reaches the listeners.
  host.send({ id: request.id, type: 'response', from: 'hyperty://host.example/peer', to: URL_, body: { code: 100 } });
  host.send({ id: request.id, type: 'response', from: 'hyperty://host.example/peer', to: URL_, body: { code: 200, value: 'answer' } });
  const first = await host.next((msg) => msg.to === 'hyperty://host.example/report');
  assert.equal(first.body.value.reply.body.code, 100);
  const second = await host.next((msg) => msg.to === 'hyperty://host.example/report');
  assert.equal(second.body.value.reply.body.value, 'answer');
  host.send({ type: 'execute', from: RUNTIME + '/client/1', to: 'hyperty://host.example/x', body: { value: { action: 'notify' } } });
  const notification = await host.next((msg) => msg.to === 'hyperty://host.example/peer');
  assert.equal(notification.id, undefined);
  const notified = await host.next((msg) => msg.to === 'hyperty://host.example/report');
  assert.equal(notified.body.value.notifiedWith, null);
  await host.stop();
});

test('an unanswered request gets 408 "Response timeout!" from the host and a late answer is dropped', async () => {
  const host = new HostProcess({ source: PROBE, responseTimeoutMs: 300 });
  host.deploy();
  await host.next(isStatus('live'));
  host.send({ type: 'execute', from: RUNTIME + '/client/1', to: 'hyperty://host.example/x', body: { value: { action: 'ask' } } });
  const request = await host.next((msg) => msg.to === 'hyperty://host.example/peer');
  await host.next((msg) => msg.body && msg.body.value && msg.body.value.askedWith !== undefined);
  const timedOut = await host.next((msg) => msg.to === 'hyperty://host.example/report');
  assert.equal(timedOut.body.value.reply.body.code, 408);
  assert.equal(timedOut.body.value.reply.body.desc, 'Response timeout!');
  host.send({ id: request.id, type: 'response', from: 'hyperty://host.example/peer', to: URL_, body: { code: 200 } });
  await host.stderrMatching(/dropped a late response/);
  host.send({ type: 'execute', from: RUNTIME + '/client/1', to: 'hyperty://host.example/other', body: { value: 'next' } });
  const next = await host.next((msg) => msg.to === 'hyperty://host.example/report');
  assert.equal(next.body.value.star, 'hyperty://host.example/other', 'the late answer never reached the * listener');
  await host.stop();
});

test('delivery order: listeners on to; * too unless to is a hyperty address; * alone otherwise', async () => {
  const host = new HostProcess({ source: PROBE });
  host.deploy();
  await host.next(isStatus('live'));
  host.send({ type: 'create', from: 'hyperty://a.example/x', to: 'hyperty://host.example/listened', body: { value: 'v' } });
  host.send({ type: 'create', from: 'hyperty://a.example/x', to: 'domain://host.example/thing', body: { value: 'v' } });
  host.send({ type: 'create', from: 'hyperty://a.example/x', to: 'hyperty://host.example/nobody', body: { value: 'v' } });
  const reports = [];
  for (let i = 0; i < 4; i++) reports.push((await host.next((msg) => msg.to === 'hyperty://host.example/report')).body.value);
  assert.deepEqual(reports, [
    'listener:v', 'thing-listener', { star: 'domain://host.example/thing' }, { star: 'hyperty://host.example/nobody' },
  ]);
  await host.stop();
});

test('a status repeated unchanged is sent once; console goes to stderr with priorities, never to the MiniBUS', async () => {
  const host = new HostProcess({ source: PROBE });
  host.deploy();
  await host.next(isStatus('live'));
  host.send({ type: 'execute', from: RUNTIME + '/client/1', to: 'hyperty://host.example/x', body: { value: { action: 'status-twice' } } });
  const disconnected = await host.next(isStatus('disconnected'));
  assert.equal(disconnected.body.desc, 'same');
  const back = await host.next();
  assert.equal(back.body.value, 'live', 'the two repeats were not sent');
  host.send({ type: 'execute', from: RUNTIME + '/client/1', to: 'hyperty://host.example/x', body: { value: { action: 'log' } } });
  const logged = await host.next((msg) => msg.to === 'hyperty://host.example/report');
  assert.equal(logged.body.value, 'logged');
  await host.stderrMatching(/<4>a warning/);
  assert.match(host.stderr, /<6>a log line \{ nested: \{ deep: \[ 1, 2 \] \} \}\n/);
  await host.stop();
});

test('a listener that throws is logged and the stub goes on; browser globals are there', async () => {
  const host = new HostProcess({ source: PROBE });
  host.deploy();
  await host.next(isStatus('live'));
  host.send({ type: 'execute', from: RUNTIME + '/client/1', to: 'hyperty://host.example/x', body: { value: { action: 'throw' } } });
  await host.stderrMatching(/<3>uncaught: Error: listener exploded/);
  host.send({ type: 'execute', from: RUNTIME + '/client/1', to: 'hyperty://host.example/x', body: { value: { action: 'globals' } } });
  const globals = (await host.next((msg) => msg.to === 'hyperty://host.example/report')).body.value;
  assert.deepEqual(globals, {
    webSocket: 'function', fetch: 'function', atob: 'ok', self: true, window: 'undefined', setTimeout: 'function',
  });
  await host.stop();
});

test('undeploy: delete calls disconnect() and the host exits 0', async () => {
  const host = new HostProcess({ source: PROBE });
  host.deploy();
  await host.next(isStatus('live'));
  host.send({ type: 'delete', from: 'hyperty-runtime://sandbox/external', to: 'hyperty-runtime://sandbox/internal', body: { url: URL_ } });
  assert.equal(await host.exited, 0);
  assert.match(host.stderr, /disconnect called/);
});

test('System.register bundles get their dependencies through the setters and execute; a 2019 class is _started (and may print its factory)', async () => {
  const source = `System.register(['events'], function (_export, _context) {
    var EventEmitter;
    return {
      setters: [function (events) { EventEmitter = events.default; }],
      execute: function () {
        _export('default', class Stub2019 {
          _start(url, bus, config, factory) {
            console.log('printing the factory is not using it:', factory, String(factory.constructor));
            bus.postMessage({ type: 'update', from: url, to: url + '/status',
              body: { value: 'live', desc: typeof EventEmitter + ' ' + config.greeting + ' ' + (typeof factory) } });
          }
        });
      },
    };
  });`;
  const host = new HostProcess({ source });
  host.deploy({ greeting: 'hello' });
  assert.equal((await host.next()).body.code, 200);
  const live = await host.next();
  assert.equal(live.body.value, 'live');
  assert.equal(live.body.desc, 'function hello object');
  await host.stop();
});

test('CommonJS: require("ws") is the global WebSocket, found in Debian\'s /usr/share/nodejs', async () => {
  const source = `module.exports = { activate(url, bus) {
    const WS = require('ws');
    bus.postMessage({ type: 'update', from: url, to: url + '/status',
      body: { value: 'live', desc: String(WS === WebSocket) + ' ' + typeof WS.Server + ' ' + typeof require('ms') } });
    return {};
  } };`;
  const host = new HostProcess({ source });
  host.deploy();
  await host.next(deployAnswer);
  const live = await host.next();
  assert.equal(live.body.desc, 'true function function', 'require also finds other Debian modules (node-ms)');
  await host.stop();
});

test('an ES module stub imports ws (the same WebSocket) and is activated', async () => {
  const source = `import WS from 'ws';
  import { EventEmitter } from 'events';
  export default function activate(url, bus) {
    bus.postMessage({ type: 'update', from: url, to: url + '/status',
      body: { value: 'live', desc: String(WS === globalThis.WebSocket) + ' ' + typeof EventEmitter } });
    return { name: 'M', instance: {} };
  }`;
  const host = new HostProcess({ source, name: 'module.js' });
  host.deploy();
  assert.equal((await host.next()).body.code, 200);
  const live = await host.next();
  assert.equal(live.body.desc, 'true function');
  await host.stop();
});

test('a stub using reTHINK\'s factory fails its deploy with the reason, and nothing it posted is sent', async () => {
  const host = new HostProcess({ file: path.join(FIXTURES, 'needs-factory.ps.js') });
  host.deploy();
  const answer = await host.next();
  assert.equal(answer.body.code, 500);
  assert.equal(answer.body.desc, 'not provided by this runtime: factory.createSyncher');
  assert.equal(await host.exited, 1);
  assert.equal(host.lines.length, 0);
});

test('a package that exports nothing runnable, or does not compile, fails its deploy saying why', async () => {
  const empty = new HostProcess({ source: 'module.exports = { name: 42 };' });
  empty.deploy();
  const refused = await empty.next();
  assert.equal(refused.body.code, 500);
  assert.match(refused.body.desc, /neither a class with _start.*nor activate/);
  const broken = new HostProcess({ source: 'let x = ;' });
  broken.deploy();
  const syntax = await broken.next();
  assert.equal(syntax.body.code, 500);
  assert.match(syntax.body.desc, /Unexpected token/);
  await Promise.all([empty.exited, broken.exited]);
});

test('the fixtures of all three shapes load and reach created', async () => {
  for (const name of ['vertx-2019.ps.js', 'vertx-classic.js', 'vertx-module.js']) {
    const host = new HostProcess({ file: path.join(FIXTURES, name) });
    // A node nothing listens on: the stubs report created (and retry or wait), and do not crash.
    host.deploy({ url: 'ws://127.0.0.1:9/ws' });
    assert.equal((await host.next()).body.code, 200, name);
    assert.equal((await host.next()).body.value, 'created', name);
    await host.stop();
  }
});
