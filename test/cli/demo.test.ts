/**
 * `rebirth demo --target`: one-line errors for bad plan flags (before any work, nothing written), and on
 * a small slice the JSON and the text name the target and carry the plan, the second run from the plan
 * cache. What the plan keeps depends on the machine's load, so only what is reported is checked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expectOneLineError, rebirth, rebirthAsync } from './run.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-cli-demo-'));
const fashionMnist = '/usr/share/datasets/fashion-mnist';

test('demo: bad plan flags and input shapes are one-line errors and write nothing', async () => {
  const out = path.join(dir, 'never');
  const cases: Array<[string[], RegExp]> = [
    [['demo', '--out', out, '--speedup', '2'], /^rebirth: --speedup needs --target \(plans are measured on a target runtime\)$/],
    [['demo', '--out', out, '--plan-cache', dir], /^rebirth: --plan-cache needs --target/],
    [['demo', '--out', out, '--limit', '64', '--validation', '64'], /^rebirth: --validation 64: the training data has 64 images; hold out fewer/],
    [['demo', '--out', out, '--validation=-1'], /^rebirth: --validation must be/],
    [['demo', '--out', out, '--target', 'nodejs'], /^rebirth: --target must be one of node, wasm, browser, browser:webgpu; got 'nodejs'$/],
    [['demo', '--out', out, '--target', 'node', '--speedup', '1'], /^rebirth: --speedup must be a number > 1, got '1'$/],
    [['demo', '--out', out, '--target', 'wasm', '--speedup', '2', '--latency-budget', '1'], /^rebirth: --latency-budget and --speedup are both given; give one budget$/],
    [['demo', '--out', out, '--input-shape', 'data'], /^rebirth: --input-shape 'data': write NAME=D1,D2,\.\.\./],
  ];
  const results = await Promise.all(cases.map(([args]) => rebirthAsync(...args)));
  results.forEach((r, i) => expectOneLineError(r, (cases[i] as [string[], RegExp])[1]));
  assert.equal(fs.existsSync(out), false);
});

interface DemoJson {
  target?: string;
  merges: string[];
  plan?: {
    target: string;
    runtime: string;
    stages: Array<{ family: string; candidates: Array<{ name: string; status: string; why: string }> }>;
    kept: Array<{ name: string; recipe: { family: string; merge?: string } }>;
    cache: { hit: boolean; file?: string };
  };
}

test('demo --target node: the JSON and the text carry the plan; a second run reuses it', { skip: fs.existsSync(fashionMnist) ? false : `no Fashion-MNIST in ${fashionMnist}` }, () => {
  const cache = path.join(dir, 'plans');
  const common = ['--target', 'node', '--plan-cache', cache, '--runs', '3', '--limit', '64', '--epochs', '1', '--no-googlenet'];
  const r = rebirth('demo', '--out', path.join(dir, 'json'), ...common, '--json');
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as DemoJson;
  assert.equal(j.target, 'node');
  assert.ok(j.plan);
  assert.match(j.plan.runtime, /^onnxruntime-node \d+\.\d+/);
  assert.deepEqual(j.plan.stages.map((s) => s.family), ['merge', 'fusion']);
  for (const c of j.plan.stages.flatMap((s) => s.candidates)) assert.ok(['kept', 'left'].includes(c.status) && c.why.length > 0, c.name);
  assert.deepEqual([...j.merges].sort(), j.plan.kept.flatMap((k) => (k.recipe.family === 'merge' && k.recipe.merge ? [k.recipe.merge] : [])).sort(), 'the merges retrained are the plan\'s');
  assert.equal(j.plan.cache.hit, false);
  assert.ok(j.plan.cache.file?.startsWith(cache));
  assert.match(r.stderr, /^2\/5 planning the merges on node/m);

  const t = rebirth('demo', '--out', path.join(dir, 'text'), ...common);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /^teacher top-1 .*; planned on node\)$/m);
  assert.match(t.stdout, /^plan for node \(onnxruntime-node .*\): kept \d+ of \d+ candidates.* \(cached plan /m);
  assert.match(t.stdout, /^merge stage: \d+ of 10 kept$/m);
  assert.match(t.stdout, /^ {2}(kept|left) conv1@keep \[streamline, approximate, retrains [\d.]+K?\] /m);
  const html = fs.readFileSync(path.join(dir, 'text', 'report.html'), 'utf8');
  assert.match(html, /<h2>Runtime plan for node<\/h2>/);
});
