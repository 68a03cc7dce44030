// One measurement in a fresh process, so peak RSS belongs to that operation alone.
// usage: tsx bench/codec-worker.ts rebirth|ort FILE OUT
import * as fs from 'node:fs';
import { loadModel, saveModel } from '../src/onnx/file.js';

const [mode, file, out] = process.argv.slice(2);
if (!mode || !file) throw new Error('usage: codec-worker rebirth|ort FILE [OUT]');
const baseline = process.resourceUsage().maxRSS * 1024;
const t0 = performance.now();
if (mode === 'rebirth') {
  const model = loadModel(file);
  saveModel(model, out ?? `${file}.resaved.onnx`);
} else {
  const ort = await import('onnxruntime-node');
  const s = await ort.InferenceSession.create(file, { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
  await s.release();
}
const ms = performance.now() - t0;
const peak = process.resourceUsage().maxRSS * 1024;
process.stdout.write(`${JSON.stringify({ mode, ms, peakBytes: peak, baselineBytes: baseline, fileBytes: fs.statSync(file).size })}\n`);
