/**
 * The families' adapters: what they propose as plan candidates, and that a candidate's patch gives the
 * model the family's own transform builds (checked on ONNX Runtime), alone and composed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/onnx/file.js';
import { foldExact } from '../../src/merge/fold.js';
import { applyMerges } from '../../src/merge/plan.js';
import { verifyModels } from '../../src/rewrite/verify.js';
import { applyPatch } from '../../src/plan/candidate.js';
import { blockOf, buildTucker, proposeFusions, proposeMerges, proposeTucker } from '../../src/plan/families.js';
import type { Model } from '../../src/ir/graph.js';
import { root } from '../cli/run.js';
import { TinyNet } from '../merge/helpers.js';
import * as path from 'node:path';

const teacher = foldExact(loadModel(path.join(root, 'models', 'googlenet-mini.onnx'))).model;

function applied(model: Model, patch: Parameters<typeof applyPatch>[1]): Model {
  const m = applyPatch(model, patch);
  if (typeof m === 'string') throw new Error(m);
  return m;
}

test('merges: each streamline block with both kernel modes, each module with both reducer widths, ordered by severity', () => {
  const { candidates, refused } = proposeMerges(teacher);
  assert.deepEqual(refused, []);
  const names = candidates.map((p) => p.candidate.name);
  assert.deepEqual(names, [
    'conv1@cover', 'conv1@keep', 'conv2@cover', 'conv2@keep',
    'inception_3a@r0.5', 'inception_3a@r0.25', 'inception_3b@r0.5', 'inception_3b@r0.25', 'inception_4a@r0.5', 'inception_4a@r0.25',
  ]);
  const get = (n: string): (typeof candidates)[number]['candidate'] => candidates.find((p) => p.candidate.name === n)?.candidate as (typeof candidates)[number]['candidate'];
  assert.equal(get('conv1@cover').site, 'conv1');
  assert.deepEqual([get('conv1@cover').severity, get('conv1@keep').severity], [0, 1]);
  assert.ok(get('conv1@keep').retrainParams < get('conv1@cover').retrainParams, 'the kept kernel is smaller than the covering one');
  assert.ok(get('inception_3a@r0.25').retrainParams < get('inception_3a@r0.5').retrainParams);
  assert.equal(get('inception_3a@r0.5').exactness, 'approximate');
  assert.deepEqual(get('conv2@keep').recipe, { family: 'merge', merge: 'conv2', options: { kernel: 'keep' } });
  // Options given narrow the alternatives.
  assert.deepEqual(proposeMerges(teacher, { kernels: ['keep'], reducerRatios: [0.5], branch: false }).candidates.map((p) => p.candidate.name), ['conv1@keep', 'conv2@keep']);
});

test('merge patches compose into the model applyMerges builds with the same per-candidate options', async () => {
  const { candidates } = proposeMerges(teacher);
  const pick = (n: string): (typeof candidates)[number] => candidates.find((p) => p.candidate.name === n) as (typeof candidates)[number];
  let m = teacher;
  for (const n of ['conv1@keep', 'conv2@cover', 'inception_3b@r0.25']) m = applied(m, pick(n).patch);
  const direct = applyMerges(teacher, {
    fold: false, init: 'inherit', only: ['conv1', 'conv2', 'inception_3b'],
    perCandidate: { conv1: { kernel: 'keep' }, conv2: { kernel: 'cover' }, inception_3b: { reducerRatio: 0.25 } },
  }).model;
  assert.equal(m.graph.nodes.length, direct.graph.nodes.length);
  const v = await verifyModels(direct, m, { tolerance: 1e-5 });
  assert.ok(v.passed, `max rel error ${v.maxRelError}`);
  // Two alternatives of one site replace the same nodes: the second cannot follow the first.
  const second = applyPatch(applied(teacher, pick('conv1@keep').patch), pick('conv1@cover').patch);
  assert.equal(typeof second, 'string');
  assert.match(second as string, /no longer in the model/);
});

test('tucker: one candidate per block and fraction (or per layer), whose patch is the decomposition of its layers', async () => {
  const block = await proposeTucker(teacher, { ranks: { fractions: [0.5] } });
  const sites = [...new Set(block.candidates.map((p) => p.candidate.site))];
  assert.ok(sites.includes('tucker:inception_3a'), sites.join());
  const ia = block.candidates.find((p) => p.candidate.site === 'tucker:inception_3a');
  assert.ok(ia && ia.candidate.nodes.length > 1 && ia.candidate.nodes.every((n) => blockOf(n) === 'inception_3a'), ia?.candidate.nodes.join());
  assert.equal(ia.candidate.recipe.family, 'tucker');
  assert.ok(ia.candidate.retrainParams > 0);
  const layer = await proposeTucker(teacher, { ranks: { fractions: [0.5] }, granularity: 'layer' });
  assert.ok(layer.candidates.length > block.candidates.length);
  assert.ok(layer.candidates.every((p) => p.candidate.nodes.length === 1));
  if (ia.candidate.recipe.family !== 'tucker') return;
  const viaPatch = applied(teacher, ia.patch);
  const viaFamily = await buildTucker(teacher, ia.candidate.recipe.ranks);
  assert.equal(viaPatch.graph.nodes.length, viaFamily.graph.nodes.length);
  const v = await verifyModels(viaFamily, viaPatch, { tolerance: 1e-5 });
  assert.ok(v.passed, `max rel error ${v.maxRelError}`);
  // Two fractions are two alternatives of one site, the larger (less severe) first.
  const two = await proposeTucker(teacher, { ranks: { fractions: [0.25, 0.5] }, only: ['inception_3a/3x3'] });
  assert.deepEqual(two.candidates.map((p) => [p.candidate.name, p.candidate.severity]), [['tucker:inception_3a@1/2', 0], ['tucker:inception_3a@1/4', 1]]);
});

test('fusion: sibling convs of one input are one exact candidate, and its patch keeps the outputs', async () => {
  const t = new TinyNet();
  const x = t.input([1, 3, 8, 8]);
  const a = t.relu('a/relu', t.conv('a/conv', x, 3, 4, 1));
  const b = t.relu('b/relu', t.conv('b/conv', x, 3, 6, 1));
  const model = t.model([t.concat('cat', [a, b])]);
  const { candidates } = proposeFusions(model);
  assert.equal(candidates.length, 1);
  const c = candidates[0] as (typeof candidates)[number];
  assert.equal(c.candidate.exactness, 'exact');
  assert.equal(c.candidate.retrainParams, 0);
  assert.deepEqual(c.candidate.nodes.sort(), ['a/conv', 'b/conv']);
  const fused = applied(model, c.patch);
  assert.deepEqual(fused.graph.nodes.map((n) => n.opType).filter((o) => o === 'Conv' || o === 'Split'), ['Conv', 'Split']);
  const v = await verifyModels(model, fused, { tolerance: 1e-5 });
  assert.ok(v.passed, `max rel error ${v.maxRelError}`);
});

test('blockOf groups Caffe names by prefix and torch names by top module', () => {
  assert.equal(blockOf('inception_3a/3x3'), 'inception_3a');
  assert.equal(blockOf('conv2/rebirth_5x5_s2'), 'conv2');
  assert.equal(blockOf('/inception3a/branch2/branch2.0/conv/Conv'), 'inception3a');
  assert.equal(blockOf('/features/features.3/squeeze/Conv'), 'features.3');
  assert.equal(blockOf('fc'), 'fc');
});
