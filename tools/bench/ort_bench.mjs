// ONNX Runtime (node, CPU) speed peer: times the forward pass of an exported RetinaFace
// (tools/export_onnx.py) on one input size. Prints one line "run <milliseconds>" per timed run.
//
//   node tools/bench/ort_bench.mjs --model F.onnx --size 640x480 --threads 1 --runs 30 --warmup 5
//
// The input tensor is made before timing, so only session.run() is measured, as for the engine.
import process from 'node:process';
import ort from 'onnxruntime-node';

function parseArgs(argv) {
  const opts = { model: null, size: '640x480', threads: 1, runs: 30, warmup: 5 };
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in opts) || i + 1 >= argv.length) throw new Error(`bad argument ${argv[i]}`);
    opts[key] = key === 'model' || key === 'size' ? argv[i + 1] : Number(argv[i + 1]);
  }
  if (!opts.model) throw new Error('--model is required');
  const [w, h] = opts.size.toLowerCase().split('x').map(Number);
  return { ...opts, w, h };
}

// Deterministic values in the range of a mean-subtracted picture (about -123..151), so that
// every run sees the same data and no zero or denormal shortcut can kick in.
function makeInput(w, h) {
  const data = new Float32Array(3 * h * w);
  let state = 12345;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    data[i] = (state / 4294967296) * 255 - 117;
  }
  return new ort.Tensor('float32', data, [1, 3, h, w]);
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const session = await ort.InferenceSession.create(o.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: o.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
  });
  const feeds = { [session.inputNames[0]]: makeInput(o.w, o.h) };
  for (let i = 0; i < o.warmup; i++) await session.run(feeds);
  for (let i = 0; i < o.runs; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const t1 = process.hrtime.bigint();
    console.log(`run ${(Number(t1 - t0) / 1e6).toFixed(3)}`);
  }
}

main().catch((e) => { console.error(e.message); process.exit(1); });
