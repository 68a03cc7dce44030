/**
 * `rebirth merge --target node --families merge,shrink --data ...`: a plan with shrink changes is
 * retrained (retrainPlan) instead of refused, and the report says what was retrained. The first run's
 * plan is measured on this machine, so what it keeps is not fixed (a loaded machine may keep nothing)
 * and its checks follow the plan's `kept`; the second run reads a cached plan whose kept changes are
 * replaced by a fake timer's (a shrink run), so its retraining is fixed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../../src/onnx/file.js';
import { FASHION_MNIST_DEFAULT_DIR } from '../../src/data/fashion-mnist.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { planModel } from '../../src/plan/plan.js';
import { fakeTimer } from '../plan/helpers.js';
import { rebirth } from './run.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-cli-plan-retrain-'));

interface Json {
  merges: Array<{ name: string }>;
  accuracy: { before: number; after: number; steps: Array<{ step: string; top1: number }> } | null;
  retrained?: {
    mode: string;
    passes: Array<{ name: string; changes: string[]; epochs: number; top1: number }>;
    shrink?: { runs: string[][]; activationsRemoved: string[]; exactMerge: { passed: boolean; maxRelError: number } };
    exact: string[];
  };
  plan: { stages: Array<{ family: string }>; kept: Array<{ name: string; stage: string }>; cache: { hit: boolean; file?: string } };
  output: string;
}

test('merge --families merge,shrink --data: the plan is retrained, not refused', { skip: fs.existsSync(FASHION_MNIST_DEFAULT_DIR) ? false : `no Fashion-MNIST in ${FASHION_MNIST_DEFAULT_DIR}` }, async () => {
  const out = path.join(dir, 'r.onnx');
  const run = (): Json => {
    const r = rebirth('merge', 'zoo:resnet-mini', '-o', out, '--families', 'merge,shrink', '--target', 'node', '--data', 'fashion-mnist',
      '--limit', '256', '--epochs', '0.05', '--runs', '3', '--threads', '1', '--plan-cache', path.join(dir, 'plans'), '--json');
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Json;
  };
  const j = run();
  assert.deepEqual(j.plan.stages.map((s) => s.family), ['merge', 'shrink']);
  assert.ok(j.accuracy, 'accuracy before and after');
  for (const v of [j.accuracy.before, j.accuracy.after]) assert.ok(v >= 0 && v <= 1);
  assert.ok(j.retrained);
  assert.equal(j.retrained.mode, 'distill', '--data retrains by default');
  // The passes follow what the plan kept (a loaded machine may keep nothing).
  const shrink = j.plan.kept.filter((k) => k.stage === 'shrink').map((k) => k.name);
  const merges = j.plan.kept.filter((k) => k.stage === 'merge').map((k) => k.name);
  if (shrink.length + merges.length > 0) {
    assert.equal(j.retrained.passes.length, 1);
    assert.deepEqual([...(j.retrained.passes[0]?.changes ?? [])].sort(), [...merges, ...shrink].sort());
    assert.equal(j.retrained.passes[0]?.epochs, 0.05);
  } else {
    assert.deepEqual(j.retrained.passes, []);
  }
  if (shrink.length > 0) {
    assert.ok(j.retrained.shrink && j.retrained.shrink.exactMerge.passed, 'the final merge of the retrained runs is exact');
    const names = new Set(loadModel(out).graph.nodes.map((n) => n.name));
    for (const run of j.retrained.shrink.runs) assert.ok(!run.slice(0, -1).some((c) => names.has(c)), `${run.join('+')} merged into ${run[run.length - 1] ?? ''}`);
  } else {
    assert.equal(j.retrained.shrink, undefined);
  }
  assert.equal(j.output, out);

  // The cached plan with a shrink run kept (the file's key is left as it is, so the CLI trusts it).
  const file = j.plan.cache.file;
  assert.ok(file && fs.existsSync(file));
  const fake = await planModel(buildZooModel('resnet-mini', { bnStats: 'random' }), {
    target: 'node', families: ['merge', 'shrink'], measure: fakeTimer((applied) => ([...applied].some((n) => n.endsWith('@1.2x')) ? 90 : 100)).measure, cache: false, confirm: false,
  });
  assert.deepEqual(fake.kept.map((k) => k.name), ['shrink:conv1..res2a@1.2x']);
  const cached = JSON.parse(fs.readFileSync(file, 'utf8')) as { plan: { kept: unknown } };
  cached.plan.kept = fake.kept;
  fs.writeFileSync(file, JSON.stringify(cached));
  const k = run();
  assert.equal(k.plan.cache.hit, true);
  assert.ok(k.retrained && k.accuracy);
  assert.deepEqual(k.retrained.passes.map((p) => [p.name, p.changes, p.epochs]), [['linearized shrink runs', ['shrink:conv1..res2a@1.2x'], 0.05]]);
  assert.deepEqual(k.retrained.shrink?.runs, [['conv1', 'res2a']]);
  assert.ok(k.retrained.shrink.exactMerge.passed);
  assert.deepEqual(k.accuracy.steps.map((s) => s.step), ['shrink runs linearized (2 activation(s) removed), untrained', 'linearized shrink runs (distill)']);
  const written = loadModel(out);
  assert.ok(!written.graph.nodes.some((n) => n.name === 'conv1') && written.graph.nodes.some((n) => n.name === 'res2a' && n.opType === 'Conv'), 'conv1 merged into the res2a conv');
});
