/**
 * `runDemo` with a target: the merges are planned there (here with a fake timer, so what the plan keeps
 * is fixed), only the kept merges are retrained, in the kernel mode and reducer width the plan chose,
 * the kept fusion is applied after retraining, and the summary, summary.json and the report carry the plan.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runDemo, type DemoSummary } from '../../src/pipeline/demo.js';
import { loadModel } from '../../src/onnx/file.js';
import { RebirthError } from '../../src/errors.js';
import { fakeTimer } from '../plan/helpers.js';

const fashionMnist = '/usr/share/datasets/fashion-mnist';

/**
 * conv2 pays with either kernel, 'keep' clearly more; conv1 and inception_3b are slower with any
 * alternative; 3a pays at reducer 0.5 only, 4a more at 0.25 than at 0.5; of the fusions only 3a's pays.
 */
function latency(applied: ReadonlySet<string>): number {
  let t = 100;
  for (const n of applied) {
    if (n === 'conv2@keep') t *= 0.8;
    else if (n === 'conv2@cover') t *= 0.9;
    else if (n.startsWith('conv1@') || n.startsWith('inception_3b@')) t *= 1.05;
    else if (n === 'inception_3a@r0.5') t *= 0.95;
    else if (n === 'inception_3a@r0.25') t *= 1.03;
    else if (n === 'inception_4a@r0.5') t *= 0.95;
    else if (n === 'inception_4a@r0.25') t *= 0.85;
    else if (n.startsWith('fusion:')) t *= n.startsWith('fusion:inception_3a/') ? 0.97 : 1.02;
  }
  return t;
}

test('demo with a target retrains only the merges the plan kept and reports the plan', { skip: fs.existsSync(fashionMnist) ? false : `no Fashion-MNIST in ${fashionMnist}` }, async () => {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-demo-target-'));
  const lines: string[] = [];
  const timer = fakeTimer(latency);
  const s = await runDemo({
    outDir, limit: 128, epochs: 1, runs: 3, googlenet: false, target: 'node', planMeasure: timer.measure, planCache: false, log: (l) => lines.push(l),
  });
  assert.ok(timer.calls.length > 0, 'the plan was measured with the injected timer');
  assert.ok(lines.some((l) => l.startsWith('2/5 planning the merges on node')), lines.join('\n'));

  // Only the kept merges, in the variants the plan chose.
  assert.equal(s.target, 'node');
  const plan = s.plan;
  assert.ok(plan);
  assert.deepEqual(plan.kept.map((k) => k.name).sort(), ['conv2@keep', 'fusion:inception_3a/rebirth_3x3_reduce', 'inception_3a@r0.5', 'inception_4a@r0.25']);
  assert.deepEqual([...s.merges].sort(), ['conv2', 'inception_3a', 'inception_4a']);
  const teacher = loadModel(path.join(import.meta.dirname, '..', '..', 'models', 'googlenet-mini.onnx'));
  const out = loadModel(s.output);
  const names = new Set(out.graph.nodes.map((n) => n.name));
  assert.deepEqual(out.graph.nodes.filter((n) => n.opType === 'LRN').map((n) => n.name), ['pool1/norm1'], 'conv1 (left) keeps its LRN, conv2 (kept) lost it');
  assert.ok(names.has('conv1/3x3_s1') && names.has('inception_3b/5x5_reduce') && names.has('inception_3b/pool_proj'), 'conv1 and inception_3b are untouched');
  for (const gone of ['conv2/3x3', 'conv2/norm2', 'inception_3a/3x3', 'inception_3a/pool_proj', 'inception_4a/3x3', 'inception_4a/pool_proj']) assert.ok(!names.has(gone), `${gone} was merged away`);
  // conv2 'keep' keeps its 3x3 kernel ('cover' would widen it over the pool's window).
  const w = (n: string | undefined): readonly number[] | undefined => (n ? out.graph.initializers.get(n)?.dims : undefined);
  const conv2 = out.graph.nodes.find((n) => n.opType === 'Conv' && n.name.startsWith('conv2/') && n.name !== 'conv2/3x3_reduce');
  assert.deepEqual(w(conv2?.inputs[1])?.slice(2), [3, 3]);
  // inception_4a at reducer width 0.25: its 3x3 reducer keeps a quarter of the teacher's channels.
  const reducer = (m: typeof out, module: string): number | undefined => {
    const n = m.graph.nodes.find((x) => x.opType === 'Conv' && x.name.startsWith(`${module}/`) && x.name.includes('3x3_reduce'));
    return n ? m.graph.initializers.get(n.inputs[1] ?? '')?.dims[0] : undefined;
  };
  assert.equal(reducer(out, 'inception_4a'), Math.round((reducer(teacher, 'inception_4a') ?? NaN) / 4));
  // The kept fusion, applied to the retrained weights: 3a's two reducers are one Conv and a Split; 4a's
  // (left) are two convs still.
  const module3a = [...names].filter((n) => n.startsWith('inception_3a/')).join(', ');
  assert.ok(!names.has('inception_3a/rebirth_3x3_reduce') && !names.has('inception_3a/5x5_reduce'), module3a);
  const producer = new Map(out.graph.nodes.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
  assert.ok(out.graph.nodes.some((n) => n.opType === 'Split' && producer.get(n.inputs[0] ?? '')?.name.startsWith('inception_3a/')), module3a);
  assert.ok(names.has('inception_4a/rebirth_3x3_reduce') && names.has('inception_4a/5x5_reduce'));
  assert.ok(s.accuracy.steps.length === 1 && s.accuracy.merged > 0);

  // Every candidate in the summary, with its verdict, measured gain and reason, and the same in summary.json.
  const candidates = plan.stages.flatMap((st) => st.candidates);
  assert.equal(candidates.length, 13);
  for (const c of candidates) assert.ok(['kept', 'left'].includes(c.status) && c.why.length > 0 && c.gain, c.name);
  const written = JSON.parse(fs.readFileSync(path.join(outDir, 'summary.json'), 'utf8')) as DemoSummary;
  assert.equal(written.target, 'node');
  assert.deepEqual(written.plan?.kept.map((k) => k.name), plan.kept.map((k) => k.name));
  assert.equal(written.plan?.runtime, 'injected measurement');
  assert.equal((written.plan as unknown as Record<string, unknown>).model, undefined, 'the model is the output file, not JSON');

  // The report names the target and has one row per candidate: name, measured gain, verdict, why.
  const html = fs.readFileSync(s.report, 'utf8');
  assert.match(html, /<title>[^<]*planned for node<\/title>/);
  assert.match(html, /<h2>Runtime plan for node<\/h2>/);
  assert.match(html, /<p>plan for node \(injected measurement; .*?\): kept 4 of 13 candidates; the planned model .* measured [\d.]+x/);
  for (const c of candidates) {
    const row = new RegExp(`<td>${c.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}</td>.*?<td>[\\d.]+x \\([\\d.]+-[\\d.inf]+\\)[^<]*</td><td>${c.status}</td><td>[^<]+</td>`);
    assert.match(html, row, c.name);
  }
});

test('demo: a misspelt target or plan options without a target fail before any work', async () => {
  const outDir = path.join(os.tmpdir(), 'rebirth-demo-target-never-written');
  await assert.rejects(runDemo({ outDir, target: 'nodejs' }), (e: unknown) => e instanceof RebirthError && /unknown target 'nodejs'/.test(e.message));
  await assert.rejects(runDemo({ outDir, budget: { speedup: 2 } }), (e: unknown) => e instanceof RebirthError && /need a target/.test(e.message));
  assert.ok(!fs.existsSync(outDir), 'nothing written');
});
