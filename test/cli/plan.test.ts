/**
 * `--target` on merge, tucker and optimize, on the committed googlenet-mini with few rounds per
 * decision: the plan in the JSON, the plan cache across runs, and one-line errors for bad plan flags.
 * These check what is reported and written, not which merges a loaded machine finds faster.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../../src/onnx/file.js';
import { expectOneLineError, rebirth, rebirthAsync, root } from './run.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-cli-plan-'));
const teacher = path.join(root, 'models', 'googlenet-mini.onnx');
const cache = path.join(dir, 'plans');

interface PlanJson {
  target: string;
  runtime: string;
  machine: string;
  stages: Array<{ family: string; candidates: Array<{ name: string; status: string; why: string; gain?: { ratio: number; interval: [number, number | null] } }> }>;
  kept: Array<{ name: string; stage: string; recipe: { family: string } }>;
  cache: { hit: boolean; file?: string };
}

test('merge --target node --json: every candidate with its measured gain and verdict; the second run reuses the cached plan', () => {
  const out = path.join(dir, 'merged.onnx');
  const r = rebirth('merge', teacher, '-o', out, '--target', 'node', '--runs', '3', '--plan-cache', cache, '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { plan: PlanJson; merges: Array<{ name: string }>; latencyMs: Record<string, { before: number; after: number }> };
  assert.equal(j.plan.target, 'node');
  assert.match(j.plan.runtime, /^onnxruntime-node \d+\.\d+/);
  assert.deepEqual(j.plan.stages.map((s) => s.family), ['merge', 'fusion']);
  const merge = j.plan.stages[0]?.candidates ?? [];
  assert.deepEqual(merge.map((c) => c.name).sort(), [
    'conv1@cover', 'conv1@keep', 'conv2@cover', 'conv2@keep', 'inception_3a@r0.25', 'inception_3a@r0.5',
    'inception_3b@r0.25', 'inception_3b@r0.5', 'inception_4a@r0.25', 'inception_4a@r0.5',
  ]);
  for (const c of merge) {
    assert.ok(['kept', 'left'].includes(c.status) && c.why.length > 0, JSON.stringify(c));
    // JSON holds an unbounded interval end (too few rounds for the confidence) as null.
    if (c.gain) assert.ok(c.gain.interval[0] <= c.gain.ratio && (c.gain.interval[1] === null || c.gain.ratio <= c.gain.interval[1]), c.name);
  }
  // The report's merges are the plan's kept merges, and the written model is the planned one.
  assert.deepEqual(j.merges.map((m) => m.name).sort(), j.plan.kept.filter((k) => k.recipe.family === 'merge').map((k) => k.name.replace(/@.*$/, '')).sort());
  assert.equal(j.plan.cache.hit, false);
  assert.ok(j.plan.cache.file?.startsWith(cache));
  const first = loadModel(out);

  const again = path.join(dir, 'merged-again.onnx');
  const r2 = rebirth('merge', teacher, '-o', again, '--target', 'node', '--runs', '3', '--plan-cache', cache, '--json');
  assert.equal(r2.code, 0, r2.stderr);
  const j2 = JSON.parse(r2.stdout) as { plan: PlanJson };
  assert.equal(j2.plan.cache.hit, true);
  assert.deepEqual(j2.plan.kept, j.plan.kept);
  assert.deepEqual(loadModel(again).graph.nodes.map((n) => n.opType), first.graph.nodes.map((n) => n.opType));

  const r3 = rebirth('merge', teacher, '-o', again, '--target', 'node', '--runs', '3', '--plan-cache', cache, '--no-plan-cache', '--json');
  assert.equal(r3.code, 0, r3.stderr);
  assert.equal((JSON.parse(r3.stdout) as { plan: PlanJson }).plan.cache.hit, false);
});

test('merge --target node --explain prints one line per candidate with its gain and why', () => {
  const r = rebirth('merge', teacher, '-o', path.join(dir, 'explained.onnx'), '--target', 'node', '--runs', '3', '--plan-cache', cache, '--explain');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^plan for node \(onnxruntime-node .*\): kept \d+ of 13 candidates/m);
  assert.match(r.stdout, /^merge stage: \d+ of 10 kept$/m);
  assert.match(r.stdout, /^ {2}(kept|left) conv1@keep \[streamline, approximate, retrains [\d.]+K?\] /m);
  assert.match(r.stdout, /^fusion stage: \d+ of 3 kept$/m);
});

test('tucker --target node and optimize --target node carry their plans', async () => {
  const [t, o] = await Promise.all([
    rebirthAsync('tucker', teacher, '-o', path.join(dir, 'tucker.onnx'), '--target', 'node', '--ranks', 'fraction:0.5', '--runs', '3', '--plan-cache', cache, '--json'),
    rebirthAsync('optimize', teacher, '-o', path.join(dir, 'optimized.onnx'), '--target', 'node', '--runs', '3', '--plan-cache', cache, '--json'),
  ]);
  assert.equal(t.code, 0, t.stderr);
  const tj = JSON.parse(t.stdout) as { plan: PlanJson; layers: Array<{ name: string; decomposed: boolean }> };
  assert.deepEqual(tj.plan.stages.map((s) => s.family), ['tucker']);
  // Layers the one-layer screen found slower are no candidates: how many are depends on the machine.
  const stage = tj.plan.stages[0] as PlanJson['stages'][number] & { refused: Array<{ site: string; reason: string }> };
  assert.ok(stage.candidates.length + stage.refused.length > 0);
  for (const c of stage.candidates) assert.match(c.name, /^tucker:[\w/]+@1\/2$/);
  const keptLayers = new Set(tj.plan.kept.flatMap((k) => (k.recipe.family === 'tucker' ? Object.keys((k.recipe as unknown as { ranks: Record<string, unknown> }).ranks) : [])));
  assert.deepEqual(new Set(tj.layers.filter((l) => l.decomposed).map((l) => l.name)), keptLayers, 'exactly the planned layers are decomposed');
  assert.equal(o.code, 0, o.stderr);
  const oj = JSON.parse(o.stdout) as { plan: PlanJson; verification: { passed: boolean } };
  assert.deepEqual(oj.plan.stages.map((s) => s.family), ['fusion']);
  assert.ok(oj.verification.passed);
});

test('bad plan flags are one-line errors and write nothing', async () => {
  const out = path.join(dir, 'never.onnx');
  const cases: Array<[string[], RegExp]> = [
    [['merge', teacher, '-o', out, '--target', 'foo'], /^rebirth: --target must be one of node, wasm, browser, browser:webgpu; got 'foo'$/],
    [['merge', teacher, '-o', out, '--target', 'node', '--speedup', '0'], /^rebirth: --speedup must be a number > 1, got '0'$/],
    [['merge', teacher, '-o', out, '--target', 'node', '--speedup', '2', '--latency-budget', '0.3'], /^rebirth: --latency-budget and --speedup are both given; give one budget$/],
    [['merge', teacher, '-o', out, '--speedup', '2'], /^rebirth: --speedup needs --target/],
    [['merge', teacher, '-o', out, '--target', 'node', '--latency-budget', '0'], /^rebirth: --latency-budget must be a number > 0, got '0'$/],
    [['tucker', teacher, '-o', out, '--target', 'node', '--no-measure'], /^rebirth: --no-measure contradicts --target/],
    [['tucker', teacher, '-o', out, '--target', 'wasm', '--backend', 'node'], /^rebirth: --backend node and --target wasm disagree/],
    [['tucker', teacher, '-o', out, '--ranks', 'fraction:0.5,0.25'], /^rebirth: --ranks fraction:0.5,0.25: several fractions are alternatives for --target/],
    [['optimize', teacher, '-o', out, '--target', 'foo'], /^rebirth: --target must be one of/],
    [['merge', teacher, '-o', out, '--families', 'merge,shrink'], /^rebirth: --families needs --target/],
    [['merge', teacher, '-o', out, '--target', 'node', '--families', 'merge,prune'], /^rebirth: --families: unknown family 'prune'; families: merge, shrink, tucker, fusion$/],
    [['merge', teacher, '-o', out, '--target', 'node', '--families', ','], /^rebirth: --families needs at least one of/],
    [['merge', teacher, '-o', out, '--target', 'node', '--families', 'merge,shrink', '--data', 'fashion-mnist', '--retrain', 'paper'], /^rebirth: --retrain paper with --families merge,shrink: a plan with shrink or Tucker changes is retrained by distillation from the input model; use --retrain distill/],
  ];
  const results = await Promise.all(cases.map(([args]) => rebirthAsync(...args)));
  results.forEach((r, i) => expectOneLineError(r, (cases[i] as [string[], RegExp])[1]));
  assert.equal(fs.existsSync(out), false);
});
