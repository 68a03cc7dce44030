/**
 * The shrink family in runtime plans: what proposeShrink proposes (sites with disjoint nodes,
 * alternatives by severity), that a candidate's patch and its recipe give the network buildShrunk
 * builds for the same items, a merge + shrink + tucker plan with a fake timer whose recipes rebuild
 * the planned model (also from the cache), and a PyTorch export folded first. Outputs are compared
 * on ONNX Runtime.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Model } from '../../src/ir/graph.js';
import { loadModel } from '../../src/onnx/file.js';
import { foldExact } from '../../src/merge/fold.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { verifyModels } from '../../src/rewrite/verify.js';
import { applyPatch, patchParams, type GraphPatch, type ShrinkRecipeItem } from '../../src/plan/candidate.js';
import { buildShrink, proposeShrink } from '../../src/plan/families.js';
import { applyPlan, planModel, planShrinkItems } from '../../src/plan/plan.js';
import { explainPlan } from '../../src/plan/explain.js';
import { buildShrunk, prepareShrink, type PreparedShrink } from '../../src/shrink/shrink.js';
import type { Item } from '../../src/shrink/candidates.js';
import { unitName } from '../../src/shrink/structure.js';
import { fakeTimer } from './helpers.js';

const mobilenet = buildZooModel('mobilenetv2-mini', { batch: 1, bnStats: 'random' });
const folded = foldExact(mobilenet).model;
const torchExport = loadModel(path.join(import.meta.dirname, '..', 'fixtures', 'torch', 'resnet_block.onnx'));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-shrink-plan-'));

function patched(model: Model, patch: GraphPatch): Model {
  const m = applyPatch(model, patch);
  if (typeof m === 'string') throw new Error(m);
  return m;
}

async function same(a: Model, b: Model, what: string): Promise<void> {
  const v = await verifyModels(a, b, { tolerance: 1e-4 });
  assert.ok(v.passed, `${what}: max rel error ${v.maxRelError}`);
}

/** The prepared items a recipe names (by kind and unit names). */
function itemsOf(p: PreparedShrink, recipe: readonly ShrinkRecipeItem[]): Item[] {
  return recipe.map((r) => {
    const found = p.candidates.items.find((i) => {
      const units = p.structure.chains[i.chain]?.units ?? [];
      const from = units[i.first];
      const to = units[i.last];
      return i.kind === r.kind && from && to && unitName(from) === r.from && unitName(to) === r.to && JSON.stringify(i.groups) === JSON.stringify(r.groups);
    });
    assert.ok(found, `no item ${JSON.stringify(r)}`);
    return found;
  });
}

/** buildShrunk's merged network for these items (the shrink command's own construction). */
function shrunk(p: PreparedShrink, items: Item[]): Model {
  const plan = { items, predictedMs: 0, baselineMs: 0, importance: 0, budgetMs: 0, met: true };
  return buildShrunk({ folded: p.folded, structure: p.structure, plan, padding: p.padding }).merged;
}

test('proposeShrink: sites with disjoint nodes, alternatives by severity, patches and recipes that build what buildShrunk builds', async () => {
  const { candidates, refused } = await proposeShrink(folded);
  assert.deepEqual(refused, []);
  assert.ok(candidates.length >= 3, candidates.map((c) => c.candidate.name).join());
  const sites = new Map<string, typeof candidates>();
  for (const p of candidates) sites.set(p.candidate.site, [...(sites.get(p.candidate.site) ?? []), p]);
  assert.ok(sites.size >= 2);
  assert.ok([...sites.values()].some((alts) => alts.length > 1), 'some site has several alternatives (plans at increasing speed-ups)');
  const owner = new Map<string, string>();
  for (const [site, alts] of sites) {
    assert.deepEqual(alts.map((a) => a.candidate.severity), alts.map((_, k) => k), `${site}: severities 0, 1, ...`);
    for (const a of alts) {
      const c = a.candidate;
      assert.equal(c.family, 'shrink');
      assert.equal(c.exactness, 'approximate');
      assert.ok(c.retrainParams > 0 && c.retrainParams === patchParams(a.patch), `${c.name}: the merged convs' parameters`);
      assert.ok(c.name.startsWith(`${site}@`) && /@1\.[246]x$/.test(c.name), c.name);
      assert.deepEqual(JSON.parse(JSON.stringify(c.recipe)), c.recipe, 'the recipe is JSON');
      // Nodes of different sites never overlap: their patches compose.
      for (const n of c.nodes) {
        const other = owner.get(n);
        assert.ok(other === undefined || other === site, `${n} is replaced at ${site} and at ${other}`);
        owner.set(n, site);
      }
    }
  }

  // Each candidate: patch = recipe build = buildShrunk's merged network for the same items.
  const prepared = await prepareShrink(folded);
  for (const { candidate, patch } of candidates) {
    if (candidate.recipe.family !== 'shrink') assert.fail('a shrink recipe');
    const reference = shrunk(prepared, itemsOf(prepared, candidate.recipe.items));
    const built = await candidate.build(folded);
    assert.equal(built.graph.nodes.length, reference.graph.nodes.length, candidate.name);
    await same(reference, built, `${candidate.name} built from its recipe`);
    await same(reference, patched(folded, patch), `${candidate.name} through its patch`);
  }

  // The most severe alternative of every site, composed through patches, is buildShrunk of all their items.
  const last = [...sites.values()].map((alts) => alts[alts.length - 1] as (typeof alts)[number]);
  let composed = folded;
  for (const p of last) composed = patched(composed, p.patch);
  const allItems = last.flatMap((p) => (p.candidate.recipe.family === 'shrink' ? itemsOf(prepared, p.candidate.recipe.items) : []));
  await same(shrunk(prepared, allItems), composed, 'composed patches');
  // Two alternatives of one site overlap: the second cannot follow the first.
  const [x, y] = [...sites.values()].find((alts) => alts.length > 1) as typeof candidates;
  assert.ok(x && y);
  const second = applyPatch(patched(folded, x.patch), y.patch);
  assert.equal(typeof second, 'string');
  assert.match(second as string, /no longer in the model/);
});

/** The plans at 1.2x pay (10%), the more severe ones are slower, Tucker blocks pay a little. */
function latency(applied: ReadonlySet<string>): number {
  let t = 100;
  for (const n of applied) {
    if (n.startsWith('shrink:')) t *= n.endsWith('@1.2x') ? 0.9 : 1.02;
    else if (n.startsWith('tucker:')) t *= 0.97;
  }
  return t;
}

test('merge + shrink + tucker: shrink keeps what the timer says pays, Tucker proposes on the shrunk model, the recipes rebuild it', async () => {
  const cache = { dir: path.join(dir, 'cache') };
  const timer = fakeTimer(latency);
  const plan = await planModel(mobilenet, {
    target: 'node', families: ['merge', 'shrink', 'tucker'], tucker: { ranks: { fractions: [0.5] } }, measure: timer.measure, cache, confirm: false,
  });
  assert.deepEqual(plan.stages.map((s) => s.family), ['merge', 'shrink', 'tucker']);
  const stage = plan.stages.find((s) => s.family === 'shrink');
  assert.ok(stage && stage.candidates.length > 0);
  const paying = stage.candidates.filter((c) => c.name.endsWith('@1.2x')).map((c) => c.name).sort();
  assert.ok(paying.length >= 1);
  const kept = plan.kept.filter((k) => k.stage === 'shrink');
  assert.deepEqual(kept.map((k) => k.name).sort(), paying, 'the 1.2x alternatives pay, the others are slower');
  assert.ok(kept.every((k) => k.family === 'shrink' && k.exactness === 'approximate' && k.retrainParams > 0 && k.recipe.family === 'shrink'));
  assert.ok(plan.kept.some((k) => k.stage === 'tucker'), 'Tucker blocks proposed on the shrunk model and kept');
  // Adjacent decomposed convs (a project conv feeding the next expand conv) are separate patches that
  // compose (splitPatch stops at the values the model had).
  const unbuilt = plan.stages.flatMap((s) => s.candidates).filter((c) => /cannot be built/.test(c.why));
  assert.deepEqual(unbuilt.map((c) => `${c.name}: ${c.why}`), []);
  assert.ok(explainPlan(plan).some((l) => /^shrink stage: \d+ of \d+ kept$/.test(l)));
  assert.equal(planShrinkItems(plan).reduce((n, e) => n + e.items.length, 0), kept.reduce((n, k) => n + (k.recipe.family === 'shrink' ? k.recipe.items.length : 0), 0));

  const rebuilt = await applyPlan(folded, plan);
  assert.equal(rebuilt.graph.nodes.length, plan.model.graph.nodes.length);
  await same(plan.model, rebuilt, 'applyPlan');
  // Without the Tucker stage: the shrink changes alone, as buildShrink makes them.
  const shrinkOnly = await applyPlan(folded, plan, { stages: ['merge', 'shrink'] });
  let direct = folded;
  for (const { padding, items } of planShrinkItems(plan)) direct = buildShrink(direct, items, padding);
  await same(direct, shrinkOnly, 'shrink stage only');

  // The cached plan (recipes as JSON) rebuilds the same model without measuring.
  const again = fakeTimer(latency);
  const hit = await planModel(mobilenet, {
    target: 'node', families: ['merge', 'shrink', 'tucker'], tucker: { ranks: { fractions: [0.5] } }, measure: again.measure, cache, confirm: false,
  });
  assert.equal(hit.cache.hit, true);
  assert.equal(again.calls.length, 0);
  await same(plan.model, hit.model, 'cached plan');
});

test('a PyTorch export: BatchNorm folded first, then shrink proposes on the folded blocks and its patches compose', async () => {
  assert.ok(torchExport.graph.nodes.some((n) => n.opType === 'BatchNormalization'));
  // Unfolded, every patch would carry the folds: the family says so instead of proposing.
  const unfolded = await proposeShrink(torchExport);
  assert.equal(unfolded.candidates.length, 0);
  assert.match(unfolded.refused[0]?.reason ?? '', /foldable nodes left/);

  const timer = fakeTimer(latency);
  const plan = await planModel(torchExport, { target: 'node', families: ['merge', 'shrink'], measure: timer.measure, cache: false, confirm: false });
  assert.ok(plan.folds.some((f) => /batchnorm/i.test(f.rule) && f.count > 0), JSON.stringify(plan.folds));
  assert.ok(plan.model.graph.nodes.every((n) => n.opType !== 'BatchNormalization'));
  // On multiply-accumulates (the cost with an injected timer) collapsing a basic block adds MACs, so
  // nothing is proposed, and the stage says why.
  const stage = plan.stages.find((s) => s.family === 'shrink');
  assert.match(stage?.refused.map((r) => r.reason).join() ?? '', /multiply-accumulates/);

  // Weighed by depth instead (what an overhead-bound runtime's latency table looks like), both blocks
  // are proposed on the folded export, and together they are buildShrunk's network.
  const base = foldExact(torchExport).model;
  const depth = { itemCost: (p: PreparedShrink): Promise<ReadonlyMap<string, number>> => Promise.resolve(new Map(p.candidates.items.map((i) => [i.id, i.kind === 'keep' ? 2 : 1]))) };
  const { candidates } = await proposeShrink(base, depth);
  assert.equal(new Set(candidates.map((c) => c.candidate.site)).size, 2, candidates.map((c) => c.candidate.name).join());
  const prepared = await prepareShrink(base);
  let composed = base;
  for (const c of candidates) composed = patched(composed, c.patch);
  const items = candidates.flatMap((c) => (c.candidate.recipe.family === 'shrink' ? c.candidate.recipe.items : []));
  const reference = shrunk(prepared, itemsOf(prepared, items));
  await same(reference, composed, 'composed patches');
  await same(reference, buildShrink(base, items), 'buildShrink from the recipes');
});
