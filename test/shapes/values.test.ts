// The engine's known contents (ValueType.value) at any rank, its If handling, and the op-table rows the
// autodiff's old inference had and the table lacked (LpPool, GlobalLpPool, LpNormalization, OneHot,
// RandomUniformLike, RandomNormalLike, BitShift).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Dim, Model } from '../../src/ir/graph.js';
import { GraphBuilder, emptyGraph, modelOf } from '../../src/ir/builder.js';
import { DataType, floatTensor, int64Tensor } from '../../src/ir/tensor.js';
import { inferTypes } from '../../src/shapes/infer.js';
import { opInfo } from '../../src/ops/table.js';

/** A graph output with no declared type: inference fills it. */
function output(b: GraphBuilder, name: string): void {
  b.graph.outputs.push({ name, docString: '' });
}

function valueOf(m: Model, name: string): Dim[] | undefined {
  return inferTypes(m, { strict: false }).types.get(name)?.value;
}

test('contents at rank 2: Transpose, a reversing Slice, Concat on axis 1, Gather on axis 1, Where', () => {
  const b = new GraphBuilder('g');
  const c = b.initializer(int64Tensor('c', [2, 3], [1, 2, 3, 4, 5, 6]));
  const i64 = (name: string, v: number[]): string => b.initializer(int64Tensor(name, [v.length], v));
  const t = b.op('Transpose', [c], { perm: [1, 0] }, 't');
  const s = b.op('Slice', [c, i64('st', [-1]), i64('en', [-(2 ** 63)]), i64('ax', [1]), i64('sp', [-1])], {}, 's');
  const cat = b.op('Concat', [c, c], { axis: 1 }, 'cat');
  const g = b.op('Gather', [c, i64('idx', [2, 0])], { axis: 1 }, 'g');
  const w = b.op('Where', [b.op('Greater', [c, b.initializer(int64Tensor('three', [], [3]))]), c, b.initializer(int64Tensor('zero', [], [0]))], {}, 'w');
  for (const o of [t, s, cat, g, w]) output(b, o);
  const m = modelOf(b.graph, 13);
  assert.deepEqual(valueOf(m, t), [1, 4, 2, 5, 3, 6]);
  assert.deepEqual(valueOf(m, s), [3, 2, 1, 6, 5, 4]);
  assert.deepEqual(valueOf(m, cat), [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6]);
  assert.deepEqual(valueOf(m, g), [3, 1, 6, 4]);
  assert.deepEqual(valueOf(m, w), [0, 0, 0, 4, 5, 6]);
});

test('folded float arithmetic is rounded to float32, as the runtime computes it; integer Div truncates', () => {
  const b = new GraphBuilder('g');
  const third = b.op('Div', [b.initializer(floatTensor('one', [1], [1])), b.initializer(floatTensor('three', [1], [3]))], {}, 'third');
  const q = b.op('Div', [b.initializer(int64Tensor('m7', [1], [-7])), b.initializer(int64Tensor('two', [1], [2]))], {}, 'q');
  const back = b.op('Cast', [b.op('Floor', [b.op('Mul', [b.op('Cast', [b.initializer(int64Tensor('n', [1], [10]))], { to: DataType.FLOAT }), third])])], { to: DataType.INT64 }, 'back');
  for (const o of [third, q, back]) output(b, o);
  const m = modelOf(b.graph, 13);
  assert.deepEqual(valueOf(m, third), [Math.fround(1 / 3)]);
  assert.deepEqual(valueOf(m, q), [-3]);
  // 10 * fround(1/3) rounds to 3.3333333 in float32: floor 3.
  assert.deepEqual(valueOf(m, back), [3]);
});

test('If: a known condition gives the taken branch\'s types and contents; an unknown one what both branches agree on', () => {
  const branch = (name: string, shape: number[]): ReturnType<typeof emptyGraph> => {
    const g = emptyGraph(name);
    g.initializers.set(`${name}_c`, int64Tensor(`${name}_c`, [shape.length], shape));
    g.nodes.push({ name: `${name}/Identity`, opType: 'Identity', domain: '', inputs: [`${name}_c`], outputs: [`${name}_out`], attributes: [], docString: '' });
    g.outputs.push({ name: `${name}_out`, elemType: DataType.INT64, docString: '' });
    return g;
  };
  for (const [cond, expected] of [[1, [2, 3]], [0, [4, 5]]] as const) {
    const b = new GraphBuilder('g');
    const flag = b.initializer({ name: 'flag', dataType: DataType.BOOL, dims: [1], data: Uint8Array.of(cond), storage: 'raw', docString: '' });
    output(b, b.op('If', [flag], { then_branch: branch('then', [2, 3]), else_branch: branch('else', [4, 5]) }, 'if'));
    const types = inferTypes(modelOf(b.graph, 13)).types;
    assert.deepEqual(types.get('if_out'), { elemType: DataType.INT64, shape: [2], value: [...expected] });
  }
  const b = new GraphBuilder('g');
  const flag = b.input('flag', [1], DataType.BOOL);
  output(b, b.op('If', [flag], { then_branch: branch('then', [2, 3]), else_branch: branch('else', [4, 5, 6]) }, 'if'));
  assert.deepEqual(inferTypes(modelOf(b.graph, 13), { strict: false }).types.get('if_out'), { elemType: DataType.INT64, shape: [null] });
});

test('rows for LpPool, GlobalLpPool, LpNormalization, OneHot, RandomUniformLike, RandomNormalLike, BitShift', () => {
  const b = new GraphBuilder('g');
  const x = b.input('x', ['N', 4, 9, 9]);
  const lp = b.op('LpPool', [x], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: 1 }, 'lp');
  const glp = b.op('GlobalLpPool', [x], {}, 'glp');
  const ln = b.op('LpNormalization', [x], { axis: 1 }, 'ln');
  const idx = b.input('idx', ['N', 5], DataType.INT64);
  const oh = b.op('OneHot', [idx, b.initializer(floatTensor('depth', [], [10])), b.initializer(floatTensor('vals', [2], [0, 1]))], { axis: 1 }, 'oh');
  const ru = b.op('RandomUniformLike', [x], { dtype: DataType.DOUBLE }, 'ru');
  const rn = b.op('RandomNormalLike', [x], {}, 'rn');
  const u = b.input('u', [3, 1], DataType.UINT32);
  const bs = b.op('BitShift', [u, b.initializer({ name: 'by', dataType: DataType.UINT32, dims: [4], data: new Uint8Array(16), storage: 'raw', docString: '' })], { direction: 'LEFT' }, 'bs');
  for (const o of [lp, glp, ln, oh, ru, rn, bs]) output(b, o);
  // LpPool's ceil_mode exists from opset 18.
  const at18 = inferTypes(modelOf(b.graph, 18)).types;
  assert.deepEqual(at18.get(lp)?.shape, ['N', 4, 4, 4]);
  assert.deepEqual(inferTypes(modelOf(b.graph, 13)).types.get(lp)?.shape, ['N', 4, 4, 4]);
  assert.deepEqual(at18.get(glp)?.shape, ['N', 4, 1, 1]);
  assert.deepEqual(at18.get(ln)?.shape, ['N', 4, 9, 9]);
  assert.deepEqual(at18.get(oh), { elemType: DataType.FLOAT, shape: ['N', 10, 5] });
  assert.deepEqual(at18.get(ru), { elemType: DataType.DOUBLE, shape: ['N', 4, 9, 9] });
  assert.equal(at18.get(rn)?.elemType, DataType.FLOAT);
  assert.deepEqual(at18.get(bs), { elemType: DataType.UINT32, shape: [3, 4] });
  assert.equal(opInfo('LpPool')?.attributes.ceil_mode?.since, 18);
  assert.equal(opInfo('OneHot')?.attributes.axis?.default, -1);
  assert.equal(opInfo('BitShift')?.attributes.direction?.required, true);
});
