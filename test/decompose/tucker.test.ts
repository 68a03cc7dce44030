import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RebirthError } from '../../src/errors.js';
import { getInts } from '../../src/ir/attributes.js';
import { tensorToFloat32 } from '../../src/ir/tensor.js';
import { singularValues } from '../../src/linalg/svd.js';
import { tuckerDecompose, type TuckerLayer } from '../../src/decompose/tucker.js';
import { loadTuckerRanks } from '../../src/decompose/ranks.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { floatTensor } from '../../src/ir/tensor.js';
import { convModel, denseModel, plantedKernel, relativeDistance, runModel, uniform } from './fixtures.js';

function only(layers: TuckerLayer[]): TuckerLayer {
  assert.equal(layers.length, 1);
  return layers[0] as TuckerLayer;
}

void test('Tucker-2 at the planted ranks reproduces a strided, dilated, asymmetrically padded conv on ORT', async () => {
  const [cin, cout, k, rin, rout] = [10, 12, 3, 4, 5];
  const model = convModel({
    cin, cout, kernel: [k, k], size: [13, 11], weight: plantedKernel(cout, cin, k, rin, rout, 1),
    attrs: { strides: [2, 1], pads: [0, 1, 1, 0], dilations: [1, 2] }, name: 'inception_3a/3x3',
  });
  const nodesBefore = [...model.graph.nodes];
  const r = await tuckerDecompose(model, { ranks: { 'inception_3a/3x3': [rin, rout] }, measure: false });
  const layer = only(r.layers);
  assert.equal(layer.decomposed, true);
  assert.equal(layer.method, 'tucker2');
  assert.deepEqual(layer.ranks, [rin, rout]);
  assert.ok(layer.relError < 1e-6, `relError ${layer.relError}`);

  const g = r.model.graph;
  assert.deepEqual(g.nodes.map((n) => n.name), ['inception_3a/3x3/tucker_in', 'inception_3a/3x3/tucker_core', 'inception_3a/3x3/tucker_out']);
  assert.deepEqual(r.newParams, ['inception_3a/3x3/tucker_in_w', 'inception_3a/3x3/tucker_core_w', 'inception_3a/3x3/tucker_out_w']);
  assert.deepEqual(r.newParams.map((p) => g.initializers.get(p)?.dims), [[rin, cin, 1, 1], [rout, rin, k, k], [cout, rout, 1, 1]]);
  assert.equal(g.initializers.has('inception_3a/3x3_w'), false, 'the replaced weight is dropped');
  const [tin, core, tout] = g.nodes as [typeof g.nodes[0], typeof g.nodes[0], typeof g.nodes[0]];
  assert.deepEqual(getInts(core, 'strides'), [2, 1]);
  assert.deepEqual(getInts(core, 'pads'), [0, 1, 1, 0]);
  assert.deepEqual(getInts(core, 'dilations'), [1, 2]);
  assert.equal(getInts(tin, 'strides'), undefined);
  assert.deepEqual(tout.inputs.slice(2), ['inception_3a/3x3_b'], 'original bias on the last conv');
  assert.equal(tout.outputs[0], 'y');
  // The caller's model is not modified.
  assert.deepEqual(model.graph.nodes, nodesBefore);
  assert.ok(model.graph.initializers.has('inception_3a/3x3_w'));

  const x = uniform(cin * 13 * 11, 4);
  const want = await runModel(model, x, [1, cin, 13, 11]);
  const got = await runModel(r.model, x, [1, cin, 13, 11]);
  assert.ok(relativeDistance(got, want) < 1e-4, `output error ${relativeDistance(got, want)}`);
});

void test('FLOP and parameter counts follow the layer shapes (in-projection at input resolution)', async () => {
  const [cin, cout] = [8, 16];
  const model = convModel({ cin, cout, kernel: [3, 3], size: [10, 10], attrs: { strides: [2, 2], pads: [1, 1, 1, 1] } });
  const r = await tuckerDecompose(model, { ranks: { conv: [3, 5] }, measure: false });
  const l = only(r.layers);
  const outPix = 5 * 5, inPix = 10 * 10;
  assert.equal(l.flopsBefore, 2 * cout * cin * 9 * outPix);
  assert.equal(l.flopsAfter, 2 * (cin * 3 * inPix + 5 * 3 * 9 * outPix + 5 * cout * outPix));
  assert.equal(l.paramsBefore, cout * cin * 9 + cout);
  assert.equal(l.paramsAfter, cin * 3 + 5 * 3 * 9 + 5 * cout + cout);
});

void test('a mode at full rank is not factored (Tucker-1), and is exact when the other rank covers the unfolding', async () => {
  // Mode-0 unfolding is 32 x (2*9) = 32 x 18: rank 18 spans it; R_in = Cin = 2 keeps the input side.
  const model = convModel({ cin: 2, cout: 32, kernel: [3, 3], size: [9, 9], attrs: { pads: [1, 1, 1, 1] } });
  const r = await tuckerDecompose(model, { ranks: { conv: [2, 18] }, measure: false });
  const l = only(r.layers);
  assert.equal(l.method, 'tucker1');
  assert.deepEqual(r.model.graph.nodes.map((n) => n.name), ['conv/tucker_core', 'conv/tucker_out']);
  assert.ok(l.relError < 1e-6);
  const x = uniform(2 * 81, 8);
  assert.ok(relativeDistance(await runModel(r.model, x, [1, 2, 9, 9]), await runModel(model, x, [1, 2, 9, 9])) < 1e-4);
  // Both modes full: nothing to do.
  const full = await tuckerDecompose(model, { ranks: { conv: [2, 32] }, measure: false });
  assert.equal(only(full.layers).decomposed, false);
  assert.match(only(full.layers).reason ?? '', /full channel counts/);
  assert.equal(full.model.graph.nodes[0]?.name, 'conv');
});

void test('reduced ranks: the ORT output error is what the weight error predicts (i.i.d. input, no padding)', async () => {
  const [cin, cout] = [32, 48];
  const model = convModel({ cin, cout, kernel: [3, 3], size: [20, 20], bias: false, seed: 11 });
  const x = uniform(cin * 400, 12);
  const want = await runModel(model, x, [1, cin, 20, 20]);
  for (const ranks of [[16, 24], [8, 8]] as const) {
    const r = await tuckerDecompose(model, { ranks: { conv: [ranks[0], ranks[1]] }, measure: false });
    const l = only(r.layers);
    const outErr = relativeDistance(await runModel(r.model, x, [1, cin, 20, 20]), want);
    assert.ok(l.relError > 0.2, `random kernel, reduced ranks: large error ${l.relError}`);
    assert.ok(Math.abs(outErr / l.relError - 1) < 0.1, `ranks ${ranks.join(',')}: output error ${outErr} vs weight error ${l.relError}`);
  }
});

void test('HOOI never increases the HOSVD error and keeps the output consistent', async () => {
  const w = plantedKernel(24, 20, 3, 6, 8, 21);
  const noise = uniform(w.length, 13, 0.5);
  const noisy = w.map((v, i) => v + (noise[i] as number));
  const model = convModel({ cin: 20, cout: 24, kernel: [3, 3], size: [8, 8], weight: noisy });
  const hosvd = only((await tuckerDecompose(model, { ranks: { conv: [5, 6] }, measure: false })).layers);
  const refined = await tuckerDecompose(model, { ranks: { conv: [5, 6] }, measure: false, hooi: 5 });
  const l = only(refined.layers);
  assert.ok(l.relError <= hosvd.relError + 1e-12, `HOOI ${l.relError} vs HOSVD ${hosvd.relError}`);
  const x = uniform(20 * 64, 2);
  const out = await runModel(refined.model, x, [1, 20, 8, 8]);
  assert.ok(out.every((v) => Number.isFinite(v)));
});

void test('1x1 conv becomes two 1x1 convs by SVD: exact at rank min(Cin, Cout), Eckart-Young error below', async () => {
  const model = convModel({ cin: 6, cout: 16, kernel: [1, 1], size: [5, 5], attrs: { strides: [2, 2] }, name: 'inception_3a/1x1' });
  const exact = await tuckerDecompose(model, { ranks: { 'inception_3a/1x1': [6, 6] }, measure: false });
  const l = only(exact.layers);
  assert.equal(l.method, 'svd');
  assert.ok(l.relError < 1e-6);
  assert.deepEqual(exact.model.graph.nodes.map((n) => n.name), ['inception_3a/1x1/svd_in', 'inception_3a/1x1/svd_out']);
  assert.deepEqual(getInts(exact.model.graph.nodes[0] as never, 'strides'), [2, 2], 'stride on the first conv');
  const x = uniform(6 * 25, 3);
  assert.ok(relativeDistance(await runModel(exact.model, x, [1, 6, 5, 5]), await runModel(model, x, [1, 6, 5, 5])) < 1e-4);

  const reduced = only((await tuckerDecompose(model, { ranks: { 'inception_3a/1x1': [2, 2] }, measure: false })).layers);
  const w = Float64Array.from(tensorToFloat32(model.graph.initializers.get('inception_3a/1x1_w') as never));
  const s = singularValues({ rows: 16, cols: 6, data: w });
  const tail = Math.sqrt(s.slice(2).reduce((a, v) => a + v * v, 0)), total = Math.sqrt(s.reduce((a, v) => a + v * v, 0));
  assert.ok(Math.abs(reduced.relError - tail / total) < 1e-6);
});

void test('Gemm (transB 0/1, alpha, beta) and MatMul: truncated SVD into two layers, exact at full rank', async () => {
  const cases = [
    denseModel('Gemm', 12, 7, { transB: true }),
    denseModel('Gemm', 12, 7, { transB: false, alpha: 0.5, beta: 2 }),
    denseModel('Gemm', 9, 14, { bias: false }),
    denseModel('MatMul', 10, 6, { batch: 3 }),
  ];
  for (const model of cases) {
    const dims = model.graph.inputs[0]?.shape as number[];
    const full = Math.min(...(model.graph.initializers.get('fc_w')?.dims ?? []));
    const r = await tuckerDecompose(model, { ranks: { fc: [full, full] }, measure: false });
    const l = only(r.layers);
    assert.equal(l.method, 'svd');
    assert.deepEqual(r.model.graph.nodes.map((n) => n.opType), [model.graph.nodes[0]?.opType, model.graph.nodes[0]?.opType]);
    const x = uniform(dims.reduce((a, b) => a * b), 4);
    const want = await runModel(model, x, dims);
    assert.ok(relativeDistance(await runModel(r.model, x, dims), want) < 1e-4, `${model.graph.nodes[0]?.opType} exact`);
    const low = await tuckerDecompose(model, { ranks: { fc: [2, 2] }, measure: false });
    const lowErr = relativeDistance(await runModel(low.model, x, dims), want);
    assert.ok(only(low.layers).relError > 0.1 && lowErr > 0.05, 'rank 2 is an approximation');
  }
});

void test('grouped, depthwise and transposed convs are left alone with a reason', async () => {
  const b = new GraphBuilder('g');
  const x = b.input('x', [1, 8, 6, 6]);
  const w1 = b.initializer(floatTensor('g_w', [8, 4, 3, 3], uniform(288, 1)));
  const y1 = b.op('Conv', [x, w1], { kernel_shape: [3, 3], group: 2 }, 'grouped');
  const w2 = b.initializer(floatTensor('dw_w', [8, 1, 3, 3], uniform(72, 2)));
  const y2 = b.op('Conv', [y1, w2], { kernel_shape: [3, 3], group: 8 }, 'depthwise');
  const w3 = b.initializer(floatTensor('t_w', [8, 4, 2, 2], uniform(128, 3)));
  const y3 = b.op('ConvTranspose', [y2, w3], { kernel_shape: [2, 2] }, 'up');
  b.output(y3);
  const r = await tuckerDecompose(modelOf(b.graph), { ranks: { energy: 0.5 }, measure: false });
  const byName = new Map(r.layers.map((l) => [l.name, l]));
  assert.match(byName.get('grouped')?.reason ?? '', /grouped conv \(group 2\)/);
  assert.match(byName.get('depthwise')?.reason ?? '', /depthwise/);
  assert.match(byName.get('up')?.reason ?? '', /ConvTranspose/);
  assert.ok(r.layers.every((l) => !l.decomposed));
  assert.equal(r.model.graph.nodes.length, 3);
});

void test('VBMF recovers planted multilinear ranks; on i.i.d. random weights it finds only noise and leaves the layer', async () => {
  const [cin, cout] = [48, 64];
  const w = plantedKernel(cout, cin, 3, 10, 14, 31);
  const noise = uniform(w.length, 77, 0.05); // i.i.d.: a deterministic formula of the index would be low-rank itself
  const noisy = w.map((v, i) => v + (noise[i] as number));
  const planted = convModel({ cin, cout, kernel: [3, 3], size: [12, 12], weight: noisy, attrs: { pads: [1, 1, 1, 1] } });
  const l = only((await tuckerDecompose(planted, { ranks: 'vbmf', measure: false })).layers);
  assert.deepEqual(l.ranks, [10, 14]);
  assert.equal(l.decomposed, true);

  const random = convModel({ cin, cout, kernel: [3, 3], size: [12, 12] });
  const rl = only((await tuckerDecompose(random, { ranks: 'vbmf', measure: false })).layers);
  assert.equal(rl.decomposed, false);
  assert.match(rl.reason ?? '', /no component above the noise level/);
});

void test('energy ranks: smallest ranks keeping the fraction per mode; high energy on a small layer saves no FLOPs', async () => {
  const model = convModel({ cin: 16, cout: 24, kernel: [3, 3], size: [8, 8], weight: plantedKernel(24, 16, 3, 3, 4, 5) });
  const l = only((await tuckerDecompose(model, { ranks: { energy: 0.999999 }, measure: false })).layers);
  assert.deepEqual(l.ranks, [3, 4]);
  // A random 16x16 1x1 conv keeps 90% energy only at rank > 8, and two 16 x r factors cost more than 16 x 16.
  const dense = convModel({ cin: 16, cout: 16, kernel: [1, 1], size: [8, 8] });
  const d = only((await tuckerDecompose(dense, { ranks: { energy: 0.9 }, measure: false })).layers);
  assert.ok(d.ranks[0] > 8 && d.ranks[0] < 16);
  assert.equal(d.decomposed, false);
  assert.match(d.reason ?? '', /save no FLOPs/);
});

void test('measured mode keeps a layer only where ORT runs it faster, and reports both latencies', async () => {
  const model = convModel({ cin: 64, cout: 64, kernel: [3, 3], size: [28, 28], weight: plantedKernel(64, 64, 3, 8, 8, 9), attrs: { pads: [1, 1, 1, 1] } });
  for (const backend of ['node', 'wasm'] as const) {
    const r = await tuckerDecompose(model, { ranks: { conv: [8, 8] }, backend, runs: 5 });
    const l = only(r.layers);
    assert.ok(l.latencyBefore !== undefined && l.latencyBefore > 0);
    assert.ok(l.latencyAfter !== undefined && l.latencyAfter > 0);
    // The keep follows the shared decision rule (src/runtime/decide.ts): interval above 1 and a gain of at least 3%.
    const s = l.speedup;
    assert.ok(s !== undefined && s.rounds === 5, backend);
    assert.equal(l.decomposed, s.keep, backend);
    assert.equal(s.keep, s.interval[0] > 1 && s.ratio >= 1.03, backend);
    assert.equal(r.model.graph.nodes.length, l.decomposed ? 3 : 1);
    if (!l.decomposed) assert.match(l.reason ?? '', new RegExp(`not faster on ${backend}`));
  }
});

void test('latency rule: a chosen layer meets the target on the grid, otherwise the reason says so', async () => {
  const model = convModel({ cin: 32, cout: 32, kernel: [3, 3], size: [16, 16], attrs: { pads: [1, 1, 1, 1] } });
  const l = only((await tuckerDecompose(model, { ranks: { latency: 0.9 }, runs: 5 })).layers);
  if (l.decomposed) {
    assert.ok((l.latencyAfter as number) <= 0.9 * (l.latencyBefore as number));
    assert.ok([4, 8, 12, 16, 20, 24, 28].includes(l.ranks[0]));
  } else {
    assert.match(l.reason ?? '', /no rank on the grid/);
  }
});

void test('errors name the layer or file: ranks too large, zero, negative, fractional, unknown layers', async () => {
  const model = convModel({ cin: 8, cout: 12, kernel: [3, 3], size: [6, 6] });
  const fc = denseModel('Gemm', 10, 4, { transB: true });
  const bad: Array<[unknown, RegExp]> = [
    [{ conv: [9, 4] }, /layer 'conv' has R_in 9 > 8 input channels/],
    [{ conv: [4, 13] }, /layer 'conv' has R_out 13 > 12 output channels/],
    [{ conv: [0, 4] }, /layer 'conv' has rank 0/],
    [{ conv: [4, -2] }, /layer 'conv' has rank -2/],
    [{ conv: [1.5, 2] }, /layer 'conv' has rank 1.5/],
    [{ conv: [4] }, /layer 'conv' needs two ranks/],
    [{ nope: [1, 1] }, /option ranks names layer 'nope'/],
    [{ energy: 1.5 }, /ranks.energy must be in \(0, 1\]/],
    [{ latency: 1 }, /ranks.latency/],
    ['svd', /option ranks must be/],
  ];
  for (const [ranks, re] of bad) {
    await assert.rejects(tuckerDecompose(model, { ranks: ranks as never, measure: false }), (e: unknown) => e instanceof RebirthError && re.test(e.message), String(JSON.stringify(ranks)));
  }
  await assert.rejects(tuckerDecompose(fc, { ranks: { fc: [5, 5] }, measure: false }), /\(4x10 matrix\) has rank 5 > 4/);
  await assert.rejects(tuckerDecompose(fc, { ranks: { fc: [2, 3] }, measure: false }), /decomposed by SVD and takes one rank/);
  await assert.rejects(tuckerDecompose(model, { ranks: 'vbmf', only: ['conv', 'ghost'], measure: false }), /option only names 'ghost'/);
  await assert.rejects(tuckerDecompose(model, { ranks: 'vbmf', hooi: -1, measure: false }), /option hooi/);

  const dir = mkdtempSync(join(tmpdir(), 'tucker-ranks-'));
  const file = join(dir, 'ranks.json');
  writeFileSync(file, JSON.stringify({ conv: [4, 6], 'inception_9z/3x3': [1, 1] }));
  await assert.rejects(tuckerDecompose(model, { ranks: { file }, measure: false }), (e: unknown) => e instanceof RebirthError && e.message.includes(`ranks file ${file} names layer 'inception_9z/3x3'`));
  writeFileSync(file, JSON.stringify({ conv: [4, 6] }));
  const ok = await tuckerDecompose(model, { ranks: { file }, measure: false });
  assert.deepEqual(only(ok.layers).ranks, [4, 6]);
  writeFileSync(file, '{"conv": [4, 6]');
  assert.throws(() => loadTuckerRanks(file), /is not valid JSON/);
  writeFileSync(file, '[[4, 6]]');
  assert.throws(() => loadTuckerRanks(file), /must be a JSON object/);
  assert.throws(() => loadTuckerRanks(join(dir, 'missing.json')), /missing.json cannot be read/);
});

void test('only restricts the layers; layers without explicit ranks are reported untouched', async () => {
  const b = new GraphBuilder('two');
  const x = b.input('x', [1, 8, 6, 6]);
  const w1 = b.initializer(floatTensor('a_w', [8, 8, 3, 3], plantedKernel(8, 8, 3, 2, 2, 1)));
  const y1 = b.op('Conv', [x, w1], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'a');
  const w2 = b.initializer(floatTensor('b_w', [8, 8, 3, 3], plantedKernel(8, 8, 3, 2, 2, 2)));
  const y2 = b.op('Conv', [y1, w2], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, 'b');
  b.output(y2);
  const model = modelOf(b.graph);
  const r1 = await tuckerDecompose(model, { ranks: { energy: 0.999999 }, only: ['b'], measure: false });
  assert.deepEqual(r1.layers.map((l) => l.name), ['b']);
  assert.deepEqual(r1.model.graph.nodes.map((n) => n.name), ['a', 'b/tucker_in', 'b/tucker_core', 'b/tucker_out']);
  const r2 = await tuckerDecompose(model, { ranks: { a: [2, 2] }, measure: false });
  assert.deepEqual(r2.layers.map((l) => [l.name, l.decomposed]), [['a', true], ['b', false]]);
  assert.match(r2.layers[1]?.reason ?? '', /no ranks given in option ranks/);
  const x0 = uniform(8 * 36, 5);
  assert.ok(relativeDistance(await runModel(r2.model, x0, [1, 8, 6, 6]), await runModel(model, x0, [1, 8, 6, 6])) < 1e-4);
});
