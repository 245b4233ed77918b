// Module customization hooks the JavaScript stub host registers for an ES module stub (node's module.register;
// they run in a thread of their own). The package's `.js` files are ES modules (a reTHINK stub ships no
// package.json saying so); a bare specifier the package cannot resolve is looked up in Debian's module
// directories, and `ws` is the host's browser-mannered WebSocket.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

let settings = { packageDirectory: '/nonexistent', systemPaths: [], webSocket: null };
let packageURL = '';

export async function initialize(data) {
  settings = data;
  packageURL = pathToFileURL(settings.packageDirectory).href + '/';
}

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'ws' && settings.webSocket) {
    return { url: settings.webSocket, format: 'commonjs', shortCircuit: true };
  }
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const bare = !/^[./]/.test(specifier) && !/^[a-z][a-z0-9+.-]*:/i.test(specifier);
    if (error.code !== 'ERR_MODULE_NOT_FOUND' || !bare) throw error;
    // Debian's module directories are laid out like node_modules: <directory>/<name>.
    const require = createRequire(context.parentURL || packageURL);
    for (const directory of settings.systemPaths) {
      try {
        return { url: pathToFileURL(require.resolve(`${directory}/${specifier}`)).href, shortCircuit: true };
      } catch (notThere) {
        if (notThere.code !== 'MODULE_NOT_FOUND') throw notThere;
      }
    }
    throw error;
  }
}

export async function load(url, context, nextLoad) {
  if (url.startsWith(packageURL) && url.endsWith('.js')) {
    const loaded = await nextLoad(url, { ...context, format: 'module' });
    return { ...loaded, format: 'module', shortCircuit: true };
  }
  return nextLoad(url, context);
}
