// facemask.js — the facemask engine in the browser: a few functions over the WebAssembly
// builds made by examples/web/build.sh (facemask_simd.js/.wasm, facemask_scalar.js/.wasm and
// the threaded facemask_mt.js/.wasm/.worker.js, next to this file).
//
// Threads: the threaded build needs SharedArrayBuffer, which a browser gives only to a page that
// is cross-origin isolated (served with Cross-Origin-Opener-Policy: same-origin and
// Cross-Origin-Embedder-Policy: require-corp). create() loads it when the page is (and SIMD128
// is there); elsewhere it loads the one-thread SIMD (or scalar) build and says why in
// engine.threadsNote.
//
//   import { FaceMask } from './facemask.js';
//   const fm = await FaceMask.create({ detectorUrl: 'weights/retinaface_mnet025.fmb',
//                                      classifierUrl: 'weights/mask_classifier.fmb' });
//   const { faces, annotated, ms } = fm.run(imageData, { conf: 0.5 });
//   ctx.putImageData(annotated, 0, 0);
//   fm.destroy();
//
// faces: [{ box: [x1, y1, x2, y2], score, landmarks: [[x, y] x 5], mask: p(masked) | null,
//           label: 'masked' | 'not_masked' | null }]   (the schema of example_annotate --json)
//
// People across video frames (the library's tracker, include/facemask/tracker.hpp):
//   const tracker = fm.createTracker({ confirmFrames: 3, alertFrames: 5 });
//   // or: await FaceMask.createTracker(settings), without weights (faces from anywhere)
//   const { tracks, events, counts } = tracker.update(faces, { width, height });  // once per frame
//   tracks[i]: face i's person id (0 tentative, -1 ignored); events: [{ event: 'enter' |
//   'alert' | 'masked' | 'leave', track, frame, box, mask, frames_seen }] (facemask_watch's
//   schema); counts: { people, not_masked, masked, masked_after_alert, present, dropped }

// A 1-function module using v128 (i8x16.splat, i8x16.popcnt): valid only where wasm SIMD is.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

const FLAG_DRAW = 1, FLAG_LANDMARKS = 2, FLAG_NO_CLASSIFY = 4;

/** True when this browser runs WebAssembly SIMD128. */
export function simdSupported() {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch (e) {
    return false;
  }
}

async function fetchBytes(url, what) {
  let response;
  try {
    response = await fetch(url);
  } catch (e) {
    throw new Error(`cannot fetch the ${what} from ${url}: ${e.message}`);
  }
  if (!response.ok) throw new Error(`cannot fetch the ${what} from ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

function asBytes(x, what) {
  if (x == null) return null;
  if (x instanceof Uint8Array) return x;
  if (x instanceof ArrayBuffer) return new Uint8Array(x);
  if (ArrayBuffer.isView(x)) return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  throw new Error(`the ${what} must be an ArrayBuffer or a typed array`);
}

/** True when this page may run the threaded build: SharedArrayBuffer, cross-origin isolated. */
export function threadsSupported() {
  return typeof SharedArrayBuffer === 'function' && globalThis.crossOriginIsolated === true;
}

const modules = new Map();  // build name (and workers) -> Promise<emscripten module>

// name: 'facemask_simd' | 'facemask_scalar' | 'facemask_mt'; workers: the threads the threaded
// build preloads (they must exist before the first call: see build.sh).
function loadModule(name, baseUrl, workers = 0) {
  const key = `${baseUrl}|${name}|${workers}`;
  if (!modules.has(key)) {
    const jsUrl = new URL(`${name}.js`, baseUrl).href;
    const wasmUrl = new URL(`${name}.wasm`, baseUrl).href;
    const p = import(jsUrl).then((m) => m.default({
      locateFile: (file) => (file.endsWith('.wasm') ? wasmUrl : new URL(file, baseUrl).href),
      mainScriptUrlOrBlob: jsUrl,
      facemaskWorkers: workers,
      print: (t) => console.log(`[${name}] ${t}`),
      printErr: (t) => console.warn(`[${name}] ${t}`),
    }));
    p.catch(() => modules.delete(key));  // a failed load may be retried
    modules.set(key, p);
  }
  return modules.get(key);
}

// TrackerSettings (tracker.hpp) under JavaScript names, in fm_tracker_create's order.
const TRACKER_SETTINGS = ['minFace', 'confirmFrames', 'forgetFrames', 'alertFrames', 'minIou', 'maxDistance',
  'smoothing', 'maskedAbove', 'unmaskedBelow', 'edgeMargin'];

function newTracker(m, settings = {}) {
  const unknown = Object.keys(settings).filter((k) => !TRACKER_SETTINGS.includes(k));
  if (unknown.length) throw new Error(`tracker: unknown setting ${unknown.join(', ')} (known: ${TRACKER_SETTINGS.join(', ')})`);
  const args = TRACKER_SETTINGS.map((k) => {
    const v = settings[k];
    if (v === undefined || v === null) return NaN;  // the library's default
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`tracker: ${k} must be a finite number, not ${v}`);
    return v;
  });
  const handle = m._fm_tracker_create(...args);
  if (!handle) throw new Error(`tracker: ${m.UTF8ToString(m._fm_last_error()) || 'unknown error'}`);
  return new Tracker(m, handle);
}

/** Stable ids, smoothed mask decisions, events and counters for the faces of successive frames. */
class Tracker {
  constructor(mod, handle) {
    this._m = mod;
    this._h = handle;
    this._buf = 0;
    this._bufFaces = 0;
  }

  _alive() {
    if (!this._h) throw new Error('this tracker was destroyed');
  }

  _json(ptr, what) {
    if (!ptr) throw new Error(`tracker ${what}: ${this._m.UTF8ToString(this._m._fm_last_error()) || 'unknown error'}`);
    return JSON.parse(this._m.UTF8ToString(ptr));
  }

  /**
   * One frame's faces ({ box: [x1, y1, x2, y2], score, mask: p(masked) | null }, as run()
   * or facemask_serve give them) and the frame's size ({ width, height }, e.g. run()'s
   * result; left out: unknown, and edgeMargin does nothing). Returns { frame, tracks, events,
   * counts }.
   */
  update(faces, frame = {}) {
    this._alive();
    if (!Array.isArray(faces)) throw new Error('tracker update: give an array of faces');
    const m = this._m;
    const n = faces.length;
    if (n > this._bufFaces) {
      if (this._buf) m._free(this._buf);
      this._buf = m._malloc(n * 24);
      this._bufFaces = this._buf ? n : 0;
      if (!this._buf) throw new Error('tracker update: out of memory');
    }
    const v = new Float32Array(m.HEAPU8.buffer, this._buf, n * 6);
    faces.forEach((f, i) => {
      const b = f && f.box;
      if (!b || b.length !== 4) throw new Error(`tracker update: face ${i} has no box [x1, y1, x2, y2]`);
      v.set([b[0], b[1], b[2], b[3], f.score ?? 1, f.mask == null ? -1 : f.mask], i * 6);
    });
    const w = frame.width > 0 && frame.height > 0 ? Math.round(frame.width) : 0;
    const h = w ? Math.round(frame.height) : 0;
    return this._json(m._fm_tracker_update(this._h, this._buf, n, w, h), 'update');
  }

  /** { frame, settings (the library's names), counts, tracks: the people present now }. */
  state() {
    this._alive();
    return this._json(this._m._fm_tracker_state(this._h), 'state');
  }

  /** The counters: { people, not_masked, masked, masked_after_alert, present, dropped }. */
  counts() { return this.state().counts; }

  /** Forgets every person (no events); ids and counters start again. */
  reset() {
    this._alive();
    this._m._fm_tracker_reset(this._h);
  }

  destroy() {
    if (!this._h) return;
    this._m._fm_tracker_destroy(this._h);
    if (this._buf) this._m._free(this._buf);
    this._h = this._buf = this._bufFaces = 0;
  }
}

class Engine {
  constructor(mod, handle, simd, hasClassifier, build, threads, threadsNote) {
    this._m = mod;
    this._h = handle;
    this._in = 0;       // cached input buffer in wasm memory
    this._inBytes = 0;
    this._scale = 0;    // cached scale text
    this.simd = simd;                                  // the SIMD128 build?
    this.build = build;                                // 'facemask_mt' | 'facemask_simd' | 'facemask_scalar'
    this.threads = threads;                            // threads run() and forward use
    this.threadsNote = threadsNote;                    // why one thread, when more were asked ('' otherwise)
    this.kernels = mod.UTF8ToString(mod._fm_simd_name());  // 'sse4.1' or 'scalar'
    this.hasClassifier = hasClassifier;
  }

  _error(what) {
    return new Error(`${what}: ${this._m.UTF8ToString(this._m._fm_last_error()) || 'unknown error'}`);
  }

  _alive() {
    if (!this._h) throw new Error('this FaceMask was destroyed');
  }

  _input(bytes) {
    if (bytes > this._inBytes) {
      if (this._in) this._m._free(this._in);
      this._in = this._m._malloc(bytes);
      this._inBytes = this._in ? bytes : 0;
      if (!this._in) throw new Error(`out of memory: cannot hold a ${bytes}-byte picture`);
    }
    return this._in;
  }

  /**
   * Finds the faces in an RGBA picture and classifies them.
   * image: ImageData, or { data: Uint8Array | Uint8ClampedArray (RGBA), width, height }.
   * options: conf (0.5), nms (0.4), maskThreshold (-1: the classifier blob's own, 0.5), scale ('long=640' | 'native' |
   *   'factor=F' | 'WxH'), draw (true), landmarks (false), classify (true).
   * Returns { faces, width, height, annotated: ImageData | null, ms, kernels }.
   */
  run(image, options = {}) {
    this._alive();
    const { data, width, height } = image || {};
    if (!data || !(width > 0) || !(height > 0)) throw new Error('run: give an ImageData or { data, width, height }');
    if (data.length !== width * height * 4)
      throw new Error(`run: ${width}x${height} RGBA needs ${width * height * 4} bytes, the data has ${data.length}`);
    const o = { conf: 0.5, nms: 0.4, maskThreshold: -1, scale: 'long=640', draw: true, landmarks: false,
      classify: true, ...options };
    const m = this._m;
    const t0 = performance.now();
    const ptr = this._input(data.length);
    m.HEAPU8.set(data, ptr);
    const scaleBytes = m.lengthBytesUTF8(o.scale) + 1;
    const scalePtr = m._malloc(scaleBytes);
    m.stringToUTF8(o.scale, scalePtr, scaleBytes);
    const flags = (o.draw ? FLAG_DRAW : 0) | (o.landmarks ? FLAG_LANDMARKS : 0) | (o.classify ? 0 : FLAG_NO_CLASSIFY);
    const json = m._fm_run(this._h, ptr, width, height, o.conf, o.nms, o.maskThreshold, scalePtr, flags);
    m._free(scalePtr);
    if (!json) throw this._error('run');
    const result = JSON.parse(m.UTF8ToString(json));
    let annotated = null;
    if (o.draw) {
      const p = m._fm_pixels(this._h);
      const pixels = new Uint8ClampedArray(width * height * 4);
      pixels.set(m.HEAPU8.subarray(p, p + pixels.length));  // HEAPU8 after the call: memory may have grown
      annotated = typeof ImageData === 'function' ? new ImageData(pixels, width, height) : { data: pixels, width, height };
    }
    const ms = performance.now() - t0;
    return { faces: result.faces, width, height, annotated, ms, kernels: this.kernels, threads: this.threads };
  }

  /**
   * A tracker in this engine's module (settings: minFace, confirmFrames, forgetFrames,
   * alertFrames, minIou, maxDistance, smoothing, maskedAbove, unmaskedBelow, edgeMargin; left
   * out: the library's defaults). It outlives destroy() of the engine only as long as the module does.
   */
  createTracker(settings = {}) {
    return newTracker(this._m, settings);
  }

  /**
   * For benchmarks: copies a normalised input (h x w x 3 floats, network channel order) into
   * the module once and returns { run(), free() }, run() being the detector network alone.
   */
  prepareForward(input, w, h) {
    this._alive();
    if (!(input instanceof Float32Array) || input.length !== w * h * 3)
      throw new Error(`prepareForward: want a Float32Array of ${w * h * 3} values`);
    const m = this._m;
    const ptr = m._malloc(input.byteLength);
    if (!ptr) throw new Error('prepareForward: out of memory');
    new Float32Array(m.HEAPU8.buffer, ptr, input.length).set(input);
    const self = this;
    return {
      run() {
        self._alive();
        if (m._fm_forward(self._h, ptr, w, h) !== 0) throw self._error('forward');
      },
      free() { m._free(ptr); },
    };
  }

  /** Frees the engine's memory; the object cannot be used afterwards. */
  destroy() {
    if (!this._h) return;
    this._m._fm_destroy(this._h);
    if (this._in) this._m._free(this._in);
    this._h = 0;
    this._in = 0;
    this._inBytes = 0;
  }
}

/**
 * Creates an engine.
 * weights: { detectorUrl, classifierUrl } or { detector, classifier } (ArrayBuffer / typed
 *   array); the classifier may be left out (or null) to detect faces only.
 * options: simd: 'auto' (default: SIMD128 where the browser has it) | true | false;
 *   threads: 'auto' (default: the cores, at most 4) | N; more than 1 loads the threaded build
 *     where the page is cross-origin isolated, else one thread (engine.threadsNote says why);
 *   baseUrl: where facemask_{simd,scalar,mt}.{js,wasm} are (default: next to facemask.js);
 *   selfTest: run the blobs' self-tests after loading (default true).
 */
export async function create(weights = {}, options = {}) {
  const { simd = 'auto', threads = 'auto', baseUrl = new URL('./', import.meta.url).href, selfTest = true } = options;
  const haveSimd = simdSupported();
  if (simd === true && !haveSimd) throw new Error('this browser has no WebAssembly SIMD128; use simd: false or "auto"');
  const useSimd = simd === 'auto' ? haveSimd : Boolean(simd);
  const cores = (typeof navigator === 'object' && navigator.hardwareConcurrency) || 1;
  const want = threads === 'auto' ? Math.min(cores, 4) : Math.max(1, Math.min(16, Math.floor(Number(threads)) || 1));
  let threadsNote = '';
  if (want > 1 && !useSimd) threadsNote = 'one thread: the threaded build needs SIMD128';
  else if (want > 1 && !threadsSupported()) {
    threadsNote = 'one thread: the page is not cross-origin isolated (no SharedArrayBuffer; serve it with ' +
      'Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)';
  }
  let build = want > 1 && !threadsNote ? 'facemask_mt' : useSimd ? 'facemask_simd' : 'facemask_scalar';
  // The module is shared by the page's engines: its pool holds workers for two engines at once
  // (a worker goes back to the pool once an engine is destroyed and the page has yielded).
  const load = () => loadModule(build, baseUrl, build === 'facemask_mt' ? 2 * (want - 1) : 0).catch((e) => {
    throw new Error(`cannot load the WebAssembly build ${build}: ${e.message || e}`);
  });
  const modPromise = load().catch((e) => {
    if (build !== 'facemask_mt') throw e;
    threadsNote = `one thread: ${e.message}`;  // the threaded build failed: the one-thread SIMD build
    build = 'facemask_simd';
    return load();
  });
  const [det, cls, mod] = await Promise.all([
    weights.detector != null ? asBytes(weights.detector, 'detector blob')
      : weights.detectorUrl ? fetchBytes(weights.detectorUrl, 'detector blob') : null,
    weights.classifier != null ? asBytes(weights.classifier, 'classifier blob')
      : weights.classifierUrl ? fetchBytes(weights.classifierUrl, 'classifier blob') : null,
    modPromise,
  ]);
  if (!det) throw new Error('create: give the detector blob (detector or detectorUrl)');
  const dp = mod._malloc(det.length), cp = cls ? mod._malloc(cls.length) : 0;
  mod.HEAPU8.set(det, dp);
  if (cls) mod.HEAPU8.set(cls, cp);
  const handle = mod._fm_create(dp, det.length, cp, cls ? cls.length : 0, selfTest ? 1 : 0);
  mod._free(dp);
  if (cp) mod._free(cp);
  if (!handle) throw new Error(`create: ${mod.UTF8ToString(mod._fm_last_error())}`);
  const got = build === 'facemask_mt' ? mod._fm_threads(handle, want) : 1;
  if (build === 'facemask_mt' && got < want) threadsNote = `${got} of ${want} threads could start`;
  return new Engine(mod, handle, useSimd, Boolean(cls), build, got, threadsNote);
}

/**
 * A tracker without an engine (no weights needed): for faces from facemask_serve or elsewhere.
 * options: simd, baseUrl as for create().
 */
export async function createTracker(settings = {}, options = {}) {
  const { simd = 'auto', baseUrl = new URL('./', import.meta.url).href } = options;
  const useSimd = simd === 'auto' ? simdSupported() : Boolean(simd);
  const mod = await loadModule(useSimd ? 'facemask_simd' : 'facemask_scalar', baseUrl).catch((e) => {
    throw new Error(`cannot load the ${useSimd ? 'SIMD' : 'scalar'} WebAssembly build: ${e.message || e}`);
  });
  return newTracker(mod, settings);
}

export const FaceMask = { create, createTracker, simdSupported, threadsSupported };
export default FaceMask;
