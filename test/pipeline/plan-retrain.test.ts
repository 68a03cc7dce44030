/**
 * retrainPlan: a merge + shrink + tucker (+ fusion) plan, made with a fake timer so what it keeps is
 * fixed, rebuilt on the original weights and retrained by distillation on a few Fashion-MNIST images
 * for a fraction of an epoch. Checked: the output has the plan's structure (its shrink merges, Tucker
 * factors, merges and fusions), the final exact merge of the shrink runs was verified on ONNX Runtime,
 * and the accuracies are reported; mode 'none' builds the planned network's function on the given
 * weights. Nothing here depends on time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Model } from '../../src/ir/graph.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { tensorToFloat32 } from '../../src/ir/tensor.js';
import { loadModel } from '../../src/onnx/file.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { loadFashionMnist, FASHION_MNIST_DEFAULT_DIR } from '../../src/data/fashion-mnist.js';
import { planModel, type RuntimePlan } from '../../src/plan/plan.js';
import { verifyModels } from '../../src/rewrite/verify.js';
import { retrainPlan, type PlanRetrainResult } from '../../src/pipeline/plan-retrain.js';
import { RebirthError } from '../../src/errors.js';
import { fakeTimer } from '../plan/helpers.js';

const skip = fs.existsSync(FASHION_MNIST_DEFAULT_DIR) ? false : `no Fashion-MNIST in ${FASHION_MNIST_DEFAULT_DIR}`;
const train = skip ? undefined : loadFashionMnist({ split: 'train', limit: 128 });
const evalSet = skip ? undefined : loadFashionMnist({ split: 'test', limit: 64 });

/**
 * Node names with their op types, sorted: the structure, whatever the order or the weights. A fused
 * group is named after its first member in graph order, which differs between the planned model
 * (patches) and a rebuild (all merges at once), so fused nodes count by op type only.
 */
function structure(m: Model): string[] {
  return m.graph.nodes.map((n) => `${n.name.includes('_hfused') ? '(fused)' : n.name} ${n.opType}`).sort();
}

/** Shrink plans at 1.2x pay, more severe ones are slower; of Tucker only `tuckerPays` pay; merges and fusions pay. */
function latency(tuckerPays: readonly string[]) {
  return (applied: ReadonlySet<string>): number => {
    let t = 100;
    for (const n of applied) {
      if (n.startsWith('shrink:')) t *= n.endsWith('@1.2x') ? 0.9 : 1.02;
      else if (n.startsWith('tucker:')) t *= tuckerPays.includes(n) ? 0.95 : 1.02;
      else if (n.startsWith('fusion:')) t *= 0.98;
      else t *= n.endsWith('@cover') || n.endsWith('@r0.5') ? 0.9 : 1.02;
    }
    return t;
  };
}

function checkAccuracy(r: PlanRetrainResult): void {
  const { before, after, steps } = r.accuracy;
  for (const v of [before, after, ...steps.map((s) => s.top1)]) assert.ok(v >= 0 && v <= 1, JSON.stringify(r.accuracy));
  assert.equal(after, steps[steps.length - 1]?.top1);
}

test('resnet-mini, merge + shrink + tucker: the linearized run is retrained and merged exactly, then the kept Tucker factors', { skip }, async () => {
  const model = buildZooModel('resnet-mini', { bnStats: 'random' });
  const bytes = encodeModel(model);
  const plan: RuntimePlan = await planModel(model, {
    target: 'node', families: ['merge', 'shrink', 'tucker'], tucker: { ranks: { fractions: [0.5] } },
    measure: fakeTimer(latency(['tucker:res2a@1/2', 'tucker:res4b_branch2b@1/2'])).measure, cache: false, confirm: false,
  });
  // resnet-mini has nothing to merge; shrink merges the stem into the first (collapsed) block, and Tucker
  // decomposes that merged conv and one more.
  assert.deepEqual(plan.kept.map((k) => k.name), ['shrink:conv1..res2a@1.2x', 'tucker:res2a@1/2', 'tucker:res4b_branch2b@1/2']);

  const r = await retrainPlan(model, plan, {
    mode: 'distill', train: train as NonNullable<typeof train>, test: evalSet as NonNullable<typeof evalSet>, epochs: 0.5, batchSize: 64, threads: 1, progress: false,
  });
  assert.deepEqual(encodeModel(model), bytes, 'the original is not modified');
  assert.deepEqual(r.merges, []);
  // The shrink run: conv1 and the res2a block (collapsed into one conv while linearized) as one conv,
  // its merge checked against the retrained linear network on ORT.
  assert.deepEqual(r.shrink?.groups, [{ convs: ['conv1', 'res2a'] }]);
  assert.ok(r.shrink.verification.checked && r.shrink.verification.passed, JSON.stringify(r.shrink.verification));
  assert.deepEqual(r.tucker?.layers.sort(), ['res2a', 'res4b_branch2b']);
  // The output is the planned network: same nodes and ops, the stem's ReLU gone, the factors there.
  assert.deepEqual(structure(r.model), structure(plan.model));
  const names = new Set(r.model.graph.nodes.map((n) => n.name));
  for (const gone of ['conv1', 'conv1_relu', 'res2a_branch2a', 'res4b_branch2b']) assert.ok(!names.has(gone), `${gone} is replaced`);
  for (const factor of ['res2a/tucker_core', 'res4b_branch2b/tucker_core']) assert.ok(names.has(factor), `${factor} present`);
  // Trained: the weights are not the planned (untrained) model's.
  const core = (m: Model): Float32Array => {
    const w = m.graph.nodes.find((n) => n.name === 'res2a/tucker_core')?.inputs[1];
    const t = w === undefined ? undefined : m.graph.initializers.get(w);
    assert.ok(t, 'res2a/tucker_core weights');
    return tensorToFloat32(t);
  };
  assert.notDeepEqual(core(r.model), core(plan.model));

  assert.deepEqual(r.passes.map((p) => [p.name, p.changes, p.epochs]), [
    ['linearized shrink runs', ['shrink:conv1..res2a@1.2x'], 0.5],
    ['Tucker factors', ['tucker:res2a@1/2', 'tucker:res4b_branch2b@1/2'], 0.25],
  ]);
  assert.deepEqual(r.accuracy.steps.map((s) => s.step), [
    'shrink runs linearized (2 activation(s) removed), untrained', 'linearized shrink runs (distill)', 'Tucker factors, untrained', 'Tucker factors (distill)',
  ]);
  assert.equal(r.accuracy.steps[1]?.epochs.length, 1, 'a fraction of an epoch trains one epoch on that share');
  checkAccuracy(r);

  // Mode 'none': the same network on the original weights, which is the planned model's function.
  const none = await retrainPlan(model, plan, { mode: 'none', train: train as NonNullable<typeof train>, test: evalSet as NonNullable<typeof evalSet>, epochs: 1, threads: 1, progress: false });
  assert.deepEqual(none.passes, []);
  const v = await verifyModels(plan.model, none.model, { tolerance: 1e-4 });
  assert.ok(v.passed, `mode none rebuilds the planned model: ${v.maxRelError}`);
  checkAccuracy(none);
});

test('googlenet-mini, all four families: merges and the shrink run that swallowed a rebirth conv trained together, then Tucker, then fusions', { skip }, async () => {
  const model = loadModel(path.join(import.meta.dirname, '..', '..', 'models', 'googlenet-mini.onnx'));
  const plan = await planModel(model, {
    target: 'node', families: ['merge', 'shrink', 'tucker', 'fusion'], tucker: { ranks: { fractions: [0.5] } }, merge: { seed: 1 },
    measure: fakeTimer(latency(['tucker:inception_3a@1/2'])).measure, cache: false, confirm: false,
  });
  const kept = (stage: string): string[] => plan.kept.filter((k) => k.stage === stage).map((k) => k.name);
  assert.deepEqual([...kept('merge')].sort(), ['conv1@cover', 'conv2@cover', 'inception_3a@r0.5', 'inception_3b@r0.5', 'inception_4a@r0.5']);
  assert.deepEqual(kept('shrink'), ['shrink:conv1/rebirth_5x5_s2..conv2/3x3_reduce@1.2x']);
  assert.deepEqual(kept('tucker'), ['tucker:inception_3a@1/2']);
  assert.ok(kept('fusion').length > 0);

  const r = await retrainPlan(model, plan, {
    mode: 'distill', merge: { seed: 1 }, train: train as NonNullable<typeof train>, test: evalSet as NonNullable<typeof evalSet>,
    epochs: 0.5, tuckerEpochs: 0.5, batchSize: 64, threads: 1, progress: false,
  });
  assert.deepEqual(r.merges.map((m) => m.name).sort(), kept('merge').map((n) => n.replace(/@.*$/, '')).sort());
  assert.deepEqual(r.shrink?.groups, [{ convs: ['conv1/rebirth_5x5_s2', 'conv2/3x3_reduce'] }], 'the rebirth conv is a conv of the linearized run');
  assert.ok(r.shrink.verification.passed);
  assert.deepEqual(structure(r.model), structure(plan.model), 'merges, the shrink merge, Tucker factors and fusions as planned');
  assert.deepEqual(r.exact, kept('fusion'));
  assert.deepEqual(r.passes.map((p) => p.name), ['merges + linearized shrink runs', 'Tucker factors']);
  assert.deepEqual(r.passes[0]?.changes, [...kept('merge'), ...kept('shrink')]);
  assert.equal(r.accuracy.steps[0]?.step, 'merges, untrained');
  checkAccuracy(r);

  // Mode 'none' rebuilds the planned network's function: merges, shrink, Tucker and fusions by their recipes.
  const none = await retrainPlan(model, plan, { mode: 'none', merge: { seed: 1 }, train: train as NonNullable<typeof train>, test: evalSet as NonNullable<typeof evalSet>, epochs: 1, threads: 1, progress: false });
  const v = await verifyModels(plan.model, none.model, { tolerance: 1e-4 });
  assert.ok(v.passed, `mode none rebuilds the planned model: ${v.maxRelError}`);
});

test('retrainPlan refuses bad options with one-line errors', { skip }, async () => {
  const model = buildZooModel('resnet-mini', { bnStats: 'random' });
  const data = { train: train as NonNullable<typeof train>, test: evalSet as NonNullable<typeof evalSet> };
  await assert.rejects(retrainPlan(model, { kept: [] }, { ...data, mode: 'paper' as 'distill', epochs: 1 }), (e: unknown) => e instanceof RebirthError && /mode must be 'distill' or 'none'/.test(e.message));
  await assert.rejects(retrainPlan(model, { kept: [] }, { ...data, mode: 'distill', epochs: 0 }), (e: unknown) => e instanceof RebirthError && /epochs must be positive/.test(e.message));
  await assert.rejects(retrainPlan(model, { kept: [] }, { ...data, mode: 'distill', epochs: 1, tuckerEpochs: -1 }), (e: unknown) => e instanceof RebirthError && /tuckerEpochs must be positive, got -1/.test(e.message));
  // A recipe naming units the model does not have: the plan was made for another model.
  const foreign = {
    kept: [{ name: 'shrink:x', family: 'shrink', stage: 'shrink' as const, exactness: 'approximate' as const, retrainParams: 1, recipe: { family: 'shrink' as const, items: [{ kind: 'merge' as const, from: 'nope', to: 'nada' }], padding: 'push' as const } }],
  };
  await assert.rejects(retrainPlan(model, foreign, { ...data, mode: 'none', epochs: 1, threads: 1, progress: false }), (e: unknown) => e instanceof RebirthError && /no chain of this model runs from 'nope' to 'nada'.*plan was made for another model/.test(e.message) && !e.message.includes('\n'));
});
