// run_web_test.mjs — the web demo in headless Chromium gives the native build's faces.
//
//   node tests/web/run_web_test.mjs --native BUILD --web WEBOUT [--serve FACEMASK_SERVE]
//        [--picture FILE] [--video-picture FILE] [--conf X] [--nms X] [--mask-threshold X]
//        [--scale S] [--keep]
//
// BUILD: the native CMake build (example_annotate, decode_image); WEBOUT: the folder made by
// examples/web/build.sh (its weights/ holds the blobs both sides use).
//
// 1. Natively: decode_image writes the picture's pixels as a PPM (the exact RGB the engine
//    decodes), and example_annotate --json - --output native.bmp gives the faces and the
//    annotated picture, with the same blobs and options.
// 2. In Chromium (playwright-core, /usr/bin/chromium): index.html must start without errors;
//    then, through the same facemask.js, the PPM's pixels (as RGBA) go through BOTH WebAssembly
//    builds (SIMD128 and scalar) and the threaded one; the annotated pixels are compared in the
//    page with native.bmp.
// 3. The page's own UI: the picture is picked with the file input; the face table must fill.
//    Then the webcam: Chromium's fake camera plays a clip made here (fake_video.mjs: a window
//    panning across --video-picture, default ex_img.jpg: one unmasked and one masked person);
//    a snapshot, then live mode with the tracker: the person ids drawn and listed must stay
//    the same for each person across frames, one alert (list row, banner, beep) per unmasked
//    person and none for the masked, the counters as many people as the native build finds in
//    the clip's first frame.
// 4. The tracker binding alone (FaceMask.createTracker) on a synthetic sequence: ids, events,
//    counters, reset, bad settings.
// 5. Errors (bad blobs, bad pixels, bad options, use after destroy) come back as messages.
// 6. A browser without SIMD128 (the feature probe made to fail) gets the scalar build; where
//    WebAudio fails, the beep says so and throws nothing. Threads: the page (served with
//    COOP/COEP) is cross-origin isolated and loads the threaded build; that build on 2 threads
//    gives the one-thread SIMD build's faces exactly (and the native ones); served without the
//    headers, the page falls back to the one-thread SIMD build and says why.
// 7. With --serve: facemask_serve (the page at /) is started on a free loopback port; the page
//    must pick the server engine, and the faces it lists and draws for the picked picture must
//    be the service's own JSON for the same file (POSTed here to /v1/detect); switched to the
//    wasm engine it finds the native count; live mode through the server tracks the people too.
// Checks: same face count, same labels, |d score| <= 1e-4, boxes and landmarks within 0.05 px,
// |d p(masked)| <= 1e-4. Exit 0 when all pass, 1 otherwise (2: bad command line or setup).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const { serve } = await import(path.join(REPO, 'examples/web/serve.mjs'));
const { readPpm, writeY4m, writeFramePpm } = await import(path.join(HERE, 'fake_video.mjs'));
// The public pictures and checkpoints: ../shared beside the checkout, or FACEMASK_SHARED_DIR.
const SHARED = process.env.FACEMASK_SHARED_DIR || path.resolve(REPO, '../shared');

const TOL = { score: 1e-4, box: 0.05, mask: 1e-4 };

function parseArgs(argv) {
  const o = {
    native: null, web: null, serve: null, picture: path.join(SHARED, 'images/ex_img.jpg'),
    'video-picture': path.join(SHARED, 'images/ex_img.jpg'), conf: '0.5', nms: '0.4',
    'mask-threshold': '0.5', scale: 'long=640', keep: false, chromium: '/usr/bin/chromium',
  };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (key === 'keep') { o.keep = true; continue; }
    if (key === 'help' || key === 'h') {
      console.log('usage: node run_web_test.mjs --native BUILD --web WEBOUT [--serve FACEMASK_SERVE] [--picture FILE] ' +
        '[--video-picture FILE] [--conf X] [--nms X] [--mask-threshold X] [--scale S] [--chromium PATH] [--keep]');
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

const T0 = Date.now();
const step = (what) => console.log(`[${((Date.now() - T0) / 1000).toFixed(1)} s] ${what}`);

const LIVE_FRAMES = 16;  // live frames looked at: the alert comes at the 5th (confirm 3, alert 5)

// Starts the page's camera (the fake one), takes a snapshot, ticks live, waits for `frames`
// tracked frames, unticks live and returns what the page shows and recorded.
async function liveSession(page, frames) {
  step('camera: start, snapshot, live');
  const runsBefore = await page.evaluate(() => window.__facemask.runs);
  await page.click('#cam-start');
  await page.waitForFunction(() => !document.getElementById('cam-snap').disabled || window.__facemask.error, null, { timeout: 20000 });
  await page.click('#cam-snap');
  await page.waitForFunction((n) => window.__facemask.runs > n || window.__facemask.error, runsBefore, { timeout: 20000 });
  const snapshot = await page.evaluate(() => window.__facemask.result && window.__facemask.result.faces.length);
  await page.check('#cam-live');
  await page.waitForFunction((n) => window.__facemask.live.frames.length >= n || window.__facemask.error, frames, { timeout: 90000 });
  await page.uncheck('#cam-live');
  await page.waitForTimeout(300);  // the frame in flight lands; the loop stops
  const live = await page.evaluate(() => {
    const s = window.__facemask;
    const text = (id) => document.getElementById(id).textContent;
    const banner = document.getElementById('alert-banner');
    return {
      error: s.error, engine: s.engine && s.engine.kind, frames: s.live.frames, events: s.live.events, counts: s.live.counts,
      sounds: s.live.sounds, alertedNow: s.live.alerted, size: s.result && [s.result.width, s.result.height],
      banner: { hidden: banner.hidden, text: banner.textContent },
      alertRows: [...document.querySelectorAll('#alerts li.alert')].map((li) => li.textContent),
      maskedRows: [...document.querySelectorAll('#alerts li.masked')].map((li) => li.textContent),
      counters: { people: text('count-people'), masked: text('count-masked'), not_masked: text('count-not-masked'),
        present: text('count-present') },
      tableIds: [...document.querySelectorAll('#faces tbody tr')].map((tr) => tr.children[1].textContent),
      liveHidden: document.getElementById('live').hidden,
    };
  });
  await page.click('#cam-stop');
  return { ...live, snapshot, runs: (await page.evaluate(() => window.__facemask.runs)) - runsBefore };
}

// The live checks: stable ids, one alert per unmasked person, the counters, the page's DOM.
function checkLive(live, expect, minFrames) {
  const fails = [];
  const need = (cond, what) => { if (!cond) fails.push(what); };
  need(!live.error, `page error: ${live.error}`);
  need(live.engine, 'no engine');
  need(!live.liveHidden, 'the live panel (counters, alerts) is hidden');
  need(live.frames.length >= minFrames, `${live.frames.length} live frames, want >= ${minFrames}`);
  // Ids by person: the people do not cross, so in every frame where all are found, ordered by
  // the box centre's x, rank r is one person. Once confirmed, each rank keeps one id.
  const full = live.frames.filter((f) => f.tracks.length === expect.people);
  need(full.length >= live.frames.length - 2, `all ${expect.people} people found in only ${full.length} of ${live.frames.length} frames`);
  const idOfRank = new Array(expect.people).fill(0), labelOfRank = new Array(expect.people).fill(null);
  let switches = 0;
  for (const f of full) {
    const order = f.boxes.map((b, i) => [(b[0] + b[2]) / 2, i]).sort((a, b) => a[0] - b[0]).map(([, i]) => i);
    order.forEach((i, r) => {
      const id = f.tracks[i];
      if (id > 0 && idOfRank[r] === 0) idOfRank[r] = id, labelOfRank[r] = f.labels[i];
      else if (idOfRank[r] !== 0 && id !== idOfRank[r]) switches++;
    });
  }
  need(switches === 0, `${switches} id changes for a person across frames`);
  need(idOfRank.every((id) => id > 0) && new Set(idOfRank).size === expect.people,
    `ids by person ${JSON.stringify(idOfRank)}: want ${expect.people} distinct ids`);
  const allIds = new Set(live.frames.flatMap((f) => f.tracks.filter((id) => id > 0)));
  need(allIds.size === expect.people, `ids seen ${JSON.stringify([...allIds])}, want ${expect.people} people`);
  for (const f of live.frames) {  // drawn "#id" tags = the confirmed tracks of that frame
    const want = f.tracks.filter((id) => id > 0).map((id) => `#${id}`);
    if (JSON.stringify(f.tags) !== JSON.stringify(want)) { fails.push(`frame ${f.frame}: tags drawn ${JSON.stringify(f.tags)}, tracks ${JSON.stringify(f.tracks)}`); break; }
  }
  const last = live.frames[live.frames.length - 1];
  if (last) {
    need(JSON.stringify(live.tableIds) === JSON.stringify(last.tracks.map((id) => (id > 0 ? `#${id}` : '—'))),
      `table's person column ${JSON.stringify(live.tableIds)} vs tracks ${JSON.stringify(last.tracks)}`);
  }
  // Events: one enter per person, one alert per unmasked person (theirs), nothing else.
  const of = (type) => live.events.filter((x) => x.event === type);
  need(of('enter').length === expect.people, `${of('enter').length} enter events, want ${expect.people}`);
  const unmaskedIds = idOfRank.filter((id, r) => labelOfRank[r] === 'not_masked');
  const alerts = of('alert').map((x) => x.track).sort();
  need(JSON.stringify(alerts) === JSON.stringify([...unmaskedIds].sort()) && alerts.length === expect.unmasked,
    `alerts for ${JSON.stringify(alerts)}, want one for each unmasked person ${JSON.stringify(unmaskedIds)}`);
  need(of('masked').length === 0 && of('leave').length === 0, `unexpected events ${JSON.stringify(live.events.filter((x) => x.event === 'masked' || x.event === 'leave'))}`);
  const c = live.counts || {};
  need(c.people === expect.people && c.not_masked === expect.unmasked && c.masked === expect.masked && c.present === expect.people,
    `counts ${JSON.stringify(c)}, want people ${expect.people}, not_masked ${expect.unmasked}, masked ${expect.masked}`);
  need(live.counters.people === String(c.people) && live.counters.masked === String(c.masked) &&
    live.counters.not_masked === String(c.not_masked) && live.counters.present === String(c.present),
  `counters shown ${JSON.stringify(live.counters)} vs ${JSON.stringify(c)}`);
  // The visible alert: one red row per alert naming the person, the banner while they are here.
  need(live.alertRows.length === expect.unmasked && unmaskedIds.every((id) => live.alertRows.some((t) => t.includes(`#${id}`))),
    `alert rows ${JSON.stringify(live.alertRows)}`);
  need(!live.banner.hidden && unmaskedIds.every((id) => live.banner.text.includes(`#${id}`)), `banner ${JSON.stringify(live.banner)}`);
  // The audible one: a beep per alert, and none that failed.
  need(live.sounds.length === expect.unmasked && live.sounds.every((x) => !String(x).startsWith('failed')),
    `beeps ${JSON.stringify(live.sounds)}`);
  return { ok: fails.length === 0, fails, idOfRank, labelOfRank, alerts };
}

// In the page: the tracker binding alone on a synthetic sequence (boxes 100 px): A moves 10 px a
// frame, not masked (p 0.1) for frames 0-5 then masked (p 0.95) for 6-9; B stands still,
// masked (0.9), frames 0-9; a 10 px face at frame 0 (below min_face); nobody at 10-11.
// confirm 2, alert 2, forget 1. Then edgeMargin with and without the frame's size.
async function trackerUnitRun() {
  const { FaceMask } = await import('/facemask.js');
  const t = await FaceMask.createTracker({ confirmFrames: 2, alertFrames: 2, forgetFrames: 1 });
  const A = (k, p) => ({ box: [10 * k, 0, 10 * k + 100, 100], score: 0.9, mask: p });
  const B = { box: [300, 0, 400, 100], score: 0.9, mask: 0.9 };
  const frames = [];
  for (let k = 0; k < 12; k++) {
    const faces = k < 6 ? [A(k, 0.1), B] : k < 10 ? [A(k, 0.95), B] : [];
    if (k === 0) faces.push({ box: [600, 0, 610, 10], score: 0.9, mask: 0.1 });
    frames.push(t.update(faces));
  }
  const before = t.state();
  t.reset();
  const afterReset = [t.update([B]), t.update([B])];
  const error = async (fn) => { try { await fn(); return null; } catch (x) { return x.message; } };
  // edgeMargin: a face touching the frame's left border is tracked but not judged, until it
  // moves inside (confirm 1, alert 1); without the frame's size it is judged at once.
  const edge = [];
  for (const size of [{ width: 100, height: 100 }, undefined]) {
    const e = await FaceMask.createTracker({ confirmFrames: 1, alertFrames: 1 });
    const boxes = [[0, 10, 40, 50], [0, 10, 40, 50], [0, 10, 40, 50], [20, 10, 60, 50]];
    edge.push(boxes.map((box) => e.update([{ box, score: 0.9, mask: 0.1 }], size).events.map((x) => [x.event, x.frame])));
    e.destroy();
  }
  const bad = await error(() => FaceMask.createTracker({ confirmFrames: 0 }));
  const unknown = await error(() => FaceMask.createTracker({ confirm: 3 }));
  t.destroy();
  const destroyed = await error(() => t.update([]));
  return { frames, before, afterReset, edge, bad, unknown, destroyed };
}

// What the tracker must say for that sequence (from tracker.hpp's rules, worked by hand):
// frame 1: B (IoU 1 with its still box) is associated before A (IoU 0.82: A's velocity is not
// known yet), so B is confirmed first (id 1), then A (id 2), whose 2 unmasked frames raise the
// alert; A's smoothed p(masked) 0.1 -> 0.44 -> 0.644 -> 0.766 (weight 0.4) crosses 0.65 at frame
// 8: masked; both missed at 10 and 11, more than forget_frames at 11: leave, slot order (A first).
function checkTrackerUnit(u) {
  const fails = [];
  const wantEvents = { 1: [['enter', 1], ['enter', 2], ['alert', 2]], 8: [['masked', 2]], 11: [['leave', 2], ['leave', 1]] };
  u.frames.forEach((f, k) => {
    const tracks = k === 0 ? [0, 0, -1] : k < 10 ? [2, 1] : [];
    if (f.frame !== k || JSON.stringify(f.tracks) !== JSON.stringify(tracks)) fails.push(`frame ${k}: tracks ${JSON.stringify(f.tracks)}, want ${JSON.stringify(tracks)}`);
    const got = f.events.map((x) => [x.event, x.track]);
    if (JSON.stringify(got) !== JSON.stringify(wantEvents[k] || [])) fails.push(`frame ${k}: events ${JSON.stringify(got)}, want ${JSON.stringify(wantEvents[k] || [])}`);
    if (f.events.some((x) => x.frame !== k)) fails.push(`frame ${k}: an event with another frame number`);
  });
  const leaveA = u.frames[11] && u.frames[11].events[0];
  if (!leaveA || JSON.stringify(leaveA.box) !== JSON.stringify([90, 0, 190, 100]) || leaveA.frames_seen !== 10) {
    fails.push(`A's leave event ${JSON.stringify(leaveA)}: want its last box [90, 0, 190, 100], 10 frames seen`);
  }
  const end = u.frames[11] && u.frames[11].counts;
  const wantCounts = { people: 2, not_masked: 1, masked: 1, masked_after_alert: 1, present: 0, dropped: 0 };
  if (JSON.stringify(end) !== JSON.stringify(wantCounts)) fails.push(`counts ${JSON.stringify(end)}, want ${JSON.stringify(wantCounts)}`);
  const st = u.before.settings;
  if (st.confirm_frames !== 2 || st.alert_frames !== 2 || st.forget_frames !== 1 || u.before.tracks.length !== 0) {
    fails.push(`state ${JSON.stringify(u.before)}`);
  }
  const r = u.afterReset.map((f) => [f.frame, f.tracks, f.events.map((x) => [x.event, x.track])]);
  if (JSON.stringify(r) !== JSON.stringify([[0, [0], []], [1, [1], [['enter', 1]]]])) fails.push(`after reset ${JSON.stringify(r)}`);
  const wantEdge = [[[['enter', 0]], [], [], [['alert', 3]]], [[['enter', 0], ['alert', 0]], [], [], []]];
  if (JSON.stringify(u.edge) !== JSON.stringify(wantEdge)) fails.push(`edge margin: events ${JSON.stringify(u.edge)}, want ${JSON.stringify(wantEdge)}`);
  if (!u.bad || !u.bad.includes('confirm_frames 0')) fails.push(`confirmFrames 0 gave ${u.bad}`);
  if (!u.unknown || !u.unknown.includes('unknown setting confirm')) fails.push(`an unknown setting gave ${u.unknown}`);
  if (!u.destroyed || !u.destroyed.includes('destroyed')) fails.push(`use after destroy gave ${u.destroyed}`);
  return fails;
}

// facemask_serve on a free loopback port, serving WEBOUT at /; resolves { url, stop() -> exit code }.
function startService(o, web) {
  const proc = spawn(o.serve, ['--port', '0', '--threads', '1', '--web', web, '--weights', path.join(o.native, 'weights')],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  services.add(proc);
  proc.on('exit', () => services.delete(proc));
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`facemask_serve did not start in 60 s: ${log}`)); }, 60000);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`facemask_serve exited (${code}): ${log}`)); });
    let started = false;
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /listening on http:\/\/[^:]+:(\d+)\//.exec(log);
      if (!m || started) return;
      started = true;
      clearTimeout(timer);  // (a later exit: the rejection is moot once resolved)
      resolve({
        url: `http://127.0.0.1:${m[1]}/`,
        log: () => log,
        stop: () => new Promise((done) => { proc.on('exit', (code) => done(code)); proc.kill('SIGTERM'); }),
      });
    });
  });
}

// The page served by facemask_serve: the server engine by default; the faces listed and drawn
// are the service's JSON for the same file; the wasm engine on the same page; live through it.
async function serviceChecks(browser, o, web, problems) {
  const svc = await startService(o, web);
  const out = { url: svc.url };
  try {
    const q = new URLSearchParams({ conf: o.conf, nms: o.nms, mask_threshold: o['mask-threshold'], scale: o.scale });
    const r = await fetch(`${svc.url}v1/detect?${q}`, { method: 'POST', headers: { 'Content-Type': 'image/jpeg' },
      body: fs.readFileSync(o.picture) });
    out.direct = { status: r.status, body: await r.json() };
    const page = await browser.newPage();
    page.on('pageerror', (err) => problems.push(`page error (served by facemask_serve): ${err.message}`));
    page.on('crash', () => problems.push('the page served by facemask_serve crashed'));
    page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') console.log(`[served page ${m.type()}] ${m.text()}`); });
    const posts = [];
    page.on('request', (req) => { if (req.method() === 'POST') posts.push(new URL(req.url()).pathname); });
    await page.goto(svc.url);
    out.start = await page.evaluate(async () => {
      const engine = await window.__facemask.ready;
      return { kind: engine && engine.kind, service: window.__facemask.service, error: window.__facemask.error,
        select: document.getElementById('engine').value, where: document.getElementById('where').textContent,
        status: document.getElementById('status').textContent };
    });
    await page.evaluate((opt) => {
      const set = (id, v) => { document.getElementById(id).value = String(v); };
      set('conf', opt.conf); set('nms', opt.nms); set('mask', opt['mask-threshold']);
      const scale = document.getElementById('scale');
      if (![...scale.options].some((x) => x.value === opt.scale)) scale.add(new Option(opt.scale, opt.scale));
      scale.value = opt.scale;
    }, o);
    await page.setInputFiles('#file', o.picture);
    await page.waitForFunction(() => window.__facemask.runs > 0 || window.__facemask.error, null, { timeout: 60000 });
    out.page = await page.evaluate(() => {
      const s = window.__facemask;
      const canvas = document.getElementById('canvas');
      const ctx = canvas.getContext('2d');
      // The colour drawn in the middle of each box's top edge (the line is drawn inside the box).
      const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      const edge = (s.result ? s.result.faces : []).map((f) => {
        const x = Math.round((f.box[0] + f.box[2]) / 2), y = Math.round(f.box[1]) + 1;
        return [...px.slice((y * canvas.width + x) * 4, (y * canvas.width + x) * 4 + 3)];
      });
      return { error: s.error, faces: s.result && s.result.faces, kernels: s.result && s.result.kernels, edge,
        canvas: [canvas.width, canvas.height], drawn: s.drawn,
        rows: [...document.querySelectorAll('#faces tbody tr')].map((tr) => [...tr.children].map((td) => td.textContent)) };
    });
    out.posts = [...posts];
    step('facemask_serve: the wasm engine on the served page');
    // The wasm engine on the page facemask_serve serves (.wasm and blobs through its mount point).
    const runs = await page.evaluate(() => window.__facemask.runs);
    await page.selectOption('#engine', 'wasm');
    await page.waitForFunction((n) => (window.__facemask.runs > n && window.__facemask.engine && window.__facemask.engine.kind === 'wasm') ||
      window.__facemask.error, runs, { timeout: 60000 });
    out.wasm = await page.evaluate(() => ({ error: window.__facemask.error, kernels: window.__facemask.engine.kernels,
      faces: window.__facemask.result.faces.length, isolated: self.crossOriginIsolated === true, build: window.__facemask.wasm }));
    await page.selectOption('#engine', 'server');
    await page.waitForFunction(() => (window.__facemask.engine && window.__facemask.engine.kind === 'server') || window.__facemask.error,
      null, { timeout: 20000 });
    posts.length = 0;
    step('facemask_serve: live through the service');
    out.live = await liveSession(page, 10);
    out.livePosts = posts.filter((p) => p === '/v1/detect').length;
    await page.close();
    // A browser without WebAssembly still uses the service.
    const bare = await browser.newPage();
    bare.on('pageerror', (err) => problems.push(`page error (no WebAssembly, served by facemask_serve): ${err.message}`));
    await bare.addInitScript(() => { delete window.WebAssembly; });
    await bare.goto(svc.url);
    await bare.evaluate(() => window.__facemask.ready);
    await bare.setInputFiles('#file', o.picture);
    await bare.waitForFunction(() => window.__facemask.runs > 0 || window.__facemask.error, null, { timeout: 60000 });
    out.noWasm = await bare.evaluate(() => ({ error: window.__facemask.error, kind: window.__facemask.engine && window.__facemask.engine.kind,
      faces: window.__facemask.result && window.__facemask.result.faces, wasm: typeof WebAssembly }));
    await bare.close();
  } finally {
    out.exit = await svc.stop();
    out.log = svc.log();
  }
  return out;
}

const hex = (c) => `#${c.map((v) => v.toString(16).padStart(2, '0')).join('')}`;
const LABEL_COLORS = { masked: '#00b189', not_masked: '#365abd' };  // draw.hpp's colours

const services = new Set();  // facemask_serve processes running, killed by the watchdog
const WATCHDOG_S = 300;  // the whole test; an await that never settles (a hung page) fails it, never hangs CI

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  setTimeout(() => {
    console.error(`run_web_test: FAIL: not finished after ${WATCHDOG_S} s (a step hung; the last [time] line above says which)`);
    for (const p of services) p.kill('SIGKILL');
    process.exit(1);
  }, WATCHDOG_S * 1000).unref();
  const web = path.resolve(o.web);
  const detector = path.join(web, 'weights/retinaface_mnet025.fmb');
  const classifier = path.join(web, 'weights/mask_classifier.fmb');
  for (const f of [path.join(o.native, 'example_annotate'), path.join(o.native, 'decode_image'), detector,
    path.join(web, 'facemask_simd.wasm'), path.join(web, 'facemask_scalar.wasm'), path.join(web, 'facemask_mt.wasm'), o.picture, o['video-picture'], o.chromium,
    ...(o.serve ? [o.serve] : [])]) {
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

  // ---- the fake camera's clip, and what the native build sees in its first frame ----
  run(path.join(o.native, 'decode_image'), [o['video-picture'], path.join(tmp, 'video.ppm')]);
  const videoSource = readPpm(path.join(tmp, 'video.ppm'));
  const clipFile = path.join(tmp, 'clip.y4m');
  const clip = writeY4m(videoSource, clipFile, { frames: 50, pan: 120, y: 40 });
  writeFramePpm(videoSource, clip, 0, path.join(tmp, 'clip0.ppm'));
  const clipNative = JSON.parse(run(path.join(o.native, 'example_annotate'),
    [...nativeArgs.map((a) => (a === path.join(tmp, 'native.bmp') ? path.join(tmp, 'clip0.bmp') : a)), path.join(tmp, 'clip0.ppm')]).trim());
  const expectLive = {
    people: clipNative.faces.length, unmasked: clipNative.faces.filter((f) => f.label === 'not_masked').length,
    masked: clipNative.faces.filter((f) => f.label === 'masked').length,
  };
  console.log(`fake camera clip: ${clip.frames} frames of ${clip.width}x${clip.height} panning across ` +
    `${path.basename(o['video-picture'])}; native, first frame: ${expectLive.people} people, ${expectLive.unmasked} not masked`);
  if (!hasClassifier || expectLive.unmasked < 1) {
    console.error('run_web_test: the live test needs the classifier blob and a clip with an unmasked face');
    process.exit(2);
  }

  // ---- browser ----
  const server = await serve({ '/': web, '/test/': tmp });
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'facemask-chromium-'));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: o.chromium, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${clipFile}`],
  });
  const problems = [];
  let results = null, ui = null, camera = null, noSimd = null, notIsolated = null, trackerUnit = null, service = null;
  try {
    browser.setDefaultTimeout(60000);  // no step may hang the test
    const page = browser.pages()[0] || (await browser.newPage());
    page.on('console', (m) => {
      // (the page's probe for facemask_serve, GET healthz, is a 404 here: expected)
      if ((m.type() === 'error' || m.type() === 'warning') && !m.location().url.endsWith('/healthz')) console.log(`[page ${m.type()}] ${m.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    step('the page and both builds');
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
      // simd and scalar: one thread each; mt: the threaded build on 2 threads (this page is
      // cross-origin isolated: serve.mjs sends COOP/COEP).
      const builds = { simd: { simd: true, threads: 1 }, scalar: { simd: false, threads: 1 }, mt: { simd: true, threads: 2 } };
      out.isolated = self.crossOriginIsolated === true;
      out.pageWasm = window.__facemask.wasm;  // what the page itself loaded ('auto')
      for (const [name, opts] of Object.entries(builds)) {
        const t = performance.now();
        const fm = await FaceMask.create(weights, opts);
        const createMs = performance.now() - t;
        const first = fm.run(picture, options);
        const second = fm.run(picture, options);  // warm: the workspace is planned
        let differ = 0;
        const a = first.annotated.data, b = drawn.data;
        for (let i = 0; i < a.length; i += 4) if (a[i] !== b[i] || a[i + 1] !== b[i + 1] || a[i + 2] !== b[i + 2]) differ++;
        const stable = JSON.stringify(first.faces) === JSON.stringify(second.faces);
        out[name] = { faces: first.faces, kernels: fm.kernels, simd: fm.simd, createMs,
          ms: [first.ms, second.ms], differ, stable, alpha: a[3], build: fm.build, threads: fm.threads,
          threadsNote: fm.threadsNote };
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
    step('the file input');
    await page.setInputFiles('#file', o.picture);
    await page.waitForFunction(() => window.__facemask.runs > 0 || window.__facemask.error, null, { timeout: 60000 });
    const uiResult = await page.evaluate(() => ({
      error: window.__facemask.error, faces: window.__facemask.result && window.__facemask.result.faces,
      rows: document.querySelectorAll('#faces tbody tr').length, summary: document.getElementById('summary').textContent,
      canvas: [document.getElementById('canvas').width, document.getElementById('canvas').height],
    }));
    ui = uiResult;

    // The webcam (Chromium's fake camera playing the clip): snapshot, then live with the tracker.
    camera = await liveSession(page, LIVE_FRAMES);
    step('the tracker binding on a synthetic sequence');
    trackerUnit = await page.evaluate(trackerUnitRun);
    step('a browser without SIMD128');

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
      // Where WebAudio fails altogether, the alert's beep reports it and throws nothing.
      window.AudioContext = function AudioContext() { throw new Error('audio blocked (test)'); };
      let beep;
      try { beep = window.__facemask.beep(); } catch (e) { beep = `threw: ${e.message}`; }
      return { kernels: engine && engine.kernels, error: window.__facemask.error, beep };
    });
    await page2.close();

    // A page that is not cross-origin isolated (served without COOP/COEP): no SharedArrayBuffer,
    // so 'auto' must fall back to the one-thread SIMD build and say why.
    step('a page that is not cross-origin isolated');
    const plain = await serve({ '/': web }, { isolate: false });
    const page3 = await browser.newPage();
    page3.on('pageerror', (err) => problems.push(`page error (not isolated): ${err.message}`));
    await page3.goto(`${plain.url}index.html`);
    notIsolated = await page3.evaluate(async () => {
      const engine = await window.__facemask.ready;
      return { isolated: self.crossOriginIsolated === true, sab: typeof SharedArrayBuffer, wasm: window.__facemask.wasm,
        kernels: engine && engine.kernels, error: window.__facemask.error, status: document.getElementById('status').textContent };
    });
    await page3.close();
    await plain.close();

    if (o.serve) {
      step('facemask_serve');
      service = await serviceChecks(browser, o, web, problems);
    }
  } catch (err) {
    problems.push(`browser: ${err.message}`);
    step(`browser: ${err.message}`);
  } finally {
    await browser.close();
    await server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }

  // ---- report ----
  let ok = problems.length === 0;
  if (results) {
    const isoOk = results.isolated && results.pageWasm && results.pageWasm.build === 'facemask_mt' &&
      results.pageWasm.threads >= 2;
    ok = ok && isoOk;
    console.log(`\ncross-origin isolated page (COOP/COEP from serve.mjs): crossOriginIsolated ${results.isolated}, the page ` +
      `loads ${JSON.stringify(results.pageWasm)} — ${isoOk ? 'PASS' : 'FAIL'}`);
    // The threaded build must find the single-thread SIMD build's faces exactly.
    const sameAsSimd = JSON.stringify(results.mt.faces) === JSON.stringify(results.simd.faces);
    const mtOk = sameAsSimd && results.mt.build === 'facemask_mt' && results.mt.threads === 2;
    ok = ok && mtOk;
    console.log(`threaded build (${results.mt.build}, ${results.mt.threads} threads${results.mt.threadsNote ? `: ${results.mt.threadsNote}` : ''}): ` +
      `faces ${sameAsSimd ? 'identical to' : 'DIFFERENT from'} the one-thread SIMD build's — ${mtOk ? 'PASS' : 'FAIL'}`);
    for (const name of ['simd', 'scalar', 'mt']) {
      const r = results[name];
      const want = name === 'scalar' ? 'scalar' : 'sse4.1';
      const c = compare(native.faces, r.faces);
      const drawnOk = r.differ === 0;
      const pass = c.ok && r.kernels === want && r.stable && drawnOk && r.alpha === 255;
      ok = ok && pass;
      console.log(`\n${name} build (${r.build}, kernels ${r.kernels}, ${r.threads} thread${r.threads > 1 ? 's' : ''}): ` +
        `${r.faces.length} faces vs native ${native.faces.length}; ` +
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
  const reportLive = (name, live) => {
    const c = checkLive(live, expectLive, name === 'server' ? 10 : LIVE_FRAMES);
    console.log(`\nlive mode (${name} engine, fake camera): snapshot ${live.snapshot} faces; ${live.frames.length} tracked frames ` +
      `of ${live.size && live.size.join('x')}; ids by person (left to right) ${JSON.stringify(c.idOfRank)} ` +
      `${JSON.stringify(c.labelOfRank)}; events ${live.events.map((x) => `${x.event} #${x.track}@${x.frame}`).join(', ')}; ` +
      `counts ${JSON.stringify(live.counts)}; alert rows ${live.alertRows.length}, banner "${live.banner.text}", ` +
      `beeps ${JSON.stringify(live.sounds)} — ${c.ok ? 'PASS' : 'FAIL'}`);
    for (const f of c.fails) console.log(`  FAIL: ${f}`);
    return c.ok;
  };
  if (camera) ok = reportLive('wasm', camera) && ok;
  if (trackerUnit) {
    const fails = checkTrackerUnit(trackerUnit);
    ok = ok && fails.length === 0;
    console.log(`tracker binding (FaceMask.createTracker, synthetic 12 frames): ids, events, counts, reset, errors — ` +
      `${fails.length ? 'FAIL' : 'PASS'}`);
    for (const f of fails) console.log(`  FAIL: ${f}`);
  }
  if (noSimd) {
    const pass = noSimd.kernels === 'scalar' && !noSimd.error;
    ok = ok && pass;
    console.log(`browser without SIMD128 (simulated): simd 'auto' loads the ${noSimd.kernels} build — ${pass ? 'PASS' : 'FAIL'}`);
    const beepOk = typeof noSimd.beep === 'string' && noSimd.beep.startsWith('failed: ');
    ok = ok && beepOk;
    console.log(`WebAudio failing (simulated): the beep says "${noSimd.beep}" and throws nothing — ${beepOk ? 'PASS' : 'FAIL'}`);
  }
  if (notIsolated) {
    const w = notIsolated.wasm;
    const pass = !notIsolated.isolated && !notIsolated.error && w && w.build === 'facemask_simd' && w.threads === 1 &&
      /cross-origin isolated/.test(w.threadsNote) && /cross-origin isolated/.test(notIsolated.status);
    ok = ok && pass;
    console.log(`page without COOP/COEP: crossOriginIsolated ${notIsolated.isolated}, SharedArrayBuffer ${notIsolated.sab}; ` +
      `loads ${w && w.build}, ${w && w.threads} thread, status "${notIsolated.status}" — ${pass ? 'PASS' : 'FAIL'}`);
  } else {
    ok = false;
    console.log('page without COOP/COEP: the check did not run (see PROBLEM)');
  }
  if (o.serve && !service) {
    ok = false;
    console.log('\nfacemask_serve: the checks did not run (see PROBLEM)');
  }
  if (service) {
    const s = service;
    console.log(`\nfacemask_serve at ${s.url} (page at /):`);
    const startOk = s.start.kind === 'server' && s.start.service === true && s.start.select === 'server' && !s.start.error &&
      s.start.where.includes('facemask_serve');
    console.log(`  the page detects the service and picks the server engine: ${s.start.status} — ${startOk ? 'PASS' : 'FAIL'}`);
    const want = s.direct.body.faces;
    const got = s.page.faces;
    const sameJson = s.direct.status === 200 && got && JSON.stringify(got) === JSON.stringify(want);
    const rowsOk = got && s.page.rows.length === want.length && want.every((f, i) => s.page.rows[i][2] === f.label.replace('_', ' ') &&
      s.page.rows[i][5] === f.box.map((v) => v.toFixed(1)).join(', ') && s.page.rows[i][4] === f.score.toFixed(3));
    const drawnOk = want.every((f, i) => hex(s.page.edge[i]) === LABEL_COLORS[f.label]) &&
      JSON.stringify(s.page.drawn.faces.map((f) => f.box)) === JSON.stringify(want.map((f) => f.box));
    const postedOk = s.posts.length === 1 && s.posts[0] === '/v1/detect';
    const pass = sameJson && rowsOk && drawnOk && postedOk && !s.page.error && s.page.kernels === 'facemask_serve' &&
      want.length === native.faces.length;
    console.log(`  picked picture: ${got ? got.length : 0} faces from ${s.posts.join(', ') || 'no POST'} (${s.page.kernels}), ` +
      `service JSON for the same file ${want.length} faces (native ${native.faces.length}): listed ${sameJson ? 'identical' : 'DIFFERENT'}, ` +
      `table ${rowsOk ? 'matches' : 'DIFFERS'}, box colours ${s.page.edge.map(hex).join(' ')} — ${pass ? 'PASS' : 'FAIL'}` +
      `${s.page.error ? `; error: ${s.page.error}` : ''}`);
    ok = ok && startOk && pass;
    // facemask_serve sends COOP/COEP with the page: isolated, so the wasm engine runs threads.
    const wasmOk = !s.wasm.error && s.wasm.faces === native.faces.length && s.wasm.isolated &&
      s.wasm.build && s.wasm.build.build === 'facemask_mt';
    console.log(`  switched to the wasm engine on the served page (${s.wasm.kernels}; crossOriginIsolated ${s.wasm.isolated}, ` +
      `${JSON.stringify(s.wasm.build)}): ${s.wasm.faces} faces — ${wasmOk ? 'PASS' : 'FAIL'}`);
    ok = ok && wasmOk;
    ok = reportLive('server', s.live) && ok;
    const livePostsOk = s.livePosts >= s.live.frames.length && s.live.engine === 'server';
    console.log(`  live through the service: ${s.livePosts} POST /v1/detect for ${s.live.frames.length} tracked frames — ${livePostsOk ? 'PASS' : 'FAIL'}`);
    ok = ok && livePostsOk;
    const noWasmOk = s.noWasm.wasm === 'undefined' && s.noWasm.kind === 'server' && !s.noWasm.error &&
      JSON.stringify(s.noWasm.faces) === JSON.stringify(want);
    console.log(`  a browser without WebAssembly (simulated): the server engine lists the service's ${s.noWasm.faces ? s.noWasm.faces.length : 0} faces — ` +
      `${noWasmOk ? 'PASS' : 'FAIL'}${s.noWasm.error ? `; error: ${s.noWasm.error}` : ''}`);
    ok = ok && noWasmOk;
    const exitOk = s.exit === 0;
    console.log(`  SIGTERM: facemask_serve exit ${s.exit} — ${exitOk ? 'PASS' : 'FAIL'}`);
    ok = ok && exitOk;
    if (!ok) console.log(`  service log:\n${s.log}`);
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
