/**
 * --input-shape NAME=D1,D2,... on every command that loads a model, on a torch export with symbolic
 * height and width (dynamic_hw.onnx: input [batch,3,height,width]): the commands that need static shapes
 * say exactly what to pass, take it, and run; bad values are one-line errors naming the input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeNpy } from '../../src/data/npy.js';
import { loadModel } from '../../src/onnx/file.js';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { expectOneLineError, rebirth, rebirthAsync, root } from './run.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-input-shape-'));
const dynamicHw = path.join(root, 'test', 'fixtures', 'torch', 'dynamic_hw.onnx');
const batchOne = path.join(root, 'test', 'fixtures', 'torch', 'googlenet_tv_b1.onnx');
const SHAPE = 'input=2,3,48,96';
const NEEDS = /^rebirth: input 'input' has symbolic dims \[batch,3,height,width\]; pass --input-shape input=1,3,<height>,<width>$/;

function images(name: string, dims: number[]): string {
  const file = path.join(dir, name);
  const n = dims.reduce((a, b) => a * b, 1);
  writeNpy(file, { dtype: 'float32', shape: dims, data: Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37)) });
  return file;
}

const labels = ((): string => {
  const file = path.join(dir, 'y.npy');
  writeNpy(file, { dtype: 'int64', shape: [2], data: BigInt64Array.of(1n, 7n) });
  return file;
})();

test('every command that loads a model takes --input-shape', () => {
  const loaders = ['inspect', 'profile', 'optimize', 'merge', 'tucker', 'shrink', 'train', 'eval', 'grad'];
  for (const name of loaders) {
    const cmd = COMMANDS.find((c) => c.name === name) ?? assert.fail(`no command ${name}`);
    assert.ok('input-shape' in cmd.options, `${name}: option`);
    assert.match(cmd.usage, /\[--input-shape NAME=D1,D2,\.\.\.\]/, `${name}: usage`);
  }
});

test('inspect: shows the bound shapes, and the symbolic ones without --input-shape', async () => {
  const [bound, plain] = await Promise.all([rebirthAsync('inspect', dynamicHw, '--input-shape', SHAPE), rebirthAsync('inspect', dynamicHw)]);
  assert.equal(bound.code, 0, bound.stderr);
  assert.match(bound.stdout, /inputs: {2}input float \[2,3,48,96\]/);
  assert.match(bound.stdout, /outputs: logits float \[2,10\]/);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /inputs: {2}input float \[batch,3,height,width\]/);
});

test('profile (node), optimize and grad: one line saying what to pass without it; they run with it', async () => {
  const x = images('x.npy', [2, 3, 48, 96]);
  const out = path.join(dir, 'opt.onnx');
  const missing = await Promise.all([
    rebirthAsync('profile', dynamicHw, '--backend', 'node', '--runs', '1', '--warmup', '0'),
    rebirthAsync('optimize', dynamicHw, '-o', out),
    rebirthAsync('grad', dynamicHw, '--inputs', x, '--labels', labels),
  ]);
  for (const r of missing) expectOneLineError(r, NEEDS);
  assert.ok(!fs.existsSync(out), 'nothing written');

  const profile = rebirth('profile', dynamicHw, '--input-shape', 'input=1,3,48,96', '--backend', 'node', '--runs', '1', '--warmup', '0', '--json');
  assert.equal(profile.code, 0, profile.stderr);
  assert.ok((JSON.parse(profile.stdout) as { layers: unknown[] }).layers.length > 0);

  const optimize = rebirth('optimize', dynamicHw, '-o', out, '--input-shape', 'input=1,3,48,96');
  assert.equal(optimize.code, 0, optimize.stderr);
  assert.match(optimize.stdout, /verification: .* passed/);
  assert.deepEqual(loadModel(out).graph.inputs[0]?.shape, [1, 3, 48, 96]);

  // The batch stays free for training: any --input-shape batch works with the 2 images fed.
  const grad = rebirth('grad', dynamicHw, '--inputs', x, '--labels', labels, '--input-shape', 'input=1,3,48,96', '--json');
  assert.equal(grad.code, 0, grad.stderr);
  const g = JSON.parse(grad.stdout) as { loss: number; gradients: Record<string, number[]> };
  assert.ok(Number.isFinite(g.loss));
  assert.equal(g.gradients['conv1.weight']?.length, 8 * 3 * 3 * 3);
});

test('grad rebinds a batch-1 export (googlenet_tv_b1.onnx) to the batch it is fed', () => {
  const r = rebirth('grad', batchOne, '--inputs', images('x64.npy', [2, 3, 64, 64]), '--labels', labels, '--json');
  assert.equal(r.code, 0, r.stderr);
  assert.ok(Number.isFinite((JSON.parse(r.stdout) as { loss: number }).loss));
});

test('bad --input-shape values: one line naming the input and what is wrong', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['--input-shape', 'x=1,3,48,96'], /^rebirth: --input-shape: no graph input named 'x'; the model's inputs are 'input' \[batch,3,height,width\]$/],
    [['--input-shape', 'input=1,3,48'], /^rebirth: --input-shape: input 'input' has rank 4 \(\[batch,3,height,width\]\); got 3 dims \[1,3,48\]$/],
    [['--input-shape', 'input=1,3,0,96'], /^rebirth: --input-shape input=1,3,0,96: dim 2 is 0; dims are whole numbers >= 1$/],
    [['--input-shape', 'input=1,3,-48,96'], /^rebirth: --input-shape input=1,3,-48,96: dim 2 is -48; dims are whole numbers >= 1$/],
    [['--input-shape', 'input=1,3,h,96'], /^rebirth: --input-shape input=1,3,h,96: dim 2 'h' is not a whole number; dims are whole numbers >= 1$/],
    [['--input-shape', 'input=1,3,4.5,96'], /dim 2 '4\.5' is not a whole number/],
    [['--input-shape', '1,3,48,96'], /^rebirth: --input-shape '1,3,48,96': write NAME=D1,D2,\.\.\. \(e\.g\. input=1,3,224,224\)$/],
    [['--input-shape', SHAPE, '--input-shape', 'input=1,3,4,4'], /^rebirth: --input-shape: input 'input' is given twice; give each input once$/],
    [['--input-shape', 'input=1,4,48,96'], /^rebirth: --input-shape: binding input 'input' to \[1,4,48,96\]: node '\/conv1\/Conv' \(Conv\): input has 4 channels but weight expects 3/],
  ];
  const results = await Promise.all(cases.map(([flags]) => rebirthAsync('inspect', dynamicHw, ...flags)));
  results.forEach((r, k) => expectOneLineError(r, (cases[k] as [string[], RegExp])[1]));
});

test('train, eval, merge and tucker read --input-shape before any work', async () => {
  const bad = ['--input-shape', 'x=1,3,48,96'];
  const out = path.join(dir, 'never.onnx');
  const results = await Promise.all([
    rebirthAsync('train', dynamicHw, '-o', out, '--data', 'fashion-mnist', ...bad),
    rebirthAsync('eval', dynamicHw, '--data', 'fashion-mnist', ...bad),
    rebirthAsync('merge', dynamicHw, '-o', out, ...bad),
    rebirthAsync('tucker', dynamicHw, '-o', out, ...bad),
  ]);
  for (const r of results) expectOneLineError(r, /^rebirth: --input-shape: no graph input named 'x'; the model's inputs are 'input' \[batch,3,height,width\]$/);
  // Without it, the ones that need static shapes say what to pass.
  for (const r of await Promise.all([rebirthAsync('merge', dynamicHw, '-o', out), rebirthAsync('tucker', dynamicHw, '-o', out)])) expectOneLineError(r, NEEDS);
  assert.ok(!fs.existsSync(out));
});
