/**
 * planModel end to end with a fake timer on googlenet-mini: stages, what is kept, the recipes that
 * rebuild the plan, and the plan cache (written, reused without measuring, bypassed, keyed by target).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../../src/onnx/file.js';
import { foldExact } from '../../src/merge/fold.js';
import { applyMerges } from '../../src/merge/plan.js';
import { verifyModels } from '../../src/rewrite/verify.js';
import { applyPlan, planMergeOptions, planModel, planTuckerRanks, type KeptChange } from '../../src/plan/plan.js';
import { proposeFusions } from '../../src/plan/families.js';
import type { CandidateRecipe } from '../../src/plan/candidate.js';
import { explainPlan } from '../../src/plan/explain.js';
import { RebirthError } from '../../src/errors.js';
import { root } from '../cli/run.js';
import { fakeTimer } from './helpers.js';

const teacher = loadModel(path.join(root, 'models', 'googlenet-mini.onnx'));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-plan-'));

/** keep kernels pay more than cover, reducer 0.5 pays, 0.25 is slower, fusions change nothing, Tucker pays a little. */
function latency(applied: ReadonlySet<string>): number {
  let t = 100;
  for (const n of applied) {
    if (n.endsWith('@keep')) t *= 0.8;
    else if (n.endsWith('@cover')) t *= 0.85;
    else if (n.endsWith('@r0.5')) t *= 0.95;
    else if (n.endsWith('@r0.25')) t *= 1.03;
    else if (n.startsWith('tucker:')) t *= 0.95;
  }
  return t;
}

test('a merge + fusion plan keeps what pays, explains every candidate, and its recipes rebuild the model', async () => {
  const timer = fakeTimer(latency);
  const plan = await planModel(teacher, { target: 'node', measure: timer.measure, cache: false });
  assert.deepEqual(plan.stages.map((s) => s.family), ['merge', 'fusion']);
  assert.deepEqual(plan.kept.map((k) => k.name).sort(), ['conv1@keep', 'conv2@keep', 'inception_3a@r0.5', 'inception_3b@r0.5', 'inception_4a@r0.5']);
  assert.equal(plan.cache.hit, false);
  assert.ok(plan.summary && plan.summary.ratio > 1.6, 'measured against the original at the end (100 -> 54.9 ms)');
  for (const c of plan.stages.flatMap((s) => s.candidates)) {
    assert.ok(c.why.length > 0 && c.why !== 'not tried', `${c.name}: ${c.why}`);
    if (c.status === 'kept') assert.ok(c.gain && c.gain.ratio > 1 && c.gain.interval[0] > 1, c.name);
  }
  const lines = explainPlan(plan);
  assert.match(lines[0] ?? '', /^plan for node .* kept 5 of \d+ candidates; the planned model \(exact folds and kept changes\) measured/);
  assert.ok(lines.some((l) => /^ {2}left inception_3a@r0.25 \[branch, approximate, retrains [\d.]+K\] 0\.9\d\dx/.test(l)), lines.join('\n'));

  const merge = planMergeOptions(plan);
  assert.deepEqual(merge.perCandidate?.conv1, { kernel: 'keep' });
  assert.deepEqual(merge.perCandidate?.inception_3b, { reducerRatio: 0.5 });
  const folded = foldExact(teacher).model;
  const direct = applyMerges(folded, { fold: false, init: 'inherit', ...merge }).model;
  const rebuilt = await applyPlan(folded, plan);
  for (const m of [direct, rebuilt]) {
    const v = await verifyModels(plan.model, m, { tolerance: 1e-5 });
    assert.ok(v.passed, `max rel error ${v.maxRelError}`);
  }
});

test('plans are cached per model, target and options: a second run measures nothing; read: false plans afresh', async () => {
  const cache = { dir: path.join(dir, 'cache') };
  const first = fakeTimer(latency);
  const a = await planModel(teacher, { target: 'node', families: ['merge'], measure: first.measure, cache });
  assert.equal(a.cache.hit, false);
  assert.ok(a.cache.file && fs.existsSync(a.cache.file));
  assert.ok(first.calls.length > 0);
  assert.deepEqual(fs.readdirSync(cache.dir).filter((f) => f.includes('.tmp')), [], 'written to a temp file and renamed');

  const second = fakeTimer(latency);
  const b = await planModel(teacher, { target: 'node', families: ['merge'], measure: second.measure, cache });
  assert.equal(b.cache.hit, true);
  assert.equal(b.cache.file, a.cache.file);
  assert.equal(second.calls.length, 0, 'a cached plan is not measured again');
  assert.deepEqual(b.kept, a.kept);
  const v = await verifyModels(a.model, b.model, { tolerance: 1e-5 });
  assert.ok(v.passed && a.model.graph.nodes.length === b.model.graph.nodes.length);

  const forced = fakeTimer(latency);
  const c = await planModel(teacher, { target: 'node', families: ['merge'], measure: forced.measure, cache: { ...cache, read: false } });
  assert.equal(c.cache.hit, false);
  assert.ok(forced.calls.length > 0);

  const other = fakeTimer(latency);
  const d = await planModel(teacher, { target: 'wasm', families: ['merge'], measure: other.measure, cache });
  assert.equal(d.cache.hit, false, 'another target is another plan');
  assert.notEqual(d.cache.file, a.cache.file);
  const e = await planModel(teacher, { target: 'node', families: ['merge'], merge: { reducerRatios: [0.5] }, measure: fakeTimer(latency).measure, cache });
  assert.equal(e.cache.hit, false, 'other alternatives are another plan');

  // A cache file from another key is not trusted.
  fs.writeFileSync(a.cache.file, fs.readFileSync(a.cache.file, 'utf8').replace('"target": "node"', '"target": "wasm"'));
  const f = await planModel(teacher, { target: 'node', families: ['merge'], measure: fakeTimer(latency).measure, cache });
  assert.equal(f.cache.hit, false);
});

test('a speed-up budget keeps the changes that retrain fewest parameters until it is reached', async () => {
  const timer = fakeTimer(latency);
  const plan = await planModel(teacher, { target: 'node', families: ['merge', 'fusion'], budget: { speedup: 1.3 }, measure: timer.measure, cache: false });
  assert.ok(plan.budget?.reached);
  // conv1 retrains the fewest parameters and at its site the less severe 'cover' pays first (0.85); then
  // the modules with the fewest parameters, until 1 / (0.85 x 0.95 x 0.95) = 1.30x. conv2, whose
  // streamline merge would pay most but retrains the most parameters, is never tried.
  assert.deepEqual(plan.kept.map((k) => k.name), ['conv1@cover', 'inception_3a@r0.5', 'inception_4a@r0.5']);
  assert.ok((plan.budget?.checks.at(-1)?.ratio ?? 0) >= 1.3);
  const conv2 = plan.stages[0]?.candidates.filter((c) => c.site === 'conv2') ?? [];
  assert.ok(conv2.length === 2 && conv2.every((c) => c.why === 'not tried: the budget was reached' && c.measurements.length === 0));
  assert.match(plan.stages[1]?.refused[0]?.reason ?? '', /budget was reached/);
});

test('merge + tucker: Tucker is proposed on the merged model, and its ranks come out of the plan', async () => {
  const timer = fakeTimer(latency);
  const plan = await planModel(teacher, {
    target: 'node', families: ['merge', 'tucker'], tucker: { ranks: { fractions: [0.5] } }, measure: timer.measure, cache: false, confirm: false,
  });
  const tucker = plan.kept.filter((k) => k.stage === 'tucker');
  assert.ok(tucker.length > 0);
  const ranks = planTuckerRanks(plan);
  assert.ok(Object.keys(ranks).some((l) => l.includes('rebirth')), `decomposes the merged model's rebirth convs: ${Object.keys(ranks).join()}`);
});

test('bad options are one-line RebirthErrors', async () => {
  const measure = fakeTimer(latency).measure;
  await assert.rejects(planModel(teacher, { target: 'foo', measure }), (e: unknown) => e instanceof RebirthError && /unknown target 'foo'; targets: node, wasm, browser/.test(e.message));
  await assert.rejects(planModel(teacher, { target: 'node', budget: { speedup: 2, latencyMs: 3 }, measure }), /give one budget/);
  await assert.rejects(planModel(teacher, { target: 'node', budget: { speedup: 1 }, measure }), /speedup must be a number > 1/);
  await assert.rejects(planModel(teacher, { target: 'node', families: ['nope' as 'merge'], measure }), /unknown plan family 'nope'/);
});

test('applyPlan rebuilds a kept fusion from its members, and warns of one that no longer applies instead of skipping it silently', async () => {
  const folded = foldExact(teacher).model;
  const fusion = proposeFusions(folded).candidates[0]?.candidate;
  assert.ok(fusion && fusion.recipe.family === 'fusion', 'googlenet-mini has sibling 1x1 convs to fuse');
  const kept = (name: string, recipe: CandidateRecipe): KeptChange => ({ name, family: 'fusion', stage: 'fusion', exactness: 'exact', retrainParams: 0, recipe });
  const warnings: string[] = [];
  const fused = await applyPlan(folded, { kept: [kept(fusion.name, fusion.recipe)] }, { onWarning: (l) => warnings.push(l) });
  assert.deepEqual(warnings, []);
  assert.notDeepEqual(fused.graph.nodes.map((n) => n.name), folded.graph.nodes.map((n) => n.name));
  assert.ok((await verifyModels(folded, fused, { tolerance: 1e-5 })).passed);
  // A separate list: deepEqual(warnings, []) above narrows the first one's type to never[].
  const staleWarnings: string[] = [];
  const stale = await applyPlan(folded, { kept: [kept('fusion:gone', { family: 'fusion', rule: fusion.recipe.rule, node: 'gone', members: ['gone', 'also-gone'] })] }, { onWarning: (l) => staleWarnings.push(l) });
  assert.deepEqual(staleWarnings, ["fusion:gone: the plan's fusion does not apply to this model; left out"]);
  assert.deepEqual(stale.graph.nodes.map((n) => n.name), folded.graph.nodes.map((n) => n.name));
});
