import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import type { Model } from '../../src/ir/graph.js';
import { tensorToFloat32 } from '../../src/ir/tensor.js';
import { getInt, getInts } from '../../src/ir/attributes.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModel } from '../../src/onnx/decode.js';
import { RebirthError } from '../../src/errors.js';
import {
  ZOO, buildZooModel, countParameters, formatLayerTable, summarizeLayers, totalLayers, zooEntry, zooModelNames,
  GOOGLENET_INCEPTIONS, inceptionOutputs, type ZooOptions,
} from '../../src/zoo/index.js';
import { fans, paramRandom, xavierUniform } from '../../src/zoo/init.js';
import { windowOutputSize } from '../../src/zoo/layers.js';

/** docs/zoo.md, found from here whether run from test/ (tsx) or from dist/test/ (compiled). */
function zooDoc(): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'docs', 'zoo.md');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error('docs/zoo.md not found above this test file');
  }
}

function opCounts(model: Model): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of model.graph.nodes) counts[n.opType] = (counts[n.opType] ?? 0) + 1;
  return counts;
}

function node(model: Model, name: string) {
  const found = model.graph.nodes.find((n) => n.name === name);
  assert.ok(found, `node '${name}' exists`);
  return found;
}

function weights(model: Model, name: string): Float32Array {
  const t = model.graph.initializers.get(name);
  assert.ok(t, `initializer '${name}' exists`);
  return tensorToFloat32(t);
}

/** Deterministic pseudo-image in [0, 1]. */
function image(dims: number[]): Float32Array {
  const n = dims.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, (_, i) => ((i * 7919) % 256) / 255);
}

/** Run `model` on ORT with `extraOutputs` exposed as graph outputs too; returns every output. */
async function run(model: Model, batch: number, extraOutputs = false): Promise<ort.InferenceSession.OnnxValueMapType> {
  const graph = extraOutputs ? { ...model.graph, outputs: [...model.graph.outputs, ...model.graph.valueInfo] } : model.graph;
  const session = await ort.InferenceSession.create(encodeModel({ ...model, graph }));
  try {
    const input = model.graph.inputs[0];
    assert.ok(input?.shape);
    const dims = [batch, ...input.shape.slice(1).map(Number)];
    return await session.run({ [input.name]: new ort.Tensor('float32', image(dims), dims) });
  } finally {
    await session.release();
  }
}

function assertFinite(values: ort.Tensor, what: string): void {
  const data = values.data as Float32Array;
  assert.ok(data.length > 0);
  for (let i = 0; i < data.length; i++) assert.ok(Number.isFinite(data[i]), `${what}[${i}] = ${data[i]} is not finite`);
}

/** Shapes recorded in valueInfo (with batch `batch`) must be the shapes ORT computes. */
function assertShapesMatch(model: Model, outputs: ort.InferenceSession.OnnxValueMapType, batch: number): void {
  assert.ok(model.graph.valueInfo.length > 0);
  for (const v of [...model.graph.valueInfo, ...model.graph.outputs]) {
    const actual = outputs[v.name];
    assert.ok(actual, `ORT returned '${v.name}'`);
    assert.deepEqual(actual.dims, [batch, ...(v.shape ?? []).slice(1)], `shape of '${v.name}'`);
  }
}

void describe('zoo registry', () => {
  void it('lists the networks and describes their inputs and outputs', () => {
    assert.deepEqual(zooModelNames(), [
      'googlenet', 'googlenet-bn', 'googlenet-mini', 'alexnet', 'resnet50', 'resnet152', 'resnet18', 'resnet34', 'mobilenetv2', 'resnet-mini', 'mobilenetv2-mini',
    ]);
    assert.equal(zooEntry('googlenet-mini').output.name, 'logits');
    assert.deepEqual(zooEntry('alexnet').input.shape, [3, 227, 227]);
    for (const entry of Object.values(ZOO)) assert.ok(entry.description.length > 0);
  });

  void it('rejects an unknown name, listing the known ones', () => {
    assert.throws(() => buildZooModel('googlenet2'), (e: unknown) =>
      e instanceof RebirthError && /googlenet2/.test(e.message) && /googlenet, googlenet-bn, googlenet-mini, alexnet, resnet50, resnet152, resnet18/.test(e.message));
    assert.throws(() => buildZooModel('toString'), RebirthError);
  });

  void it('rejects bad options with the option named', () => {
    const bad: Array<[ZooOptions, RegExp]> = [
      [{ batch: 0 }, /batch/], [{ batch: 1.5 }, /batch/], [{ batch: '' }, /batch/],
      [{ seed: 0.5 }, /seed/], [{ classes: 0 }, /classes/],
      [{ bnStats: 'gaussian' as unknown as 'random' }, /bnStats/],
    ];
    for (const [options, message] of bad) assert.throws(() => buildZooModel('googlenet-mini', options), (e: unknown) => e instanceof RebirthError && message.test(e.message));
  });
});

void describe('pooling output sizes', () => {
  void it('follows Caffe ceil mode: 112 -> 56 -> 28 -> 14 -> 7 for GoogLeNet, floor for padded pools', () => {
    assert.deepEqual([112, 56, 28, 14].map((s) => windowOutputSize(s, 3, 2, 0, true)), [56, 28, 14, 7]);
    assert.equal(windowOutputSize(112, 3, 2, 0, false), 55);
    assert.equal(windowOutputSize(112, 3, 2, 1, false), 56);
    // A last window that would start in the right padding is dropped (5 + 2 - 2 = 5 -> ceil(5/2)+1 = 4 -> 3).
    assert.equal(windowOutputSize(5, 2, 2, 1, true), 3);
  });
});

void describe('googlenet-mini', () => {
  let model: Model;
  before(() => {
    model = buildZooModel('googlenet-mini', { valueInfo: true });
  });

  void it('has the BVLC structure scaled to 28x28', () => {
    assert.deepEqual(opCounts(model), {
      Sub: 1, Div: 1, Conv: 21, Relu: 21, LRN: 2, MaxPool: 6, Concat: 3, GlobalAveragePool: 1, Dropout: 1, Flatten: 1, Gemm: 1,
    });
    assert.equal(countParameters(model), 264_250);
    assert.deepEqual(model.graph.inputs[0]?.shape, ['N', 1, 28, 28]);
    assert.deepEqual(model.graph.outputs.map((o) => [o.name, o.shape]), [['logits', ['N', 10]]]);
    // LRN after pool1 and after conv2/3x3, as in BVLC; pools in ceil mode; all four inception branches.
    assert.equal(node(model, 'pool1/norm1').inputs[0], 'pool1/3x3_s2');
    assert.equal(node(model, 'pool2/3x3_s2').inputs[0], 'conv2/norm2');
    assert.equal(getInt(node(model, 'pool3/3x3_s2'), 'ceil_mode'), 1);
    assert.deepEqual(node(model, 'inception_4a/output').inputs,
      ['inception_4a/relu_1x1', 'inception_4a/relu_3x3', 'inception_4a/relu_5x5', 'inception_4a/relu_pool_proj']);
    assert.deepEqual(model.opsetImports.map((o) => [o.domain, o.version]), [['', 13]]);
  });

  void it('stays within its compute budget (20-60 MFLOPs per image)', () => {
    const totals = totalLayers(summarizeLayers(model));
    assert.equal(totals.params, 264_250);
    assert.equal(totals.macs, 13_448_000);
    assert.ok(totals.flops > 20e6 && totals.flops < 60e6, `${totals.flops} FLOPs`);
  });

  void it('runs on ORT at batch 1 and 2 with finite logits and the recorded shapes', async () => {
    for (const batch of [1, 2]) {
      const outputs = await run(model, batch, true);
      assertShapesMatch(model, outputs, batch);
      const logits = outputs.logits;
      assert.ok(logits);
      assertFinite(logits, 'logits');
      const values = logits.data as Float32Array;
      assert.ok(values.some((v) => v !== values[0]), 'logits are not all equal');
    }
  });

  void it('is documented in docs/zoo.md with the table this code computes', () => {
    const doc = readFileSync(zooDoc(), 'utf8');
    assert.ok(doc.includes(formatLayerTable(summarizeLayers(model))), 'docs/zoo.md layer table of googlenet-mini is current');
  });
});

void describe('googlenet', () => {
  let model: Model;
  before(() => {
    model = buildZooModel('googlenet', { valueInfo: true });
  });

  void it('matches the BVLC layer spec and parameter count', () => {
    assert.deepEqual(opCounts(model), {
      Conv: 57, Relu: 57, MaxPool: 13, LRN: 2, Concat: 9, AveragePool: 1, Dropout: 1, Flatten: 1, Gemm: 1, Softmax: 1,
    });
    // Published BVLC GoogLeNet deploy model (without auxiliary classifiers).
    assert.equal(countParameters(model), 6_998_552);
    // Each module's input width is the previous module's output width (pools in between keep channels).
    GOOGLENET_INCEPTIONS.forEach((s, i) => {
      const previous = GOOGLENET_INCEPTIONS[i - 1];
      if (previous) assert.equal(s.in, inceptionOutputs(previous), s.name);
    });
    assert.equal(GOOGLENET_INCEPTIONS.map(inceptionOutputs).at(-1), 1024);
    const names = model.graph.nodes.map((n) => n.name);
    assert.deepEqual(names.slice(0, 8), [
      'conv1/7x7_s2', 'conv1/relu_7x7', 'pool1/3x3_s2', 'pool1/norm1',
      'conv2/3x3_reduce', 'conv2/relu_3x3_reduce', 'conv2/3x3', 'conv2/relu_3x3',
    ]);
    assert.deepEqual(names.slice(-5), ['pool5/7x7_s1', 'pool5/drop_7x7_s1', 'loss3/flatten', 'loss3/classifier', 'prob']);
    const conv1 = node(model, 'conv1/7x7_s2');
    assert.deepEqual([getInts(conv1, 'kernel_shape'), getInts(conv1, 'strides'), getInts(conv1, 'pads')], [[7, 7], [2, 2], [3, 3, 3, 3]]);
    const lrn = node(model, 'conv2/norm2');
    assert.deepEqual(lrn.attributes.map((a) => [a.name, a.kind, a.value]), [
      ['size', 'int', 5n], ['alpha', 'float', 1e-4], ['beta', 'float', 0.75], ['bias', 'float', 1],
    ]);
    const dropout = node(model, 'pool5/drop_7x7_s1');
    assert.deepEqual(Array.from(weights(model, dropout.inputs[1] ?? '')), [Math.fround(0.4)]);
    assert.equal(getInt(node(model, 'loss3/classifier'), 'transB'), 1);
    // Inception widths, checked through the weights: inception_3a/5x5 is 32 x 16 x 5 x 5, pool_proj 32 x 192.
    assert.deepEqual(model.graph.initializers.get('inception_3a/5x5_w')?.dims, [32, 16, 5, 5]);
    assert.deepEqual(model.graph.initializers.get('inception_3a/pool_proj_w')?.dims, [32, 192, 1, 1]);
    assert.deepEqual(model.graph.initializers.get('loss3/classifier_w')?.dims, [1000, 1024]);
  });

  void it('has Caffe spatial sizes 112, 56, 28, 14, 7 and 1.58 G multiply-adds', () => {
    const byName = new Map(summarizeLayers(model).map((r) => [r.name, r.shape]));
    assert.deepEqual(byName.get('conv1/7x7_s2'), [64, 112, 112]);
    assert.deepEqual(byName.get('pool1/3x3_s2'), [64, 56, 56]);
    assert.deepEqual(byName.get('pool2/3x3_s2'), [192, 28, 28]);
    assert.deepEqual(byName.get('inception_3b/output'), [480, 28, 28]);
    assert.deepEqual(byName.get('pool3/3x3_s2'), [480, 14, 14]);
    assert.deepEqual(byName.get('pool4/3x3_s2'), [832, 7, 7]);
    assert.deepEqual(byName.get('inception_5b/output'), [1024, 7, 7]);
    assert.deepEqual(byName.get('pool5/7x7_s1'), [1024, 1, 1]);
    // The GoogLeNet paper quotes ~1.5 G multiply-adds for inference.
    assert.equal(totalLayers(summarizeLayers(model)).macs, 1_582_671_872);
  });

  void it('runs on ORT at batch 1 and 2: shapes as recorded, finite probabilities summing to 1', async () => {
    for (const batch of [1, 2]) {
      const outputs = await run(model, batch, batch === 1);
      if (batch === 1) assertShapesMatch(model, outputs, batch);
      const prob = outputs.prob;
      assert.ok(prob);
      assert.deepEqual(prob.dims, [batch, 1000]);
      assertFinite(prob, 'prob');
      const p = prob.data as Float32Array;
      for (let b = 0; b < batch; b++) {
        const sum = p.subarray(b * 1000, (b + 1) * 1000).reduce((a, v) => a + v, 0);
        assert.ok(Math.abs(sum - 1) < 1e-4, `row ${b} sums to ${sum}`);
      }
    }
  });
});

void describe('alexnet', () => {
  void it('is BVLC AlexNet with groups and 60,965,224 parameters, conv-relu-norm-pool order', async () => {
    const model = buildZooModel('alexnet', { valueInfo: true });
    assert.deepEqual(opCounts(model), { Conv: 5, Relu: 7, LRN: 2, MaxPool: 3, Flatten: 1, Gemm: 3, Dropout: 2, Softmax: 1 });
    assert.equal(countParameters(model), 60_965_224);
    assert.deepEqual(model.graph.nodes.slice(0, 4).map((n) => n.name), ['conv1', 'relu1', 'norm1', 'pool1']);
    assert.deepEqual(['conv2', 'conv3', 'conv4', 'conv5'].map((c) => getInt(node(model, c), 'group', 1)), [2, 1, 2, 2]);
    const byName = new Map(summarizeLayers(model).map((r) => [r.name, r.shape]));
    assert.deepEqual(['conv1', 'pool1', 'pool2', 'pool5', 'pool5/flatten'].map((n) => byName.get(n)),
      [[96, 55, 55], [96, 27, 27], [256, 13, 13], [256, 6, 6], [9216]]);
    const outputs = await run(model, 1);
    assert.deepEqual(outputs.prob?.dims, [1, 1000]);
    assertFinite(outputs.prob, 'prob');
  });
});

void describe('resnet', () => {
  void it('resnet50: torchvision v1.5 layout, 25,557,032 parameters, runs on ORT', async () => {
    const model = buildZooModel('resnet50', { valueInfo: true, bnStats: 'random', batch: 1 });
    assert.deepEqual(opCounts(model), {
      Conv: 53, BatchNormalization: 53, Relu: 49, MaxPool: 1, Add: 16, GlobalAveragePool: 1, Flatten: 1, Gemm: 1, Softmax: 1,
    });
    assert.equal(countParameters(model), 25_557_032);
    assert.ok(model.graph.nodes.every((n) => n.opType !== 'Conv' || n.inputs.length === 2), 'convs have no bias');
    // v1.5: the stride-2 sits on the 3x3 conv of a stage's first block.
    assert.deepEqual(getInts(node(model, 'res3a_branch2a'), 'strides'), [1, 1]);
    assert.deepEqual(getInts(node(model, 'res3a_branch2b'), 'strides'), [2, 2]);
    assert.deepEqual(getInts(node(model, 'res3a_branch1'), 'strides'), [2, 2]);
    assert.deepEqual(node(model, 'res5c').inputs, ['res5b_relu', 'bn5c_branch2c']);
    assert.deepEqual(model.graph.inputs[0]?.shape, [1, 3, 224, 224]);
    const outputs = await run(model, 1, true);
    assertShapesMatch(model, outputs, 1);
    assert.deepEqual(outputs.prob?.dims, [1, 1000]);
    assertFinite(outputs.prob, 'prob');
  });

  void it('resnet152: [3, 8, 36, 3] blocks with Caffe names, 60,192,808 parameters', () => {
    const model = buildZooModel('resnet152');
    assert.deepEqual(opCounts(model), {
      Conv: 155, BatchNormalization: 155, Relu: 151, MaxPool: 1, Add: 50, GlobalAveragePool: 1, Flatten: 1, Gemm: 1, Softmax: 1,
    });
    assert.equal(countParameters(model), 60_192_808);
    const adds = model.graph.nodes.filter((n) => n.opType === 'Add').map((n) => n.name);
    assert.deepEqual(adds.slice(0, 5), ['res2a', 'res2b', 'res2c', 'res3a', 'res3b1']);
    assert.ok(adds.includes('res4b35') && adds.includes('res5c') && !adds.includes('res4b36'));
  });
});

void describe('initialisation', () => {
  void it('same seed gives identical bytes; another seed other weights; classes only touch the classifier', () => {
    const a = encodeModel(buildZooModel('googlenet-mini', { seed: 7 }));
    const b = encodeModel(buildZooModel('googlenet-mini', { seed: 7 }));
    assert.deepEqual(a, b);
    const seed7 = buildZooModel('googlenet-mini', { seed: 7 });
    const seed8 = buildZooModel('googlenet-mini', { seed: 8 });
    for (const [name, t] of seed7.graph.initializers) {
      if (!name.endsWith('_w')) continue;
      assert.notDeepEqual(t.data, seed8.graph.initializers.get(name)?.data, `${name} differs between seeds`);
    }
    // Each tensor has its own stream: changing the classifier leaves every other weight bit-identical.
    const five = buildZooModel('googlenet-mini', { seed: 7, classes: 5 });
    for (const [name, t] of seed7.graph.initializers) {
      if (name.startsWith('loss3/classifier')) assert.notDeepEqual(t.dims, five.graph.initializers.get(name)?.dims);
      else assert.deepEqual(t.data, five.graph.initializers.get(name)?.data, name);
    }
    assert.deepEqual(five.graph.outputs[0]?.shape, ['N', 5]);
  });

  void it('decodes back to the same graph', () => {
    const model = buildZooModel('googlenet-mini', { seed: 3, batch: 4 });
    const decoded = decodeModel(encodeModel(model));
    assert.deepEqual(decoded.graph.nodes.map((n) => [n.name, n.opType, n.inputs, n.outputs]),
      model.graph.nodes.map((n) => [n.name, n.opType, n.inputs, n.outputs]));
    assert.deepEqual(decoded.graph.inputs[0]?.shape, [4, 1, 28, 28]);
    assert.deepEqual(decoded.graph.outputs[0]?.shape, [4, 10]);
  });

  void it('uses He normal for convs before a ReLU, Xavier uniform for the rest, zero biases', () => {
    const model = buildZooModel('googlenet', { seed: 11 });
    const w = weights(model, 'conv2/3x3_w'); // 192 x 64 x 3 x 3, fan_in 576
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    const std = Math.sqrt(w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length);
    assert.ok(Math.abs(mean) < 0.002, `mean ${mean}`);
    assert.ok(Math.abs(std / Math.sqrt(2 / 576) - 1) < 0.02, `std ${std}`);
    const fc = weights(model, 'loss3/classifier_w'); // 1000 x 1024
    const limit = Math.sqrt(6 / (1024 + 1000));
    const extreme = fc.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(extreme <= limit && extreme > 0.999 * limit, `max |w| ${extreme} vs limit ${limit}`);
    assert.ok(weights(model, 'loss3/classifier_b').every((v) => v === 0));
    assert.ok(weights(model, 'inception_5b/1x1_b').every((v) => v === 0));
    // The same draw as the public initialiser, keyed by the parameter name.
    assert.deepEqual(fc, xavierUniform(paramRandom(11, 'loss3/classifier_w'), [1000, 1024]));
    assert.deepEqual(fans([64, 32, 3, 3]), { fanIn: 288, fanOut: 576 });
  });

  void it('ResNet: Xavier on convs that feed an Add, He before ReLU; BN identity or random statistics', () => {
    const identity = buildZooModel('resnet50');
    const random = buildZooModel('resnet50', { bnStats: 'random' });
    for (const suffix of ['scale', 'bias', 'mean', 'var']) {
      const expected = suffix === 'scale' || suffix === 'var' ? 1 : 0;
      assert.ok(weights(identity, `bn2a_branch2b_${suffix}`).every((v) => v === expected), suffix);
      const r = weights(random, `bn2a_branch2b_${suffix}`);
      assert.ok(r.some((v) => v !== expected), `random ${suffix} differs from identity`);
      if (suffix === 'var') assert.ok(r.every((v) => v >= 0.5 && v < 1.5));
    }
    const c = weights(identity, 'res2a_branch2c_w'); // 256 x 64: Xavier bound sqrt(6 / (64 + 256))
    assert.ok(c.every((v) => Math.abs(v) <= Math.sqrt(6 / 320)));
    const a = weights(identity, 'res2a_branch2a_w'); // 64 x 64, He: some draws beyond the Xavier bound
    assert.ok(a.some((v) => Math.abs(v) > Math.sqrt(6 / 128)));
    assert.deepEqual(weights(identity, 'conv1_w'), weights(random, 'conv1_w'));
  });
});
