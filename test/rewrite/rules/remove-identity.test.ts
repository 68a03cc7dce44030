import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyGraph, tensorValue } from '../../../src/ir/builder.js';
import { DataType, floatTensor, int64Tensor, type Tensor } from '../../../src/ir/tensor.js';
import { removeIdentity, reshapeKeepsShape } from '../../../src/rewrite/rules/remove-identity.js';
import { cloneModel, runPasses } from '../../../src/rewrite/engine.js';
import { builder, expectRefusal, model, opCounts, randomTensor, rewrite, run } from '../ort.js';

function boolTensor(name: string, value: boolean): Tensor {
  return { name, dataType: DataType.BOOL, dims: [], data: Uint8Array.of(value ? 1 : 0), storage: 'raw', docString: '' };
}

test('removes Identity, inference Dropout and no-op Pad / Reshape / Transpose / Cast in one fixpoint', async () => {
  const b = builder();
  const x = b.input('x', [1, 3, 4, 4]);
  let y = b.op('Reshape', [x, b.initializer(int64Tensor('shape', [4], [0, 3, -1, 4]))]);
  y = b.op('Transpose', [y], { perm: [0, 1, 2, 3] });
  y = b.op('Cast', [y], { to: DataType.FLOAT });
  y = b.op('Relu', [y]);
  y = b.op('Identity', [y]);
  y = b.op('Dropout', [y, b.initializer(floatTensor('ratio', [], [0.3])), b.initializer(boolTensor('train', false))]);
  y = b.op('Pad', [y, b.initializer(int64Tensor('pads', [8], [0, 0, 0, 0, 0, 0, 0, 0]))], { mode: 'reflect' });
  b.output(b.op('Sigmoid', [y]), [1, 3, 4, 4]);
  const { optimized, result } = await rewrite(model(b), [removeIdentity]);
  assert.equal(result.firings['remove-identity'], 6);
  assert.deepEqual(opCounts(optimized), { Relu: 1, Sigmoid: 1 });
  // The shape, pads and training-mode constants went with their readers.
  assert.deepEqual([...optimized.graph.initializers.keys()], []);
});

test('Reshape and Cast are only removed when the input shape / type is known to match', () => {
  const b = builder();
  const x = b.input('x', [1, 3, 4, 4]);
  const r = b.op('Reshape', [x, b.initializer(int64Tensor('shape', [2], [1, -1]))]);
  b.output(b.op('Cast', [r], { to: DataType.DOUBLE }));
  const copy = cloneModel(model(b));
  const result = runPasses(copy, [removeIdentity]);
  assert.equal(result.changed, false);
});

test('reshapeKeepsShape follows Reshape semantics with symbolic dims', () => {
  assert.equal(reshapeKeepsShape(['N', 64], [0, 64], false), true);
  assert.equal(reshapeKeepsShape(['N', 64], [-1, 64], false), true);
  assert.equal(reshapeKeepsShape(['N', 64], [0, -1], false), true);
  assert.equal(reshapeKeepsShape(['N', 64], [1, 64], false), false);
  assert.equal(reshapeKeepsShape(['N', 64], [0, 64], true), false);
  assert.equal(reshapeKeepsShape([2, 3, 4], [2, 12], false), false);
  assert.equal(reshapeKeepsShape([2, 3, 4], [-1, 3, -1], false), false);
  assert.equal(reshapeKeepsShape([2, 3, 4], [2, 3, 4], true), true);
});

test('Dropout before opset 12 (ratio attribute) is removed; its unused mask output too', async () => {
  const b = builder();
  const x = b.input('x', [2, 5]);
  const [d] = b.node('Dropout', [b.op('Relu', [x])], { ratio: { float: 0.5 } }, { outputs: 2 });
  b.output(b.op('Sigmoid', [d as string]), [2, 5]);
  const { optimized } = await rewrite(model(b, 10), [removeIdentity]);
  assert.deepEqual(opCounts(optimized), { Relu: 1, Sigmoid: 1 });
});

test('when the removed output is a graph output, the producer takes over its name', async () => {
  const b = builder();
  const x = b.input('x', [1, 2, 3, 3]);
  const c = b.op('Conv', [x, b.initializer(randomTensor('W', [2, 2, 1, 1], 1))]);
  const r = b.op('Relu', [c]);
  b.op('Identity', [c], {}, 'id');
  b.graph.nodes[b.graph.nodes.length - 1]!.outputs = ['out'];
  b.output('out', [1, 2, 3, 3]);
  b.output(r, [1, 2, 3, 3]);
  const { optimized } = await rewrite(model(b), [removeIdentity]);
  assert.deepEqual(opCounts(optimized), { Conv: 1, Relu: 1 });
  assert.deepEqual(optimized.graph.nodes[0]?.outputs, ['out']);
  assert.deepEqual(optimized.graph.nodes[1]?.inputs, ['out']);
});

test('renames reads inside subgraphs (If branches reading the removed value)', async () => {
  const b = builder();
  const x = b.input('x', [3]);
  const cond = b.input('cond', [], DataType.BOOL);
  const y = b.op('Identity', [b.op('Relu', [x])]);
  const branch = (op: string): ReturnType<typeof emptyGraph> => {
    const g = emptyGraph(op);
    g.nodes.push({ name: `${op}_n`, opType: op, domain: '', inputs: [y], outputs: [`${op}_o`], attributes: [], docString: '' });
    g.outputs.push(tensorValue(`${op}_o`, [3]));
    return g;
  };
  b.output(b.op('If', [cond], { then_branch: branch('Sigmoid'), else_branch: branch('Neg') }), [3]);
  const { optimized } = await rewrite(model(b), [removeIdentity]);
  assert.deepEqual(opCounts(optimized), { Relu: 1, If: 1 });
  const feeds = { x: { type: 'float32' as const, dims: [3], data: Float32Array.of(-1, 0, 2) }, cond: { type: 'bool' as const, dims: [], data: Uint8Array.of(0) } };
  const out = await run(optimized, feeds);
  assert.deepEqual(Array.from(Object.values(out)[0]?.data as Float32Array), [-0, -0, -2]);
});

test('refuses an identity between a graph input and a graph output', () => {
  const b = builder();
  b.output(b.op('Identity', [b.input('x', [2])]), [2]);
  expectRefusal(model(b), [removeIdentity], /a node must stay/);
});

test('refuses an identity whose input and output are both graph outputs', () => {
  const b = builder();
  const r = b.op('Relu', [b.input('x', [2])]);
  b.output(r, [2]);
  b.output(b.op('Identity', [r]), [2]);
  expectRefusal(model(b), [removeIdentity], /both .* are graph outputs/);
});

test('refuses Dropout in training mode, with a used mask, or with a non-constant training_mode', () => {
  const mk = (train: 'const' | 'input' | 'mask'): ReturnType<typeof model> => {
    const b = builder();
    const x = b.input('x', [2, 5]);
    const t = train === 'input' ? b.input('t', [], DataType.BOOL) : b.initializer(boolTensor('t', train === 'const'));
    const [d, mask] = b.node('Dropout', [x, '', t], {}, { outputs: 2 });
    b.output(d as string);
    if (train === 'mask') b.output(mask as string, undefined, DataType.BOOL);
    return model(b);
  };
  expectRefusal(mk('const'), [removeIdentity], /training mode/);
  expectRefusal(mk('input'), [removeIdentity], /graph input/);
  expectRefusal(mk('mask'), [removeIdentity], /mask output .* is used/);
});

test('refuses unknown attributes and legacy Dropout (opset 6 is_test)', () => {
  const b = builder();
  const x = b.input('x', [2]);
  b.output(b.op('Sigmoid', [b.op('Identity', [b.op('Relu', [x])], { bogus: 1 })]));
  expectRefusal(model(b), [removeIdentity], /attribute 'bogus'/);
  const b2 = builder();
  b2.output(b2.op('Sigmoid', [b2.op('Dropout', [b2.input('x', [2])], { is_test: 1 })]));
  expectRefusal(model(b2, 6), [removeIdentity], /legacy semantics/);
});
