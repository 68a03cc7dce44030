import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataType, floatTensor } from '../../src/ir/tensor.js';
import { cloneModel } from '../../src/rewrite/engine.js';
import { compareOutputs, randomFeeds, verifyModels } from '../../src/rewrite/verify.js';
import { builder, model, randomTensor } from './ort.js';

function convModel(): ReturnType<typeof model> {
  const b = builder();
  const x = b.input('x', ['N', 2, 4, 4]);
  b.input('k', [3], DataType.INT64);
  const y = b.op('Conv', [x, b.initializer(randomTensor('W', [3, 2, 3, 3], 1)), b.initializer(randomTensor('B', [3], 2))]);
  b.output(y, ['N', 3, 2, 2]);
  b.output(b.op('Identity', ['k']), [3], DataType.INT64);
  return model(b);
}

test('compareOutputs: absolute and relative error, NaN, infinities, shape and type mismatches', () => {
  const t = (data: number[], dims = [data.length]) => ({ type: 'float32' as const, dims, data: Float32Array.from(data) });
  assert.deepEqual(compareOutputs(t([1, -4, 2]), t([1, -4, 2])), { maxAbsError: 0, maxRelError: 0 });
  const c = compareOutputs(t([1, -4, 2]), t([1, -3.5, 2]));
  assert.equal(c.maxAbsError, 0.5);
  assert.equal(c.maxRelError, 0.5 / 4);
  assert.equal(compareOutputs(t([NaN, Infinity]), t([NaN, Infinity])).maxAbsError, 0);
  assert.equal(compareOutputs(t([NaN]), t([1])).maxAbsError, Infinity);
  assert.equal(compareOutputs(t([0, 0]), t([0, 1e-3])).maxRelError > 1e20, true);
  assert.match(compareOutputs(t([1, 2]), t([1, 2], [2, 1])).note ?? '', /shape/);
  assert.match(compareOutputs(t([1]), { type: 'float64', dims: [1], data: Float64Array.of(1) }).note ?? '', /type/);
});

test('randomFeeds is deterministic per seed, sizes symbolic dims, zero-fills integer inputs', () => {
  const m = convModel();
  const a = randomFeeds(m, 7, { N: 3 });
  const b = randomFeeds(m, 7, { N: 3 });
  const c = randomFeeds(m, 8, { N: 3 });
  assert.deepEqual(a.x?.dims, [3, 2, 4, 4]);
  assert.deepEqual(a.x?.data, b.x?.data);
  assert.notDeepEqual(a.x?.data, c.x?.data);
  assert.deepEqual(a.k, { type: 'int64', dims: [3], data: new BigInt64Array(3) });
  assert.deepEqual(randomFeeds(m, 0).x?.dims, [1, 2, 4, 4]);
});

test('verifyModels passes identical models and catches a changed weight, per output', async () => {
  const m = convModel();
  const same = await verifyModels(m, cloneModel(m), { dims: { N: 2 } });
  assert.equal(same.passed, true);
  assert.equal(same.maxAbsError, 0);
  assert.equal(same.runs, 2);
  assert.deepEqual(same.perOutput.map((p) => p.name), ['Conv_out', 'Identity_out']);

  const broken = cloneModel(m);
  const w = broken.graph.initializers.get('W')!;
  const values = Float32Array.from(new Float32Array(w.data!.slice().buffer), (v, i) => (i === 0 ? v + 0.01 : v));
  broken.graph.initializers.set('W', floatTensor('W', w.dims, values));
  const r = await verifyModels(m, broken, { tolerance: 1e-4 });
  assert.equal(r.passed, false);
  assert.ok(r.maxAbsError > 1e-4 && r.maxAbsError < 0.2);
  assert.deepEqual(r.perOutput.map((p) => p.passed), [false, true]);
});

test('verifyModels runs user-given inputs besides the random ones', async () => {
  const m = convModel();
  const feeds = { x: { type: 'float32' as const, dims: [1, 2, 4, 4], data: new Float32Array(32).fill(1) }, k: { type: 'int64' as const, dims: [3], data: BigInt64Array.of(1n, 2n, 3n) } };
  const r = await verifyModels(m, cloneModel(m), { inputs: [feeds], samples: 1 });
  assert.equal(r.runs, 2);
  await assert.rejects(verifyModels(m, cloneModel(m), { samples: 0 }), /at least one input set/);
});
