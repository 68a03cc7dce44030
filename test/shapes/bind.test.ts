// Rebinding graph input shapes (src/shapes/bind.ts): symbolic dims bound, a batch-1 export rebound to a
// training batch, Reshapes that baked the batch in rewritten or refused, and one-line errors naming the input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { Model } from '../../src/ir/graph.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { tensorToNumbers } from '../../src/ir/tensor.js';
import { loadModel } from '../../src/onnx/file.js';
import { bindInputShapes, inputsNeedingShapes } from '../../src/shapes/bind.js';
import { inferTypes } from '../../src/shapes/infer.js';
import { TORCH_FIXTURES, assertSameOnOrt, feed, ints, runOrt, throwsOneLine, weight } from './helpers.js';

const torch = (name: string): Model => loadModel(path.join(TORCH_FIXTURES, `${name}.onnx`));

/** Running `rebound` on a batch equals running `original` on each sample alone (float tolerance). */
async function assertPerSample(original: Model, rebound: Model, input: string, sample: number[], batch: number): Promise<void> {
  const x = feed([batch, ...sample], 11);
  const whole = await runOrt(rebound, { [input]: x });
  const per = x.data.length / batch;
  for (const [name, data] of Object.entries(whole)) {
    const outPer = data.length / batch;
    for (let n = 0; n < batch; n++) {
      const one = await runOrt(original, { [input]: { dims: [1, ...sample], data: x.data.slice(n * per, (n + 1) * per) } });
      const ref = one[name] as Float32Array;
      const scale = Math.max(1e-6, ...Array.from(ref, Math.abs));
      for (let i = 0; i < outPer; i++) {
        const err = Math.abs((data[n * outPer + i] as number) - (ref[i] as number));
        assert.ok(err <= 1e-5 * scale, `${name} sample ${n} [${i}]: ${data[n * outPer + i]} vs ${ref[i]} alone`);
      }
    }
  }
}

/** `x.view(1, -1)` as a fixed-batch export has it: a constant target with the batch 1 baked in. */
function bakedView(): Model {
  const b = new GraphBuilder('baked');
  const x = b.input('x', [1, 4, 2, 2]);
  const c = b.op('Conv', [x, weight(b, 'w', [3, 4, 1, 1])], {}, 'conv');
  const flat = b.op('Reshape', [c, ints(b, 'target', [1, -1])], {}, 'view');
  b.output(b.op('Gemm', [flat, weight(b, 'fc.weight', [5, 12], 3)], { transB: 1 }, 'fc'), [1, 5]);
  return modelOf(b.graph, 13);
}

test('symbolic height and width bound: every shape static, same numbers on ORT, the input model untouched', async () => {
  const m = torch('dynamic_hw');
  const bound = bindInputShapes(m, { input: [1, 3, 48, 96] });
  assert.deepEqual(bound.graph.inputs[0]?.shape, [1, 3, 48, 96]);
  assert.deepEqual(bound.graph.outputs[0]?.shape, [1, 10]);
  for (const v of bound.graph.valueInfo) assert.ok(v.shape?.every((d) => typeof d === 'number'), v.name);
  assert.deepEqual(m.graph.inputs[0]?.shape, ['batch', 3, 'height', 'width']);
  assert.deepEqual(m.graph.outputs[0]?.shape, ['batch', 10]);
  assert.deepEqual(inputsNeedingShapes(m).map((v) => v.name), ['input']);
  assert.deepEqual(inputsNeedingShapes(bound), []);
  await assertSameOnOrt(m, bound, { input: feed([1, 3, 48, 96]) });
  // A symbolic batch alone needs no binding.
  assert.deepEqual(inputsNeedingShapes(torch('googlenet_tv')), []);
});

test('a batch-1 export (googlenet_tv_b1.onnx) rebinds to a training batch, fixed or symbolic', async () => {
  const m = torch('googlenet_tv_b1');
  const three = bindInputShapes(m, { input: [3, 3, 64, 64] });
  assert.deepEqual(three.graph.outputs[0]?.shape, [3, 10]);
  await assertPerSample(m, three, 'input', [3, 64, 64], 3);
  const free = bindInputShapes(m, { input: ['N', 3, 64, 64] });
  assert.deepEqual(free.graph.outputs[0]?.shape, ['N', 10]);
  await assertPerSample(m, free, 'input', [3, 64, 64], 2);
});

test('a Reshape that baked batch 1 into its target copies the batch instead (0), and the numbers follow', async () => {
  const m = bakedView();
  const bound = bindInputShapes(m, { x: [4, 4, 2, 2] });
  const view = bound.graph.nodes.find((n) => n.name === 'view') ?? assert.fail('view');
  assert.deepEqual(tensorToNumbers(bound.graph.initializers.get(view.inputs[1] ?? '') ?? assert.fail('target')), [0, -1]);
  assert.deepEqual(bound.graph.outputs[0]?.shape, [4, 5]);
  assert.deepEqual(tensorToNumbers(m.graph.initializers.get('target') ?? assert.fail('original target')), [1, -1], 'the input model keeps its target');
  await assertPerSample(m, bound, 'x', [4, 2, 2], 4);
  assert.deepEqual(bindInputShapes(m, { x: ['batch', 4, 2, 2] }).graph.outputs[0]?.shape, ['batch', 5]);
});

test('rebinding is refused, naming the node or output, where the graph fixes the batch some other way', () => {
  // The batch moved off the leading axis before a Reshape with a constant target.
  const b = new GraphBuilder('moved');
  const x = b.input('x', [1, 4, 2, 2]);
  const t = b.op('Transpose', [x], { perm: [1, 0, 2, 3] });
  b.output(b.op('Reshape', [t, ints(b, 'target', [4, -1])], {}, 'flat'), [4, 4]);
  throwsOneLine(() => bindInputShapes(modelOf(b.graph, 13), { x: [2, 4, 2, 2] }), /node 'flat' \(Reshape\) bakes dim 0 of input 'x' \(1\) into its target \[4,-1\]; rebinding it to 2 .*re-export the model with that dim dynamic/);
  // A Slice that keeps the first sample: the output keeps batch 1.
  const s = new GraphBuilder('slice');
  const y = s.input('y', [1, 3]);
  s.output(s.op('Slice', [y, ints(s, 'starts', [0]), ints(s, 'ends', [1]), ints(s, 'axes', [0])], {}, 'first'), [1, 3]);
  throwsOneLine(() => bindInputShapes(modelOf(s.graph, 13), { y: [5, 3] }), /output 'first_out' keeps batch 1 after input 'y' is rebound from batch 1 to 5/);
});

test('bad bindings are one-line errors naming the input', () => {
  const m = torch('dynamic_hw');
  throwsOneLine(() => bindInputShapes(m, { x: [1, 3, 48, 96] }), /^no graph input named 'x'; the model's inputs are 'input' \[batch,3,height,width\]$/);
  throwsOneLine(() => bindInputShapes(m, { 'conv1.weight': [8, 3, 3, 3] }), /^no graph input named 'conv1\.weight'/);
  // IR < 4 models list their weights as graph inputs too.
  const listed: Model = { ...m, graph: { ...m.graph, inputs: [...m.graph.inputs, { name: 'conv1.weight', shape: [8, 3, 3, 3], docString: '' }] } };
  throwsOneLine(() => bindInputShapes(listed, { 'conv1.weight': [8, 3, 3, 3] }), /^'conv1\.weight' is an initializer, not a graph input the caller feeds; the model's inputs are 'input' \[batch,3,height,width\]$/);
  throwsOneLine(() => bindInputShapes(m, { input: [3, 48, 96] }), /^input 'input' has rank 4 \(\[batch,3,height,width\]\); got 3 dims \[3,48,96\]$/);
  throwsOneLine(() => bindInputShapes(m, { input: [1, 3, 0, 96] }), /^input 'input': dim 2 is 0; dims must be whole numbers >= 1$/);
  throwsOneLine(() => bindInputShapes(m, { input: [1, 3, -4, 96] }), /input 'input': dim 2 is -4/);
  throwsOneLine(() => bindInputShapes(m, { input: [1, 3, 1.5, 96] }), /input 'input': dim 2 is 1\.5/);
  throwsOneLine(() => bindInputShapes(m, { input: [1, 4, 48, 96] }), /binding input 'input' to \[1,4,48,96\]: node '\/conv1\/Conv' \(Conv\): input has 4 channels but weight expects 3/);
});

test('a symbol shared by several inputs follows a binding, and conflicting bindings of it are refused', () => {
  const b = new GraphBuilder('two');
  const x = b.input('x', ['N', 3]);
  const y = b.input('y', ['N', 3]);
  b.output(b.op('Add', [x, y], {}, 'sum'), ['N', 3]);
  const m = modelOf(b.graph, 13);
  const bound = bindInputShapes(m, { x: [6, 3] });
  assert.deepEqual(bound.graph.inputs.map((v) => v.shape), [[6, 3], [6, 3]]);
  assert.deepEqual(inferTypes(bound).types.get('sum_out')?.shape, [6, 3]);
  throwsOneLine(() => bindInputShapes(m, { x: [6, 3], y: [7, 3] }), /symbol 'N' is dim 0 of input 'y' \(bound to 7\) and of input 'x' \(bound to 6\)/);
});
