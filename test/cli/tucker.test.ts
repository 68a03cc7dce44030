/**
 * `rebirth tucker` as a user meets it: bad ranks and missing data are one-line errors with a non-zero
 * exit; a short distillation run writes a loadable model and a JSON report with every field; a PyTorch
 * export with BN is folded first and the folds are reported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../../src/onnx/file.js';
import { expectOneLineError, rebirth, rebirthAsync, root } from './run.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-cli-tucker-'));
const teacher = path.join(root, 'models', 'googlenet-mini.onnx');
const hasData = fs.existsSync('/usr/share/datasets/fashion-mnist');

function ranksFile(name: string, ranks: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(ranks));
  return file;
}

void test('bad ranks, bad options and missing data: one-line errors', async () => {
  const out = path.join(dir, 'bad.onnx');
  const cases: Array<[string[], RegExp]> = [
    [['--ranks', ranksFile('zero.json', { 'conv2/3x3': [0, 8] })], /zero\.json: layer 'conv2\/3x3' has rank 0; ranks must be positive integers/],
    [['--ranks', ranksFile('large.json', { 'conv2/3x3': [16, 500] })], /large\.json: .*'conv2\/3x3'.*500/],
    [['--ranks', ranksFile('svd.json', { 'inception_3a/1x1': [64, 64] })], /svd\.json: .*'inception_3a\/1x1'.*rank 64 > 32/],
    [['--ranks', ranksFile('unknown.json', { 'conv9/nope': [4, 4] })], /unknown\.json names layer 'conv9\/nope', which is not a Conv\/Gemm\/MatMul node/],
    [['--ranks', path.join(dir, 'absent.json')], /absent\.json cannot be read/],
    [['--ranks', 'energy:1.5'], /--ranks energy:1\.5: the fraction must be in \(0, 1\]/],
    [['--ranks', 'biggest'], /--ranks must be vbmf, energy:0\.9, latency:0\.7, fraction:0\.5\[,0\.25\] or a ranks FILE\.json, got 'biggest'/],
    [['--retrain', 'distill'], /--retrain distill needs --data fashion-mnist/],
    [['--retrain', 'sometimes', '--data', 'fashion-mnist'], /--retrain must be one of paper, distill, none/],
    [['--validation', '5000'], /--validation only changes the retraining; it needs --data and a --retrain other than none/],
    [['--augment'], /--augment only changes the retraining; it needs --data and a --retrain other than none/],
    [['--validation', 'many', '--retrain', 'distill', '--data', 'fashion-mnist'], /--validation must be/],
  ];
  const results = await Promise.all(cases.map(([args]) => rebirthAsync('tucker', teacher, '-o', out, '--no-measure', ...args)));
  results.forEach((r, i) => expectOneLineError(r, (cases[i] as [string[], RegExp])[1]));
  assert.equal(fs.existsSync(out), false, 'nothing written on error');
});

void test('--retrain distill with a few images writes a loadable model and the JSON report', { skip: hasData ? false : 'Fashion-MNIST not installed' }, () => {
  const out = path.join(dir, 'mini-tucker.onnx');
  const r = rebirth('tucker', teacher, '-o', out, '--ranks', 'energy:0.9', '--no-measure', '--retrain', 'distill', '--data', 'fashion-mnist',
    '--limit', '64', '--epochs', '1', '--runs', '2', '--threads', '1', '--json');
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as {
    layers: Array<{ name: string; decomposed: boolean; ranks: [number, number]; flopsBefore: number; flopsAfter: number; paramsBefore: number; paramsAfter: number }>;
    latencyMs: { before: number; after: number }; outputError: number; outputErrorOn: string; layerOutputError: Record<string, number>;
    accuracy: { before: number; decomposed: number; after: number }; history: Array<{ epoch: number }>; newParams: string[]; output: string;
  };
  const done = report.layers.filter((l) => l.decomposed);
  assert.ok(done.length > 0);
  for (const l of done) {
    assert.ok(l.flopsAfter < l.flopsBefore && l.paramsAfter < l.paramsBefore, l.name);
    assert.ok(Number.isFinite(report.layerOutputError[l.name]), `output error of ${l.name}`);
  }
  assert.ok(report.latencyMs.before > 0 && report.latencyMs.after > 0);
  assert.ok(report.outputError > 0 && report.outputError < 2);
  assert.match(report.outputErrorOn, /64 test images/);
  for (const v of Object.values(report.accuracy)) assert.ok(v >= 0 && v <= 1);
  assert.equal(report.history.length, 1);
  assert.equal(report.output, out);
  const model = loadModel(out);
  for (const p of report.newParams) assert.ok(model.graph.initializers.has(p), p);
});

void test('without --data the output error is measured on random inputs', () => {
  const out = path.join(dir, 'mini-tucker-nodata.onnx');
  const r = rebirth('tucker', teacher, '-o', out, '--ranks', ranksFile('one.json', { 'conv2/3x3': [16, 48] }), '--no-measure', '--runs', '2');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1 of \d+ layers decomposed/);
  assert.match(r.stdout, /logits relative error before fine-tuning: [\d.]+ \(on random inputs\)/);
  assert.doesNotMatch(r.stdout, /test top-1/);
  assert.ok(loadModel(out).graph.nodes.some((n) => n.name === 'conv2/3x3/tucker_core'));
});

void test('a PyTorch export with BN: folded first (reported in text and JSON), then decomposed', async () => {
  const input = path.join(root, 'test', 'fixtures', 'torch', 'googlenet_tv.onnx');
  const [json, text] = await Promise.all([
    rebirthAsync('tucker', input, '-o', path.join(dir, 'tv-tucker.onnx'), '--ranks', 'energy:0.9', '--no-measure', '--runs', '1', '--json'),
    rebirthAsync('tucker', input, '-o', path.join(dir, 'tv-tucker-one.onnx'), '--ranks', ranksFile('tv.json', { '/conv3/conv/Conv': [4, 8] }), '--no-measure', '--runs', '1'),
  ]);
  assert.equal(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout) as { folds: Array<{ rule: string; count: number; verified: boolean; maxRelError: number }>; layers: Array<{ decomposed: boolean }> };
  assert.deepEqual(report.folds.map((f) => [f.rule, f.count, f.verified]), [['fold-batchnorm', 21, true]]);
  assert.ok((report.folds[0]?.maxRelError ?? 1) < 1e-4);
  assert.ok(report.layers.some((l) => l.decomposed));
  assert.equal(loadModel(path.join(dir, 'tv-tucker.onnx')).graph.nodes.filter((n) => n.opType === 'BatchNormalization').length, 0);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^folded first \(exact, verified on ONNX Runtime\): fold-batchnorm x21 \(max abs error [\d.]+e[-+]\d+, rel [\d.]+e[-+]\d+\)$/m);
  assert.match(text.stdout, /1 of \d+ layers decomposed/);
});
