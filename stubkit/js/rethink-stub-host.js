'use strict';
// The JavaScript stub host of rethink-runtimed: runs a protostub written for reTHINK's browser and Node runtimes,
// unchanged, over the MiniBUS (stdin/stdout, one JSON message per line; docs/STUBS.md, "Running reTHINK stubs").
//
//   node rethink-stub-host.js [--response-timeout-ms=N] PACKAGE
//
// It answers the deploy message itself, loads PACKAGE (a System.register bundle, CommonJS or an ES module),
// activates the stub with reTHINK's bus (`_start(url, bus, config, factory)` or `activate(...)`), and gives it the
// browser globals it was written against where Node has an equivalent. Node's and Debian's modules only: `ws`
// (node-ws) is found in /usr/share/nodejs.

const fs = require('fs');
const path = require('path');
const util = require('util');
const vm = require('vm');
const Module = require('module');
const { pathToFileURL } = require('url');

const SANDBOX_EXTERNAL = 'hyperty-runtime://sandbox/external';
const SANDBOX_INTERNAL = 'hyperty-runtime://sandbox/internal';
/// Where Debian installs Node modules (node-ws is /usr/share/nodejs/ws); searched after the package's own.
const SYSTEM_MODULE_PATHS = ['/usr/share/nodejs', '/usr/lib/nodejs', '/usr/lib/x86_64-linux-gnu/nodejs'];

// MARK: Output: the MiniBUS on stdout, the log on stderr

/// Lines written in one turn of the event loop leave in one write: pipelined traffic costs fewer system calls.
class LineWriter {
  constructor(stream) {
    this.stream = stream;
    this.pending = [];
    this.scheduled = false;
    stream.on('error', () => process.exit(0)); // the runtime is gone: nothing left to do
  }

  write(line) {
    this.pending.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush() {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.stream.write(text);
  }
}

const minibus = new LineWriter(process.stdout);
const logOut = new LineWriter(process.stderr);

/// One log entry per call, each line carrying its syslog priority (sd-daemon(3)) so the journal keeps it whole.
function log(priority, text) {
  const lines = String(text).split('\n');
  logOut.write(lines.map((line) => `<${priority}>${line}\n`).join(''));
}

const inspectOptions = { breakLength: Infinity, depth: 6, compact: true };
function format(args) {
  return util.formatWithOptions(inspectOptions, ...args);
}

/// console.* goes to stderr, never to the MiniBUS.
function redirectConsole() {
  for (const [name, priority] of [
    ['log', 6], ['info', 6], ['debug', 7], ['trace', 7], ['warn', 4], ['error', 3],
  ]) {
    console[name] = (...args) => log(priority, format(args));
  }
  console.dir = (value) => log(6, format([value]));
  console.assert = (condition, ...args) => {
    if (!condition) log(3, 'Assertion failed' + (args.length ? ': ' + format(args) : ''));
  };
}

function errorText(error) {
  if (error instanceof Error) return error.stack || String(error);
  return typeof error === 'string' ? error : format([error]);
}

// MARK: The factory reTHINK hands a stub: none of it exists here

/// Thrown by every property of the `factory` argument.
class NotProvidedError extends Error {
  constructor(name) {
    super(`not provided by this runtime: ${name}`);
    this.name = 'NotProvidedError';
  }
}

const LANGUAGE_PROBES = new Set(['then', 'toJSON', 'constructor', 'toString', 'valueOf', 'inspect']);

/// reTHINK's runtime factory (syncher, storage, ...) is not part of this runtime: any use of it fails with a
/// clear reason, which fails the deploy (during activation) or sets the stub `failed` (later).
function unavailableFactory() {
  return new Proxy(Object.create(null), {
    get(_target, name) {
      // Probes by the language itself (awaiting, printing, coercing) are not uses.
      if (typeof name === 'symbol' || LANGUAGE_PROBES.has(name)) return undefined;
      throw new NotProvidedError(`factory.${String(name)}`);
    },
    has() {
      return false;
    },
  });
}

// MARK: The bus: reTHINK's MiniBus over the MiniBUS

class MsgListener {
  constructor(subscriptions, url, callback) {
    this._subscriptions = subscriptions;
    this._url = url;
    this._callback = callback;
  }

  get url() {
    return this._url;
  }

  remove() {
    const list = this._subscriptions[this._url];
    if (!list) return;
    const index = list.indexOf(this);
    if (index >= 0) list.splice(index, 1);
    if (list.length === 0) delete this._subscriptions[this._url];
  }
}

/// What a stub sees as `bus`: reTHINK's MiniBus API. What it posts goes to the runtime; what the runtime routes
/// here goes to response callbacks first, then to the listeners on `to`, then to `'*'` (as reTHINK's MiniBus:
/// `'*'` also hears a message whose `to` has listeners, unless it is a hyperty address).
class StubBus {
  constructor(send, responseTimeoutMs) {
    this._send = send;
    this._responseTimeOut = responseTimeoutMs;
    this._msgId = 0;
    this._subscriptions = {};
    this._responseCallbacks = new Map();
    /// Requests answered 408 here: a late answer from the runtime is dropped, not handed to the listeners.
    this._timedOut = new Map();
  }

  static key(url, id) {
    return `${url}\u0000${id}`;
  }

  /// Sends `msg` to the runtime. It gets an id only when it has none and a reply is expected (a callback);
  /// returns the message's id.
  postMessage(msg, responseCallback) {
    if (responseCallback && (msg.id === undefined || msg.id === null || msg.id === 0 || msg.id === '')) {
      this._msgId += 1;
      msg.id = this._msgId;
    }
    if (responseCallback) this._expect(msg, responseCallback);
    this._send(msg);
    return msg.id;
  }

  _expect(msg, callback) {
    const key = StubBus.key(msg.from, msg.id);
    const timer = setTimeout(() => {
      const entry = this._responseCallbacks.get(key);
      if (!entry) return;
      this._responseCallbacks.delete(key);
      this._rememberTimedOut(key);
      safely(() => entry.callback({
        id: msg.id, type: 'response', from: msg.to, to: msg.from,
        body: { code: 408, desc: 'Response timeout!', value: msg },
      }));
    }, this._responseTimeOut);
    timer.unref();
    this._responseCallbacks.set(key, { callback, timer });
  }

  _rememberTimedOut(key) {
    this._timedOut.set(key, Date.now());
    if (this._timedOut.size > 1000) {
      const oldest = this._timedOut.keys().next().value;
      this._timedOut.delete(oldest);
    }
  }

  addListener(url, listener) {
    const item = new MsgListener(this._subscriptions, url, listener);
    (this._subscriptions[url] = this._subscriptions[url] || []).push(item);
    return item;
  }

  /// A response listener without a timeout; remove it with `removeResponseListener`.
  addResponseListener(url, msgId, responseListener) {
    this._responseCallbacks.set(StubBus.key(url, msgId), { callback: responseListener, timer: null });
  }

  removeResponseListener(url, msgId) {
    const key = StubBus.key(url, msgId);
    const entry = this._responseCallbacks.get(key);
    if (entry && entry.timer) clearTimeout(entry.timer);
    this._responseCallbacks.delete(key);
  }

  removeAllListenersOf(url) {
    delete this._subscriptions[url];
  }

  /// reTHINK's helper joining two buses: what this bus hears on `outUrl` goes to `target`, and back on `inUrl`.
  bind(outUrl, inUrl, target) {
    const thisListener = this.addListener(outUrl, (msg) => target.postMessage(msg));
    const targetListener = target.addListener(inUrl, (msg) => this.postMessage(msg));
    return {
      thisListener,
      targetListener,
      unbind: () => {
        thisListener.remove();
        targetListener.remove();
      },
    };
  }

  /// A message the runtime routed to the stub.
  _onMessage(msg) {
    if (msg.type === 'response' && this._onResponse(msg)) return;
    const list = this._subscriptions[msg.to];
    if (list) {
      this._publishOn(list, msg);
      if (typeof msg.to === 'string' && !msg.to.startsWith('hyperty')) this._publishOnDefault(msg);
    } else {
      this._publishOnDefault(msg);
    }
  }

  _onResponse(msg) {
    const key = StubBus.key(msg.to, msg.id);
    const entry = this._responseCallbacks.get(key);
    const code = msg.body && typeof msg.body.code === 'number' ? msg.body.code : 200;
    if (entry) {
      if (code >= 200) {
        if (entry.timer) clearTimeout(entry.timer);
        this._responseCallbacks.delete(key);
      }
      safely(() => entry.callback(msg));
      return true;
    }
    if (this._timedOut.has(key)) {
      if (code >= 200) this._timedOut.delete(key);
      log(4, `dropped a late response to ${msg.to} (id ${msg.id}): it was answered 408 here`);
      return true;
    }
    return false;
  }

  _publishOnDefault(msg) {
    const list = this._subscriptions['*'];
    if (list) this._publishOn(list, msg);
  }

  _publishOn(list, msg) {
    for (const item of list.slice()) safely(() => item._callback(msg));
  }
}

/// A listener that throws is reported, as a browser reports an exception in an event handler, and the stub
/// goes on; reTHINK's factory being used fails the stub with that reason.
function safely(body) {
  try {
    body();
  } catch (error) {
    reportUncaught(error);
  }
}

// MARK: Browser globals

let browserWebSocket;
/// reTHINK's stubs use the browser's WebSocket: node-ws with the browser's manners (a failed connection is an
/// `error` then a `close` event, never an exception that ends the process).
function webSocketClass() {
  if (browserWebSocket) return browserWebSocket;
  let WS;
  try {
    WS = systemRequire('ws');
  } catch (error) {
    throw new Error(
      'WebSocket needs Node\'s ws module: install Debian\'s node-ws (/usr/share/nodejs/ws): ' + error.message);
  }
  browserWebSocket = class WebSocket extends WS {
    constructor(address, protocols, options) {
      super(address, protocols, options);
      this.on('error', (error) => {
        if (typeof this.onerror !== 'function') log(7, `WebSocket ${address}: ${error.message}`);
      });
    }
  };
  return browserWebSocket;
}

function installGlobals() {
  Object.defineProperty(globalThis, 'WebSocket', {
    configurable: true, enumerable: false, get: webSocketClass,
    set(value) {
      Object.defineProperty(globalThis, 'WebSocket', { configurable: true, writable: true, value });
    },
  });
  // A Web Worker's global scope, which reTHINK's sandboxes were; `window` is left out, as in a worker.
  if (typeof globalThis.self === 'undefined') globalThis.self = globalThis;
  if (typeof globalThis.atob !== 'function') {
    globalThis.atob = (text) => Buffer.from(String(text), 'base64').toString('latin1');
    globalThis.btoa = (text) => Buffer.from(String(text), 'latin1').toString('base64');
  }
}

// MARK: Loading the package

/// `id` (a bare name such as `ws`) in Debian's module directories, which are laid out like node_modules.
function resolveInSystemPaths(require, id) {
  for (const directory of SYSTEM_MODULE_PATHS) {
    try {
      return require.resolve(path.join(directory, id));
    } catch (error) {
      if (error.code !== 'MODULE_NOT_FOUND') throw error;
    }
  }
  const error = new Error(`Cannot find module '${id}' (looked in the package and in ${SYSTEM_MODULE_PATHS.join(', ')})`);
  error.code = 'MODULE_NOT_FOUND';
  throw error;
}

const systemRequire = (() => {
  const base = Module.createRequire(__filename);
  return (id) => base(resolveInSystemPaths(base, id));
})();

/// `require` for the stub's code: its own package first, then Debian's modules; `ws` is the browser-mannered one.
function stubRequire(file) {
  const own = Module.createRequire(file);
  const resolve = (id) => {
    try {
      return own.resolve(id);
    } catch (error) {
      if (error.code !== 'MODULE_NOT_FOUND' || id.startsWith('.') || id.startsWith('/')) throw error;
      return resolveInSystemPaths(own, id);
    }
  };
  const require = (id) => (id === 'ws' ? webSocketClass() : own(resolve(id)));
  require.resolve = resolve;
  require.cache = own.cache;
  return require;
}

/// The namespaces `System.register` bundles declared while their code ran.
class SystemRegistry {
  constructor() {
    this.registrations = [];
  }

  /// `System.register([name,] deps, declare)`, as SystemJS takes it (webpack's `libraryTarget: 'system'`).
  register(...args) {
    const declare = args.pop();
    const deps = args.pop() || [];
    this.registrations.push({ deps, declare });
  }

  /// Runs the last registration: its setters get the dependencies (through `require`), then `execute`.
  async instantiate(require) {
    const { deps, declare } = this.registrations[this.registrations.length - 1];
    const namespace = Object.create(null);
    const exportBinding = (name, value) => {
      if (typeof name === 'object' && name !== null) Object.assign(namespace, name);
      else namespace[name] = value;
      return value;
    };
    const context = { id: 'package', import: (id) => Promise.resolve(asNamespace(require(id))), meta: {} };
    const declared = declare(exportBinding, context) || {};
    (declared.setters || []).forEach((setter, index) => {
      if (typeof setter === 'function' && deps[index] !== undefined) setter(asNamespace(require(deps[index])));
    });
    if (typeof declared.execute === 'function') await declared.execute();
    return namespace;
  }
}

function asNamespace(value) {
  if (value && value.__esModule) return value;
  return Object.assign(Object.create(null), value, { default: value });
}

/// reTHINK's three shapes of stub code, told apart by trying them in order: a script that calls
/// `System.register`, CommonJS, else (it only compiles as a module) an ES module.
async function loadPackage(file) {
  const source = fs.readFileSync(file, 'utf8').replace(/^#!.*/, '');
  let compiled;
  try {
    compiled = vm.compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], {
      filename: file,
    });
  } catch (error) {
    if (!(error instanceof SyntaxError) || !looksLikeModuleSyntax(error)) throw error;
    return { shape: 'es-module', namespace: await importModule(file) };
  }
  const system = new SystemRegistry();
  const previous = globalThis.System;
  globalThis.System = { register: (...args) => system.register(...args) };
  const module = { exports: {}, id: file, filename: file, loaded: false };
  const require = stubRequire(file);
  try {
    compiled.call(module.exports, module.exports, require, module, file, path.dirname(file));
  } finally {
    if (previous === undefined) delete globalThis.System;
    else globalThis.System = previous;
  }
  module.loaded = true;
  if (system.registrations.length > 0) {
    return { shape: 'System.register', namespace: await system.instantiate(require) };
  }
  return { shape: 'CommonJS', namespace: module.exports };
}

function looksLikeModuleSyntax(error) {
  return /import statement|Unexpected token 'export'|import\.meta|await is only valid|export declarations/.test(
    error.message);
}

/// An ES module: hooks (in their own thread) make the package's `.js` files modules, and resolve bare
/// specifiers in Debian's module directories (`ws` to the browser-mannered WebSocket).
async function importModule(file) {
  if (typeof Module.register !== 'function') {
    throw new Error(`${file} is an ES module, which needs Node 18.19 or later (module.register)`);
  }
  Module.register(pathToFileURL(path.join(__dirname, 'esm-hooks.mjs')).href, {
    data: {
      packageDirectory: path.dirname(file),
      systemPaths: SYSTEM_MODULE_PATHS,
      webSocket: pathToFileURL(path.join(__dirname, 'browser-websocket.js')).href,
    },
  });
  return import(pathToFileURL(file).href);
}

// MARK: Activation

/// `new (default)()._start(url, bus, config, factory)` for a 2019 class, else `activate(url, bus, config,
/// factory)` (the classic form), taking `.instance` when it returns `{name, instance}`.
async function activate(namespace, url, bus, config) {
  const factory = unavailableFactory();
  const exported = namespace && namespace.default !== undefined ? namespace.default : namespace;
  if (typeof exported === 'function' && exported.prototype && typeof exported.prototype._start === 'function') {
    const instance = new exported();
    await instance._start(url, bus, config, factory);
    return instance;
  }
  if (exported && typeof exported === 'object' && typeof exported._start === 'function') {
    await exported._start(url, bus, config, factory);
    return exported;
  }
  const activateFunction =
    namespace && typeof namespace.activate === 'function' ? namespace.activate
      : typeof exported === 'function' ? exported
        : exported && typeof exported.activate === 'function' ? exported.activate : null;
  if (!activateFunction) {
    throw new Error(
      'the package exports neither a class with _start(url, bus, config, factory) nor activate(url, bus, config, factory)');
  }
  const result = await activateFunction(url, bus, config, factory);
  return result && typeof result === 'object' && result.instance !== undefined ? result.instance : result;
}

// MARK: The MiniBUS session

class Host {
  constructor(packageFile, responseTimeoutMs) {
    this.packageFile = packageFile;
    this.state = 'waiting';
    this.held = [];
    this.url = process.env.RETHINK_STUB_URL || null;
    this.lastStatus = null;
    this.bus = new StubBus((msg) => this.emit(msg), responseTimeoutMs);
    this.instance = null;
  }

  /// What the stub posts: held while it is being activated (the deploy answer goes first), a status it
  /// repeats unchanged sent once.
  emit(msg) {
    if (this.state === 'activating') {
      this.held.push(msg);
      return;
    }
    if (this.isStatus(msg)) {
      const status = JSON.stringify([msg.body && msg.body.value, msg.body && msg.body.desc]);
      if (status === this.lastStatus) return;
      this.lastStatus = status;
    }
    this.write(msg);
  }

  isStatus(msg) {
    return this.url && msg && msg.type === 'update' && msg.to === `${this.url}/status` && msg.id === undefined;
  }

  write(msg) {
    let line;
    try {
      line = JSON.stringify(msg);
    } catch (error) {
      log(3, `a message the stub posted cannot be sent: ${error.message}`);
      return;
    }
    if (line === undefined) return;
    minibus.write(line + '\n');
  }

  respond(request, code, desc, from = request.to, to = request.from) {
    const body = { code };
    if (desc !== undefined) body.desc = desc;
    this.write({ id: request.id, type: 'response', from, to, body });
  }

  onLine(line) {
    if (line.trim() === '') return;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch (error) {
      log(4, `skipped a MiniBUS line that is not JSON: ${error.message}`);
      return;
    }
    if (!msg || typeof msg !== 'object' || Array.isArray(msg)) {
      log(4, 'skipped a MiniBUS line that is not a JSON object');
      return;
    }
    if (msg.to === SANDBOX_INTERNAL) {
      if (msg.type === 'create') this.deploy(msg);
      else if (msg.type === 'delete') this.undeploy();
      return;
    }
    if (this.state !== 'live') {
      if (msg.id !== undefined && msg.type !== 'response') this.respond(msg, 503, 'the stub is not deployed yet');
      return;
    }
    this.bus._onMessage(msg);
  }

  async deploy(msg) {
    if (this.state !== 'waiting') {
      this.respond(msg, 500, `already deployed as ${this.url}`);
      return;
    }
    const body = msg.body || {};
    this.url = body.url || this.url;
    const config = body.config || {};
    const identity = body.identity;
    this.state = 'activating';
    try {
      const { shape, namespace } = await loadPackage(this.packageFile);
      log(7, `loaded ${this.packageFile} (${shape})`);
      this.instance = await activate(namespace, this.url, this.bus, config);
    } catch (error) {
      this.state = 'failed';
      this.held = [];
      log(3, `activation failed: ${errorText(error)}`);
      this.respond(msg, 500, error instanceof Error ? error.message : String(error), SANDBOX_INTERNAL,
        SANDBOX_EXTERNAL);
      minibus.flush();
      setTimeout(() => process.exit(1), 100).unref();
      return;
    }
    this.respond(msg, 200, undefined, SANDBOX_INTERNAL, SANDBOX_EXTERNAL);
    this.state = 'live';
    const held = this.held;
    this.held = [];
    for (const message of held) this.emit(message);
    // Classic stubs connect lazily; the runtime waits for `live`, so they are asked to now.
    if (this.instance && typeof this.instance.connect === 'function') {
      safely(() => this.instance.connect(identity));
    }
  }

  undeploy() {
    if (this.state === 'stopping') return;
    const wasLive = this.state === 'live';
    this.state = 'stopping';
    if (wasLive && this.instance && typeof this.instance.disconnect === 'function') {
      safely(() => this.instance.disconnect());
    }
    if (this.url) this.bus.removeAllListenersOf(this.url);
    minibus.flush();
    logOut.flush();
    // A moment for what disconnect() sent (a session close) to leave; the runtime kills a stub that lingers.
    setTimeout(() => process.exit(0), 200);
  }

  /// An exception nobody caught: logged, as a browser logs it, and the stub goes on; a use of reTHINK's
  /// factory after activation makes the stub `failed` with that reason.
  onUncaught(error) {
    log(3, `uncaught: ${errorText(error)}`);
    if (error instanceof NotProvidedError && this.url && this.state === 'live') {
      this.emit({ type: 'update', from: this.url, to: `${this.url}/status`, body: { value: 'failed', desc: error.message } });
    }
  }

  run() {
    process.stdin.setEncoding('utf8');
    let buffered = '';
    process.stdin.on('data', (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        this.onLine(line);
      }
    });
    process.stdin.on('end', () => this.undeploy());
  }
}

let host = null;
function reportUncaught(error) {
  if (host) host.onUncaught(error);
  else log(3, `uncaught: ${errorText(error)}`);
}

function main(argv) {
  let responseTimeoutMs = 15500;
  const rest = [];
  for (const argument of argv) {
    const match = /^--response-timeout-ms=(\d+)$/.exec(argument);
    if (match) responseTimeoutMs = Number(match[1]);
    else rest.push(argument);
  }
  if (rest.length !== 1) {
    log(3, 'usage: node rethink-stub-host.js [--response-timeout-ms=N] PACKAGE');
    process.exit(2);
  }
  redirectConsole();
  installGlobals();
  process.on('uncaughtException', reportUncaught);
  process.on('unhandledRejection', reportUncaught);
  host = new Host(path.resolve(rest[0]), responseTimeoutMs);
  host.run();
}

if (require.main === module) main(process.argv.slice(2));

module.exports = { StubBus, loadPackage, activate, unavailableFactory, NotProvidedError, webSocketClass };
