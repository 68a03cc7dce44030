// `rebirth shrink --target browser`: the latency table and the speed-up measured in headless Chromium
// (onnxruntime-web's WASM in a page), on wall time, and no Chromium left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadModel } from '../../src/onnx/file.js';
import { expectOneLineError, rebirth, rebirthChild } from '../cli/run.js';
import { processesMentioning, requireChromium, waitFor } from './helpers.js';

void test('rebirth shrink --target browser plans on timings from Chromium and reports wall-clock speed-ups', async () => {
  requireChromium();
  // The run's own temp dir, so its Chromium profile (rebirth-chromium-*) is findable in /proc afterwards.
  const tmp = mkdtempSync(join(tmpdir(), 'rebirth-browser-shrink-'));
  const out = join(tmp, 'm.onnx');
  // Every Chromium launch makes its own rebirth-chromium-* profile dir in TMPDIR, living as long as that
  // Chromium (seconds at least): polling the dir counts the launches. The planner times every shape group,
  // the whole network and each round's speed-up in one Chromium; the reported speed-up of the result is
  // measured after planning (after retraining, when there is one) in a second.
  const profiles = new Set<string>();
  const poll = setInterval(() => {
    for (const d of readdirSync(tmp)) if (d.startsWith('rebirth-chromium-')) profiles.add(d);
  }, 100);
  const r = await rebirthChild(['shrink', 'zoo:mobilenetv2-mini', '-o', out, '--target', 'browser', '--retrain', 'none', '--speedup', '1.2', '--rounds', '1', '--json'],
    { env: { TMPDIR: tmp }, timeoutMs: 600_000 }).finally(() => clearInterval(poll));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(profiles.size, 2, `Chromium launches: ${[...profiles].join(', ')}`);
  const report = JSON.parse(r.stdout) as { target: string; plan: unknown[]; latency: { speedup: number; interval: [number, number]; rounds: number }; maxRelError: number };
  assert.equal(report.target, 'browser');
  assert.ok(Array.isArray(report.plan));
  // Which merges pay in a page is the measurement's to say (docs/shrink.md); the report must be a paired
  // measurement over the browser's fixed rounds.
  assert.ok(report.latency.speedup > 0 && report.latency.interval[0] <= report.latency.speedup && report.latency.speedup <= report.latency.interval[1]);
  assert.ok(report.latency.rounds >= 200, `${report.latency.rounds} rounds`);
  assert.ok(report.maxRelError < 1e-4, 'the merge is exact on ORT');
  assert.ok(loadModel(out).graph.nodes.length > 0);
  await waitFor(() => processesMentioning(tmp).length === 0, 'the Chromium of the shrink run to exit', 15_000);
});

void test('rebirth shrink --target browser refuses --clock cpu in one line', () => {
  expectOneLineError(rebirth('shrink', 'zoo:mobilenetv2-mini', '-o', join(tmpdir(), 'never.onnx'), '--target', 'browser', '--clock', 'cpu'), /--clock cpu with --target browser: a page has no process CPU clock/);
});
