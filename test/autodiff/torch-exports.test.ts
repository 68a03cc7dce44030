// Real PyTorch exports (test/fixtures/torch, written by scripts/make-torch-exports.py: torch 1.13's
// torch.onnx.export at opset 13, torchvision's own blocks, references computed by torch in float64 from the
// same float32 weights) through rebirth's training graph on onnxruntime-node, taken as exported: eval exports
// with BatchNormalization kept, the training-mode export (5-output BatchNormalization, Dropout with
// training_mode), a batch-1 deploy export, a dynamic height/width export, and torch's op-by-op
// LocalResponseNorm with shapes computed from Shape (folded by src/shapes/fold.ts inside
// buildTrainingGraph). For each: the default trainable
// set (floatParamNames: every float initializer but BN running statistics) is exactly torch's parameters;
// in 'train' mode the loss, logits and every gradient match torch's train() step (BN batch statistics;
// Dropout the identity as in the reference, dropoutMasks 'none') and the running statistics after the step
// match torch's (momentum 0.1 = ONNX 0.9, unbiased variance); 'eval' mode and freezeBatchNorm match torch's
// eval() gradients; one SGD step lowers the loss on the batch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import type { Model } from '../../src/ir/graph.js';
import { tensorToFloat32 } from '../../src/ir/tensor.js';
import { loadModel } from '../../src/onnx/file.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { buildTrainingGraph, type TrainingGraph, type TrainingGraphOptions } from '../../src/autodiff/training-graph.js';
import { batchNormStateNames, floatParamNames } from '../../src/train/params.js';

interface Entry {
  dims: number[];
  data: number[];
}

interface ExportInfo {
  file: string;
  training: 'EVAL' | 'PRESERVE' | 'TRAINING';
  dynamic_axes: Record<string, Record<string, string>> | null;
  trace_input_dims: number[];
}

interface TorchFixture {
  name: string;
  exports: ExportInfo[];
  input: Entry;
  labels: number[];
  bn_momentum: number;
  dropout: string;
  bn_running_var: string;
  eval_logits: Entry;
  eval_loss: number;
  train_logits: Entry;
  train_loss: number;
  /** Keyed by ONNX initializer name. */
  grads: Record<string, number[]>;
  eval_grads: Record<string, number[]>;
  running_stats_after: Record<string, number[]>;
  running_var_after_biased: Record<string, number[]>;
}

/** Relative to the reference tensor's largest magnitude (ORT computes in float32, torch in float64). */
const RTOL = 1e-4;

const FIXTURES = ((): string => {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'test', 'fixtures', 'torch');
    if (fs.existsSync(candidate) && !candidate.includes(`${path.sep}dist${path.sep}`)) return candidate;
    if (path.dirname(dir) === dir) throw new Error('test/fixtures/torch not found above this test file');
  }
})();

const fixtures: TorchFixture[] = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json')).sort()
  .map((f) => JSON.parse(fs.readFileSync(path.join(FIXTURES, f), 'utf8')) as TorchFixture);
const cases = fixtures.flatMap((fixture) => fixture.exports.map((info) => ({ fixture, info })));

/** max |actual - expected| / max |expected| (absolute below 1e-6: a gradient that is exactly zero in torch). */
function relError(actual: ArrayLike<number>, expected: readonly number[]): { err: number; at: number } {
  assert.equal(actual.length, expected.length, `${actual.length} values, expected ${expected.length}`);
  let worst = 0;
  let at = 0;
  let scale = 1e-6;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i] as number));
    const e = Math.abs((actual[i] as number) - (expected[i] as number));
    if (!(e <= worst)) { worst = e; at = i; }
  }
  return { err: worst / scale, at };
}

function assertClose(actual: ArrayLike<number>, expected: readonly number[], what: string): void {
  const { err, at } = relError(actual, expected);
  assert.ok(err <= RTOL, `${what}: relative error ${err.toExponential(2)} at ${at} (rebirth ${actual[at]}, torch ${expected[at]}) exceeds ${RTOL}`);
}

function floats(t: ort.Tensor | undefined, what: string): Float32Array {
  assert.ok(t && t.type === 'float32', `${what}: expected a float32 output`);
  return t.data as Float32Array;
}

/** A built training graph on ORT, run with given parameter values (default: the model's). */
class Step {
  private constructor(readonly tg: TrainingGraph, private readonly session: ort.InferenceSession, private readonly model: Model, private readonly fixture: TorchFixture) {}

  static async create(model: Model, fixture: TorchFixture, options: Omit<TrainingGraphOptions, 'loss' | 'trainable'>): Promise<Step> {
    const tg = buildTrainingGraph(model, { loss: { kind: 'cross-entropy' }, trainable: floatParamNames(model), runningVariance: 'unbiased', dropoutMasks: 'none', ...options });
    const session = await ort.InferenceSession.create(encodeModel(tg.model), { logSeverityLevel: 3, intraOpNumThreads: 1 });
    return new Step(tg, session, model, fixture);
  }

  initial(name: string): Float32Array {
    const t = this.model.graph.initializers.get(name);
    assert.ok(t, `the model has an initializer '${name}'`);
    return Float32Array.from(tensorToFloat32(t));
  }

  async run(params?: ReadonlyMap<string, Float32Array>): Promise<ort.InferenceSession.OnnxValueMapType> {
    const { input, labels } = this.fixture;
    const feeds: Record<string, ort.Tensor> = {
      [this.tg.inputName ?? 'input']: new ort.Tensor('float32', Float32Array.from(input.data), input.dims),
      [this.tg.labelsName ?? 'labels']: new ort.Tensor('int64', BigInt64Array.from(labels, (v) => BigInt(v)), [labels.length]),
    };
    for (const name of [...this.tg.paramInputs, ...this.tg.stateInputs]) {
      const dims = this.model.graph.initializers.get(name)?.dims ?? [];
      feeds[name] = new ort.Tensor('float32', params?.get(name) ?? this.initial(name), dims);
    }
    return this.session.run(feeds);
  }

  loss(out: ort.InferenceSession.OnnxValueMapType): number {
    return floats(out[this.tg.lossOutput], 'loss')[0] as number;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function checkGradients(step: Step, out: ort.InferenceSession.OnnxValueMapType, expected: Record<string, number[]>, what: string): void {
  assert.deepEqual(Object.keys(step.tg.gradOutputs).sort(), Object.keys(expected).sort(), `${what}: trainable set = torch's parameters`);
  for (const [name, ref] of Object.entries(expected)) {
    assertClose(floats(out[step.tg.gradOutputs[name] as string], name), ref, `${what}: gradient of ${name}`);
  }
}

function assertLoss(actual: number, expected: number, what: string): void {
  const err = Math.abs(actual - expected) / Math.abs(expected);
  assert.ok(err <= RTOL, `${what}: loss ${actual} vs torch ${expected} (relative error ${err.toExponential(2)})`);
}

for (const { fixture, info } of cases) {
  const file = path.join(FIXTURES, info.file);

  test(`${info.file}: 'train' mode matches torch's train() step: loss, logits, every gradient, running statistics after`, async () => {
    const model = loadModel(file);
    const state = batchNormStateNames(model);
    assert.equal(state.length, Object.keys(fixture.running_stats_after).length, 'BN running statistics = torch\'s buffers');
    for (const s of state) assert.ok(!floatParamNames(model).includes(s), `${s} is state, not a parameter`);
    const step = await Step.create(model, fixture, { mode: 'train' });
    try {
      if (info.training === 'TRAINING') {
        assert.equal(step.tg.trainingExport.batchNorms.length, model.graph.nodes.filter((n) => n.opType === 'BatchNormalization').length, 'every BN was in training mode');
        assert.equal(step.tg.trainingExport.dropouts.length, 1, 'the Dropout carried training_mode');
      } else {
        assert.deepEqual(step.tg.trainingExport, { batchNorms: [], dropouts: [] });
      }
      assert.deepEqual([...step.tg.stateInputs].sort(), [...state].sort());
      const out = await step.run();
      assertLoss(step.loss(out), fixture.train_loss, 'train');
      assertClose(floats(out[step.tg.logitsOutput], 'logits'), fixture.train_logits.data, 'train logits');
      checkGradients(step, out, fixture.grads, 'train');
      for (const [name, ref] of Object.entries(fixture.running_stats_after)) {
        assertClose(floats(out[step.tg.extraOutputs[name] as string], name), ref, `running statistic ${name} after the step`);
      }
    } finally {
      await step.release();
    }
  });

  test(`${info.file}: 'eval' mode and freezeBatchNorm match torch's eval() gradients`, async () => {
    const model = loadModel(file);
    for (const options of [{ mode: 'eval' as const }, { mode: 'train' as const, freezeBatchNorm: true }]) {
      const what = options.mode === 'eval' ? 'eval' : 'freezeBatchNorm';
      const step = await Step.create(model, fixture, options);
      try {
        // Frozen statistics are constants of the graph: no state inputs or outputs.
        assert.deepEqual(step.tg.stateInputs, [], `${what}: no state inputs`);
        assert.deepEqual(step.tg.extraOutputs, {}, `${what}: no state outputs`);
        const out = await step.run();
        assertLoss(step.loss(out), fixture.eval_loss, what);
        assertClose(floats(out[step.tg.logitsOutput], 'logits'), fixture.eval_logits.data, `${what} logits`);
        checkGradients(step, out, fixture.eval_grads, what);
      } finally {
        await step.release();
      }
    }
  });

  test(`${info.file}: one SGD step on the batch lowers its training loss`, async () => {
    const model = loadModel(file);
    const step = await Step.create(model, fixture, { mode: 'train' });
    try {
      const out = await step.run();
      const before = step.loss(out);
      // lr 0.05 keeps the step first-order small for these He-scaled nets (the first-order decrease is
      // lr * |g|^2); the running statistics do not enter a training-mode loss.
      const lr = 0.05;
      const updated = new Map<string, Float32Array>();
      for (const name of step.tg.paramInputs) {
        const g = floats(out[step.tg.gradOutputs[name] as string], name);
        updated.set(name, step.initial(name).map((v, i) => v - lr * (g[i] as number)));
      }
      const after = step.loss(await step.run(updated));
      assert.ok(after < before, `loss ${before} -> ${after} after one SGD step`);
    } finally {
      await step.release();
    }
  });
}

test('resnet_block: runningVariance population gives the ONNX update of the running variance (biased batch variance)', async () => {
  const fixture = fixtures.find((f) => f.name === 'resnet_block');
  assert.ok(fixture);
  const step = await Step.create(loadModel(path.join(FIXTURES, 'resnet_block.onnx')), fixture, { runningVariance: 'population' });
  try {
    const out = await step.run();
    const vars = Object.entries(fixture.running_var_after_biased);
    assert.ok(vars.length > 0);
    for (const [name, ref] of vars) assertClose(floats(out[step.tg.extraOutputs[name] as string], name), ref, `${name} (population)`);
  } finally {
    await step.release();
  }
});
