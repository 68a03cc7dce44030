// Init 'fit': least-squares solve of rebirth convs against the teacher's block outputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TinyNet, conv1Like } from './helpers.js';
import { applyMerges } from '../../src/merge/plan.js';
import { fitRebirthLayers } from '../../src/merge/fit.js';
import type { Dataset } from '../../src/data/dataset.js';
import { Random } from '../../src/util/random.js';
import type { Model } from '../../src/ir/graph.js';
import { DataType, tensorToFloat32 } from '../../src/ir/tensor.js';

function snapshot(m: Model): Map<string, Float32Array> {
  return new Map([...m.graph.initializers].filter(([, t]) => t.dataType === DataType.FLOAT).map(([k, t]) => [k, Float32Array.from(tensorToFloat32(t))]));
}

function images(count: number, size: number, seed: number): Dataset {
  const rng = new Random(seed);
  return {
    images: Float32Array.from({ length: count * size * size }, () => rng.nextFloat()),
    labels: new Int32Array(count), count, shape: [1, size, size], classes: 2,
  };
}

/** conv -> AveragePool -> Relu (exactly one strided conv + Relu), then a small classifier head. */
function exactBlock(): ReturnType<TinyNet['model']> {
  const t = new TinyNet(4);
  const x = t.input(['N', 1, 12, 12], 'data');
  const out = t.relu('blk/relu', t.pool('AveragePool', 'blk/pool', t.conv('blk/conv', x, 1, 6, 3, { pad: 1 }), 2, 2));
  const logits = t.b.op('Flatten', [t.conv('head', out, 6, 2, 6)]);
  return t.model([logits]);
}

test('fit recovers an exactly representable block from Xavier weights (error -> ~0)', async () => {
  const teacher = exactBlock();
  const merged = applyMerges(teacher, { init: 'xavier', seed: 5 });
  assert.equal(merged.rebirthLayers.length, 1);
  const { layers: [r] } = await fitRebirthLayers(merged.model, teacher, merged.rebirthLayers, { data: images(96, 12, 1), iterations: 6, threads: 1, progress: false, refineImages: 0 });
  assert.ok(r?.fitted, r?.reason);
  assert.ok((r?.errorBefore ?? 0) > 0.3, `Xavier start error ${r?.errorBefore}`);
  assert.ok((r?.errorAfter ?? 1) < 1e-3, `fitted error ${r?.errorAfter}`);
  assert.equal(r?.rows, 96 * 6 * 6);
});

test('fit lowers the error of an approximate (max pool + LRN) merge and never raises it', async () => {
  const teacher = conv1Like(32, 'N');
  const merged = applyMerges(teacher, { init: 'inherit' });
  const { layers: reports } = await fitRebirthLayers(merged.model, teacher, merged.rebirthLayers, { data: { ...images(32, 32, 2), shape: [3, 32, 32], images: Float32Array.from({ length: 32 * 3 * 32 * 32 }, (_, i) => ((i * 7919) % 101) / 101) }, threads: 1, progress: false, refineImages: 0 });
  for (const r of reports) {
    assert.ok(r.errorAfter <= r.errorBefore, `${r.node}: ${r.errorBefore} -> ${r.errorAfter}`);
    assert.ok(r.fitted, `${r.node}: ${r.reason ?? ''}`);
  }
});

test('fit leaves a thinned reducer (no teacher counterpart) with its inherited weights, with the reason', async () => {
  const t = new TinyNet(6);
  const x = t.input(['N', 8, 6, 6], 'data');
  const r3 = t.relu('m/3x3_reduce/relu', t.conv('m/3x3_reduce', x, 8, 4, 1));
  const b3 = t.relu('m/3x3/relu', t.conv('m/3x3', r3, 4, 6, 3, { pad: 1 }));
  const b1 = t.relu('m/1x1/relu', t.conv('m/1x1', x, 8, 4, 1));
  const r5 = t.relu('m/5x5_reduce/relu', t.conv('m/5x5_reduce', x, 8, 2, 1));
  const b5 = t.relu('m/5x5/relu', t.conv('m/5x5', r5, 2, 3, 5, { pad: 2 }));
  const pp = t.relu('m/pool_proj/relu', t.conv('m/pool_proj', t.pool('MaxPool', 'm/pool', x, 3, 1, { pad: 1 }), 8, 3, 1));
  const out = t.concat('m/output', [b1, b3, b5, pp]);
  const teacher = t.model([out]);
  const merged = applyMerges(teacher, { init: 'inherit' });
  assert.deepEqual(merged.rebirthLayers.map((l) => l.node), ['m/rebirth_3x3_reduce', 'm/rebirth_3x3', 'm/rebirth_5x5']);
  const data: Dataset = { ...images(16, 6, 3), shape: [8, 6, 6], images: Float32Array.from({ length: 16 * 8 * 36 }, (_, i) => ((i * 7919) % 97) / 97) };
  const before = snapshot(merged.model);
  const { layers: reports, refined } = await fitRebirthLayers(merged.model, teacher, merged.rebirthLayers, { data, threads: 1, progress: false, refineImages: 16, batchSize: 8 });
  const reducer = reports.find((r) => r.node === 'm/rebirth_3x3_reduce');
  assert.equal(reducer?.fitted, false);
  assert.match(reducer?.reason ?? '', /feeds another layer.*gradient refinement trains it/);
  // The wide convs land at channel offsets 0 and 10 of the Concat; both are fitted against those slices.
  const wide = reports.filter((r) => r.node !== 'm/rebirth_3x3_reduce');
  assert.equal(wide.length, 2);
  for (const r of wide) assert.ok(r.fitted && r.errorAfter < r.errorBefore, `${r.node}: ${r.errorBefore} -> ${r.errorAfter}`);
  // The gradient refinement trains every rebirth parameter (the reducer too) and nothing else.
  assert.ok(refined && Number.isFinite(refined.meanLoss) && refined.images === 16);
  const rebirthParams = new Set(merged.rebirthLayers.flatMap((l) => l.params));
  const after = snapshot(merged.model);
  for (const [name, values] of before) {
    const changed = !values.every((v, i) => v === after.get(name)?.[i]);
    assert.equal(changed, rebirthParams.has(name), `${name}: ${changed ? 'changed' : 'unchanged'}`);
  }
});
