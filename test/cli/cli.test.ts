/**
 * The CLI as a user meets it: bad input gives one line on stderr naming the file, node or option, a
 * non-zero exit, and no stack trace unless --verbose; good input works end to end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { floatTensor } from '../../src/ir/tensor.js';
import { saveModel } from '../../src/onnx/file.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { expectOneLineError, rebirth } from './run.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-cli-'));

function convModel(channelsIn: number, weightChannels: number): string {
  const b = new GraphBuilder('m');
  const x = b.input('x', [1, channelsIn, 8, 8]);
  const w = b.initializer(floatTensor('w', [4, weightChannels, 3, 3], new Float32Array(4 * weightChannels * 9).fill(0.1)));
  b.output(b.op('Conv', [x, w], {}, 'conv_a'), [1, 4, 6, 6]);
  const file = path.join(dir, `conv-${channelsIn}-${weightChannels}.onnx`);
  saveModel(modelOf(b.graph), file);
  return file;
}

test('bad input: one-line errors naming the file, node or option', () => {
  fs.writeFileSync(path.join(dir, 'text.onnx'), 'not a model at all\n');
  fs.writeFileSync(path.join(dir, 'cut.onnx'), encodeModel(modelOf(new GraphBuilder('g').graph)).slice(0, 3));
  expectOneLineError(rebirth('inspect', path.join(dir, 'missing.onnx')), /missing\.onnx: no such file/);
  expectOneLineError(rebirth('inspect', path.join(dir, 'text.onnx')), /text\.onnx is not (a valid ONNX file|an ONNX model)/);
  expectOneLineError(rebirth('inspect', path.join(dir, 'cut.onnx')), /cut\.onnx is not (a valid ONNX file|an ONNX model)/);
  expectOneLineError(rebirth('inspect', convModel(3, 2)), /node 'conv_a' \(Conv\)/);
  expectOneLineError(rebirth('profile', 'zoo:googlenet-mini', '--backend', 'gpu'), /--backend must be one of node, wasm/);
  expectOneLineError(rebirth('profile', 'zoo:googlenet-mini', '--runs', '0'), /--runs must be a whole number from 1/);
  expectOneLineError(rebirth('profile', 'zoo:googlenet-mini', '--runs=-3'), /--runs must be a whole number from 1/);
  expectOneLineError(rebirth('profile', 'zoo:googlenet-mini', '--runs', '-3'), /--runs: a value starting with '-' must be written --runs=VALUE/);
  expectOneLineError(rebirth('profile', 'zoo:nosuchnet'), /nosuchnet.*googlenet/);
  expectOneLineError(rebirth('inspect', 'zoo:googlenet-mini', '--frobnicate'), /frobnicate/);
  expectOneLineError(rebirth('nosuchcommand'), /unknown command 'nosuchcommand'/);
  expectOneLineError(rebirth('train', 'zoo:googlenet-mini', '--data', path.join(dir, 'nodata'), '-o', path.join(dir, 'x.onnx')), /Fashion-MNIST not found in .*nodata.*apt-get install dataset-fashion-mnist/);
});

test('an op ORT cannot run is named in a one-line error', () => {
  const b = new GraphBuilder('m');
  const x = b.input('x', [1, 4]);
  b.output(b.node('Frobnicate', [x], {}, { name: 'weird_node', domain: 'com.example' })[0] as string, [1, 4]);
  const file = path.join(dir, 'custom.onnx');
  saveModel(modelOf(b.graph), file);
  expectOneLineError(rebirth('profile', file, '--runs', '1'), /Frobnicate/);
});

test('--verbose shows the stack trace', () => {
  const r = rebirth('inspect', path.join(dir, 'missing.onnx'), '--verbose');
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /\n\s+at /);
});

test('the model is never written over its input', () => {
  const file = convModel(2, 2);
  const before = fs.readFileSync(file);
  expectOneLineError(rebirth('optimize', file, '-o', file), /refusing to overwrite the input model/);
  assert.deepEqual(fs.readFileSync(file), before);
});

test('zoo, inspect --json and optimize --json work end to end', () => {
  const out = path.join(dir, 'mini.onnx');
  assert.equal(rebirth('zoo', 'googlenet-mini', '-o', out).code, 0);
  const inspect = JSON.parse(rebirth('inspect', out, '--json').stdout) as { nodes: number; parameters: number; flops: number; opTypes: Record<string, number>; inputs: Array<{ name: string }> };
  assert.equal(inspect.opTypes.LRN, 2);
  assert.ok(inspect.parameters > 200_000 && inspect.flops > 1e7);
  assert.equal(inspect.inputs[0]?.name, 'data');
  const opt = rebirth('optimize', out, '-o', path.join(dir, 'mini-opt.onnx'), '--json');
  assert.equal(opt.code, 0, opt.stderr);
  const report = JSON.parse(opt.stdout) as { nodesBefore: number; nodesAfter: number; verification: { passed: boolean }; latencyMs: { before: number; after: number } };
  assert.ok(report.nodesAfter <= report.nodesBefore);
  assert.ok(report.latencyMs.before > 0 && report.latencyMs.after > 0);
});
