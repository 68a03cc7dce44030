import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '../../src/ir/graph.js';
import { int64Tensor } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { RebirthError } from '../../src/errors.js';
import { checkGraph, defineRule } from '../../src/rewrite/engine.js';
import { optimizeModel } from '../../src/rewrite/optimize.js';
import { builder, model, opCounts, positiveTensor, randomTensor } from './ort.js';

/** A Caffe-style stem: Pad, Conv, BN, Scale, bias, Relu, Dropout, then a 3x3 -> 1x1 linear pair. */
function stem(): ReturnType<typeof model> {
  const b = builder();
  const x = b.input('x', [1, 3, 16, 16]);
  let y = b.op('Pad', [x, b.initializer(int64Tensor('pads', [8], [0, 0, 1, 1, 0, 0, 1, 1]))]);
  y = b.op('Conv', [y, b.initializer(randomTensor('W1', [8, 3, 3, 3], 1)), b.initializer(randomTensor('B1', [8], 2))], { strides: [2, 2] });
  y = b.op('BatchNormalization', [y, b.initializer(randomTensor('g', [8], 3, 0.2, 1)), b.initializer(randomTensor('beta', [8], 4)), b.initializer(randomTensor('mean', [8], 5)), b.initializer(positiveTensor('var', [8], 6))]);
  y = b.op('Mul', [y, b.initializer(randomTensor('s', [8, 1, 1], 7, 0.2, 1))]);
  y = b.op('Add', [y, b.initializer(randomTensor('t', [8, 1, 1], 8))]);
  y = b.op('Relu', [y]);
  y = b.op('Dropout', [y]);
  y = b.op('Conv', [y, b.initializer(randomTensor('W2', [16, 8, 3, 3], 9, 0.2)), b.initializer(randomTensor('B2', [16], 10))], { pads: [1, 1, 1, 1] });
  y = b.op('Conv', [y, b.initializer(randomTensor('W3', [8, 16, 1, 1], 11, 0.2))]);
  y = b.op('Identity', [y]);
  b.output(y, [1, 8, 8, 8]);
  return model(b);
}

test('optimizes a Caffe-style stem to Conv-Relu-Conv and verifies it on ORT', async () => {
  const m = stem();
  const before = encodeModel(m);
  const r = await optimizeModel(m);
  assert.deepEqual(r.rules, { 'remove-identity': 2, 'fold-batchnorm': 1, 'fold-scale': 2, 'fold-pad': 1, 'merge-linear-convs': 1, 'horizontal-fusion': 0 });
  assert.deepEqual(opCounts(r.model), { Conv: 2, Relu: 1 });
  assert.equal(r.nodesBefore, 10);
  assert.equal(r.nodesAfter, 3);
  assert.equal(r.verification.checked, true);
  assert.equal(r.verification.passed, true);
  assert.ok(r.verification.maxRelError < 1e-5);
  assert.deepEqual(r.verification.perOutput.map((p) => p.name), [m.graph.outputs[0]?.name]);
  assert.deepEqual(checkGraph(r.model.graph), []);
  assert.deepEqual(encodeModel(m), before, 'the input model is left as it was');
  assert.deepEqual(r.refusals, [], 'refusals are only listed with explain');
});

test('explain lists refused matches with reasons', async () => {
  const m = stem();
  m.graph.outputs.push({ name: m.graph.nodes[1]!.outputs[0]!, docString: '' });
  const r = await optimizeModel(m, { explain: true, rules: ['fold-batchnorm'] });
  assert.equal(r.rules['fold-batchnorm'], 0);
  assert.equal(r.refusals.length, 1);
  assert.match(r.refusals[0]!.reason, /graph output/);
});

test('a rule set that changes nothing skips verification and returns an equal model', async () => {
  const r = await optimizeModel(stem(), { rules: ['horizontal-fusion'], decide: () => true });
  assert.equal(r.verification.checked, false);
  assert.equal(r.verification.passed, true);
  assert.deepEqual(encodeModel(r.model), encodeModel(stem()));
});

test('unknown rule names are a user error naming the known rules', async () => {
  await assert.rejects(optimizeModel(stem(), { rules: ['fold-everything'] }), (e: unknown) => e instanceof RebirthError && /known rules: remove-identity/.test(e.message));
});

/** A deliberately wrong rule: drops every Relu. */
const dropRelu = defineRule<{ node: Node }>({
  name: 'drop-relu', root: 'Relu', description: 'wrong on purpose', policy: 'always',
  match: (node) => ({ node }),
  apply: ({ node }, ctx) => {
    ctx.removeNodes([node]);
    ctx.replaceReads(node.outputs[0]!, node.inputs[0]!);
  },
});

test('refuses to return a model that fails verification, unless forced', async () => {
  await assert.rejects(optimizeModel(stem(), { rules: [dropRelu] }), /fails verification: output '.*' differs by .* relative/);
  const forced = await optimizeModel(stem(), { rules: [dropRelu], force: true });
  assert.equal(forced.verification.checked, true);
  assert.equal(forced.verification.passed, false);
  assert.equal(forced.rules['drop-relu'], 1);
});

test('verification off, or impossible to run, is reported as unchecked', async () => {
  const off = await optimizeModel(stem(), { verify: false });
  assert.equal(off.verification.checked, false);
  assert.equal(off.verification.passed, false);
  const m = stem();
  delete m.graph.inputs[0]!.shape;
  await assert.rejects(optimizeModel(m), /cannot verify the optimized model: input 'x' has no recorded shape/);
  const forced = await optimizeModel(m, { force: true });
  assert.match(forced.verification.note ?? '', /could not run/);
});
