// app.js — the demo page: a picture (dropped, picked, or from the webcam) goes through
// facemask.js; the annotated picture and the list of faces come back. Everything runs here.
import { FaceMask } from './facemask.js';

const DETECTOR_URL = 'weights/retinaface_mnet025.fmb';
const CLASSIFIER_URL = 'weights/mask_classifier.fmb';

const $ = (id) => document.getElementById(id);
const el = {
  drop: $('drop'), file: $('file'), status: $('status'), error: $('error'), output: $('output'),
  canvas: $('canvas'), summary: $('summary'), tbody: document.querySelector('#faces tbody'),
  conf: $('conf'), mask: $('mask'), nms: $('nms'), scale: $('scale'), landmarks: $('landmarks'), backend: $('backend'),
  camera: $('camera'), camStart: $('cam-start'), camSnap: $('cam-snap'), camLive: $('cam-live'), camStop: $('cam-stop'),
  video: $('video'),
};

// For tests and the curious: the engine, the last result and the last error.
const state = window.__facemask = { engine: null, ready: null, result: null, error: null, runs: 0 };
let blobs = null;       // { detector, classifier } bytes, fetched once
let picture = null;     // the last ImageData, re-run when a setting changes
let stream = null;      // the webcam
let liveFrame = 0;

function status(text) { el.status.textContent = text; }

function showError(message) {
  state.error = message;
  el.error.textContent = message;
  el.error.hidden = !message;
  if (message) console.error(message);
}

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

async function startEngine() {
  const choice = el.backend.value;
  const simd = choice === 'auto' ? 'auto' : choice === 'simd';
  status('Loading the engine…');
  if (state.engine) state.engine.destroy();
  state.engine = null;
  if (!blobs) blobs = await fetchBlobs();
  const engine = await FaceMask.create(blobs, { simd });
  state.engine = engine;
  const kind = engine.simd ? 'WebAssembly SIMD128' : 'WebAssembly, scalar';
  status(`Ready (${kind} kernels: ${engine.kernels}${engine.hasClassifier ? '' : '; no mask classifier found, faces only'}). ` +
    'Drop or pick a picture.');
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

function fmt(x, digits) { return x == null ? '—' : x.toFixed(digits); }

function show(result) {
  const { faces, annotated, ms, kernels } = result;
  el.canvas.width = annotated.width;
  el.canvas.height = annotated.height;
  el.canvas.getContext('2d').putImageData(annotated, 0, 0);
  const masked = faces.filter((f) => f.label === 'masked').length;
  el.summary.textContent = `${faces.length} face${faces.length === 1 ? '' : 's'}` +
    (state.engine.hasClassifier ? `, ${masked} masked` : '') +
    ` — ${annotated.width}x${annotated.height}, ${ms.toFixed(1)} ms (${kernels})`;
  el.tbody.replaceChildren(...faces.map((f, i) => {
    const tr = document.createElement('tr');
    const cells = [String(i + 1), f.label ? f.label.replace('_', ' ') : 'face', fmt(f.mask, 3), fmt(f.score, 3),
      f.box.map((v) => v.toFixed(1)).join(', ')];
    for (const [k, text] of cells.entries()) {
      const td = document.createElement('td');
      td.textContent = text;
      if (k === 1 && f.label) td.className = f.label;
      tr.append(td);
    }
    return tr;
  }));
  el.output.hidden = false;
}

async function analyse(imageData) {
  picture = imageData;
  const engine = state.engine || (await state.ready);
  if (!engine) return;
  try {
    const result = engine.run(imageData, options());
    state.result = result;
    state.runs += 1;
    show(result);
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
    const data = await decode(file);
    status(`${file.name}`);
    await analyse(data);
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
el.backend.addEventListener('change', async () => {
  try {
    state.ready = startEngine();
    await state.ready;
    if (picture && !stream) await analyse(picture);
  } catch (e) {
    showError(e.message);
  }
});

// ---- webcam -----------------------------------------------------------------------------------
function frame() {
  const w = el.video.videoWidth, h = el.video.videoHeight;
  if (!w || !h) return null;
  return pixelsOf(el.video, w, h);
}

function stopLive() {
  el.camLive.checked = false;
  cancelAnimationFrame(liveFrame);
}

function liveLoop() {
  if (!el.camLive.checked || !stream) return;
  const data = frame();
  if (data) analyse(data);
  liveFrame = requestAnimationFrame(liveLoop);
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
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
      el.video.srcObject = stream;
      el.video.hidden = false;
      await el.video.play();
      el.camStart.disabled = true;
      el.camSnap.disabled = el.camLive.disabled = el.camStop.disabled = false;
      showError('');
      status('Camera on: take a snapshot, or tick "live".');
    } catch (e) {
      showError(cameraError(e));
    }
  });
  el.camSnap.addEventListener('click', () => {
    stopLive();
    const data = frame();
    if (data) analyse(data);
    else showError('The camera has no picture yet; try again in a moment.');
  });
  el.camLive.addEventListener('change', () => { if (el.camLive.checked) liveLoop(); else stopLive(); });
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

// ---- start ------------------------------------------------------------------------------------
if (typeof WebAssembly !== 'object') {
  showError('This browser has no WebAssembly, which this page needs.');
} else {
  state.ready = startEngine().catch((e) => {
    status('');
    showError(`The engine could not start: ${e.message}`);
    return null;
  });
}
