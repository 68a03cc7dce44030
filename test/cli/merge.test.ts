/**
 * `rebirth merge` end to end: JSON report fields, retraining modes, init 'fit', divergence handling,
 * a model with nothing to merge, and bad options.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { DataType, floatTensor, tensorToFloat32 } from '../../src/ir/tensor.js';
import { loadModel, saveModel } from '../../src/onnx/file.js';
import { expectOneLineError, rebirth, root } from './run.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-merge-'));
const teacher = path.join(root, 'models', 'googlenet-mini.onnx');

interface MergeJson {
  merges: Array<{ name: string; kind: string; layers: string[] }>;
  accuracy: { before: number; after: number; steps: Array<{ step: string; top1: number }> } | null;
  latencyMs: Record<'node' | 'wasm', { before: number; after: number }>;
  fits?: Array<{ node: string; fitted: boolean; errorBefore: number; errorAfter: number }>;
  diverged?: string;
}

test('a model with no mergeable block: says so, exits 0, writes the model unchanged', () => {
  const b = new GraphBuilder('m');
  const x = b.input('x', [1, 2, 8, 8]);
  const w = b.initializer(floatTensor('w', [4, 2, 3, 3], new Float32Array(72).fill(0.1)));
  b.output(b.op('Relu', [b.op('Conv', [x, w], {}, 'conv_a')], {}, 'relu_a'));
  const input = path.join(dir, 'plain.onnx');
  saveModel(modelOf(b.graph), input);
  const out = path.join(dir, 'plain-out.onnx');
  const r = rebirth('merge', input, '-o', out, '--runs', '2');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /no mergeable block found: the model is unchanged/);
  assert.deepEqual(loadModel(out).graph.nodes.map((n) => n.opType), ['Conv', 'Relu']);
});

test('merge --init fit --retrain distill --json reports merges, fits, accuracy and latency', () => {
  const out = path.join(dir, 'fit.onnx');
  const r = rebirth('merge', teacher, '-o', out, '--init', 'fit', '--retrain', 'distill', '--data', 'fashion-mnist',
    '--limit', '320', '--fit-images', '128', '--epochs', '1', '--runs', '2', '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as MergeJson;
  assert.deepEqual(j.merges.map((m) => m.name), ['conv1', 'conv2', 'inception_3a', 'inception_3b', 'inception_4a']);
  for (const m of j.merges) assert.ok(m.layers.length > 0 && ['streamline', 'branch'].includes(m.kind));
  assert.ok(j.accuracy && j.accuracy.before > 0.8, 'teacher accuracy on the first 320 test images');
  assert.equal(j.accuracy?.steps.length, 1);
  const fitted = (j.fits ?? []).filter((f) => f.fitted);
  assert.equal(fitted.length, 8, 'the two streamline convs and two wide convs per module');
  for (const f of fitted) assert.ok(f.errorAfter < f.errorBefore, f.node);
  for (const b of ['node', 'wasm'] as const) assert.ok(j.latencyMs[b].before > 0 && j.latencyMs[b].after > 0);
  assert.equal(loadModel(out).graph.nodes.filter((n) => n.opType === 'LRN').length, 0);
});

test('merge --retrain paper: one step per merge, bottom to top, with a checkpoint per step', () => {
  const out = path.join(dir, 'paper.onnx');
  const ck = path.join(dir, 'paper.ckpt');
  const r = rebirth('merge', teacher, '-o', out, '--retrain', 'paper', '--only', 'conv2,conv1', '--data', 'fashion-mnist',
    '--limit', '192', '--epochs', '1', '--runs', '1', '--checkpoint', ck, '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as MergeJson;
  assert.deepEqual(j.accuracy?.steps.map((s) => s.step), ['conv1', 'conv2']);
  assert.ok(fs.existsSync(`${ck}.conv1`) && fs.existsSync(`${ck}.conv2`));
});

test('diverging retraining stops, warns, and keeps the best weights', () => {
  const out = path.join(dir, 'nan.onnx');
  const r = rebirth('merge', teacher, '-o', out, '--only', 'conv1', '--retrain', 'distill', '--data', 'fashion-mnist',
    '--limit', '192', '--epochs', '2', '--lr', '1e9', '--runs', '1', '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: retraining diverged .*loss became .* kept the best weights/);
  const j = JSON.parse(r.stdout) as MergeJson;
  assert.match(j.diverged ?? '', /epoch 1/);
  for (const t of loadModel(out).graph.initializers.values()) {
    if (t.dataType === DataType.FLOAT) assert.ok(tensorToFloat32(t).every(Number.isFinite), t.name);
  }
});

test('bad merge options: one-line errors', () => {
  const out = path.join(dir, 'bad.onnx');
  for (const [args, pattern] of [
    [['--retrain', 'distill'], /--retrain distill .* needs --data fashion-mnist/],
    [['--init', 'magic'], /--init must be one of xavier, inherit, fit/],
    [['--reducer-ratio', '3'], /--reducer-ratio/],
    [['--checkpoint', teacher, '--retrain', 'distill', '--data', 'fashion-mnist'], /refusing to overwrite the input model/],
  ] as const) {
    expectOneLineError(rebirth('merge', teacher, '-o', out, ...args), pattern);
  }
});
