// Constant folding of shape subgraphs (src/shapes/fold.ts): what folds, what stays, and that the folded
// model computes exactly what the export did on ONNX Runtime.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import * as ort from 'onnxruntime-node';
import { TensorProtoSchema } from '../../src/onnx/generated/onnx_pb.js';
import { decodeTensor } from '../../src/onnx/decode.js';
import { loadModel } from '../../src/onnx/file.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { GraphBuilder, emptyGraph, modelOf } from '../../src/ir/builder.js';
import type { Graph } from '../../src/ir/graph.js';
import { DataType, numel, tensorToFloat32, tensorToNumbers } from '../../src/ir/tensor.js';
import { foldShapeSubgraphs } from '../../src/shapes/fold.js';
import { staticShapes } from '../../src/shapes/static.js';
import { inferTypes } from '../../src/shapes/infer.js';
import { buildTrainingGraph } from '../../src/autodiff/training-graph.js';
import { floatParamNames } from '../../src/train/params.js';
import { TORCH_FIXTURES, assertSameOnOrt, feed, ints, opTypes, torchLrn, weight } from './helpers.js';

/** x.view(x.size(0), -1) after a conv, then a linear layer: torch's flatten as exported. */
function torchFlatten(batch: string | number): ReturnType<typeof modelOf> {
  const b = new GraphBuilder('flatten');
  const x = b.input('x', [batch, 4, 3, 3]);
  const c = b.op('Conv', [x, weight(b, 'conv.weight', [8, 4, 3, 3])], { pads: [1, 1, 1, 1] }, 'conv');
  const n = b.op('Gather', [b.op('Shape', [c]), ints(b, 'zero', [0], true)], { axis: 0 });
  const target = b.op('Concat', [b.op('Unsqueeze', [n, ints(b, 'axes', [0])]), ints(b, 'minus1', [-1])], { axis: 0 });
  const flat = b.op('Reshape', [c, target], {}, 'view');
  b.output(b.op('Gemm', [flat, weight(b, 'fc.weight', [5, 72], 9)], { transB: 1 }, 'fc'), [batch, 5]);
  return modelOf(b.graph, 13);
}

test('torch flatten: Shape -> Gather -> Unsqueeze -> Concat -> Reshape folds to a target that keeps the batch free; exact on ORT', async () => {
  const m = torchFlatten('batch');
  const r = foldShapeSubgraphs(m);
  assert.deepEqual(opTypes(r.model), ['Conv', 'Reshape', 'Gemm']);
  assert.deepEqual(r.reshapes, ["node 'view' (Reshape)"]);
  const view = r.model.graph.nodes[1];
  assert.deepEqual(tensorToNumbers(r.model.graph.initializers.get(view?.inputs[1] ?? '') ?? assert.fail('constant target')), [0, -1]);
  assert.equal(opTypes(m).length, 7, 'the input model is untouched');
  for (const batch of [1, 3]) await assertSameOnOrt(m, r.model, { x: feed([batch, 4, 3, 3]) });

  // With the batch bound, the whole target is a number list and the Concat itself becomes a constant.
  const bound = staticShapes(m, { inputShapes: { x: [2, 4, 3, 3] } });
  assert.deepEqual(opTypes(bound.model), ['Conv', 'Reshape', 'Gemm']);
  assert.deepEqual(tensorToNumbers(bound.model.graph.initializers.get(bound.model.graph.nodes[1]?.inputs[1] ?? '') ?? assert.fail('target')), [2, -1]);
  await assertSameOnOrt(m, bound.model, { x: feed([2, 4, 3, 3]) });
});

test('values named in `keep` survive the dead-code pass (a loss on an intermediate value)', () => {
  const m = torchFlatten('batch');
  const side = m.graph.nodes.find((n) => n.name === 'conv') ?? assert.fail('conv');
  m.graph.nodes.push({ name: 'aux', opType: 'Relu', domain: '', inputs: [side.outputs[0] ?? ''], outputs: ['aux_out'], attributes: [], docString: '' });
  assert.ok(!opTypes(foldShapeSubgraphs(m).model).includes('Relu'), 'dead without keep');
  assert.ok(opTypes(foldShapeSubgraphs(m, { keep: ['aux_out'] }).model).includes('Relu'));
});

test('torch LocalResponseNorm export: computed pads, both views and the If on a shape check fold away; exact on ORT', async () => {
  const b = new GraphBuilder('lrn');
  const x = b.input('x', ['batch', 6, 5, 7]);
  b.output(torchLrn(b, x, 5), ['batch', 6, 5, 7]);
  const m = modelOf(b.graph, 13);
  const before = opTypes(m);
  assert.ok(before.includes('If') && before.includes('ConstantOfShape') && before.includes('Transpose'));
  const r = foldShapeSubgraphs(m);
  assert.deepEqual(r.inlined, ["node 'lrn/If' (If)"]);
  // What is left is the arithmetic of LRN on constant pads and shapes.
  assert.deepEqual(opTypes(r.model), ['Mul', 'Unsqueeze', 'Reshape', 'Pad', 'AveragePool', 'Squeeze', 'Reshape', 'Mul', 'Add', 'Pow', 'Div']);
  const pad = r.model.graph.nodes.find((n) => n.opType === 'Pad');
  assert.deepEqual(tensorToNumbers(r.model.graph.initializers.get(pad?.inputs[1] ?? '') ?? assert.fail('constant pads')), [0, 0, 2, 0, 0, 0, 0, 2, 0, 0]);
  // Every shape is known now, which is what the gradient rules need.
  const types = inferTypes(r.model).types;
  assert.deepEqual(types.get(r.model.graph.nodes[4]?.outputs[0] ?? '')?.shape, ['batch', 1, 6, 5, 7]);
  for (const batch of [1, 2]) await assertSameOnOrt(m, r.model, { x: feed([batch, 6, 5, 7]) });
});

test('lrn_flatten.onnx (torch 1.13 export): the folded model equals the export on ORT bit for bit', async () => {
  const m = loadModel(path.join(TORCH_FIXTURES, 'lrn_flatten.onnx'));
  const r = foldShapeSubgraphs(m);
  for (const op of ['If', 'Shape', 'Gather', 'Concat', 'ConstantOfShape', 'Slice', 'Transpose', 'Cast']) assert.ok(!opTypes(r.model).includes(op), `${op} left`);
  assert.equal(r.inlined.length, 1);
  assert.ok(r.removed > 50, `removed ${r.removed} nodes`);
  assert.ok(opTypes(r.model).length < opTypes(m).length / 2);
  const fixture = JSON.parse(fs.readFileSync(path.join(TORCH_FIXTURES, 'lrn_flatten.json'), 'utf8')) as { input: { dims: number[]; data: number[] } };
  const input = { dims: fixture.input.dims, data: Float32Array.from(fixture.input.data) };
  await assertSameOnOrt(m, r.model, { input });
  await assertSameOnOrt(m, r.model, { input: feed([1, ...fixture.input.dims.slice(1)]) });
});

/** An If branch: one node of `opType` reading `x` from the enclosing graph. */
function branchOf(name: string, opType: string, x: string): Graph {
  const g = emptyGraph(name);
  g.nodes.push({ name: `${name}/${opType}`, opType, domain: '', inputs: [x], outputs: [`${name}_out`], attributes: [], docString: '' });
  g.outputs.push({ name: `${name}_out`, elemType: DataType.FLOAT, docString: '' });
  return g;
}

test('an If with an unknown condition stays, and weights are never folded through', () => {
  const b = new GraphBuilder('g');
  const x = b.input('x', [2, 3]);
  const flag = b.input('flag', [1], DataType.BOOL);
  const picked = b.op('If', [flag], { then_branch: branchOf('t', 'Identity', x), else_branch: branchOf('e', 'Neg', x) }, 'if');
  // A small weight: Transpose of it has known contents to the engine, but it is a parameter.
  const wt = b.op('Transpose', [weight(b, 'w', [3, 2])], { perm: [1, 0] }, 'wt');
  b.output(b.op('MatMul', [picked, b.op('Transpose', [wt], { perm: [1, 0] })], {}, 'mm'));
  const m = modelOf(b.graph, 13);
  const r = foldShapeSubgraphs(m);
  assert.equal(r.model, m, 'nothing to fold: the same model back');
  assert.deepEqual([r.folded, r.inlined, r.removed], [[], [], 0]);
  assert.deepEqual(inferTypes(m).types.get('if_out')?.shape, [2, 3], 'both branches agree on the shape');
});

test('an If on a known condition becomes the branch it takes (then or else), reading outer values; exact on ORT', async () => {
  const b = new GraphBuilder('g');
  const x = b.input('x', ['batch', 3]);
  const cols = b.op('Gather', [b.op('Shape', [x]), ints(b, 'second', [1])], { axis: 0 });
  const isThree = b.op('Equal', [cols, ints(b, 'three', [3])]);
  const isFour = b.op('Equal', [cols, ints(b, 'four', [4])]);
  // Two nodes in the then branch, the second reading the first.
  const then = emptyGraph('then');
  then.nodes.push({ name: 'then/Neg', opType: 'Neg', domain: '', inputs: [x], outputs: ['then_neg'], attributes: [], docString: '' });
  then.nodes.push({ name: 'then/Abs', opType: 'Abs', domain: '', inputs: ['then_neg'], outputs: ['then_out'], attributes: [], docString: '' });
  then.outputs.push({ name: 'then_out', elemType: DataType.FLOAT, docString: '' });
  const first = b.op('If', [isThree], { then_branch: then, else_branch: branchOf('else1', 'Identity', x) }, 'if_true');
  const second = b.op('If', [isFour], { then_branch: branchOf('then2', 'Sigmoid', x), else_branch: branchOf('else2', 'Relu', x) }, 'if_false');
  b.output(b.op('Add', [first, second], {}, 'sum'), ['batch', 3]);
  const m = modelOf(b.graph, 13);
  const r = foldShapeSubgraphs(m);
  assert.deepEqual(r.inlined, ["node 'if_true' (If)", "node 'if_false' (If)"]);
  assert.deepEqual(opTypes(r.model), ['Neg', 'Abs', 'Relu', 'Add']);
  const outputs = r.model.graph.nodes.flatMap((n) => n.outputs);
  assert.equal(new Set(outputs).size, outputs.length, 'every value has one producer');
  for (const batch of [1, 4]) await assertSameOnOrt(m, r.model, { x: feed([batch, 3]) });
});

test('staticShapes: dynamic_hw.onnx bound to [2,3,48,96] has a static shape for every value', async () => {
  const m = loadModel(path.join(TORCH_FIXTURES, 'dynamic_hw.onnx'));
  const r = staticShapes(m, { inputShapes: { input: [2, 3, 48, 96] } });
  const g = r.model.graph;
  assert.deepEqual(g.inputs.map((v) => v.shape), [[2, 3, 48, 96]]);
  assert.deepEqual(g.outputs.map((v) => v.shape), [[2, 10]]);
  assert.equal(g.valueInfo.length, g.nodes.length - 1, 'every intermediate is recorded');
  for (const v of g.valueInfo) assert.ok(v.shape?.every((d) => typeof d === 'number'), `${v.name}: ${JSON.stringify(v.shape)}`);
  assert.equal(m.graph.valueInfo.length, 0, 'the input model is untouched');
  await assertSameOnOrt(m, r.model, { input: feed([2, 3, 48, 96]) });
});

test('buildTrainingGraph folds first: lrn_flatten.onnx trains, with torch\'s loss and every gradient', async () => {
  const model = loadModel(path.join(TORCH_FIXTURES, 'lrn_flatten.onnx'));
  const fixture = JSON.parse(fs.readFileSync(path.join(TORCH_FIXTURES, 'lrn_flatten.json'), 'utf8')) as {
    input: { dims: number[]; data: number[] }; labels: number[]; train_loss: number; grads: Record<string, number[]>;
  };
  const tg = buildTrainingGraph(model, { loss: { kind: 'cross-entropy' }, trainable: floatParamNames(model) });
  assert.ok(!tg.model.graph.nodes.some((n) => n.opType === 'If'));
  const session = await ort.InferenceSession.create(encodeModel(tg.model));
  try {
    const feeds: Record<string, ort.Tensor> = {
      [tg.inputName ?? '']: new ort.Tensor('float32', Float32Array.from(fixture.input.data), fixture.input.dims),
      [tg.labelsName ?? '']: new ort.Tensor('int64', BigInt64Array.from(fixture.labels, (v) => BigInt(v)), [fixture.labels.length]),
    };
    for (const p of tg.paramInputs) {
      const t = model.graph.initializers.get(p) ?? assert.fail(p);
      feeds[p] = new ort.Tensor('float32', Float32Array.from(tensorToFloat32(t)), t.dims);
    }
    const out = await session.run(feeds);
    const loss = (out[tg.lossOutput]?.data as Float32Array)[0] as number;
    assert.ok(Math.abs(loss - fixture.train_loss) <= 1e-4 * fixture.train_loss, `loss ${loss} vs torch ${fixture.train_loss}`);
    assert.deepEqual(Object.keys(tg.gradOutputs).sort(), Object.keys(fixture.grads).sort());
    for (const [p, ref] of Object.entries(fixture.grads)) {
      const got = out[tg.gradOutputs[p] ?? '']?.data as Float32Array;
      const scale = Math.max(1e-6, ...ref.map(Math.abs));
      const err = Math.max(...ref.map((r, i) => Math.abs((got[i] as number) - r)));
      assert.ok(err <= 1e-4 * scale, `gradient of ${p}: max error ${err} vs scale ${scale}`);
    }
  } finally {
    await session.release();
  }
});

// ---- op-level exactness: every value the engine computes is what the ONNX reference computes ----------

const SUITE_NODE = path.join(process.env.ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data', 'node');

function referenceValues(file: string): number[] | undefined {
  const t = decodeTensor(fromBinary(TensorProtoSchema, fs.readFileSync(file)), {});
  if (!t.data) return undefined;
  switch (t.dataType) {
    case DataType.BOOL: return Array.from(t.data);
    case DataType.FLOAT: return Array.from(tensorToFloat32(t));
    case DataType.DOUBLE: return Array.from(new Float64Array(new Uint8Array(t.data).buffer));
    case DataType.INT64: case DataType.INT32: return tensorToNumbers(t);
    default: return undefined;
  }
}

test('backend suite: every output whose contents the engine knows (and would fold) equals the reference output', (t) => {
  if (!fs.existsSync(SUITE_NODE)) {
    t.skip(`ONNX backend test data not found at ${SUITE_NODE}`);
    return;
  }
  let checked = 0;
  const wrong: string[] = [];
  for (const name of fs.readdirSync(SUITE_NODE).sort()) {
    const dir = path.join(SUITE_NODE, name);
    if (!fs.existsSync(path.join(dir, 'model.onnx'))) continue;
    const m = loadModel(path.join(dir, 'model.onnx'));
    const g = m.graph;
    // Small test inputs become constants, as shape tensors are in a deployed model.
    g.inputs.filter((v) => !g.initializers.has(v.name)).forEach((v, k) => {
      const pb = path.join(dir, 'test_data_set_0', `input_${k}.pb`);
      if (!fs.existsSync(pb)) return;
      const tensor = decodeTensor(fromBinary(TensorProtoSchema, fs.readFileSync(pb)), {});
      if (numel(tensor.dims) <= 64) g.initializers.set(v.name, { ...tensor, name: v.name });
    });
    let types;
    try {
      types = inferTypes(m, { strict: false }).types;
    } catch {
      continue; // models the engine rejects are the shape tests' concern
    }
    g.outputs.forEach((o, k) => {
      const value = types.get(o.name)?.value;
      const pb = path.join(dir, 'test_data_set_0', `output_${k}.pb`);
      if (!value || !value.every((d) => typeof d === 'number') || !fs.existsSync(pb)) return;
      const expected = referenceValues(pb);
      if (!expected) return;
      checked++;
      const same = expected.length === value.length && expected.every((e, i) => Object.is(e, value[i]) || e === value[i]);
      if (!same) wrong.push(`${name}/${o.name}: ${JSON.stringify(value.slice(0, 8))} vs ${JSON.stringify(expected.slice(0, 8))}`);
    });
  }
  console.log(`backend suite: ${checked} outputs with known contents compared`);
  assert.deepEqual(wrong, []);
  assert.ok(checked >= 60, `only ${checked} outputs compared`);
});
