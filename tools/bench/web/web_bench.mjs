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
// Engines (all 1 thread; median of --runs interleaved runs after --warmup):
//   facemask_wasm_simd, facemask_wasm_scalar   Detector::forward on a prepared normalised
//                                              input: the network alone
//   onnxruntime_web                            session.run, wasm EP (its SIMD build), 1 thread
//   facemask_wasm_simd_detect                  detect() on the picture resized to WxH
//   facemask_wasm_scalar_detect                the same, scalar (slow: only with --engines)
// Prints "RESULT engine=<name> size=<W>x<H> threads=1 median_ms=<x>" lines, then a table.
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
const ALL = ['facemask_wasm_simd', 'facemask_wasm_scalar', 'onnxruntime_web', 'facemask_wasm_simd_detect',
  'facemask_wasm_scalar_detect'];
const DEFAULT = ALL.filter((e) => e !== 'facemask_wasm_scalar_detect');  // ~1 s a run: on request

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
  for (const f of ['facemask.js', 'facemask_simd.wasm', 'facemask_scalar.wasm', 'weights/retinaface_mnet025.fmb']) {
    if (!fs.existsSync(path.join(o.web, f))) {
      console.error(`web_bench: no ${path.join(o.web, f)} (run examples/web/build.sh first)`);
      process.exit(2);
    }
  }
  const ortDist = path.join(HERE, 'node_modules/onnxruntime-web/dist');
  if (o.engines.includes('onnxruntime_web')) {
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
  let results;
  const wasmFiles = new Set();
  try {
    const page = browser.pages()[0] || (await browser.newPage());
    page.on('console', (m) => console.error(`[page ${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => console.error(`[page error] ${e.message}`));
    page.on('request', (r) => { if (r.url().endsWith('.wasm')) wasmFiles.add(new URL(r.url()).pathname); });
    await page.goto(`${server.url}bench/bench.html`);
    await page.waitForFunction(() => window.benchReady === true, null, { timeout: 30000 });
    results = await page.evaluate((cfg) => window.runBench(cfg), {
      width: o.width, height: o.height, runs: o.runs, warmup: o.warmup, engines: o.engines,
      picture: `/data/${path.basename(o.picture)}`, model: `/model/${path.basename(o.onnx)}`,
    });
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
  if (o.native) Object.assign(results, native(o));
  const version = spawnSync(o.chromium, ['--version'], { encoding: 'utf8' }).stdout.trim();
  for (const [name, r] of Object.entries(results)) {
    console.log(`RESULT engine=${name} size=${o.size} threads=1 median_ms=${r.median.toFixed(3)}`);
  }
  console.log(`\nIn-browser timing, ${o.size}, 1 thread, ${version}, wasm files: ${[...wasmFiles].join(' ')}`);
  console.log('| engine | median ms | min ms | p90 ms | runs | what |');
  console.log('|---|---:|---:|---:|---:|---|');
  for (const [name, r] of Object.entries(results)) {
    console.log(`| ${name} | ${r.median.toFixed(2)} | ${r.min.toFixed(2)} | ${r.p90.toFixed(2)} | ${r.n} | ${r.info} |`);
  }
  const ort = results.onnxruntime_web;
  if (ort) {
    for (const n of ['facemask_wasm_simd', 'facemask_wasm_scalar', 'facemask_native']) {
      if (results[n]) console.log(`${n} / onnxruntime_web: ${(results[n].median / ort.median).toFixed(2)}x the time`);
    }
  }
}

main().catch((e) => {
  console.error(`web_bench: ${e.stack || e}`);
  process.exit(1);
});
