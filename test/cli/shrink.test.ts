/** `rebirth shrink` as a user meets it: one-line errors, the explain table, a loadable output, the JSON report. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel } from '../../src/onnx/file.js';
import { expectOneLineError, rebirth } from './run.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-cli-shrink-'));

void test('bad options: one-line errors', () => {
  const out = path.join(dir, 'bad.onnx');
  expectOneLineError(rebirth('shrink', 'zoo:mobilenetv2-mini', '-o', out, '--speedup', '2', '--latency-budget', '1'), /--speedup or --latency-budget/);
  expectOneLineError(rebirth('shrink', 'zoo:mobilenetv2-mini', '-o', out, '--retrain', 'distill'), /--retrain distill needs --data/);
  expectOneLineError(rebirth('shrink', 'zoo:mobilenetv2-mini', '-o', out, '--target', 'gpu'), /--target must be one of node, wasm/);
  expectOneLineError(rebirth('shrink', 'zoo:mobilenetv2-mini'), /missing -o OUT/);
  expectOneLineError(rebirth('shrink', 'zoo:mobilenetv2-mini', '-o', out, '--batch-norm'), /--batch-norm only changes the retraining; it needs --data and a --retrain other than none/);
  expectOneLineError(rebirth('shrink', 'zoo:mobilenetv2-mini', '-o', out, '--ema', '0.999'), /--ema only changes the retraining; it needs --data and a --retrain other than none/);
  expectOneLineError(rebirth('shrink', 'zoo:mobilenetv2-mini', '-o', out, '--retrain', 'none', '--anneal', '3'), /--anneal only changes the retraining; it needs --data and a --retrain other than none/);
  expectOneLineError(rebirth('shrink', 'zoo:mobilenetv2-mini', '-o', out, '--retrain', 'none', '--validation', '5000'), /--validation only changes the retraining; it needs --data and a --retrain other than none/);
  expectOneLineError(rebirth('shrink', 'zoo:mobilenetv2-mini', '-o', out, '--polish', '2'), /--polish only changes the retraining; it needs --data and a --retrain other than none/);
  expectOneLineError(rebirth('shrink', 'zoo:mobilenetv2-mini', '-o', out, '--retrain', 'none', '--augment'), /--augment only changes the retraining; it needs --data and a --retrain other than none/);
  expectOneLineError(rebirth('shrink', 'zoo:mobilenetv2-mini', '-o', out, '--retrain', 'none', '--hints', '0.1'), /--hints only changes the retraining; it needs --data and a --retrain other than none/);
  expectOneLineError(rebirth('shrink', 'zoo:mobilenetv2-mini', '-o', out, '--hints=-1', '--data', 'fashion-mnist'), /--hints must be a number >= 0/);
  expectOneLineError(rebirth('shrink', 'zoo:mobilenetv2-mini', '-o', out, '--ema', '1', '--data', 'fashion-mnist'), /--ema must be a number >= 0 and <= 0.999999/);
  expectOneLineError(rebirth('shrink', 'zoo:mobilenetv2-mini', '-o', out, '--batch-norm', '--padding', 'exact', '--data', 'fashion-mnist', '--limit', '64'), /--batch-norm needs --padding push/);
});

void test('--retrain none --explain prints the table and the plan and writes a loadable model; --json reports it', () => {
  const out = path.join(dir, 'm.onnx');
  const r = rebirth('shrink', 'zoo:mobilenetv2-mini', '-o', out, '--retrain', 'none', '--speedup', '1.2', '--runs', '5', '--rounds', '1', '--explain');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /latency table on node/);
  assert.match(r.stdout, /^plan: /m);
  assert.match(r.stdout, /latency node \(1 thread, cpu clock\)/);
  assert.ok(loadModel(out).graph.nodes.length > 0);
  const j = rebirth('shrink', 'zoo:resnet-mini', '-o', path.join(dir, 'r.onnx'), '--retrain', 'none', '--speedup', '1.1', '--runs', '5', '--rounds', '1', '--json');
  assert.equal(j.code, 0, j.stderr);
  const report = JSON.parse(j.stdout) as { target: string; plan: unknown[]; latency: { speedup: number }; maxRelError: number };
  assert.equal(report.target, 'node');
  assert.ok(Array.isArray(report.plan));
  assert.ok(report.maxRelError < 1e-4);
});
