import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import { TensorProtoSchema } from '../../src/onnx/generated/onnx_pb.js';
import { decodeTensor } from '../../src/onnx/decode.js';
import { loadModel } from '../../src/onnx/file.js';
import type { Dim, Model } from '../../src/ir/graph.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { DataType, floatTensor, int64Tensor, numel } from '../../src/ir/tensor.js';
import { inferShapes, inferTypes, shapeOf } from '../../src/shapes/infer.js';
import { RebirthError } from '../../src/errors.js';
import { nodeInfo } from '../../src/ops/table.js';
import { formatShape } from '../../src/ops/dims.js';

const SUITE_ROOT = process.env.ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data';

// ---- helpers ------------------------------------------------------------------------------------

function zeros(name: string, dims: number[]): ReturnType<typeof floatTensor> {
  return floatTensor(name, dims, new Float32Array(numel(dims)));
}

/** A graph output with no declared type: inference fills it. */
function untypedOutput(b: GraphBuilder, name: string): void {
  b.graph.outputs.push({ name, docString: '' });
}

/** A one-input model built by `body`, which returns the output value name. */
function model(opset: number, inputShape: Dim[], body: (b: GraphBuilder, x: string) => string): Model {
  const b = new GraphBuilder('g');
  const x = b.input('x', inputShape);
  untypedOutput(b, body(b, x));
  return modelOf(b.graph, opset);
}

function outShape(m: Model): Dim[] | undefined {
  return shapeOf(m, m.graph.outputs[0]?.name ?? '');
}

function throwsNaming(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof RebirthError, `expected a RebirthError, got ${String(e)}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one-line message');
    return true;
  });
}

// ---- the ONNX backend test suite ----------------------------------------------------------------

/** Ops whose output size depends on the data, not on shapes: only compatibility is checked. */
const DATA_DEPENDENT = new Set(['NonZero']);

interface Declared {
  name: string;
  elemType: number | undefined;
  shape: Dim[] | undefined;
}

/** Same element type, and no dim contradicts the declaration (an unknown rank or dim does not). */
function compatible(declared: Declared, elemType: number | undefined, shape: Dim[] | undefined): boolean {
  if (elemType !== declared.elemType) return false;
  if (!declared.shape || !shape) return true;
  if (shape.length !== declared.shape.length) return false;
  return declared.shape.every((d, k) => typeof d !== 'number' || shape[k] === null || shape[k] === d);
}

function exact(declared: Declared, shape: Dim[] | undefined): boolean {
  if (!declared.shape) return true;
  return shape !== undefined && shape.length === declared.shape.length && declared.shape.every((d, k) => typeof d !== 'number' || shape[k] === d);
}

test('backend suite: inferred output shapes match the declared ones', (t) => {
  if (!fs.existsSync(SUITE_ROOT)) {
    t.skip(`ONNX backend test data not found at ${SUITE_ROOT}`);
    return;
  }
  let checked = 0;
  let skipped = 0;
  let exactCount = 0;
  const failures: string[] = [];
  for (const kind of ['node', 'simple', 'pytorch-converted', 'pytorch-operator']) {
    const root = path.join(SUITE_ROOT, kind);
    if (!fs.existsSync(root)) continue;
    for (const name of fs.readdirSync(root).sort()) {
      const dir = path.join(root, name);
      const file = path.join(dir, 'model.onnx');
      if (!fs.existsSync(file)) continue;
      const m = loadModel(file);
      const g = m.graph;
      const declared: Declared[] = g.outputs.map((o) => ({ name: o.name, elemType: o.elemType, shape: o.shape }));
      // Only models made of table ops, with tensor outputs (not sequences or optionals).
      if (!g.nodes.every((n) => nodeInfo(n)) || declared.some((d) => d.elemType === undefined)) {
        skipped++;
        continue;
      }
      checked++;
      const label = `${kind}/${name}`;
      for (const o of g.outputs) {
        delete o.shape;
        delete o.elemType;
      }
      try {
        // Pass 1, as a user's model comes: only declared inputs and initializers are known. Shapes that
        // hang on runtime inputs (a Reshape target fed as a graph input) stay partly unknown.
        const plain = inferTypes(m);
        for (const d of declared) {
          const ty = plain.types.get(d.name);
          if (!compatible(d, ty?.elemType, ty?.shape)) failures.push(`${label}: '${d.name}' inferred ${ty?.elemType} ${formatShape(ty?.shape)}, declared ${d.elemType} ${formatShape(d.shape)}`);
        }
        // Pass 2: small inputs of test_data_set_0 (shapes, axes, pads, scales) become initializers, as
        // constants they would be in a deployed model; then every dim must come out exact.
        const feeds = g.inputs.filter((v) => !g.initializers.has(v.name));
        feeds.forEach((v, k) => {
          const size = v.shape?.every((d) => typeof d === 'number') ? numel(v.shape) : Infinity;
          const pb = path.join(dir, 'test_data_set_0', `input_${k}.pb`);
          if (size > 64 || !fs.existsSync(pb)) return;
          const tensor = decodeTensor(fromBinary(TensorProtoSchema, fs.readFileSync(pb)), {});
          if (tensor.dataType === v.elemType) g.initializers.set(v.name, { ...tensor, name: v.name });
        });
        const folded = inferTypes(m);
        const dataDependent = g.nodes.some((n) => DATA_DEPENDENT.has(n.opType));
        let allExact = true;
        for (const d of declared) {
          const ty = folded.types.get(d.name);
          if (!compatible(d, ty?.elemType, ty?.shape)) failures.push(`${label} (constant inputs): '${d.name}' inferred ${formatShape(ty?.shape)}, declared ${formatShape(d.shape)}`);
          else if (!exact(d, ty?.shape)) {
            allExact = false;
            if (!dataDependent) failures.push(`${label} (constant inputs): '${d.name}' inferred ${formatShape(ty?.shape)}, declared ${formatShape(d.shape)}`);
          }
        }
        if (allExact) exactCount++;
      } catch (e) {
        failures.push(`${label}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
  }
  console.log(`backend suite: ${checked} models checked (${exactCount} exact, ${checked - exactCount} data-dependent), ${skipped} skipped (ops outside the table or non-tensor outputs)`);
  assert.deepEqual(failures, []);
  assert.ok(checked > 400, `only ${checked} backend models were checked`);
});

// ---- pooling and convolution geometry -----------------------------------------------------------

test('MaxPool ceil_mode: GoogLeNet pool1 112 -> 56 with k3 s2 (55 in floor mode)', () => {
  const pool = (ceil: number): Dim[] | undefined =>
    outShape(model(13, [1, 64, 112, 112], (b, x) => b.op('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], ceil_mode: ceil }, 'pool1')));
  assert.deepEqual(pool(1), [1, 64, 56, 56]);
  assert.deepEqual(pool(0), [1, 64, 55, 55]);
});

test('ceil_mode drops a last window that would start in the end padding', () => {
  // PyTorch MaxPool2d(2, stride=2, padding=1, ceil_mode=True) on 5 gives 3, not ceil(5/2)+1 = 4.
  const m = model(13, [1, 1, 5, 5], (b, x) => b.op('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }));
  assert.deepEqual(outShape(m), [1, 1, 3, 3]);
  const avg = model(13, [1, 1, 6, 6], (b, x) => b.op('AveragePool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil_mode: 1 }));
  assert.deepEqual(outShape(avg), [1, 1, 4, 4]);
});

test('ceil_mode is ignored before opset 10 (the attribute did not exist)', () => {
  const m = model(9, [1, 1, 6, 6], (b, x) => b.op('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2] }));
  assert.deepEqual(outShape(m), [1, 1, 2, 2]);
});

test('auto_pad SAME_UPPER / SAME_LOWER / VALID on Conv and pooling', () => {
  const conv = (autoPad: string): Dim[] | undefined =>
    outShape(model(13, [1, 3, 7, 9], (b, x) => b.op('Conv', [x, b.initializer(zeros('w', [8, 3, 3, 3]))], { auto_pad: autoPad, strides: [2, 2] })));
  assert.deepEqual(conv('SAME_UPPER'), [1, 8, 4, 5]);
  assert.deepEqual(conv('SAME_LOWER'), [1, 8, 4, 5]);
  assert.deepEqual(conv('VALID'), [1, 8, 3, 4]);
  assert.deepEqual(conv('NOTSET'), [1, 8, 3, 4]);
  const pool = outShape(model(13, [1, 3, 7, 9], (b, x) => b.op('MaxPool', [x], { auto_pad: 'SAME_UPPER', kernel_shape: [3, 3], strides: [2, 2] })));
  assert.deepEqual(pool, [1, 3, 4, 5]);
});

test('Conv with pads, strides, dilations and groups', () => {
  const m = model(13, [2, 8, 10, 12], (b, x) =>
    b.op('Conv', [x, b.initializer(zeros('w', [16, 4, 3, 3])), b.initializer(zeros('bias', [16]))], {
      group: 2, dilations: [2, 1], pads: [1, 0, 1, 2], strides: [1, 2],
    }));
  // H: 10 + 2 - (2*2+1) + 1 = 8; W: (12 + 2 - 3) / 2 floor + 1 = 6.
  assert.deepEqual(outShape(m), [2, 16, 8, 6]);
});

test('ConvTranspose: strides, pads, output_padding, output_shape, SAME, groups', () => {
  const deconv = (attrs: Record<string, number[] | string | number>, wDims = [4, 6, 3, 3], c = 4): Dim[] | undefined =>
    outShape(model(13, [1, c, 5, 5], (b, x) => b.op('ConvTranspose', [x, b.initializer(zeros('w', wDims))], attrs)));
  // 2 * (5 - 1) + 3 = 11.
  assert.deepEqual(deconv({ strides: [2, 2] }), [1, 6, 11, 11]);
  assert.deepEqual(deconv({ strides: [2, 2], output_padding: [1, 0] }), [1, 6, 12, 11]);
  assert.deepEqual(deconv({ strides: [2, 2], pads: [1, 1, 1, 1] }), [1, 6, 9, 9]);
  assert.deepEqual(deconv({ strides: [2, 2], dilations: [2, 2] }), [1, 6, 13, 13]);
  assert.deepEqual(deconv({ strides: [2, 2], output_shape: [10, 9] }), [1, 6, 10, 9]);
  assert.deepEqual(deconv({ strides: [2, 2], auto_pad: 'SAME_UPPER' }), [1, 6, 10, 10]);
  assert.deepEqual(deconv({ group: 2 }, [4, 3, 3, 3]), [1, 6, 7, 7]);
  throwsNaming(() => deconv({}, [8, 6, 3, 3]), /ConvTranspose\): input has 4 channels but weight expects 8/);
});

test('GlobalAveragePool keeps N and C', () => {
  assert.deepEqual(outShape(model(13, ['N', 32, 7, 7], (b, x) => b.op('GlobalAveragePool', [x]))), ['N', 32, 1, 1]);
});

// ---- symbolic batch and shape plumbing ----------------------------------------------------------

test('a symbolic batch dim propagates through conv, pool, flatten, gemm and softmax', () => {
  const m = model(13, ['N', 3, 32, 32], (b, x) => {
    const c = b.op('Conv', [x, b.initializer(zeros('w', [16, 3, 3, 3]))], { pads: [1, 1, 1, 1] }, 'conv1');
    const r = b.op('Relu', [c], {}, 'relu1');
    const p = b.op('MaxPool', [r], { kernel_shape: [2, 2], strides: [2, 2] }, 'pool1');
    const f = b.op('Flatten', [p], {}, 'flat');
    const fc = b.op('Gemm', [f, b.initializer(zeros('fc_w', [10, 4096])), b.initializer(zeros('fc_b', [10]))], { transB: 1 }, 'fc');
    return b.op('Softmax', [fc], {}, 'prob');
  });
  const { types } = inferTypes(m);
  assert.deepEqual(types.get('conv1_out')?.shape, ['N', 16, 32, 32]);
  assert.deepEqual(types.get('pool1_out')?.shape, ['N', 16, 16, 16]);
  assert.deepEqual(types.get('flat_out')?.shape, ['N', 4096]);
  assert.deepEqual(types.get('prob_out')?.shape, ['N', 10]);
  assert.equal(types.get('prob_out')?.elemType, DataType.FLOAT);
  // With the batch bound (as inspect does for FLOPs) every dim is a number.
  assert.deepEqual(inferTypes(m, { batch: 1 }).types.get('prob_out')?.shape, [1, 10]);
});

test('Shape -> Gather -> Unsqueeze -> Concat -> Reshape (PyTorch flatten) resolves with a symbolic batch', () => {
  const m = model(13, ['batch', 64, 7, 7], (b, x) => {
    const s = b.op('Shape', [x]);
    const n = b.op('Gather', [s, b.initializer(int64Tensor('zero', [], [0]))], { axis: 0 });
    const n1 = b.op('Unsqueeze', [n, b.initializer(int64Tensor('axes0', [1], [0]))]);
    const target = b.op('Concat', [n1, b.initializer(int64Tensor('minus1', [1], [-1]))], { axis: 0 });
    return b.op('Reshape', [x, target], {}, 'view');
  });
  assert.deepEqual(outShape(m), ['batch', 3136]);
});

test('Reshape: 0 copies a dim, -1 is solved, allowzero keeps a literal 0, mismatches name the node', () => {
  const reshape = (inShape: Dim[], target: number[], opset = 13, allowzero?: number): Dim[] | undefined =>
    outShape(model(opset, inShape, (b, x) => b.op('Reshape', [x, b.initializer(int64Tensor('s', [target.length], target))], allowzero === undefined ? {} : { allowzero }, 'r1')));
  assert.deepEqual(reshape([2, 3, 4], [0, -1]), [2, 12]);
  assert.deepEqual(reshape([2, 3, 4], [-1, 6]), [4, 6]);
  assert.deepEqual(reshape(['N', 3, 4], [0, 12]), ['N', 12]);
  assert.deepEqual(reshape(['N', 3, 4], [-1, 12]), ['N', 12]);
  assert.deepEqual(reshape(['N', 3, 4], [-1, 5]), [null, 5]);
  assert.deepEqual(reshape([0, 3], [3, 0], 14, 1), [3, 0]);
  throwsNaming(() => reshape([2, 3, 4], [5, -1]), /node 'r1' \(Reshape\): cannot reshape \[2,3,4\] to \[5,-1\]/);
  throwsNaming(() => reshape([2, 3, 4], [5, 5]), /node 'r1' \(Reshape\).*element counts differ/);
  throwsNaming(() => reshape([2, 3, 4], [-1, -1]), /more than one -1/);
});

test('Reshape in opset 1-4 reads the shape attribute', () => {
  assert.deepEqual(outShape(model(4, [2, 3, 4], (b, x) => b.op('Reshape', [x], { shape: [6, -1] }))), [6, 4]);
});

test('Gemm transA / transB and its K check', () => {
  const gemm = (a: number[], w: number[], attrs: Record<string, number>): Dim[] | undefined =>
    outShape(model(13, a, (b, x) => b.op('Gemm', [x, b.initializer(zeros('w', w))], attrs, 'fc')));
  assert.deepEqual(gemm([4, 3], [3, 5], {}), [4, 5]);
  assert.deepEqual(gemm([3, 4], [3, 5], { transA: 1 }), [4, 5]);
  assert.deepEqual(gemm([4, 3], [5, 3], { transB: 1 }), [4, 5]);
  throwsNaming(() => gemm([4, 3], [4, 5], {}), /node 'fc' \(Gemm\): A \[4,3\] has 3 columns but B \[4,5\] has 4 rows/);
  throwsNaming(() => gemm([4, 3, 1], [3, 5], {}), /needs a 2-D A/);
});

test('MatMul broadcasts batch dims and promotes 1-D operands', () => {
  const matmul = (a: number[], w: number[]): Dim[] | undefined =>
    outShape(model(13, a, (b, x) => b.op('MatMul', [x, b.initializer(zeros('w', w))], {}, 'mm')));
  assert.deepEqual(matmul([2, 1, 3, 4], [5, 4, 6]), [2, 5, 3, 6]);
  assert.deepEqual(matmul([3, 4], [4]), [3]);
  assert.deepEqual(matmul([4], [2, 4, 6]), [2, 6]);
  throwsNaming(() => matmul([3, 4], [5, 6]), /node 'mm' \(MatMul\).*4 columns.*5 rows/);
});

test('Concat sums the axis and checks the other dims', () => {
  assert.deepEqual(outShape(model(13, ['N', 3, 8, 8], (b, x) => b.op('Concat', [x, x], { axis: -3 }))), ['N', 6, 8, 8]);
  // Concatenating with a batch-1 constant pins the symbolic batch to 1.
  const m = model(13, ['N', 3, 8, 8], (b, x) => b.op('Concat', [x, b.initializer(zeros('c', [1, 5, 8, 8])), x], { axis: 1 }));
  assert.deepEqual(outShape(m), [1, 11, 8, 8]);
  throwsNaming(
    () => outShape(model(13, [1, 3, 8, 8], (b, x) => b.op('Concat', [x, b.initializer(zeros('c', [1, 5, 8, 9]))], { axis: 1 }, 'cat'))),
    /node 'cat' \(Concat\): input 'c' \[1,5,8,9\] differs from \[1,3,8,8\] on axis 3/,
  );
});

test('Split: attribute (opset 11), input (opset 13), equal split, num_outputs (opset 18)', () => {
  const split = (opset: number, shape: number[], attrs: Record<string, number | number[]>, outputs: number, splitInput?: number[]): Dim[][] => {
    const b = new GraphBuilder('g');
    const x = b.input('x', shape);
    const inputs = splitInput ? [x, b.initializer(int64Tensor('split', [splitInput.length], splitInput))] : [x];
    const outs = b.node('Split', inputs, attrs, { name: 'sp', outputs });
    for (const o of outs) untypedOutput(b, o);
    const { types } = inferTypes(modelOf(b.graph, opset));
    return outs.map((o) => types.get(o)?.shape ?? []);
  };
  assert.deepEqual(split(11, [2, 10], { axis: 1, split: [3, 7] }, 2), [[2, 3], [2, 7]]);
  assert.deepEqual(split(13, [2, 10], { axis: 1 }, 2, [4, 6]), [[2, 4], [2, 6]]);
  assert.deepEqual(split(13, [6, 4], {}, 3), [[2, 4], [2, 4], [2, 4]]);
  assert.deepEqual(split(18, [7, 4], { num_outputs: 3 }, 3), [[3, 4], [3, 4], [1, 4]]);
  throwsNaming(() => split(13, [7, 4], {}, 3), /node 'sp' \(Split\).*7 elements.*3 equal parts/);
  throwsNaming(() => split(13, [2, 10], { axis: 1 }, 2, [4, 5]), /split \[4,5\] sums to 9 but axis 1/);
});

test('Flatten at any axis', () => {
  const flatten = (axis: number): Dim[] | undefined => outShape(model(13, ['N', 2, 3, 4], (b, x) => b.op('Flatten', [x], { axis })));
  assert.deepEqual(flatten(1), ['N', 24]);
  assert.deepEqual(flatten(0), [1, null]);
  assert.deepEqual(flatten(2), [null, 12]);
  assert.deepEqual(flatten(-1), [null, 4]);
  assert.deepEqual(flatten(4), [null, 1]);
});

test('Transpose with and without perm', () => {
  assert.deepEqual(outShape(model(13, ['N', 3, 5], (b, x) => b.op('Transpose', [x], { perm: [0, 2, 1] }))), ['N', 5, 3]);
  assert.deepEqual(outShape(model(13, ['N', 3, 5], (b, x) => b.op('Transpose', [x]))), [5, 3, 'N']);
  throwsNaming(() => outShape(model(13, [1, 2, 3], (b, x) => b.op('Transpose', [x], { perm: [0, 0, 1] }, 't'))), /node 't' \(Transpose\).*not a permutation/);
});

test('Squeeze and Unsqueeze: attribute form (opset 11) and input form (opset 13)', () => {
  assert.deepEqual(outShape(model(11, [1, 3, 1, 5], (b, x) => b.op('Squeeze', [x], { axes: [0, 2] }))), [3, 5]);
  assert.deepEqual(outShape(model(11, [1, 3, 1, 5], (b, x) => b.op('Squeeze', [x]))), [3, 5]);
  assert.deepEqual(outShape(model(13, [1, 3, 1, 5], (b, x) => b.op('Squeeze', [x, b.initializer(int64Tensor('a', [1], [-2]))]))), [1, 3, 5]);
  assert.deepEqual(outShape(model(11, [3, 5], (b, x) => b.op('Unsqueeze', [x], { axes: [0, 3] }))), [1, 3, 5, 1]);
  assert.deepEqual(outShape(model(13, [3, 5], (b, x) => b.op('Unsqueeze', [x, b.initializer(int64Tensor('a', [2], [-1, 1]))]))), [3, 1, 5, 1]);
  throwsNaming(() => outShape(model(11, [2, 3], (b, x) => b.op('Squeeze', [x], { axes: [0] }, 'sq'))), /node 'sq' \(Squeeze\): cannot squeeze axis 0 of \[2,3\]/);
});

test('Pad: pads attribute (opset 10) and constant pads input (opset 13)', () => {
  assert.deepEqual(outShape(model(10, [1, 3, 4, 4], (b, x) => b.op('Pad', [x], { pads: [0, 0, 1, 2, 0, 0, 3, 4] }))), [1, 3, 8, 10]);
  assert.deepEqual(outShape(model(13, ['N', 3, 4, 4], (b, x) => b.op('Pad', [x, b.initializer(int64Tensor('p', [8], [0, 0, 1, 1, 0, 0, 1, -1]))]))), ['N', 3, 6, 4]);
  // Pads computed at run time: the rank is known, the sizes are not.
  const runtime = new GraphBuilder('g');
  const x = runtime.input('x', [1, 3, 4, 4]);
  const p = runtime.input('p', [8], DataType.INT64);
  untypedOutput(runtime, runtime.op('Pad', [x, p]));
  assert.deepEqual(outShape(modelOf(runtime.graph, 13)), [null, null, null, null]);
});

test('elementwise ops broadcast numpy-style and name the node on a conflict', () => {
  const add = (other: number[]): Dim[] | undefined => outShape(model(13, ['N', 3, 1, 5], (b, x) => b.op('Add', [x, b.initializer(zeros('c', other))], {}, 'add1')));
  assert.deepEqual(add([4, 1]), ['N', 3, 4, 5]);
  assert.deepEqual(add([]), ['N', 3, 1, 5]);
  assert.deepEqual(add([2, 1, 1, 1, 1]), [2, 'N', 3, 1, 5]);
  throwsNaming(() => add([4, 6]), /node 'add1' \(Add\): cannot broadcast 'x' \[N,3,1,5\] and 'c' \[4,6\]/);
});

test('Clip and Dropout across the opsets that moved their attributes to inputs', () => {
  assert.deepEqual(outShape(model(6, [2, 3], (b, x) => b.op('Clip', [x], { min: { float: 0 }, max: { float: 6 } }))), [2, 3]);
  assert.deepEqual(outShape(model(13, [2, 3], (b, x) => b.op('Clip', [x, b.initializer(zeros('lo', [])), b.initializer(zeros('hi', []))]))), [2, 3]);
  const dropout = (opset: number): number | undefined => {
    const b = new GraphBuilder('g');
    const x = b.input('x', [2, 3]);
    const [y, mask] = b.node('Dropout', [x], {}, { outputs: 2 });
    untypedOutput(b, y as string);
    untypedOutput(b, mask as string);
    return inferTypes(modelOf(b.graph, opset)).types.get(mask as string)?.elemType;
  };
  assert.equal(dropout(13), DataType.BOOL);
  assert.equal(dropout(7), DataType.FLOAT);
});

test('Cast, Shape and Constant give element types', () => {
  const b = new GraphBuilder('g');
  const x = b.input('x', ['N', 3]);
  const c = b.op('Cast', [x], { to: DataType.INT64 });
  const s = b.op('Shape', [c]);
  const k = b.op('Constant', [], { value_ints: [1, 2, 3] });
  for (const o of [c, s, k]) untypedOutput(b, o);
  const { types } = inferTypes(modelOf(b.graph, 15));
  assert.deepEqual(types.get(c), { elemType: DataType.INT64, shape: ['N', 3] });
  assert.deepEqual(types.get(s), { elemType: DataType.INT64, shape: [2], value: ['N', 3] });
  assert.deepEqual(types.get(k), { elemType: DataType.INT64, shape: [3], value: [1, 2, 3] });
});

// ---- errors name the node -----------------------------------------------------------------------

test('a Conv channel mismatch names the node, both channel counts and the weight', () => {
  const m = model(13, [1, 3, 56, 56], (b, x) => b.op('Conv', [x, b.initializer(zeros('conv2_w', [64, 64, 3, 3]))], { pads: [1, 1, 1, 1] }, 'conv2'));
  throwsNaming(() => inferShapes(m), /^node 'conv2' \(Conv\): input has 3 channels but weight expects 64 \(W is \[64,64,3,3\]\)/);
});

test('attribute errors name the node', () => {
  throwsNaming(() => outShape(model(13, [1, 3, 8, 8], (b, x) => b.op('Conv', [x, b.initializer(zeros('w', [4, 3, 3, 3]))], { strides: [1, 1, 1] }, 'c1'))),
    /node 'c1' \(Conv\): strides \[1,1,1\] has 3 values for 2 spatial axes/);
  throwsNaming(() => outShape(model(13, [1, 3, 8, 8], (b, x) => b.op('MaxPool', [x], {}, 'p1'))), /node 'p1' \(MaxPool\): required attribute 'kernel_shape' is missing/);
  throwsNaming(() => outShape(model(13, [1, 3, 2, 2], (b, x) => b.op('MaxPool', [x], { kernel_shape: [3, 3] }, 'p2'))), /node 'p2' \(MaxPool\): spatial axis 0: input size 2 is smaller than the 3-wide kernel/);
  throwsNaming(() => outShape(model(13, [2, 3], (b, x) => b.op('Softmax', [x], { axis: 2 }, 'sm'))), /node 'sm' \(Softmax\): axis 2 is out of range/);
});

// ---- ops outside the table ----------------------------------------------------------------------

function customModel(declareOutput: boolean): Model {
  const b = new GraphBuilder('g');
  const x = b.input('x', [1, 3, 8, 8]);
  const [mystery] = b.node('Mystery', [x], {}, { name: 'plugin', domain: 'com.example' });
  untypedOutput(b, b.op('Relu', [mystery as string], {}, 'after'));
  if (declareOutput) b.graph.valueInfo.push({ name: mystery as string, elemType: DataType.FLOAT, shape: [1, 3, 8, 8], docString: '' });
  return modelOf(b.graph, 13);
}

test('an op outside the table passes through; a later op that needs its shape names both nodes', () => {
  const b = new GraphBuilder('g');
  const x = b.input('x', [1, 3, 8, 8]);
  const [mystery] = b.node('Mystery', [x], {}, { name: 'plugin', domain: 'com.example' });
  untypedOutput(b, mystery as string);
  const passthrough = modelOf(b.graph, 13);
  assert.doesNotThrow(() => inferShapes(passthrough));
  assert.equal(shapeOf(passthrough, mystery as string), undefined);

  throwsNaming(() => inferShapes(customModel(false)), /^node 'after' \(Relu\): needs the shape of input 'plugin_out'.*node 'plugin' \(Mystery\) of domain 'com.example'/);
  // Lenient inference leaves it unknown instead.
  const lenient = inferTypes(customModel(false), { strict: false });
  assert.equal(lenient.types.get('after_out')?.shape, undefined);
  // A declared value_info for the custom op's output is used.
  assert.deepEqual(shapeOf(customModel(true), 'after_out'), [1, 3, 8, 8]);
});

test('a graph input without a declared shape is named when a table op needs it', () => {
  const b = new GraphBuilder('g');
  b.graph.inputs.push({ name: 'x', elemType: DataType.FLOAT, docString: '' });
  untypedOutput(b, b.op('Flatten', ['x'], {}, 'flat'));
  throwsNaming(() => inferShapes(modelOf(b.graph, 13)), /node 'flat' \(Flatten\): needs the shape of input 'x'.*graph input 'x' declares no shape/);
});

// ---- writing results back -----------------------------------------------------------------------

test('inferShapes fills value_info for intermediates, updates stale entries, and fills undeclared outputs', () => {
  const m = model(13, ['N', 3, 8, 8], (b, x) => {
    const c = b.op('Conv', [x, b.initializer(zeros('w', [4, 3, 3, 3]))], {}, 'c');
    return b.op('Relu', [c], {}, 'r');
  });
  const stale = { name: 'c_out', elemType: DataType.FLOAT, shape: [9, 9] as Dim[], docString: 'kept' };
  m.graph.valueInfo.push(stale);
  inferShapes(m);
  assert.equal(m.graph.valueInfo.length, 1);
  assert.equal(m.graph.valueInfo[0], stale, 'updated in place');
  assert.deepEqual(stale.shape, ['N', 4, 6, 6]);
  assert.equal(stale.docString, 'kept');
  assert.deepEqual(m.graph.outputs[0]?.shape, ['N', 4, 6, 6]);
  assert.equal(m.graph.outputs[0]?.elemType, DataType.FLOAT);
});

test('a graph output declared with a contradicting shape is an error naming the producer', () => {
  const m = model(13, [1, 3, 8, 8], (b, x) => b.op('Relu', [x], {}, 'act'));
  const out = m.graph.outputs[0];
  assert.ok(out);
  out.shape = [1, 3, 8, 9];
  throwsNaming(() => inferShapes(m), /graph output 'act_out' is declared \[1,3,8,9\] but node 'act' \(Relu\) produces \[1,3,8,8\]/);
  out.shape = ['batch', 3, null, 8];
  assert.doesNotThrow(() => inferShapes(m));
  assert.deepEqual(out.shape, ['batch', 3, 8, 8], 'unknown dims filled, symbolic ones kept');
});

test('shapeOf names a missing value', () => {
  const m = model(13, [1, 3], (b, x) => b.op('Relu', [x]));
  assert.deepEqual(shapeOf(m, 'x'), [1, 3]);
  throwsNaming(() => shapeOf(m, 'nope'), /no value named 'nope' in graph 'g'/);
});
