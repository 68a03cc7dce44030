import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { analyzeStructure, chainActivations, unitName, type Chain, type Unit } from '../../src/shrink/structure.js';
import { foldForShrink } from '../../src/shrink/shrink.js';
import { randomTensor } from '../rewrite/ort.js';

function describeChain(c: Chain): string {
  const unit = (u: Unit): string => (u.kind === 'block' ? `[${u.path.map((p) => p.name).join(' ')} ${u.shortcut ? `+${u.shortcut.name}` : '+id'}]` : unitName(u));
  return c.units.map((u, k) => `${unit(u)}<${c.slots[k]?.kind ?? '-'}>`).join(' ');
}

test('resnet-mini: one chain of the stem and six blocks, identity and projection shortcuts, ReLUs between', async () => {
  const folded = await foldForShrink(buildZooModel('resnet-mini', { batch: 1, bnStats: 'random' }));
  const { chains, shapes } = analyzeStructure(folded);
  assert.equal(chains.length, 1);
  assert.equal(describeChain(chains[0]!), 'conv1<ReLU> [res2a_branch2a res2a_branch2b +id]<ReLU> [res2b_branch2a res2b_branch2b +id]<ReLU> ' +
    '[res3a_branch2a res3a_branch2b +res3a_branch1]<ReLU> [res3b_branch2a res3b_branch2b +id]<ReLU> [res4a_branch2a res4a_branch2b +res4a_branch1]<ReLU> ' +
    '[res4b_branch2a res4b_branch2b +id]<ReLU>');
  assert.equal(chainActivations(chains[0]!).length, 6 + 6);
  assert.deepEqual(shapes.get('res3a'), [32, 14, 14]);
});

test('mobilenetv2-mini: ReLU6 slots, linear bottlenecks (no activation after project), residual blocks with three-conv paths', async () => {
  const folded = await foldForShrink(buildZooModel('mobilenetv2-mini', { batch: 1, bnStats: 'random' }));
  const { chains } = analyzeStructure(folded);
  assert.equal(chains.length, 1);
  const c = chains[0]!;
  assert.equal(c.units.length, 17);
  assert.deepEqual(c.units.filter((u) => u.kind === 'block').map((u) => u.kind === 'block' ? u.path.length : 0), [3, 3, 3, 3]);
  assert.equal(c.slots[2], null, 'block1/project -> block2/expand has no activation');
  assert.equal(c.slots[0]?.kind, 'ReLU6');
  assert.equal(chainActivations(c).length, 16);
});

test('googlenet-mini: each Inception reducer starts a chain of two convs even though its input has other readers', async () => {
  const folded = await foldForShrink(buildZooModel('googlenet-mini', { batch: 1 }));
  const two = analyzeStructure(folded).chains.filter((c) => c.units.length === 2).map((c) => c.name);
  assert.deepEqual(two, ['conv2/3x3_reduce', 'inception_3a/3x3_reduce', 'inception_3a/5x5_reduce', 'inception_3b/3x3_reduce', 'inception_3b/5x5_reduce', 'inception_4a/3x3_reduce', 'inception_4a/5x5_reduce']);
});

test('SiLU (x * Sigmoid(x)), LeakyRelu, and a one-conv residual block after a ReLU', () => {
  const b = new GraphBuilder('g');
  let y = b.input('x', [1, 3, 8, 8]);
  y = b.op('Conv', [y, b.initializer(randomTensor('w1', [4, 3, 3, 3], 1))], { pads: [1, 1, 1, 1] }, 'c1');
  const gate = b.op('Sigmoid', [y], {}, 'sig');
  y = b.op('Mul', [y, gate], {}, 'silu');
  y = b.op('Conv', [y, b.initializer(randomTensor('w2', [4, 4, 1, 1], 2))], {}, 'c2');
  y = b.op('LeakyRelu', [y], { alpha: 0.1 }, 'leaky');
  y = b.op('Conv', [y, b.initializer(randomTensor('w3', [4, 4, 1, 1], 3))], {}, 'c3');
  const shared = b.op('Relu', [y], {}, 'relu');
  const z = b.op('Conv', [shared, b.initializer(randomTensor('w4', [4, 4, 1, 1], 4))], {}, 'c4');
  b.output(b.op('Add', [z, shared], {}, 'sum'));
  const { chains } = analyzeStructure(modelOf(b.graph, 13));
  assert.equal(chains.length, 1);
  assert.equal(describeChain(chains[0]!), 'c1<SiLU> c2<LeakyRelu> c3<ReLU> [c4 +id]<->');
});
