import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildZooModel } from '../../src/zoo/index.js';
import { applyMerges, planMerges } from '../../src/merge/plan.js';
import { randomInput, runOrt } from './helpers.js';

const INCEPTIONS = ['3a', '3b', '4a', '4b', '4c', '4d', '4e', '5a', '5b'].map((m) => `inception_${m}`);

test('googlenet: conv1, conv2 streamline + 9 inception modules; merged model runs with the same output shape', async () => {
  const model = buildZooModel('googlenet', { batch: 1 });
  const plan = planMerges(model);
  assert.deepEqual(plan.refused, []);
  assert.deepEqual(plan.candidates.map((c) => c.name), ['conv1', 'conv2', ...INCEPTIONS]);
  assert.deepEqual(plan.candidates.map((c) => c.kind), ['streamline', 'streamline', ...INCEPTIONS.map(() => 'branch')]);
  assert.deepEqual(plan.candidates[0]?.layers, ['conv1/7x7_s2', 'conv1/relu_7x7', 'pool1/3x3_s2', 'pool1/norm1']);
  assert.deepEqual(plan.candidates[1]?.layers, ['conv2/3x3', 'conv2/relu_3x3', 'conv2/norm2', 'pool2/3x3_s2']);
  assert.match(plan.candidates[0]?.description ?? '', /-> Conv 11x11\/4 pads \[3,3,4,4\]/);
  assert.match(plan.candidates[2]?.description ?? '', /reduce 96->48\) 128 -> 192 .* 32 -> 64/);
  for (const c of plan.candidates) {
    assert.ok(c.flops.before !== undefined && c.flops.after !== undefined && c.flops.after < c.flops.before, `${c.name} FLOPs ${JSON.stringify(c.flops)}`);
  }

  const feeds = { data: randomInput([1, 3, 224, 224]) };
  const original = await runOrt(model, feeds);
  for (const init of ['xavier', 'inherit'] as const) {
    const result = applyMerges(model, { init });
    assert.equal(result.merges.length, 11);
    // conv1, conv2: one conv each; 3x3 reducer + two wide convs per module.
    assert.equal(result.rebirthLayers.length, 2 + 3 * 9);
    assert.equal(new Set(result.rebirthParams).size, result.rebirthParams.length);
    for (const p of result.rebirthParams) assert.ok(result.model.graph.initializers.has(p), p);
    const merged = await runOrt(result.model, feeds);
    assert.deepEqual(merged.prob?.dims, [1, 1000]);
    assert.deepEqual(merged.prob?.dims, original.prob?.dims);
    assert.ok(merged.prob?.data.every((v) => Number.isFinite(v)));
  }
  // The zoo model itself is untouched.
  assert.equal(buildZooModel('googlenet', { batch: 1 }).graph.nodes.length, model.graph.nodes.length);
});

test('googlenet-mini: conv1, conv2 + three modules merge and run', async () => {
  const model = buildZooModel('googlenet-mini', { batch: 1 });
  const result = applyMerges(model, { init: 'inherit' });
  assert.deepEqual(result.refused, []);
  assert.deepEqual(result.merges.map((m) => m.name), ['conv1', 'conv2', 'inception_3a', 'inception_3b', 'inception_4a']);
  const feeds = { data: randomInput([1, 1, 28, 28]) };
  const [before, after] = [await runOrt(model, feeds), await runOrt(result.model, feeds)];
  assert.deepEqual(after.logits?.dims, [1, 10]);
  assert.deepEqual(after.logits?.dims, before.logits?.dims);
});

test('only selects candidates by name; streamline/branch switches select kinds', () => {
  const model = buildZooModel('googlenet-mini', { batch: 1 });
  assert.deepEqual(applyMerges(model, { only: ['conv2', 'inception_3b'] }).merges.map((m) => m.name), ['conv2', 'inception_3b']);
  assert.deepEqual(applyMerges(model, { branch: false }).merges.map((m) => m.name), ['conv1', 'conv2']);
  assert.deepEqual(applyMerges(model, { streamline: false }).merges.map((m) => m.kind), ['branch', 'branch', 'branch']);
});

test('alexnet: conv1, conv2 (grouped) and conv5 merge with their LRN/pools and run', async () => {
  const model = buildZooModel('alexnet', { batch: 1 });
  const result = applyMerges(model, { init: 'inherit' });
  assert.deepEqual(result.merges.map((m) => m.name), ['conv1', 'conv2', 'conv5']);
  const feeds = { data: randomInput([1, 3, 227, 227]) };
  const after = await runOrt(result.model, feeds);
  assert.deepEqual(after.prob?.dims, [1, 1000]);
});

test('resnet50: conv1 + BatchNorm + ReLU + max pool merges once BN is folded (the default), is refused without', () => {
  const model = buildZooModel('resnet50', { batch: 1 });
  const plan = planMerges(model);
  assert.deepEqual(plan.candidates.map((c) => [c.name, c.kind]), [['conv1', 'streamline']]);
  assert.deepEqual(plan.refused, []);
  assert.equal(plan.folds.find((f) => f.rule === 'fold-batchnorm')?.count, 53);
  const unfolded = planMerges(model, { fold: false });
  assert.equal(unfolded.candidates.length, 0);
  assert.equal(unfolded.refused.length, 1);
  assert.match(unfolded.refused[0]?.reason ?? '', /BatchNormalization.*follows the conv and is not folded into it/);
});
