// run_web_test.mjs — the web demo in headless Chromium gives the native build's faces.
//
//   node tests/web/run_web_test.mjs --native BUILD --web WEBOUT [--picture FILE]
//        [--conf X] [--nms X] [--mask-threshold X] [--scale S] [--keep]
//
// BUILD: the native CMake build (example_annotate, decode_image); WEBOUT: the folder made by
// examples/web/build.sh (its weights/ holds the blobs both sides use).
//
// 1. Natively: decode_image writes the picture's pixels as a PPM (the exact RGB the engine
//    decodes), and example_annotate --json - --output native.bmp gives the faces and the
//    annotated picture, with the same blobs and options.
// 2. In Chromium (playwright-core, /usr/bin/chromium): index.html must start without errors;
//    then, through the same facemask.js, the PPM's pixels (as RGBA) go through BOTH WebAssembly
//    builds (SIMD128 and scalar); the annotated pixels are compared in the page with native.bmp.
// 3. The page's own UI: the picture is picked with the file input; the face table must fill.
//    Then the webcam (Chromium's fake camera): a snapshot and a few frames of the live loop.
// 4. Errors (bad blobs, bad pixels, bad options, use after destroy) come back as messages.
// 5. A browser without SIMD128 (the feature probe made to fail) gets the scalar build.
// Checks: same face count, same labels, |d score| <= 1e-4, boxes and landmarks within 0.05 px,
// |d p(masked)| <= 1e-4. Exit 0 when all pass, 1 otherwise (2: bad command line or setup).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const { serve } = await import(path.join(REPO, 'examples/web/serve.mjs'));
// The public pictures and checkpoints: ../shared beside the checkout, or FACEMASK_SHARED_DIR.
const SHARED = process.env.FACEMASK_SHARED_DIR || path.resolve(REPO, '../shared');

const TOL = { score: 1e-4, box: 0.05, mask: 1e-4 };

function parseArgs(argv) {
  const o = {
    native: null, web: null, picture: path.join(SHARED, 'images/ex_img.jpg'), conf: '0.5', nms: '0.4',
    'mask-threshold': '0.5', scale: 'long=640', keep: false, chromium: '/usr/bin/chromium',
  };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (key === 'keep') { o.keep = true; continue; }
    if (key === 'help' || key === 'h') {
      console.log('usage: node run_web_test.mjs --native BUILD --web WEBOUT [--picture FILE] [--conf X] [--nms X] ' +
        '[--mask-threshold X] [--scale S] [--chromium PATH] [--keep]');
      process.exit(0);
    }
    if (!(key in o) || i + 1 >= argv.length) {
      console.error(`run_web_test: bad argument '${argv[i]}' (see --help)`);
      process.exit(2);
    }
    o[key] = argv[++i];
  }
  if (!o.native || !o.web) {
    console.error('run_web_test: --native BUILD and --web WEBOUT are required (see --help)');
    process.exit(2);
  }
  return o;
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    console.error(`run_web_test: ${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr || r.error}`);
    process.exit(2);
  }
  return r.stdout;
}

// Pairs each native face with the closest browser face (by box corners).
function compare(nativeFaces, webFaces) {
  const rows = [];
  const used = new Set();
  let ok = nativeFaces.length === webFaces.length;
  for (const a of nativeFaces) {
    let best = -1, bestD = Infinity;
    webFaces.forEach((b, j) => {
      if (used.has(j)) return;
      const d = Math.max(...a.box.map((v, k) => Math.abs(v - b.box[k])));
      if (d < bestD) { bestD = d; best = j; }
    });
    if (best < 0) { ok = false; rows.push({ native: a, web: null }); continue; }
    used.add(best);
    const b = webFaces[best];
    const dScore = Math.abs(a.score - b.score);
    const dBox = bestD;
    const dLm = Math.max(...a.landmarks.flatMap((p, j) => [Math.abs(p[0] - b.landmarks[j][0]), Math.abs(p[1] - b.landmarks[j][1])]));
    const dMask = a.mask == null || b.mask == null ? (a.mask === b.mask ? 0 : Infinity) : Math.abs(a.mask - b.mask);
    const pass = dScore <= TOL.score && dBox <= TOL.box && dLm <= TOL.box && dMask <= TOL.mask && a.label === b.label;
    ok = ok && pass;
    rows.push({ native: a, web: b, dScore, dBox, dLm, dMask, pass });
  }
  return { ok, rows };
}

const e = (x) => (x === undefined ? '-' : x.toExponential(1));

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const web = path.resolve(o.web);
  const detector = path.join(web, 'weights/retinaface_mnet025.fmb');
  const classifier = path.join(web, 'weights/mask_classifier.fmb');
  for (const f of [path.join(o.native, 'example_annotate'), path.join(o.native, 'decode_image'), detector,
    path.join(web, 'facemask_simd.wasm'), path.join(web, 'facemask_scalar.wasm'), o.picture, o.chromium]) {
    if (!fs.existsSync(f)) {
      console.error(`run_web_test: missing ${f} (build the native project, then examples/web/build.sh)`);
      process.exit(2);
    }
  }
  const hasClassifier = fs.existsSync(classifier);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'facemask-web-'));

  // ---- native ----
  run(path.join(o.native, 'decode_image'), [o.picture, path.join(tmp, 'picture.ppm')]);
  const nativeArgs = ['--json', '-', '--output', path.join(tmp, 'native.bmp'), '--detector', detector,
    '--conf', o.conf, '--nms', o.nms, '--mask-threshold', o['mask-threshold'], '--scale', o.scale];
  if (hasClassifier) nativeArgs.push('--classifier', classifier);
  const native = JSON.parse(run(path.join(o.native, 'example_annotate'), [...nativeArgs, o.picture]).trim());
  run(path.join(o.native, 'decode_image'), [path.join(tmp, 'native.bmp'), path.join(tmp, 'native.ppm')]);
  console.log(`native: ${native.faces.length} faces on ${native.width}x${native.height} (${path.basename(o.picture)}), ` +
    `classifier ${hasClassifier ? path.basename(fs.realpathSync(classifier)) : 'none'}`);

  // ---- browser ----
  const server = await serve({ '/': web, '/test/': tmp });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'facemask-chromium-'));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: o.chromium, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
  });
  const problems = [];
  let results = null, ui = null, camera = null, noSimd = null;
  try {
    const page = browser.pages()[0] || (await browser.newPage());
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log(`[page ${m.type()}] ${m.text()}`); });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    await page.goto(`${server.url}index.html`);
    const start = await page.evaluate(async () => {
      const engine = await window.__facemask.ready;
      return { ok: Boolean(engine), error: window.__facemask.error, kernels: engine && engine.kernels,
        status: document.getElementById('status').textContent };
    });
    console.log(`page: ${start.ok ? 'ready' : 'FAILED'}: ${start.status}${start.error ? ` error: ${start.error}` : ''}`);
    if (!start.ok) problems.push(`the page did not start: ${start.error}`);

    const options = { conf: Number(o.conf), nms: Number(o.nms), maskThreshold: Number(o['mask-threshold']), scale: o.scale };
    results = await page.evaluate(async ({ options, hasClassifier }) => {
      const { FaceMask } = await import('/facemask.js');
      const readPpm = async (url) => {
        const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
        let pos = 0;
        const token = () => {
          for (;;) {
            while (/\s/.test(String.fromCharCode(bytes[pos]))) pos++;
            if (bytes[pos] !== 35) break;  // '#' comment
            while (bytes[pos] !== 10) pos++;
          }
          let s = '';
          while (!/\s/.test(String.fromCharCode(bytes[pos]))) s += String.fromCharCode(bytes[pos++]);
          return s;
        };
        if (token() !== 'P6') throw new Error(`${url} is not a binary PPM`);
        const width = Number(token()), height = Number(token());
        token();
        pos++;
        const rgb = bytes.subarray(pos, pos + width * height * 3);
        const data = new Uint8ClampedArray(width * height * 4);
        for (let i = 0, j = 0; i < width * height; i++, j += 3) {
          data[4 * i] = rgb[j]; data[4 * i + 1] = rgb[j + 1]; data[4 * i + 2] = rgb[j + 2]; data[4 * i + 3] = 255;
        }
        return { data, width, height };
      };
      const picture = await readPpm('/test/picture.ppm');
      const drawn = await readPpm('/test/native.ppm');
      const weights = { detectorUrl: 'weights/retinaface_mnet025.fmb', classifierUrl: hasClassifier ? 'weights/mask_classifier.fmb' : null };
      const out = {};
      for (const simd of [true, false]) {
        const t = performance.now();
        const fm = await FaceMask.create(weights, { simd });
        const createMs = performance.now() - t;
        const first = fm.run(picture, options);
        const second = fm.run(picture, options);  // warm: the workspace is planned
        let differ = 0;
        const a = first.annotated.data, b = drawn.data;
        for (let i = 0; i < a.length; i += 4) if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2]) differ++;
        const stable = JSON.stringify(first.faces) === JSON.stringify(second.faces);
        out[simd ? 'simd' : 'scalar'] = { faces: first.faces, kernels: fm.kernels, simd: fm.simd, createMs,
          ms: [first.ms, second.ms], differ, stable, alpha: a[3] };
        fm.destroy();
      }
      // Errors come back as clear messages, not crashes.
      const expectError = async (what, fn) => {
        try { await fn(); } catch (e) { return { what, message: e.message }; }
        return { what, message: null };
      };
      const det = new Uint8Array(await (await fetch(weights.detectorUrl)).arrayBuffer());
      const fm = await FaceMask.create({ detector: det }, { simd: 'auto' });
      out.errors = [
        await expectError('truncated detector blob', () => FaceMask.create({ detector: det.subarray(0, 1000) })),
        await expectError('classifier blob as detector', async () => {
          if (!hasClassifier) throw new Error('(skipped: no classifier blob)');
          const cls = new Uint8Array(await (await fetch(weights.classifierUrl)).arrayBuffer());
          await FaceMask.create({ detector: cls });
        }),
        await expectError('pixels of the wrong size', () => fm.run({ data: new Uint8Array(10), width: 4, height: 4 })),
        await expectError('bad scale option', () => fm.run({ data: new Uint8Array(64), width: 4, height: 4 }, { scale: 'big' })),
        await expectError('threshold out of range', () => fm.run({ data: new Uint8Array(64), width: 4, height: 4 }, { conf: 2 })),
      ];
      out.detectOnly = fm.run(picture, { ...options, draw: false }).faces;  // no classifier: mask null
      fm.destroy();
      out.errors.push(await expectError('use after destroy', () => fm.run(picture)));
      return out;
    }, { options, hasClassifier });

    // The UI: pick the picture with the file input (the browser decodes the file itself, so the
    // face count is checked, the numbers only reported).
    await page.evaluate((opt) => {  // the page's settings = the test's options
      const set = (id, v) => { document.getElementById(id).value = String(v); };
      set('conf', opt.conf); set('nms', opt.nms); set('mask', opt.maskThreshold);
      const scale = document.getElementById('scale');
      if (![...scale.options].some((x) => x.value === opt.scale)) scale.add(new Option(opt.scale, opt.scale));
      scale.value = opt.scale;
    }, options);
    await page.setInputFiles('#file', o.picture);
    await page.waitForFunction(() => window.__facemask.runs > 0 || window.__facemask.error, null, { timeout: 60000 });
    const uiResult = await page.evaluate(() => ({
      error: window.__facemask.error, faces: window.__facemask.result && window.__facemask.result.faces,
      rows: document.querySelectorAll('#faces tbody tr').length, summary: document.getElementById('summary').textContent,
      canvas: [document.getElementById('canvas').width, document.getElementById('canvas').height],
    }));
    ui = uiResult;

    // The webcam (Chromium's fake camera: a 640x480 test pattern): snapshot, then a few live frames.
    const runsBefore = await page.evaluate(() => window.__facemask.runs);
    await page.click('#cam-start');
    await page.waitForFunction(() => !document.getElementById('cam-snap').disabled || window.__facemask.error, null, { timeout: 20000 });
    await page.click('#cam-snap');
    await page.waitForFunction((n) => window.__facemask.runs > n || window.__facemask.error, runsBefore, { timeout: 20000 });
    await page.check('#cam-live');
    await page.waitForFunction((n) => window.__facemask.runs >= n + 4 || window.__facemask.error, runsBefore, { timeout: 30000 });
    await page.click('#cam-stop');
    camera = await page.evaluate((n) => ({ error: window.__facemask.error, frames: window.__facemask.runs - n,
      size: window.__facemask.result && [window.__facemask.result.width, window.__facemask.result.height] }), runsBefore);

    // A browser without SIMD128 (simulated: Chromium cannot turn it off, so the feature probe,
    // a 31-byte module, is made to fail): simd 'auto' must pick the scalar build.
    const page2 = await browser.newPage();
    page2.on('pageerror', (err) => problems.push(`page error (no-SIMD page): ${err.message}`));
    await page2.addInitScript(() => {
      const validate = WebAssembly.validate;
      WebAssembly.validate = (bytes) => (bytes.byteLength === 31 ? false : validate(bytes));
    });
    await page2.goto(`${server.url}index.html`);
    noSimd = await page2.evaluate(async () => {
      const engine = await window.__facemask.ready;
      return { kernels: engine && engine.kernels, error: window.__facemask.error };
    });
    await page2.close();
  } catch (err) {
    problems.push(`browser: ${err.message}`);
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }

  // ---- report ----
  let ok = problems.length === 0;
  if (results) {
    for (const name of ['simd', 'scalar']) {
      const r = results[name];
      const want = name === 'simd' ? 'sse4.1' : 'scalar';
      const c = compare(native.faces, r.faces);
      const drawnOk = r.differ === 0;
      const pass = c.ok && r.kernels === want && r.stable && drawnOk && r.alpha === 255;
      ok = ok && pass;
      console.log(`\n${name} build (kernels ${r.kernels}): ${r.faces.length} faces vs native ${native.faces.length}; ` +
        `load ${r.createMs.toFixed(0)} ms, run ${r.ms.map((x) => x.toFixed(0)).join(' / ')} ms (cold / warm) — ${pass ? 'PASS' : 'FAIL'}`);
      console.log('  face  score(native)  |d score|  |d box|px  |d landm|px  p(masked)(native)  |d mask|  label');
      c.rows.forEach((row, i) => {
        if (!row.web) { console.log(`  ${i + 1}: no matching face in the browser`); return; }
        console.log(`  ${String(i + 1).padStart(4)}  ${row.native.score.toFixed(6).padStart(13)}  ${e(row.dScore).padStart(9)}  ` +
          `${e(row.dBox).padStart(9)}  ${e(row.dLm).padStart(11)}  ${row.native.mask == null ? '     null' : row.native.mask.toFixed(6).padStart(17)}  ` +
          `${e(row.dMask).padStart(8)}  ${row.web.label}${row.pass ? '' : '   <-- out of tolerance'}`);
      });
      if (r.kernels !== want) console.log(`  kernels are '${r.kernels}', expected '${want}'`);
      if (!r.stable) console.log('  a second run gave different faces');
      console.log(`  annotated picture vs native: ${r.differ} of ${native.width * native.height} pixels differ${drawnOk ? '' : '  <-- FAIL'}`);
    }
  }
  if (ui) {
    const uiOk = !ui.error && ui.faces && ui.rows === ui.faces.length && ui.faces.length === native.faces.length;
    ok = ok && uiOk;
    console.log(`\npage UI (file input, decoded by the browser): ${ui.rows} rows in the face table, ` +
      `"${ui.summary}" — ${uiOk ? 'PASS' : 'FAIL'}${ui.error ? `; error: ${ui.error}` : ''}`);
  }
  if (results && results.errors) {
    console.log('\nerror handling (each must fail with a message):');
    for (const x of results.errors) {
      const pass = Boolean(x.message);
      ok = ok && pass;
      console.log(`  ${pass ? 'ok  ' : 'FAIL'} ${x.what}: ${x.message || 'no error raised'}`);
    }
    const c = compare(native.faces.map((f) => ({ ...f, mask: null, label: null })), results.detectOnly);
    ok = ok && c.ok;
    console.log(`  detection only (no classifier blob): ${results.detectOnly.length} faces, same boxes and scores as native, ` +
      `mask null — ${c.ok ? 'PASS' : 'FAIL'}`);
  }
  if (camera) {
    const camOk = !camera.error && camera.frames >= 4;
    ok = ok && camOk;
    console.log(`webcam (fake device): snapshot + live loop, ${camera.frames} frames of ${camera.size && camera.size.join('x')} ` +
      `analysed — ${camOk ? 'PASS' : 'FAIL'}${camera.error ? `; error: ${camera.error}` : ''}`);
  }
  if (noSimd) {
    const pass = noSimd.kernels === 'scalar' && !noSimd.error;
    ok = ok && pass;
    console.log(`browser without SIMD128 (simulated): simd 'auto' loads the ${noSimd.kernels} build — ${pass ? 'PASS' : 'FAIL'}`);
  }
  for (const p of problems) console.log(`PROBLEM: ${p}`);
  if (o.keep) console.log(`kept ${tmp}`); else fs.rmSync(tmp, { recursive: true, force: true });
  console.log(`\nweb test: ${ok ? 'PASS' : 'FAIL'} (tolerances: score ${TOL.score}, box ${TOL.box} px, mask ${TOL.mask}; ` +
    `${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  console.error(`run_web_test: ${err.stack || err}`);
  process.exit(1);
});
