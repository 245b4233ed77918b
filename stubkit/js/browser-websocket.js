'use strict';
// What an ES module stub gets for `import WebSocket from 'ws'` (see esm-hooks.mjs): the host's node-ws with a
// browser's manners, the same class as the global WebSocket and as `require('ws')` in CommonJS stubs.
module.exports = require('./rethink-stub-host.js').webSocketClass();
