// Models exported the way PyTorch users export them (torch 1.13's torch.onnx.export, opset 13; written by
// scripts/make-torch-exports.py with torch's float64 reference outputs): rebirth's codec must read and
// re-write each file losslessly, and onnxruntime-node must reproduce torch's outputs from the re-written
// bytes. The eval exports keep their BatchNormalization nodes (training=PRESERVE on an eval() module);
// googlenet_tv_train.onnx is the training-mode export (5-output BatchNormalization, Dropout with
// training_mode=true), checked against torch's train()-mode forward and running-statistics update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { equals, fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from '../../src/onnx/generated/onnx_pb.js';
import { decodeModel } from '../../src/onnx/decode.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { loadModel } from '../../src/onnx/file.js';
import type { Dim, Model, Node } from '../../src/ir/graph.js';
import { getFloat, getTensor } from '../../src/ir/attributes.js';
import { DataType, numel, tensorToFloat32, tensorToNumbers } from '../../src/ir/tensor.js';
import { Session, type HostTensor, type OptLevel } from '../../src/runtime/session.js';

interface Entry {
  dims: number[];
  data: number[];
}

interface ExportInfo {
  file: string;
  /** torch.onnx.TrainingMode the file was exported with. */
  training: 'EVAL' | 'PRESERVE' | 'TRAINING';
  /** torch's dynamic_axes (axis index as a string -> dim name), null for a fixed-shape export. */
  dynamic_axes: Record<string, Record<string, string>> | null;
  trace_input_dims: number[];
}

interface TorchFixture {
  name: string;
  exports: ExportInfo[];
  opset: number;
  input: Entry;
  labels: number[];
  num_classes: number;
  bn_momentum: number;
  /** torch parameter / BN buffer name -> ONNX initializer name. */
  name_map: Record<string, string>;
  eval_logits: Entry;
  train_logits: Entry;
  grads: Record<string, number[]>;
  eval_grads: Record<string, number[]>;
  /** torch's update (running_var from the unbiased batch variance), keyed by ONNX initializer name. */
  running_stats_after: Record<string, number[]>;
  /** ONNX BatchNormalization's update of each running_var: from the biased (population) batch variance. */
  running_var_after_biased: Record<string, number[]>;
}

/** Relative to the largest reference magnitude: float32 through ~20 layers stays far below this. */
const RTOL = 1e-4;

/** test/fixtures/torch, found from here whether run from test/ (tsx) or from dist/test/ (compiled). */
const FIXTURES = ((): string => {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'test', 'fixtures', 'torch');
    if (fs.existsSync(candidate) && !candidate.includes(`${path.sep}dist${path.sep}`)) return candidate;
    if (path.dirname(dir) === dir) throw new Error('test/fixtures/torch not found above this test file');
  }
})();

const fixtures: TorchFixture[] = fs
  .readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(fs.readFileSync(path.join(FIXTURES, f), 'utf8')) as TorchFixture);

const cases = fixtures.flatMap((fixture) => fixture.exports.map((info) => ({ fixture, info })));

function floatFeed(e: Entry): HostTensor {
  return { type: 'float32', dims: [...e.dims], data: Float32Array.from(e.data) };
}

/** The first `n` samples of a batch-major entry. */
function firstSamples(e: Entry, n: number): Entry {
  const per = numel(e.dims.slice(1));
  return { dims: [n, ...e.dims.slice(1)], data: e.data.slice(0, n * per) };
}

function assertClose(actual: ArrayLike<number>, expected: readonly number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} values, expected ${expected.length}`);
  const scale = Math.max(...expected.map(Math.abs));
  let worst = 0;
  let at = 0;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs((actual[i] as number) - (expected[i] as number));
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  assert.ok(
    worst <= RTOL * scale,
    `${what}: max |ORT - torch| = ${worst} at ${at} (ORT ${actual[at]}, torch ${expected[at]}) exceeds ${RTOL} x ${scale}`,
  );
}

function floatOutput(t: HostTensor | undefined, what: string): Float32Array {
  assert.ok(t?.type === 'float32', `${what}: expected a float32 output`);
  return t.data;
}

async function runOnOrt(bytes: Uint8Array, feed: Entry, optLevel: OptLevel, fetch?: string[]): Promise<Record<string, HostTensor>> {
  const session = await Session.create(bytes, { optLevel });
  try {
    return await session.run({ input: floatFeed(feed) }, fetch);
  } finally {
    await session.release();
  }
}

/** The input shape the export should declare: torch's dim names on its dynamic axes, the traced sizes elsewhere. */
function declaredInputShape(info: ExportInfo): Dim[] {
  const axes = info.dynamic_axes?.input ?? {};
  return info.trace_input_dims.map((d, axis) => axes[String(axis)] ?? d);
}

function nodesOf(model: Model, opType: string): Node[] {
  return model.graph.nodes.filter((n) => n.opType === opType);
}

/** The value of a Constant node's `value` tensor, found by the name of its output. */
function constantValue(model: Model, name: string): number[] {
  const node = model.graph.nodes.find((n) => n.opType === 'Constant' && n.outputs[0] === name);
  assert.ok(node, `'${name}' is not produced by a Constant node`);
  const t = getTensor(node, 'value');
  assert.ok(t, `Constant '${name}' has no value tensor`);
  return t.dataType === DataType.BOOL ? Array.from(t.data ?? [], Number) : tensorToNumbers(t);
}

test('every committed torch export has a reference, and every reference names existing exports', () => {
  assert.ok(fixtures.length >= 6, `expected the fixtures of scripts/make-torch-exports.py in ${FIXTURES}`);
  const listed = cases.map((c) => c.info.file).sort();
  const onDisk = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.onnx')).sort();
  assert.deepEqual(listed, onDisk);
});

for (const { fixture, info } of cases) {
  const file = path.join(FIXTURES, info.file);

  test(`${info.file}: loads, re-encodes to an equal ModelProto, and keeps torch's names and shapes`, () => {
    const bytes = fs.readFileSync(file);
    const model = loadModel(file);
    const saved = encodeModel(model, { external: 'inline' });
    assert.ok(equals(ModelProtoSchema, fromBinary(ModelProtoSchema, bytes), fromBinary(ModelProtoSchema, saved)), 're-encoded model differs from the file');
    assert.deepEqual(Buffer.from(encodeModel(decodeModel(saved), { external: 'inline' })), Buffer.from(saved), 'second encode differs from the first');

    assert.deepEqual(model.opsetImports.map((o) => [o.domain, o.version]), [['', fixture.opset]]);
    assert.deepEqual(model.graph.inputs.map((v) => [v.name, v.shape]), [['input', declaredInputShape(info)]]);
    assert.deepEqual(model.graph.outputs.map((v) => v.name), ['logits']);
    // Every torch parameter the fixture has a gradient for is an initializer of that size under its mapped name.
    const inits = model.graph.initializers;
    for (const [torchName, onnxName] of Object.entries(fixture.name_map)) {
      const t = inits.get(onnxName);
      assert.ok(t, `${torchName} -> ${onnxName} is not an initializer`);
      const expected = fixture.grads[onnxName] ?? fixture.running_stats_after[onnxName];
      assert.equal(numel(t.dims), expected?.length, `${onnxName}: ${numel(t.dims)} values in the model`);
    }
  });

  if (info.training !== 'TRAINING') {
    test(`${info.file}: onnxruntime-node reproduces torch's eval-mode logits`, async () => {
      const bytes = encodeModel(loadModel(file), { external: 'inline' });
      for (const optLevel of ['all', 'disabled'] as const) {
        const out = await runOnOrt(bytes, fixture.input, optLevel);
        assertClose(floatOutput(out.logits, info.file), fixture.eval_logits.data, `${info.file} (${optLevel})`);
      }
      if (info.dynamic_axes !== null && fixture.input.dims[0] !== 1) {
        // Batch 1 through the same graph: the reshape shapes computed from Shape must follow the feed.
        const out = await runOnOrt(bytes, firstSamples(fixture.input, 1), 'all');
        assertClose(floatOutput(out.logits, info.file), firstSamples(fixture.eval_logits, 1).data, `${info.file} at batch 1`);
      }
    });
  } else {
    test(`${info.file}: training-mode BatchNormalization and Dropout match torch's train() step on onnxruntime-node`, async () => {
      const model = loadModel(file);
      const bns = nodesOf(model, 'BatchNormalization');
      assert.ok(bns.length > 0);
      for (const bn of bns) {
        // Opset 13 has no training_mode attribute: the running-statistics outputs are what mark training.
        assert.equal(bn.outputs.length, 5, `${bn.name}: expected BatchNormalization-9 training outputs`);
        assert.ok(Math.abs((getFloat(bn, 'momentum') ?? NaN) - (1 - fixture.bn_momentum)) < 1e-7, `${bn.name}: momentum`);
      }
      const [dropout, ...moreDropouts] = nodesOf(model, 'Dropout');
      assert.ok(dropout && moreDropouts.length === 0, 'expected one Dropout');
      assert.deepEqual(constantValue(model, dropout.inputs[2] ?? ''), [1], 'Dropout training_mode');
      assert.ok(Math.abs((constantValue(model, dropout.inputs[1] ?? '')[0] ?? NaN) - 0.2) < 1e-7, 'Dropout ratio');

      // Deterministic like the reference: Dropout reads training_mode=false, and each BN's updated running
      // statistics become graph outputs. (As exported, ORT 1.30 draws a mask only at optLevel 'disabled':
      // from 'basic' on its optimizer deletes the Dropout, training_mode=true notwithstanding.)
      model.graph.initializers.set('dropout_off', { name: 'dropout_off', dataType: DataType.BOOL, dims: [], data: Uint8Array.of(0), storage: 'raw', docString: '' });
      dropout.inputs[2] = 'dropout_off';
      // torch's running_var update uses the unbiased batch variance, ONNX's (and ORT's) the biased one;
      // the means agree.
      const fetched: Array<{ output: string; state: string; expected: number[] }> = [];
      for (const bn of bns) {
        const [mean, variance] = [bn.inputs[3] ?? '', bn.inputs[4] ?? ''];
        const torchVar = fixture.running_stats_after[variance] ?? assert.fail(`no running_stats_after for ${variance}`);
        const onnxVar = fixture.running_var_after_biased[variance] ?? assert.fail(`no running_var_after_biased for ${variance}`);
        assert.ok(torchVar.every((v, i) => v > (onnxVar[i] as number)), `${variance}: unbiased update should exceed the biased one`);
        fetched.push(
          { output: bn.outputs[1] ?? '', state: mean, expected: fixture.running_stats_after[mean] ?? assert.fail(`no running_stats_after for ${mean}`) },
          { output: bn.outputs[2] ?? '', state: variance, expected: onnxVar },
        );
      }
      for (const { output } of fetched) model.graph.outputs.push({ name: output, elemType: DataType.FLOAT, docString: '' });
      const bytes = encodeModel(model, { external: 'inline' });
      for (const optLevel of ['all', 'disabled'] as const) {
        const out = await runOnOrt(bytes, fixture.input, optLevel);
        assertClose(floatOutput(out.logits, info.file), fixture.train_logits.data, `${info.file} train-mode logits (${optLevel})`);
        for (const { output, state, expected } of fetched) {
          const before = tensorToFloat32(model.graph.initializers.get(state) ?? assert.fail(`no initializer ${state}`));
          assert.ok(expected.some((v, i) => Math.abs(v - (before[i] as number)) > 1e-3), `${state} did not move in the reference`);
          assertClose(floatOutput(out[output], output), expected, `${state} after one step (${optLevel})`);
        }
      }
    });
  }
}
