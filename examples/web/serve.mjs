// serve.mjs — a tiny static HTTP server for the facemask web demo (wasm needs http://, not
// file://; .wasm goes out as application/wasm so it compiles while it downloads).
//
//   node serve.mjs [DIR] [--port N] [--no-isolation]   serves DIR (default: this file's folder) on 127.0.0.1
//
// Every answer carries Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy:
// require-corp, which make the page cross-origin isolated: the browser then gives it
// SharedArrayBuffer, and the page runs the threaded WebAssembly build. --no-isolation (or
// { isolate: false }) leaves them out: the page then runs one thread.
//
// Also a module for the tests and the benchmark:
//   import { serve } from './serve.mjs';
//   const { url, close } = await serve({ '/': buildDir, '/test/': dataDir });
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.json': 'application/json',
  '.wasm': 'application/wasm', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml', '.ico': 'image/x-icon', '.txt': 'text/plain; charset=utf-8',
};

/**
 * Serves folders: mounts maps a URL prefix ('/', '/ort/') to a folder; the longest prefix wins.
 * Returns { url, port, close() }.
 */
export function serve(mounts, { port = 0, host = '127.0.0.1', log = false, isolate = true } = {}) {
  const isolation = isolate
    ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {};
  const table = Object.entries(mounts)
    .map(([prefix, dir]) => [prefix.endsWith('/') ? prefix : `${prefix}/`, path.resolve(dir)])
    .sort((a, b) => b[0].length - a[0].length);
  const server = http.createServer((req, res) => {
    let status = 200;
    const done = (code, type, body) => {
      status = code;
      res.writeHead(code, { 'Content-Type': type, 'Cache-Control': 'no-store', ...isolation });
      res.end(body);
    };
    try {
      const urlPath = decodeURIComponent(new URL(req.url, 'http://x').pathname);
      const hit = table.find(([prefix]) => urlPath.startsWith(prefix) || `${urlPath}/` === prefix);
      if (!hit || (req.method !== 'GET' && req.method !== 'HEAD')) return done(404, 'text/plain', 'not found\n');
      const [prefix, root] = hit;
      let file = path.join(root, urlPath.slice(prefix.length));
      if (file !== root && !file.startsWith(root + path.sep)) return done(403, 'text/plain', 'forbidden\n');
      if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
      if (!fs.existsSync(file)) return done(404, 'text/plain', 'not found\n');
      const real = fs.realpathSync(file), realRoot = fs.realpathSync(root);
      if (!real.startsWith(realRoot + path.sep)) return done(403, 'text/plain', 'forbidden\n');  // no symlinks out
      const type = TYPES[path.extname(file).toLowerCase()] || 'application/octet-stream';
      res.writeHead(200, { 'Content-Type': type, 'Content-Length': fs.statSync(file).size, 'Cache-Control': 'no-store',
        ...isolation });
      if (req.method === 'HEAD') return res.end();
      fs.createReadStream(file).pipe(res);
    } catch (e) {
      done(500, 'text/plain', `${e.message}\n`);
    } finally {
      if (log) console.log(`${req.method} ${req.url} ${status}`);
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const actual = server.address().port;
      resolve({ url: `http://${host}:${actual}/`, port: actual, close: () => new Promise((r) => server.close(r)) });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let dir = path.dirname(fileURLToPath(import.meta.url));
  let port = 8765;
  let isolate = true;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--port') port = Number(args[++i]);
    else if (args[i] === '--no-isolation') isolate = false;
    else if (args[i] === '--help' || args[i] === '-h') {
      console.log('usage: node serve.mjs [DIR] [--port N] [--no-isolation]');
      process.exit(0);
    } else dir = args[i];
  }
  const { url } = await serve({ '/': dir }, { port, log: true, isolate });
  console.log(`serving ${path.resolve(dir)} at ${url}${isolate ? ' (cross-origin isolated: threads)' : ' (not isolated: one thread)'} (Ctrl-C stops)`);
}
