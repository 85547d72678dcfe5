// app.js — the demo page: a picture (dropped, picked, or from the webcam) goes through an
// engine and the annotated picture and the list of faces come back. Two engines:
//   wasm    facemask.js in this page (the picture stays here)
//   server  POST /v1/detect to the facemask_serve that served the page (found by GET healthz;
//           the default there; ?engine=wasm|server in the address chooses)
// Live webcam mode runs the library's tracker (through the wasm build, whichever engine finds
// the faces): person ids on the boxes, one alert (banner, list, beep) per unmasked person,
// the counters.
import { FaceMask } from './facemask.js';

const DETECTOR_URL = 'weights/retinaface_mnet025.fmb';
const CLASSIFIER_URL = 'weights/mask_classifier.fmb';

const $ = (id) => document.getElementById(id);
const el = {
  drop: $('drop'), file: $('file'), status: $('status'), error: $('error'), output: $('output'), where: $('where'),
  canvas: $('canvas'), summary: $('summary'), tbody: document.querySelector('#faces tbody'),
  conf: $('conf'), mask: $('mask'), nms: $('nms'), scale: $('scale'), landmarks: $('landmarks'), backend: $('backend'),
  engine: $('engine'), confirm: $('confirm'), alertFrames: $('alert-frames'),
  camera: $('camera'), camStart: $('cam-start'), camSnap: $('cam-snap'), camLive: $('cam-live'), camStop: $('cam-stop'),
  video: $('video'), live: $('live'), banner: $('alert-banner'), alerts: $('alerts'), sound: $('sound'),
  liveReset: $('live-reset'),
  count: { people: $('count-people'), masked: $('count-masked'), not_masked: $('count-not-masked'), present: $('count-present') },
};

// For tests and the curious: the engine, the last result and the last error; live: the
// tracker's frames (track ids and what was drawn), events, counters and beeps.
const state = window.__facemask = {
  engine: null, ready: null, result: null, error: null, runs: 0, service: null, drawn: null,
  wasm: null,  // the WebAssembly build in use: { build, threads, threadsNote, crossOriginIsolated }
  live: { frames: [], events: [], counts: null, alerted: [], sounds: [] },
};
let blobs = null;       // { detector, classifier } bytes, fetched once
let picture = null;     // the last { image: ImageData, blob? }, re-run when a setting changes
let stream = null;      // the webcam
let tracker = null;     // the live mode's tracker (facemask.js), made on first use
let runSeq = 0;         // only the newest answer is shown (server answers may come out of order)

function status(text) { el.status.textContent = text; }

function showError(message) {
  state.error = message;
  el.error.textContent = message;
  el.error.hidden = !message;
  if (message) console.error(message);
}

// ---- engines ----------------------------------------------------------------------------------
async function fetchBlobs() {
  const get = async (url, required) => {
    let r;
    try {
      r = await fetch(url);
    } catch (e) {
      throw new Error(`Cannot download ${url}: ${e.message}. Is the page served over http:// (see serve.mjs)?`);
    }
    if (r.ok) return new Uint8Array(await r.arrayBuffer());
    if (required) throw new Error(`Cannot download ${url} (HTTP ${r.status}). Was the page built with build.sh?`);
    return null;
  };
  const [detector, classifier] = await Promise.all([get(DETECTOR_URL, true), get(CLASSIFIER_URL, false)]);
  return { detector, classifier };
}

// Is the page served by facemask_serve? Its GET /healthz answers {"status": "ok"} (relative
// URL: the page may sit under a prefix behind a proxy).
async function probeService() {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 5000);
  try {
    const r = await fetch('healthz', { cache: 'no-store', signal: ctl.signal });
    const body = r.ok ? await r.json() : null;
    return Boolean(body && body.status === 'ok');
  } catch (e) {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

function encode(image, type) {
  const c = document.createElement('canvas');
  c.width = image.width;
  c.height = image.height;
  c.getContext('2d').putImageData(image, 0, 0);
  return new Promise((resolve, reject) => c.toBlob((b) => (b ? resolve(b) : reject(new Error(`cannot encode the picture as ${type}`))),
    type, 0.9));
}

// The facemask_serve engine: the picture's own bytes (a file) or the frame as PNG (JPEG live)
// go to POST v1/detect; its JSON is the CLI's. Drawing is done here (drawFaces).
class ServiceEngine {
  constructor() {
    this.kind = 'server';
    this.kernels = 'facemask_serve';
    this.hasClassifier = true;
  }

  async run(pic, o) {
    const t0 = performance.now();
    const blob = pic.blob || (await encode(pic.image, pic.live ? 'image/jpeg' : 'image/png'));
    const q = new URLSearchParams({ conf: String(o.conf), nms: String(o.nms), mask_threshold: String(o.maskThreshold),
      scale: o.scale });
    let r;
    try {
      r = await fetch(`v1/detect?${q}`, { method: 'POST', headers: { 'Content-Type': blob.type || 'application/octet-stream' },
        body: blob });
    } catch (e) {
      throw new Error(`the service cannot be reached: ${e.message}`);
    }
    const body = await r.json().catch(() => null);
    if (!r.ok || !body || !Array.isArray(body.faces)) {
      throw new Error(`the service answered HTTP ${r.status}${body && body.error ? ` (${body.error}): ${body.message}` : ''}`);
    }
    this.hasClassifier = body.faces.every((f) => f.mask != null);
    return { faces: body.faces, width: body.width, height: body.height, annotated: null, ms: performance.now() - t0,
      kernels: this.kernels };
  }

  destroy() {}
}

class WasmEngine {
  constructor(fm) {
    this.kind = 'wasm';
    this.fm = fm;
    this.kernels = fm.kernels;
    this.simd = fm.simd;
    this.hasClassifier = fm.hasClassifier;
  }

  async run(pic, o) { return this.fm.run(pic.image, o); }

  destroy() { this.fm.destroy(); }
}

async function startEngine() {
  const kind = el.engine.value;
  status('Loading the engine…');
  if (state.engine) state.engine.destroy();
  state.engine = null;
  el.backend.disabled = kind === 'server';
  let engine;
  if (kind === 'server') {
    engine = new ServiceEngine();
    el.where.textContent = 'computed by the facemask_serve that served this page: pictures are sent to it';
    status(`Ready (on the server: facemask_serve at ${location.host}). Drop or pick a picture.`);
  } else {
    const choice = el.backend.value;  // auto: threads where the page is cross-origin isolated
    const simd = choice === 'auto' ? 'auto' : choice === 'simd';
    if (!blobs) blobs = await fetchBlobs();
    const fm = await FaceMask.create(blobs, { simd, threads: choice === 'auto' ? 'auto' : 1 });
    engine = new WasmEngine(fm);
    state.wasm = { build: fm.build, threads: fm.threads, threadsNote: fm.threadsNote,
      crossOriginIsolated: self.crossOriginIsolated === true };
    el.where.textContent = 'computed in this page with WebAssembly; the picture never leaves your computer';
    const what = (engine.simd ? 'WebAssembly SIMD128' : 'WebAssembly, scalar') +
      `, ${fm.threads} thread${fm.threads > 1 ? 's' : ''}`;
    status(`Ready (in this browser: ${what}, kernels: ${engine.kernels}${fm.threadsNote ? `; ${fm.threadsNote}` : ''}` +
      `${engine.hasClassifier ? '' : '; no mask classifier found, faces only'}). Drop or pick a picture.`);
  }
  state.engine = engine;
  return engine;
}

function options() {
  const num = (input, fallback) => {
    const v = Number(input.value);
    return Number.isFinite(v) ? v : fallback;
  };
  return {
    conf: Math.min(Math.max(num(el.conf, 0.5), 0), 0.999), nms: Math.min(Math.max(num(el.nms, 0.4), 0), 1),
    maskThreshold: Math.min(Math.max(num(el.mask, 0.5), 0), 1), scale: el.scale.value, landmarks: el.landmarks.checked,
  };
}

// ---- drawing ----------------------------------------------------------------------------------
// As facemask::annotate draws (draw.hpp): same colours, line width and label text.
const COLORS = { masked: '#00b189', not_masked: '#365abd', face: '#f5a623', landmark: '#ff3030', alert: '#b3261e',
  tag: '#1d2330' };

function lineWidth(w, h) { return Math.min(Math.max(Math.floor((Math.min(w, h) + 150) / 300), 1), 12); }

function labelText(f) {
  if (f.mask == null) return `face: ${f.score.toFixed(2)}`;
  return f.label === 'masked' ? `masked: ${f.mask.toFixed(2)}` : `not masked: ${(1 - f.mask).toFixed(2)}`;
}

function band(ctx, text, x, y, px, color, w, h, above) {
  ctx.font = `${px}px system-ui, sans-serif`;
  const pad = Math.max(2, Math.round(px / 5));
  const bw = Math.ceil(ctx.measureText(text).width) + 2 * pad, bh = px + 2 * pad;
  let bx = Math.min(Math.max(x, 0), Math.max(w - bw, 0));
  let by = above ? y - bh : y;
  if (by < 0) by = Math.max(y, 0);
  if (by + bh > h) by = Math.max(h - bh, 0);
  bx = Math.round(bx);
  by = Math.round(by);
  ctx.fillStyle = color;
  ctx.fillRect(bx, by, bw, bh);
  ctx.fillStyle = '#fff';
  ctx.textBaseline = 'top';
  ctx.fillText(text, bx + pad, by + pad);
}

function textSize(w, h) { return Math.max(11, Math.round(Math.min(w, h) * 0.03)); }

// The faces onto the picture (the server engine's answers; the wasm engine draws in the module).
function drawFaces(ctx, faces, w, h, landmarks) {
  const t = lineWidth(w, h);
  for (const f of faces) {
    const color = f.label == null ? COLORS.face : COLORS[f.label];
    const [x1, y1, x2, y2] = f.box.map((v) => Math.round(v));
    ctx.fillStyle = color;
    ctx.fillRect(x1, y1, x2 - x1, t);
    ctx.fillRect(x1, y2 - t, x2 - x1, t);
    ctx.fillRect(x1, y1, t, y2 - y1);
    ctx.fillRect(x2 - t, y1, t, y2 - y1);
    if (landmarks) {
      ctx.fillStyle = COLORS.landmark;
      for (const [x, y] of f.landmarks) {
        ctx.beginPath();
        ctx.arc(x, y, t + 1, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
    band(ctx, labelText(f), x1, y1, textSize(w, h), color, w, h, true);
  }
}

// Live: "#id" under each confirmed person's box, red once an alert was raised for them.
function drawTags(ctx, faces, tracks, alerted, w, h) {
  const tags = [];
  faces.forEach((f, i) => {
    const id = tracks[i];
    if (!(id > 0)) return;
    const text = `#${id}`;
    band(ctx, text, f.box[0], f.box[3], textSize(w, h), alerted.has(id) ? COLORS.alert : COLORS.tag, w, h, false);
    tags.push(text);
  });
  return tags;
}

function fmt(x, digits) { return x == null ? '—' : x.toFixed(digits); }

function show(result, image, live) {
  const { faces, width, height, annotated, ms, kernels, threads } = result;
  el.canvas.width = width;
  el.canvas.height = height;
  const ctx = el.canvas.getContext('2d');
  if (annotated) {
    ctx.putImageData(annotated, 0, 0);
  } else {
    if (image.width !== width || image.height !== height) {
      console.warn(`the engine saw ${width}x${height}, this page decoded ${image.width}x${image.height}`);
    }
    ctx.putImageData(image, 0, 0);
    drawFaces(ctx, faces, width, height, options().landmarks);
  }
  const tracks = live ? live.tracks : faces.map(() => null);
  const tags = live ? drawTags(ctx, faces, tracks, new Set(state.live.alerted), width, height) : [];
  state.drawn = { engine: state.engine.kind, faces: faces.map((f, i) => ({ box: f.box, label: f.label, track: tracks[i] })),
    tags };
  const masked = faces.filter((f) => f.label === 'masked').length;
  el.summary.textContent = `${faces.length} face${faces.length === 1 ? '' : 's'}` +
    (state.engine.hasClassifier ? `, ${masked} masked` : '') +
    ` — ${width}x${height}, ${ms.toFixed(1)} ms (${kernels}${threads > 1 ? `, ${threads} threads` : ''})`;
  el.tbody.replaceChildren(...faces.map((f, i) => {
    const tr = document.createElement('tr');
    const id = tracks[i];
    const cells = [String(i + 1), id > 0 ? `#${id}` : '—', f.label ? f.label.replace('_', ' ') : 'face', fmt(f.mask, 3),
      fmt(f.score, 3), f.box.map((v) => v.toFixed(1)).join(', ')];
    for (const [k, text] of cells.entries()) {
      const td = document.createElement('td');
      td.textContent = text;
      if (k === 2 && f.label) td.className = f.label;
      tr.append(td);
    }
    return tr;
  }));
  el.output.hidden = false;
}

// ---- live: the tracker, alerts, counters, the beep ----------------------------------------------
let audio = null;

// A user gesture (start camera, tick live) lets the page make sound later; never fails.
function unlockAudio() {
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return;
    if (!audio) audio = new Ctx();
    if (audio.state === 'suspended') audio.resume().catch(() => {});
  } catch (e) {
    audio = null;
  }
}

// A short beep; returns what happened ('running', 'suspended' = blocked by the browser's
// autoplay policy, 'off', 'no WebAudio' or 'failed: ...'). Never throws.
function beep() {
  if (!el.sound.checked) return 'off';
  try {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return 'no WebAudio';
    if (!audio) audio = new Ctx();
    if (audio.state === 'suspended') audio.resume().catch(() => {});
    const now = audio.currentTime;
    const osc = audio.createOscillator(), gain = audio.createGain();
    osc.type = 'square';
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.12, now);
    gain.gain.exponentialRampToValueAtTime(0.001, now + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start(now);
    osc.stop(now + 0.25);
    return audio.state;
  } catch (e) {
    return `failed: ${e.message}`;
  }
}

function liveSettings() {
  const int = (input, fallback, lo, hi) => {
    const v = Math.round(Number(input.value));
    return Number.isFinite(v) ? Math.min(Math.max(v, lo), hi) : fallback;
  };
  return { confirmFrames: int(el.confirm, 3, 1, 100), alertFrames: int(el.alertFrames, 5, 1, 1000) };
}

async function liveTracker() {
  if (!tracker) {
    const choice = el.backend.value;
    tracker = await FaceMask.createTracker(liveSettings(), { simd: choice === 'auto' ? 'auto' : choice === 'simd' });
    resetLive();
  }
  return tracker;
}

function showCounts(c) {
  for (const k of Object.keys(el.count)) el.count[k].textContent = String(c[k]);
}

function showBanner() {
  const ids = state.live.alerted;
  el.banner.hidden = ids.length === 0;
  el.banner.textContent = ids.length ? `Not masked: ${ids.map((id) => `person #${id}`).join(', ')}` : '';
}

function resetLive() {
  if (tracker) tracker.reset();
  state.live = { frames: [], events: [], counts: tracker ? tracker.counts() : null, alerted: [], sounds: [] };
  el.alerts.replaceChildren();
  showBanner();
  if (state.live.counts) showCounts(state.live.counts);
}

function logEvent(text, cls) {
  const li = document.createElement('li');
  li.className = cls;
  li.textContent = `${new Date().toLocaleTimeString()} — ${text}`;
  el.alerts.prepend(li);
  while (el.alerts.children.length > 50) el.alerts.lastChild.remove();
}

function track(result) {
  const t = tracker.update(result.faces, result);  // the frame's size: faces cut by its border are not judged
  const live = state.live;
  for (const e of t.events) {
    live.events.push(e);
    if (e.event === 'alert') {
      if (!live.alerted.includes(e.track)) live.alerted.push(e.track);
      logEvent(`person #${e.track} is not wearing a mask`, 'alert');
      live.sounds.push(beep());
    } else if (e.event === 'masked') {
      live.alerted = live.alerted.filter((id) => id !== e.track);
      logEvent(`person #${e.track} put a mask on`, 'masked');
    } else if (e.event === 'leave') {
      live.alerted = live.alerted.filter((id) => id !== e.track);
    }
  }
  live.counts = t.counts;
  showCounts(t.counts);
  showBanner();
  return t;
}

// ---- analysis ---------------------------------------------------------------------------------
async function analyse(pic) {
  if (!pic.live) picture = pic;
  const seq = ++runSeq;
  const engine = state.engine || (await state.ready);
  if (!engine) return;
  try {
    const result = await engine.run(pic, options());
    if (seq !== runSeq) return;  // a newer picture was given meanwhile
    let live = null;
    if (pic.live) {
      live = track(result);
      const frames = state.live.frames;
      frames.push({ frame: live.frame, tracks: live.tracks, boxes: result.faces.map((f) => f.box),
        labels: result.faces.map((f) => f.label) });
      if (frames.length > 500) frames.shift();
    }
    state.result = result;
    state.runs += 1;
    show(result, pic.image, live);
    if (live) state.live.frames[state.live.frames.length - 1].tags = state.drawn.tags;
    showError('');
  } catch (e) {
    showError(`Could not analyse the picture: ${e.message}`);
  }
}

function pixelsOf(source, width, height) {
  const c = document.createElement('canvas');
  c.width = width;
  c.height = height;
  const ctx = c.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(source, 0, 0, width, height);
  return ctx.getImageData(0, 0, width, height);
}

async function decode(file) {
  if (file.type && !file.type.startsWith('image/')) throw new Error(`"${file.name}" is not a picture (${file.type})`);
  try {
    const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
    const data = pixelsOf(bitmap, bitmap.width, bitmap.height);
    bitmap.close();
    return data;
  } catch (e) {
    // Older browsers: through an <img>.
    const url = URL.createObjectURL(file);
    try {
      const img = new Image();
      img.src = url;
      await img.decode();
      return pixelsOf(img, img.naturalWidth, img.naturalHeight);
    } catch (e2) {
      throw new Error(`"${file.name}" cannot be read as a picture by this browser`);
    } finally {
      URL.revokeObjectURL(url);
    }
  }
}

async function openFile(file) {
  if (!file) return;
  stopLive();
  status(`Reading ${file.name}…`);
  try {
    const image = await decode(file);
    status(`${file.name}`);
    // The server gets the file itself (as curl would send it); both decoders apply EXIF orientation.
    await analyse({ image, blob: file });
  } catch (e) {
    status('');
    showError(e.message);
  }
}

// ---- picture input: pick, drop, paste ---------------------------------------------------------
el.file.addEventListener('change', () => openFile(el.file.files[0]));
el.drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') el.file.click(); });
for (const name of ['dragenter', 'dragover']) {
  el.drop.addEventListener(name, (e) => { e.preventDefault(); el.drop.classList.add('over'); });
}
for (const name of ['dragleave', 'drop']) el.drop.addEventListener(name, () => el.drop.classList.remove('over'));
el.drop.addEventListener('drop', (e) => {
  e.preventDefault();
  const file = e.dataTransfer.files[0];
  if (file) openFile(file);
  else showError('Nothing to open: drop a picture file.');
});
// Dropping outside the box should not make the browser navigate away to the picture.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());
window.addEventListener('paste', (e) => {
  const item = [...(e.clipboardData?.items || [])].find((i) => i.type.startsWith('image/'));
  if (item) openFile(item.getAsFile());
});

// ---- settings ---------------------------------------------------------------------------------
for (const input of [el.conf, el.mask, el.nms, el.scale, el.landmarks]) {
  input.addEventListener('change', () => { if (picture && !stream) analyse(picture); });
}
for (const input of [el.backend, el.engine]) {
  input.addEventListener('change', async () => {
    try {
      state.ready = startEngine();
      await state.ready;
      if (picture && !stream) await analyse(picture);
    } catch (e) {
      showError(e.message);
    }
  });
}
for (const input of [el.confirm, el.alertFrames]) {
  input.addEventListener('change', () => {  // new settings: a new tracker, counts from zero
    if (tracker) tracker.destroy();
    tracker = null;
    resetLive();
  });
}

// ---- webcam -----------------------------------------------------------------------------------
function frame() {
  const w = el.video.videoWidth, h = el.video.videoHeight;
  if (!w || !h) return null;
  return pixelsOf(el.video, w, h);
}

let liveRunning = false;

function stopLive() {
  el.camLive.checked = false;
}

// One frame at a time: the next is taken once the last one's answer is shown.
async function liveLoop() {
  if (liveRunning) return;
  liveRunning = true;
  try {
    await liveTracker();
    el.live.hidden = false;
    while (el.camLive.checked && stream) {
      const image = frame();
      if (image) await analyse({ image, live: true });
      await new Promise((resolve) => requestAnimationFrame(resolve));
    }
  } catch (e) {
    showError(`Live mode stopped: ${e.message}`);
    stopLive();
  } finally {
    liveRunning = false;
  }
}

function cameraError(e) {
  const why = {
    NotAllowedError: 'the camera permission was denied',
    NotFoundError: 'no camera was found',
    NotReadableError: 'the camera is in use by another program',
    OverconstrainedError: 'the camera cannot give a suitable picture size',
    SecurityError: 'the browser allows the camera only on https:// or localhost',
  }[e.name] || e.message;
  return `Cannot use the camera: ${why}.`;
}

if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
  el.camera.hidden = false;
  el.camStart.addEventListener('click', async () => {
    unlockAudio();
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
      el.video.srcObject = stream;
      el.video.hidden = false;
      await el.video.play();
      el.camStart.disabled = true;
      el.camSnap.disabled = el.camLive.disabled = el.camStop.disabled = false;
      resetLive();  // a new camera session counts from zero
      showError('');
      status('Camera on: take a snapshot, or tick "live" (people tracked, alerts for the unmasked).');
    } catch (e) {
      showError(cameraError(e));
    }
  });
  el.camSnap.addEventListener('click', () => {
    stopLive();
    const image = frame();
    if (image) analyse({ image });
    else showError('The camera has no picture yet; try again in a moment.');
  });
  el.camLive.addEventListener('change', () => {
    unlockAudio();
    if (el.camLive.checked) liveLoop();
  });
  el.liveReset.addEventListener('click', resetLive);
  el.camStop.addEventListener('click', () => {
    stopLive();
    for (const t of stream ? stream.getTracks() : []) t.stop();
    stream = null;
    el.video.hidden = true;
    el.camStart.disabled = false;
    el.camSnap.disabled = el.camLive.disabled = el.camStop.disabled = true;
    status('Camera off.');
  });
}
state.beep = beep;  // for the test: a beep where audio is blocked must not throw

// ---- start ------------------------------------------------------------------------------------
async function start() {
  const wanted = new URLSearchParams(location.search).get('engine');
  const haveWasm = typeof WebAssembly === 'object';
  state.service = await probeService();
  const server = el.engine.querySelector('option[value="server"]');
  const wasm = el.engine.querySelector('option[value="wasm"]');
  server.disabled = !state.service;
  if (!state.service) server.textContent = 'on the server (not available: this page is not served by facemask_serve)';
  wasm.disabled = !haveWasm;
  if (!haveWasm) wasm.textContent = 'in this browser (not available: no WebAssembly)';
  if (wanted === 'server' && !state.service) throw new Error('?engine=server: this page is not served by facemask_serve');
  if (!haveWasm && !state.service) throw new Error('this browser has no WebAssembly, and the page is not served by facemask_serve');
  el.engine.value = (wanted === 'wasm' && haveWasm) || wanted === 'server' ? wanted : state.service ? 'server' : 'wasm';
  return startEngine();
}

// Without WebAssembly the server engine still works; live mode (its tracker is WebAssembly)
// then says it cannot start.
state.ready = start().catch((e) => {
  status('');
  showError(`The engine could not start: ${e.message}`);
  return null;
});
