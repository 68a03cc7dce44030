/**
 * The whole method on ONNX Runtime: plan (latency table, importance, dynamic program, measured budget
 * correction) on mobilenetv2-mini, and plan + distillation + exact final merge on resnet-mini with a
 * few Fashion-MNIST images. Checks structure and exactness, never wall-clock figures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { verifyModels } from '../../src/rewrite/verify.js';
import { loadModel } from '../../src/onnx/file.js';
import { loadFashionMnist } from '../../src/data/fashion-mnist.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { buildShrunk, calibrationFromData, changedItems, explainShrink, planShrink } from '../../src/shrink/shrink.js';
import { planSegments } from '../../src/shrink/plan.js';
import { shrinkAndRetrain } from '../../src/pipeline/shrink-retrain.js';
import { mergeGroups } from '../../src/shrink/apply.js';
import { tensorToFloat32 } from '../../src/ir/tensor.js';

const hasData = fs.existsSync('/usr/share/datasets/fashion-mnist');

test('planShrink: every item timed and scored, a plan covering the chain, its merged network exact', async () => {
  const model = buildZooModel('mobilenetv2-mini', { batch: 1, bnStats: 'random' });
  const r = await planShrink(model, { target: 'node', speedup: 1.3, runs: 5, warmupMs: 50, rounds: 2 });
  for (const item of r.candidates.items) {
    assert.ok(Number.isFinite(r.table.ms.get(item.id)), `latency of ${item.id}`);
    assert.ok(Number.isFinite(r.importance.delta.get(item.id)), `importance of ${item.id}`);
    if (item.kind === 'keep') assert.equal(r.importance.delta.get(item.id), 0);
  }
  assert.equal(r.importance.loss, 'kl');
  const covered = r.plan.items.map((i) => [i.first, i.last]);
  assert.equal(covered[0]?.[0], 0);
  assert.equal(covered.at(-1)?.[1], r.structure.chains[0]!.units.length - 1);
  assert.ok(r.rounds.length >= 1 && r.rounds.length <= 2);
  assert.ok(Number.isFinite(r.measuredSpeedup) && r.measuredSpeedup > 0);
  const { linearized, merged } = buildShrunk(r);
  const v = await verifyModels(linearized.model, merged, { tolerance: 1e-4 });
  assert.ok(v.passed, `merged vs linearized: ${v.maxRelError}`);
  const text = explainShrink(r);
  assert.match(text, /latency table on node/);
  assert.match(text, /plan: \d+ merges/);
});

test('shrinkAndRetrain: distillation on the linearized network, then an exact merge', { skip: hasData ? false : 'Fashion-MNIST not installed' }, async () => {
  const train = loadFashionMnist({ split: 'train', limit: 256 });
  const testSet = loadFashionMnist({ split: 'test', limit: 128 });
  const model = buildZooModel('resnet-mini', { bnStats: 'random' });
  const calibration = await calibrationFromData(train, 64);
  // What the timed plan chooses depends on the machine's load (on a busy one it may merge nothing), so
  // the retraining runs a plan solved on multiply-accumulates instead: deterministic, and it changes
  // something, which is what this test is about.
  const timed = await planShrink(model, { speedup: 1.1, runs: 5, warmupMs: 50, rounds: 1, calibration, maxMacRatio: 100 });
  const items = timed.candidates.items;
  const macs = new Map(items.map((i) => [i.id, i.macs]));
  const keepMacs = items.filter((i) => i.kind === 'keep').reduce((s, i) => s + i.macs, 0);
  const plan = planSegments({ structure: timed.structure, items, latency: macs, importance: timed.importance.delta, budgetMs: keepMacs / 1.3 });
  assert.ok(changedItems(plan).length > 0, 'a plan on MACs at 1.3x changes something');
  const r = await shrinkAndRetrain(model, {
    retrain: 'distill', train, test: testSet, epochs: 1, progress: false, threads: 1, anneal: 2, polish: 1, planned: { ...timed, plan },
  });
  // Two annealing stages of half an epoch each (one epoch entry each), then one polish epoch of the merged network.
  assert.equal(r.history.length, 3);
  assert.ok(r.accuracy && Number.isFinite(r.accuracy.merged));
  // Polishing trains the merged network itself: the graph of the exact merge of the retrained
  // linearized network, with the merged convs' weights moved away from that merge.
  const groups = buildShrunk({ ...timed, plan }).linearized.groups;
  const exact = mergeGroups(r.linearized, groups);
  assert.deepEqual(r.model.graph.nodes.map((n) => n.opType), exact.graph.nodes.map((n) => n.opType));
  assert.ok(groups.length > 0, 'the plan merged a run');
  const weight = (m: typeof model, name: string): Float32Array => tensorToFloat32(m.graph.initializers.get(name)!);
  // Each merged conv keeps its run's last conv's name.
  const moved = groups.some((g) => {
    const conv = exact.graph.nodes.find((n) => n.name === g.convs.at(-1))!;
    const a = weight(exact, conv.inputs[1]!);
    const b = weight(r.model, conv.inputs[1]!);
    return a.some((v, i) => Math.abs(v - (b[i] as number)) > 1e-6);
  });
  assert.ok(moved, 'polishing moved a merged conv');

  // With a validation split the merged network before the polish competes with the polish's epochs: a
  // polish at rate 0 changes nothing, cannot beat it, and is not kept.
  const still = await shrinkAndRetrain(model, {
    retrain: 'distill', train, test: testSet, epochs: 1, progress: false, threads: 1, anneal: 2, polish: 1, polishLr: 0, validation: 64, planned: { ...timed, plan },
  });
  assert.ok(still.history.every((h) => h.validation !== undefined), 'every epoch chosen on the held-out images');
  assert.equal(still.polish?.kept, false);
  assert.equal(still.polish.validation.after, still.polish.validation.before);
  assert.equal(still.accuracy?.after, still.accuracy?.merged);
  const stillExact = mergeGroups(still.linearized, groups);
  for (const [name, t] of stillExact.graph.initializers) assert.deepEqual(tensorToFloat32(still.model.graph.initializers.get(name)!), tensorToFloat32(t), name);

  // Hints: each changed item's output is matched to the folded teacher's value of the same name. At a rate
  // of ~0 the weights stay put, so the only difference between the two runs' losses is the added MSE.
  const boundaries = buildShrunk({ ...timed, plan }).linearized.boundaries;
  const teacherValues = new Set(timed.folded.graph.nodes.flatMap((n) => n.outputs));
  assert.ok(boundaries.length > 0 && boundaries.every((b) => teacherValues.has(b)), `boundaries ${boundaries.join(', ')} computed by the folded teacher`);
  const still2 = (hints: number): ReturnType<typeof shrinkAndRetrain> => shrinkAndRetrain(model, {
    retrain: 'distill', train, test: testSet, epochs: 1, progress: false, threads: 1, lr: 1e-12, warmupSteps: 0, hints, planned: { ...timed, plan },
  });
  const [plain, hinted] = [await still2(0), await still2(1)];
  assert.ok((hinted.history[0]?.loss ?? 0) > (plain.history[0]?.loss ?? Infinity) + 1e-3, `loss with hints ${hinted.history[0]?.loss} > without ${plain.history[0]?.loss}`);
  assert.equal(r.planned.importance.loss, 'labels');
  assert.ok(r.history.length >= 1);
  assert.ok(r.verification.checked && r.verification.passed);
  assert.ok(r.accuracy && r.accuracy.after >= 0 && r.accuracy.after <= 1);
  assert.ok(r.latency.speedup > 0);
  const convs = (m: typeof model): number => m.graph.nodes.filter((n) => n.opType === 'Conv').length;
  assert.ok(convs(r.model) <= convs(r.linearized));
});

test('a PyTorch export with BatchNorm (torchvision BasicBlocks): folded, blocks found, a plan measured or the model kept', async () => {
  const model = loadModel(new URL('../fixtures/torch/resnet_block.onnx', import.meta.url).pathname);
  const r = await planShrink(model, { target: 'node', speedup: 1.2, runs: 5, warmupMs: 50, rounds: 1 });
  assert.ok(r.folded.graph.nodes.every((n) => n.opType !== 'BatchNormalization'));
  const blocks = r.structure.chains.flatMap((c) => c.units).filter((u) => u.kind === 'block');
  assert.equal(blocks.length, 2);
  assert.ok(r.measuredSpeedup >= 1, 'a plan slower than the model as it is is not returned');
  const { linearized, merged } = buildShrunk(r);
  const v = await verifyModels(linearized.model, merged, { tolerance: 1e-4 });
  assert.ok(v.passed);
});
