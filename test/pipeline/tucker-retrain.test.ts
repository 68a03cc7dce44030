import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Model } from '../../src/ir/graph.js';
import type { Dataset } from '../../src/data/dataset.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { floatTensor, tensorToFloat32 } from '../../src/ir/tensor.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModel } from '../../src/onnx/decode.js';
import { RebirthError } from '../../src/errors.js';
import { sharedValues, tuckerAndRetrain } from '../../src/pipeline/tucker-retrain.js';
import { Random } from '../../src/util/random.js';
import { plantedKernel, uniform } from '../decompose/fixtures.js';

/** data [N,1,8,8] -> conv_a 3x3 (8) -> Relu -> conv_b 3x3 (8 -> 12) -> Relu -> GAP -> Flatten -> fc (4): trainable on ORT. */
function smallNet(convB?: Float32Array): Model {
  const b = new GraphBuilder('small');
  const x = b.input('data', ['N', 1, 8, 8]);
  const conv = (name: string, input: string, cin: number, cout: number, w?: Float32Array): string => {
    const wt = b.initializer(floatTensor(`${name}_w`, [cout, cin, 3, 3], w ?? uniform(cout * cin * 9, cin + cout, 1 / Math.sqrt(cin * 9))));
    const bias = b.initializer(floatTensor(`${name}_b`, [cout], uniform(cout, 5, 0.1)));
    const y = b.node('Conv', [input, wt, bias], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }, { name, outputs: [`${name}_y`] })[0] as string;
    return b.node('Relu', [y], {}, { name: `${name}/relu`, outputs: [`${name}/relu`] })[0] as string;
  };
  const a = conv('conv_a', x, 1, 8);
  const c = conv('conv_b', a, 8, 12, convB);
  const pooled = b.node('GlobalAveragePool', [c], {}, { name: 'gap', outputs: ['gap'] })[0] as string;
  const flat = b.node('Flatten', [pooled], { axis: 1 }, { name: 'flatten', outputs: ['flatten'] })[0] as string;
  const fw = b.initializer(floatTensor('fc_w', [4, 12], uniform(48, 11, 0.5)));
  const fb = b.initializer(floatTensor('fc_b', [4], uniform(4, 12, 0.1)));
  b.output(b.node('Gemm', [flat, fw, fb], { transB: 1 }, { name: 'fc', outputs: ['logits'] })[0] as string, ['N', 4]);
  return modelOf(b.graph);
}

/** Images whose class is the quadrant with the brightest patch: learnable by the small net. */
function dataset(count: number, seed: number): Dataset {
  const rng = new Random(seed);
  const images = new Float32Array(count * 64);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const label = i % 4;
    labels[i] = label;
    for (let p = 0; p < 64; p++) images[i * 64 + p] = rng.nextFloat() * 0.3;
    const [r0, c0] = [(label >> 1) * 4, (label & 1) * 4];
    for (let r = r0; r < r0 + 4; r++) for (let c = c0; c < c0 + 4; c++) images[i * 64 + r * 8 + c] = 1;
  }
  return { images, labels, count, shape: [1, 8, 8], classes: 4 };
}

void test('retrain none: accuracies, output errors of an exact and of a lossy decomposition', async () => {
  const planted = smallNet(plantedKernel(12, 8, 3, 3, 4, 21));
  const test1 = dataset(32, 2);
  const exact = await tuckerAndRetrain(planted, { ranks: { conv_b: [3, 4] }, measure: false, retrain: 'none', test: test1 });
  assert.equal(exact.layers.find((l) => l.name === 'conv_b')?.decomposed, true);
  assert.ok(exact.outputError < 1e-4, `exact ranks: logits error ${exact.outputError}`);
  assert.ok((exact.layerOutputError.conv_b ?? 1) < 1e-4);
  assert.ok(exact.accuracy);
  assert.equal(exact.accuracy.decomposed, exact.accuracy.before);
  assert.equal(exact.accuracy.after, exact.accuracy.decomposed);
  assert.deepEqual(exact.history, []);

  const lossy = await tuckerAndRetrain(smallNet(), { ranks: { conv_b: [2, 2] }, measure: false, retrain: 'none' });
  assert.equal(lossy.accuracy, undefined, 'no test set, no accuracy');
  assert.ok(lossy.outputError > 1e-3, 'random inputs still measure the error');
  assert.ok((lossy.layerOutputError.conv_b ?? 0) > 0.1);
});

void test('distill fine-tunes the decomposed model against the input, which stays unchanged', async () => {
  const model = smallNet();
  const bytes = encodeModel(model);
  const r = await tuckerAndRetrain(model, {
    ranks: { conv_b: [2, 3] }, measure: false, retrain: 'distill', train: dataset(128, 3), test: dataset(32, 4), epochs: 2, batchSize: 32, progress: false, threads: 1,
  });
  assert.deepEqual(encodeModel(model), bytes, 'input model not modified');
  assert.deepEqual(r.targets, ['conv_b_y'], 'the decomposed layer output is the distillation target');
  assert.equal(r.history.length, 2);
  assert.ok(r.accuracy);
  for (const v of Object.values(r.accuracy)) assert.ok(v >= 0 && v <= 1);
  // The best epoch's accuracy is reported, never worse than the epochs' own evaluations say.
  assert.equal(r.accuracy.after, Math.max(...r.history.map((h) => h.eval?.top1 ?? 0)));
  const fresh = await tuckerAndRetrain(model, { ranks: { conv_b: [2, 3] }, measure: false, retrain: 'none' });
  const changed = r.newParams.some((p) => {
    const a = tensorToFloat32(r.model.graph.initializers.get(p) as never);
    const b = tensorToFloat32(fresh.model.graph.initializers.get(p) as never);
    return a.some((v, i) => v !== b[i]);
  });
  assert.ok(changed, 'fine-tuning updated the decomposition parameters');
  decodeModel(encodeModel(r.model));
});

void test('paper mode trains on labels; bad options are one-line RebirthErrors', async () => {
  const model = smallNet();
  const r = await tuckerAndRetrain(model, { ranks: { conv_b: [2, 3] }, measure: false, retrain: 'paper', train: dataset(64, 5), epochs: 1, batchSize: 32, progress: false, threads: 1 });
  assert.deepEqual(r.targets, [], 'no distillation targets with labels only');
  assert.equal(r.history.length, 1);
  await assert.rejects(tuckerAndRetrain(model, { ranks: { conv_b: [2, 3] }, retrain: 'distill' }), (e: unknown) => e instanceof RebirthError && /needs training data/.test(e.message));
  await assert.rejects(tuckerAndRetrain(model, { ranks: { conv_b: [2, 3] }, retrain: 'none', epochs: 0 }), RebirthError);
  await assert.rejects(tuckerAndRetrain(model, { ranks: { conv_b: [0, 3] }, retrain: 'none' }), /positive integers/);
});

void test('sharedValues keeps targets present in both models with the same shape', () => {
  const student = smallNet();
  const teacher = smallNet();
  // A teacher whose conv_b is wider: same name, different shape.
  const wide = smallNet();
  const g = wide.graph;
  g.initializers.set('conv_b_w', floatTensor('conv_b_w', [16, 8, 3, 3], uniform(16 * 72, 1)));
  g.initializers.set('conv_b_b', floatTensor('conv_b_b', [16], uniform(16, 2)));
  g.initializers.set('fc_w', floatTensor('fc_w', [4, 16], uniform(64, 3)));
  assert.deepEqual(sharedValues(student, teacher, ['conv_a_y', 'conv_b_y', 'missing', 'conv_a_y']), ['conv_a_y', 'conv_b_y']);
  assert.deepEqual(sharedValues(student, wide, ['conv_a_y', 'conv_b_y']), ['conv_a_y']);
});
