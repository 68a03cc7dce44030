// The main job on a small slice: every stage runs, the summary and the self-contained report are written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runDemo } from '../../src/pipeline/demo.js';
import { loadModel } from '../../src/onnx/file.js';

test('demo: profile, merge, retrain, measure, export and report (small slice)', async () => {
  const outDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-demo-'));
  const lines: string[] = [];
  const s = await runDemo({ outDir, limit: 256, epochs: 1, runs: 3, googlenet: false, log: (l) => lines.push(l) });
  assert.deepEqual(s.merges, ['conv1', 'conv2', 'inception_3a', 'inception_3b', 'inception_4a']);
  assert.ok(s.accuracy.teacher > 0.8 && s.accuracy.merged > 0 && s.accuracy.steps.length === 1);
  for (const b of ['node', 'wasm'] as const) assert.ok(s.latencyMs[b].before > 0 && s.latencyMs[b].after > 0 && s.nonTensorShare[b] > 0);
  assert.equal(loadModel(s.output).graph.nodes.filter((n) => n.opType === 'LRN').length, 0);
  const html = fs.readFileSync(s.report, 'utf8');
  assert.match(html, /Table 1 analogue/);
  assert.match(html, /Table 2 analogue/);
  assert.match(html, /<svg/);
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href="http/, 'self-contained: no external scripts or styles');
  assert.ok(fs.existsSync(path.join(outDir, 'summary.json')));
  assert.ok(lines.some((l) => l.startsWith('5/5')), 'progress through all five stages');
});
