import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node } from '../../src/ir/graph.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { checkGraph, cloneModel, defineRule, findMatches, runPasses, type RewriteContext } from '../../src/rewrite/engine.js';
import { removeIdentity } from '../../src/rewrite/rules/remove-identity.js';
import { foldBatchNorm } from '../../src/rewrite/rules/fold-batchnorm.js';
import { foldScale } from '../../src/rewrite/rules/fold-scale.js';
import { builder, model, opCounts, positiveTensor, randomTensor } from './ort.js';

function identityChain(n: number): ReturnType<typeof model> {
  const b = builder();
  let y = b.op('Relu', [b.input('x', [2])]);
  for (let k = 0; k < n; k++) y = b.op('Identity', [y]);
  b.output(b.op('Sigmoid', [y]), [2]);
  return model(b);
}

test('runs to a fixpoint and counts firings per rule', () => {
  const m = identityChain(3);
  const r = runPasses(m, [removeIdentity, foldBatchNorm]);
  assert.deepEqual(r.firings, { 'remove-identity': 3, 'fold-batchnorm': 0 });
  assert.equal(r.changed, true);
  assert.equal(r.capped, false);
  assert.deepEqual(opCounts(m), { Relu: 1, Sigmoid: 1 });
  assert.deepEqual(checkGraph(m.graph), []);
  assert.equal(runPasses(m, [removeIdentity]).changed, false);
});

test('stops at maxSteps and says so', () => {
  const m = identityChain(3);
  const r = runPasses(m, [removeIdentity], { maxSteps: 2 });
  assert.equal(r.steps, 2);
  assert.equal(r.capped, true);
  assert.equal(opCounts(m).Identity, 1);
  assert.deepEqual(checkGraph(m.graph), []);
});

test('a rule that would loop forever is stopped by the step cap', () => {
  // Replaces Relu by a fresh Relu: always matches again.
  const flip = defineRule<{ node: Node }>({
    name: 'flip', root: 'Relu', description: 'test', policy: 'always',
    match: (node) => ({ node }),
    apply: ({ node }, ctx: RewriteContext) => {
      node.name = ctx.fresh('relu');
    },
  });
  const m = identityChain(0);
  const r = runPasses(m, [flip], { maxSteps: 5 });
  assert.equal(r.firings.flip, 5);
  assert.equal(r.capped, true);
});

test('rules are indexed by root op: a rule is only asked about nodes of its root types', () => {
  const asked: string[] = [];
  const spy = defineRule<object>({
    name: 'spy', root: ['Sigmoid', 'Identity'], description: 'test', policy: 'always',
    match: (node) => {
      asked.push(node.opType);
      return null;
    },
    apply: () => undefined,
  });
  runPasses(identityChain(2), [spy]);
  assert.deepEqual(asked, ['Identity', 'Identity', 'Sigmoid']);
});

test('refusals come from the final sweep; the decide hook can decline; `only` limits roots', () => {
  const b = builder();
  const x = b.input('x', [1, 2, 3, 3]);
  const w = b.initializer(randomTensor('W', [2, 2, 1, 1], 1));
  const y = b.op('Conv', [x, w], {}, 'conv');
  const bnInputs = [y, b.initializer(randomTensor('g', [2], 2)), b.initializer(randomTensor('b', [2], 3)), b.initializer(randomTensor('m', [2], 4)), b.initializer(positiveTensor('v', [2], 5))];
  b.output(b.op('BatchNormalization', bnInputs, {}, 'bn'));
  b.output(y);
  const refused = runPasses(cloneModel(model(b)), [foldBatchNorm]);
  assert.deepEqual(refused.refusals, [{ rule: 'fold-batchnorm', node: 'bn', reason: "'conv_out' is a graph output, so it must stay" }]);

  b.graph.outputs.pop();
  const declined = runPasses(cloneModel(model(b)), [foldBatchNorm], { decide: () => 'not today' });
  assert.equal(declined.changed, false);
  assert.deepEqual(declined.refusals.map((r) => r.reason), ['not today']);
  const skipped = runPasses(cloneModel(model(b)), [foldBatchNorm], { only: (n) => n.name !== 'bn' });
  assert.equal(skipped.changed, false);
  const applied = runPasses(cloneModel(model(b)), [foldBatchNorm], { only: (n) => n.name === 'bn' });
  assert.equal(applied.changed, true);
  assert.deepEqual(findMatches(model(b), foldBatchNorm).matches.map((m) => m.id), ['bn']);
});

test('a rule rejects a match it did not produce', () => {
  assert.throws(() => foldScale.apply({}, undefined as unknown as RewriteContext), /did not produce/);
});

test('listing a rule twice is an error', () => {
  assert.throws(() => runPasses(identityChain(1), [removeIdentity, removeIdentity]), /listed twice/);
});

test('checkGraph reports order, double definitions, dangling reads and duplicate node names', () => {
  const m = identityChain(2);
  const g = m.graph;
  assert.deepEqual(checkGraph(g), []);
  const reversed = { ...g, nodes: [...g.nodes].reverse() };
  assert.ok(checkGraph(reversed).some((p) => /before it is defined/.test(p)));
  const twice = { ...g, nodes: [...g.nodes, { ...g.nodes[0]!, name: 'again' }] };
  assert.ok(checkGraph(twice).some((p) => /defined twice/.test(p)));
  const dangling = { ...g, nodes: g.nodes.map((n, i) => (i === 1 ? { ...n, inputs: ['nowhere'] } : n)) };
  assert.ok(checkGraph(dangling).some((p) => /reads 'nowhere'/.test(p)));
  const dupName = { ...g, nodes: g.nodes.map((n) => ({ ...n, name: 'same' })) };
  assert.ok(checkGraph(dupName).some((p) => /used twice/.test(p)));
  const noOutput = { ...g, outputs: [...g.outputs, { name: 'ghost', docString: '' }] };
  assert.ok(checkGraph(noOutput).some((p) => /ghost/.test(p)));
});

test('cloneModel gives an independent copy for the rules to mutate', () => {
  const m = identityChain(2);
  const before = encodeModel(m);
  const copy = cloneModel(m);
  runPasses(copy, [removeIdentity]);
  assert.deepEqual(encodeModel(m), before);
  assert.notEqual(copy.graph.nodes.length, m.graph.nodes.length);
});

test('value_info of values that disappeared is dropped', () => {
  const m = identityChain(1);
  const id = m.graph.nodes[1]!;
  m.graph.valueInfo.push({ name: id.outputs[0]!, elemType: 1, shape: [2], docString: '' });
  m.graph.valueInfo.push({ name: id.inputs[0]!, elemType: 1, shape: [2], docString: '' });
  runPasses(m, [removeIdentity]);
  assert.deepEqual(m.graph.valueInfo.map((v) => v.name), [id.inputs[0]]);
});
