/**
 * What WASM threads and SIMD change for onnxruntime-web in Chromium (docs/browser.md).
 *
 * Threads: rebirth's own browser backend (src/runtime/browser.ts) times MODEL with 1, 2 and 4 WASM threads,
 * in the order 1 2 4 4 2 1 (each setting twice, so drift in machine load shows up as a disagreement
 * between the two), with onnxruntime-web's WASM build in Node, 1 thread, as the peer.
 *
 * SIMD: onnxruntime-web 1.30 ships only SIMD builds (ort-wasm-simd-threaded*.wasm), so SIMD cannot be
 * switched off in it. 1.18 was the last release with non-SIMD builds; given its dist folder (`npm pack
 * onnxruntime-web@1.18.0` and untar, outside the project), the second part times MODEL on it with
 * env.wasm.simd true and false, 1 and 2 threads, in the same Chromium. That is a plain page of this
 * script, not rebirth's runner: 1.18's loader differs.
 *
 * usage: npx tsx bench/browser-wasm.ts [--model zoo:googlenet|FILE] [--runs 20] [--ort118 DIR/package/dist]
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { resolveModel } from '../src/cli/models.js';
import { encodeModel } from '../src/onnx/encode.js';
import { chromiumPath, withBrowser } from '../src/runtime/browser.js';
import { quantile } from '../src/util/stats.js';
import { timeModels } from '../src/runtime/timing.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, runs: { type: 'string' }, ort118: { type: 'string' } } });
const spec = values.model ?? 'models/googlenet-mini.onnx';
const runs = Number(values.runs ?? 20);
const model = resolveModel(spec).model;
const bytes = encodeModel(model);
// Batch 1 for a symbolic leading dim, as rebirth's own timing does.
const inputShape = (model.graph.inputs[0]?.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(', ');
const ms = (v: number): string => `${v.toFixed(2)} ms`;

process.stdout.write(`${spec}, ${runs} timed runs per setting; load average before: ${load()}\n`);

const node = (await timeModels({ m: bytes }, { backend: 'wasm', threads: 1, runs })).m;
process.stdout.write(`onnxruntime-web WASM in Node ${process.version}, 1 thread: median ${ms(node?.medianMs ?? NaN)}\n`);

const medians = new Map<number, number[]>();
await withBrowser('browser:wasm', {}, async (b) => {
  for (const threads of [1, 2, 4, 4, 2, 1]) {
    const r = await b.time({ m: bytes }, { threads, optLevel: 'all', warmup: 3, warmupMs: 300, runs });
    const median = quantile(r.runs.m ?? [], 0.5);
    medians.set(threads, [...(medians.get(threads) ?? []), median]);
    process.stdout.write(`  Chromium, ${threads} thread(s) (ORT used ${r.runtime.threads}): median ${ms(median)}\n`);
  }
});
const one = Math.min(...(medians.get(1) ?? [NaN]));
for (const [threads, m] of [...medians].sort((a, b) => a[0] - b[0])) {
  const best = Math.min(...m);
  process.stdout.write(`Chromium ${threads} thread(s): best median ${ms(best)} (${m.map(ms).join(', ')}); ${(one / best).toFixed(2)}x vs 1 thread; ${(best / (node?.medianMs ?? NaN)).toFixed(2)}x Node's WASM time\n`);
}

if (values.ort118 !== undefined) {
  const dir = values.ort118;
  if (!existsSync(join(dir, 'esm', 'ort.wasm.min.js')) || !existsSync(join(dir, 'ort-wasm.wasm'))) {
    throw new Error(`--ort118 ${dir}: expected onnxruntime-web 1.18's dist folder (esm/ort.wasm.min.js, ort-wasm.wasm)`);
  }
  const page = `<!doctype html><meta charset=utf-8><link rel="icon" href="data:,"><script type=module>
globalThis.timeIt = async (simd, threads, runs, shape) => {
  const ort = await import('/esm/ort.wasm.min.js');
  ort.env.wasm.simd = simd; ort.env.wasm.numThreads = threads; ort.env.wasm.wasmPaths = '/';
  const bytes = new Uint8Array(await (await fetch('/model.onnx')).arrayBuffer());
  const s = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const feeds = {};
  feeds[s.inputNames[0]] = new ort.Tensor('float32', new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.1), shape);
  const t0 = performance.now(); let n = 0;
  while (n < 3 || performance.now() - t0 < 300) { await s.run(feeds); n++; }
  const ts = [];
  for (let i = 0; i < runs; i++) { const a = performance.now(); await s.run(feeds); ts.push(performance.now() - a); }
  return ts;
};</script>`;
  const server = createServer((req, res) => {
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/') return void res.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(page);
    if (path === '/model.onnx') return void res.writeHead(200, headers).end(bytes);
    const file = join(dir, normalize(path));
    if (!file.startsWith(dir) || !existsSync(file)) return void res.writeHead(404).end();
    res.writeHead(200, { ...headers, 'Content-Type': file.endsWith('.wasm') ? 'application/wasm' : 'text/javascript' }).end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const profile = mkdtempSync(join(tmpdir(), 'rebirth-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(), headless: true,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const results = new Map<string, number[]>();
    for (const [simd, threads] of [[true, 1], [false, 1], [true, 2], [false, 2], [false, 2], [true, 2], [false, 1], [true, 1]] as const) {
      const p = await context.newPage();
      await p.goto(url);
      const ts = await p.evaluate(([s, t, n, shape]) => (globalThis as unknown as { timeIt: (s: boolean, t: number, n: number, shape: number[]) => Promise<number[]> }).timeIt(s, t, n, shape), [simd, threads, runs, inputShape] as const);
      await p.close();
      const key = `simd ${simd ? 'on ' : 'off'}, ${threads} thread(s)`;
      results.set(key, [...(results.get(key) ?? []), quantile(ts, 0.5)]);
    }
    process.stdout.write('onnxruntime-web 1.18.0 in Chromium (best of two medians):\n');
    for (const threads of [1, 2]) {
      const on = Math.min(...(results.get(`simd on , ${threads} thread(s)`) ?? [NaN]));
      const off = Math.min(...(results.get(`simd off, ${threads} thread(s)`) ?? [NaN]));
      process.stdout.write(`  ${threads} thread(s): SIMD ${ms(on)}, no SIMD ${ms(off)}: SIMD is ${(off / on).toFixed(2)}x faster\n`);
    }
  } finally {
    await context.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
process.stdout.write(`load average after: ${load()}\n`);
