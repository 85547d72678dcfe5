// web_bench.mjs — in-browser speed of facemask (WebAssembly, SIMD128 and scalar) next to
// onnxruntime-web running the same RetinaFace network, in one headless Chromium session.
//
//   cd tools/bench/web && npm install --no-audit --no-fund --ignore-scripts
//   node tools/bench/web/web_bench.mjs --web WEBOUT [--onnx FILE] [--size 640x480]
//        [--runs 30] [--warmup 5] [--engines a,b,...] [--picture FILE] [--native BUILD]
//
// WEBOUT: the folder examples/web/build.sh made (facemask.js, the two wasm builds, weights/).
// --onnx: the network as ONNX at --size; when the file is missing it is exported with
//   tools/export_onnx.py from the public checkpoint (default: WEBOUT/onnx/retinaface_WxH.onnx).
// --native BUILD: also time BUILD/fm_bench (forward and detect, 1 thread) for the table.
//
// Engines (median of --runs interleaved runs after --warmup: every round runs each engine once,
// across the pages, so a busy machine slows all alike):
//   facemask_wasm_simd, facemask_wasm_scalar   Detector::forward on a prepared normalised
//                                              input: the network alone, 1 thread
//   facemask_wasm_mt                           the same, the threaded build (facemask_mt), 2 threads
//   onnxruntime_web, onnxruntime_web_2t        session.run, wasm EP (its SIMD build), 1 / 2
//                                              threads, each in its own page (ORT's thread count
//                                              is per page); the pages are cross-origin isolated
//   facemask_wasm_{simd,mt}_detect             detect() on the picture resized to WxH
//   facemask_wasm_scalar_detect                the same, scalar (slow: only with --engines)
// Prints "RESULT engine=<name> size=<W>x<H> threads=<n> median_ms=<x>" lines, a table and the
// ratios to onnxruntime-web with the same thread count.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../../..');
const { serve } = await import(path.join(REPO, 'examples/web/serve.mjs'));
// The public pictures and checkpoints: ../shared beside the checkout, or FACEMASK_SHARED_DIR.
const SHARED = process.env.FACEMASK_SHARED_DIR || path.resolve(REPO, '../shared');
const ALL = ['facemask_wasm_simd', 'facemask_wasm_mt', 'facemask_wasm_scalar', 'onnxruntime_web', 'onnxruntime_web_2t',
  'facemask_wasm_simd_detect', 'facemask_wasm_mt_detect', 'facemask_wasm_scalar_detect'];
// Threads of each engine (for the RESULT lines and the ratios).
const THREADS = (e) => (/_mt|_2t/.test(e) ? 2 : 1);
const DEFAULT = ALL.filter((e) => !/scalar_detect|mt_detect/.test(e));  // scalar detect ~1 s a run: on request

function parseArgs(argv) {
  const o = { web: null, onnx: null, size: '640x480', runs: '30', warmup: '5', engines: DEFAULT.join(','),
    picture: path.join(SHARED, 'images/ex_img.jpg'), native: null, chromium: '/usr/bin/chromium',
    checkpoint: path.join(SHARED, 'weights/pytorch-retinaface/mobilenet0.25_Final.pth') };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (key === 'help' || key === 'h') {
      console.log('usage: node web_bench.mjs --web WEBOUT [--onnx FILE] [--size WxH] [--runs N] [--warmup N] ' +
        `[--engines ${ALL.join(',')}] [--picture FILE] [--native BUILD] [--checkpoint PTH] [--chromium PATH]`);
      process.exit(0);
    }
    if (!(key in o) || i + 1 >= argv.length) {
      console.error(`web_bench: bad argument '${argv[i]}' (see --help)`);
      process.exit(2);
    }
    o[key] = argv[++i];
  }
  const m = /^(\d+)x(\d+)$/.exec(o.size);
  if (!o.web || !m) {
    console.error('web_bench: --web WEBOUT is required and --size is WxH (see --help)');
    process.exit(2);
  }
  o.width = Number(m[1]);
  o.height = Number(m[2]);
  o.runs = Number(o.runs);
  o.warmup = Number(o.warmup);
  o.engines = o.engines.split(',').filter(Boolean);
  for (const e of o.engines) if (!ALL.includes(e)) { console.error(`web_bench: unknown engine ${e}`); process.exit(2); }
  o.web = path.resolve(o.web);
  o.onnx = path.resolve(o.onnx || path.join(o.web, 'onnx', `retinaface_${o.size}.onnx`));
  return o;
}

function stats(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))];
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { median, min: s[0], p90: q(0.9), n: s.length };
}

function exportOnnx(o) {
  if (fs.existsSync(o.onnx)) return;
  fs.mkdirSync(path.dirname(o.onnx), { recursive: true });
  console.error(`web_bench: exporting ${o.onnx}`);
  const r = spawnSync('/usr/bin/python3', [path.join(REPO, 'tools/export_onnx.py'), '--checkpoint', o.checkpoint,
    '--family', 'pytorch-retinaface', '--out', o.onnx, '--size', o.size], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`export_onnx.py failed: ${r.stderr || r.error}`);
}

function native(o) {
  const bench = path.join(o.native, 'fm_bench');
  if (!fs.existsSync(bench)) {
    console.error(`web_bench: no ${bench}; native timings skipped`);
    return {};
  }
  const out = {};
  for (const what of ['forward', 'detect']) {
    const r = spawnSync(bench, ['--what', what, '--size', o.size, '--threads', '1', '--runs', String(o.runs),
      '--warmup', String(o.warmup), '--weights', path.join(o.web, 'weights/retinaface_mnet025.fmb'), '--picture', o.picture],
    { encoding: 'utf8' });
    if (r.status !== 0) { console.error(`web_bench: fm_bench --what ${what} failed: ${r.stderr}`); continue; }
    const t = r.stdout.split('\n').filter((l) => l.startsWith('run ')).map((l) => Number(l.split(' ')[1])).sort((a, b) => a - b);
    const median = t.length % 2 ? t[(t.length - 1) / 2] : (t[t.length / 2 - 1] + t[t.length / 2]) / 2;
    out[what === 'forward' ? 'facemask_native' : 'facemask_native_detect'] = { median, min: t[0], p90: t[Math.round(0.9 * (t.length - 1))],
      n: t.length, info: `fm_bench --what ${what}, native (${o.native})` };
  }
  return out;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  for (const f of ['facemask.js', 'facemask_simd.wasm', 'facemask_scalar.wasm', 'facemask_mt.wasm', 'weights/retinaface_mnet025.fmb']) {
    if (!fs.existsSync(path.join(o.web, f))) {
      console.error(`web_bench: no ${path.join(o.web, f)} (run examples/web/build.sh first)`);
      process.exit(2);
    }
  }
  const ortDist = path.join(HERE, 'node_modules/onnxruntime-web/dist');
  if (o.engines.some((e) => e.startsWith('onnxruntime_web'))) {
    if (!fs.existsSync(ortDist)) {
      console.error(`web_bench: no ${ortDist} (cd ${HERE} && npm install --no-audit --no-fund --ignore-scripts)`);
      process.exit(2);
    }
    exportOnnx(o);
  }
  const server = await serve({ '/': o.web, '/bench/': HERE, '/ort/': ortDist, '/model/': path.dirname(o.onnx),
    '/data/': path.dirname(path.resolve(o.picture)) });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'facemask-bench-chromium-'));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: o.chromium, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  let results = {};
  const wasmFiles = new Set();
  try {
    // One page for facemask's engines, one per onnxruntime-web thread count.
    const groups = [
      { engines: o.engines.filter((e) => e.startsWith('facemask_')), ortThreads: 1 },
      { engines: o.engines.filter((e) => e === 'onnxruntime_web'), ortThreads: 1 },
      { engines: o.engines.filter((e) => e === 'onnxruntime_web_2t'), ortThreads: 2 },
    ].filter((g) => g.engines.length);
    const order = [];  // [engine, page]
    for (const g of groups) {
      const page = await browser.newPage();
      page.on('console', (m) => console.error(`[page ${m.type()}] ${m.text()}`));
      page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
      page.on('request', (r) => { if (r.url().endsWith('.wasm')) wasmFiles.add(new URL(r.url()).pathname); });
      await page.goto(`${server.url}bench/bench.html`);
      await page.waitForFunction(() => window.benchReady === true, null, { timeout: 30000 });
      const isolated = await page.evaluate(() => self.crossOriginIsolated);
      if (!isolated) throw new Error('the bench page is not cross-origin isolated (threads need COOP/COEP)');
      const names = await page.evaluate((cfg) => window.prepare(cfg), {
        width: o.width, height: o.height, engines: g.engines, ortThreads: g.ortThreads,
        picture: `/data/${path.basename(o.picture)}`, model: `/model/${path.basename(o.onnx)}`,
      });
      g.page = page;
      for (const n of names) order.push([n, page]);
    }
    const times = Object.fromEntries(order.map(([n]) => [n, []]));
    for (const [n, page] of order) for (let i = 0; i < o.warmup; i++) await page.evaluate((x) => window.runOne(x), n);
    for (let r = 0; r < o.runs; r++) {
      for (const [n, page] of order) times[n].push(await page.evaluate((x) => window.runOne(x), n));
      await new Promise((res) => setTimeout(res, 5));
    }
    for (const g of groups) {
      const info = await g.page.evaluate(() => window.cleanup());
      for (const n of g.engines) results[n] = { ...stats(times[n]), info: info[n] };
    }
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  if (o.native) Object.assign(results, native(o));
  const version = spawnSync(o.chromium, ['--version'], { encoding: 'utf8' }).stdout.trim();
  for (const [name, r] of Object.entries(results)) {
    console.log(`RESULT engine=${name} size=${o.size} threads=${THREADS(name)} median_ms=${r.median.toFixed(3)}`);
  }
  const host = (fs.readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) || [])[1] || os.cpus()[0].model;
  console.log(`\nIn-browser timing, ${o.size}, ${version}, host ${host}, ${os.cpus().length} cores, ` +
    `load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} (at the end), wasm files: ${[...wasmFiles].join(' ')}`);
  console.log('| engine | median ms | min ms | p90 ms | runs | what |');
  console.log('|---|---:|---:|---:|---:|---|');
  for (const [name, r] of Object.entries(results)) {
    console.log(`| ${name} | ${r.median.toFixed(2)} | ${r.min.toFixed(2)} | ${r.p90.toFixed(2)} | ${r.n} | ${r.info} |`);
  }
  const ratio = (a, b) => {
    if (results[a] && results[b]) console.log(`${a} / ${b}: ${(results[a].median / results[b].median).toFixed(2)}x the time`);
  };
  for (const n of ['facemask_wasm_simd', 'facemask_wasm_scalar', 'facemask_native']) ratio(n, 'onnxruntime_web');
  ratio('facemask_wasm_mt', 'onnxruntime_web_2t');
  ratio('facemask_wasm_mt', 'facemask_wasm_simd');
  ratio('onnxruntime_web_2t', 'onnxruntime_web');
}

main().catch((e) => {
  console.error(`web_bench: ${e.stack || e}`);
  process.exit(1);
});
