// `rebirth profile --backend browser[:wasm|:webgpu]` and timeModelsInBrowser in Debian's Chromium, and the
// promise that Chromium and the server are gone afterwards: after success, on errors and on SIGINT.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RebirthError } from '../../src/errors.js';
import { loadModel } from '../../src/onnx/file.js';
import { profileLayers, type LayerProfile } from '../../src/profile/layers.js';
import { profileModel } from '../../src/runtime/profile.js';
import { timeModelsInBrowser } from '../../src/runtime/browser.js';
import { rebirthChild, root, type CliResult } from '../cli/run.js';
import { unknownOpModel } from '../runtime/fixtures.js';
import { processesMentioning, requireChromium, waitFor } from './helpers.js';

const MODEL = join(root, 'models', 'googlenet-mini.onnx');

function oneLineError(r: CliResult, pattern: RegExp): void {
  assert.notEqual(r.code, 0, 'exit code must be non-zero');
  const lines = r.stderr.trim().split('\n').filter((l) => !/^profiling /.test(l));
  assert.equal(lines.length, 1, `expected one error line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

/** Nothing of the child's Chromium is left: no process mentions its TMPDIR and the dir is empty. */
async function assertNothingLeft(dir: string): Promise<void> {
  await waitFor(() => processesMentioning(dir).length === 0, `Chromium processes using ${dir} to exit`, 15_000);
  // tsx keeps its compile cache there (tsx-<uid>); anything else is ours or Playwright's.
  assert.deepEqual(readdirSync(dir).filter((f) => !/^tsx-\d+$/.test(f)), [], `temp files left in ${dir}`);
}

void describe('browser backends (Chromium)', () => {
  void it('rebirth profile models/googlenet-mini.onnx --backend browser --json', async (t) => {
    requireChromium();
    const r = await rebirthChild(['profile', MODEL, '--backend', 'browser', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const p = JSON.parse(r.stdout) as LayerProfile;
    assert.equal(p.backend, 'browser:wasm');
    assert.equal(p.runtime.backend, 'browser:wasm');
    assert.equal(p.runtime.executionProvider, 'wasm');
    assert.equal(p.runtime.threads, 1);
    assert.match(p.runtime.userAgent, /HeadlessChrome\/\d+/);
    assert.ok(p.latencyMs.median > 0 && p.latencyMs.median <= p.latencyMs.p90);
    assert.ok(p.nonTensorShare > 0 && p.nonTensorShare < 1, `non-tensor share ${p.nonTensorShare}`);
    assert.ok(p.byCategory.tensor > 0);
    assert.deepEqual(p.unattributed, [], 'every model node is accounted for by some kernel');
    assert.equal(p.modelNodes, loadModel(MODEL).graph.nodes.length);
    t.diagnostic(`browser:wasm median ${p.latencyMs.median.toFixed(3)} ms, ${p.layers.length} layers, non-tensor ${(p.nonTensorShare * 100).toFixed(1)}%`);

    // The same onnxruntime-web build in Node runs the same kernels: the page's trace parsing and the
    // attribution must give the same layers.
    const inNode = await profileLayers(loadModel(MODEL), { backend: 'wasm', runs: 3, warmup: 1 });
    assert.deepEqual(p.layers.map((l) => `${l.name}:${l.opType}:${l.category}`).sort(), inNode.layers.map((l) => `${l.name}:${l.opType}:${l.category}`).sort());
  });

  void it('tells how to install Chromium when it is missing', async () => {
    const r = await rebirthChild(['profile', MODEL, '--backend', 'browser'], { env: { REBIRTH_CHROMIUM: '/nonexistent/chromium' } });
    oneLineError(r, /^rebirth: Chromium not found at \/nonexistent\/chromium: install it with 'apt-get install chromium'/);
  });

  void it('a model onnxruntime-web cannot load: one-line error, Chromium and its files gone', async () => {
    requireChromium();
    const dir = mkdtempSync(join(tmpdir(), 'rebirth-browser-test-'));
    const work = mkdtempSync(join(tmpdir(), 'rebirth-browser-model-'));
    try {
      const model = join(work, 'unknown-op.onnx');
      writeFileSync(model, unknownOpModel());
      const r = await rebirthChild(['profile', model, '--backend', 'browser:wasm'], { env: { TMPDIR: dir } });
      oneLineError(r, /^rebirth: onnxruntime \(browser:wasm\) cannot load this model: .*FrobnicateXYZ/);
      await assertNothingLeft(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
    }
  });

  void it('Ctrl-C (SIGINT) closes Chromium and the server and exits 130', async () => {
    requireChromium();
    const dir = mkdtempSync(join(tmpdir(), 'rebirth-browser-test-'));
    try {
      let pid = 0;
      const done = rebirthChild(['profile', MODEL, '--backend', 'browser', '--runs', '100000'], { env: { TMPDIR: dir }, onSpawn: (p) => (pid = p) });
      await waitFor(() => processesMentioning(`--user-data-dir=${dir}`).length > 0, 'Chromium to start', 120_000);
      // Give the page time to start running the model, so the signal lands mid-measurement.
      await new Promise((r) => setTimeout(r, 3000));
      process.kill(pid, 'SIGINT');
      const r = await done;
      assert.equal(r.code, 130, `exit ${r.code} signal ${r.signal}: ${r.stderr}`);
      await assertNothingLeft(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  void it('browser:webgpu: a usable adapter, or a one-line error saying why not', async () => {
    requireChromium();
    const model = new Uint8Array(readFileSync(MODEL));
    const quick = { runs: 2, warmup: 0, warmupMs: 0, profileRuns: 1 } as const;
    let refusal: string | undefined;
    try {
      const p = await profileModel(model, { backend: 'browser:webgpu', ...quick });
      assert.equal(p.runtime.executionProvider, 'webgpu');
      assert.ok(p.runtime.adapter !== undefined && !/fallback/.test(p.runtime.adapter), 'a hardware adapter');
    } catch (e) {
      assert.ok(e instanceof RebirthError, String(e));
      assert.doesNotMatch(e.message, /\n/);
      refusal = e.message;
    }
    if (refusal === undefined) return;
    assert.match(refusal, /^browser:webgpu: (this browser exposes no navigator\.gpu|navigator\.gpu\.requestAdapter\(\) returned no adapter|the only WebGPU adapter is a software fallback)/);
    if (!/software fallback/.test(refusal)) return;
    // This machine's only adapter is Chromium's SwiftShader; accepted explicitly, the path runs end to end.
    const p = await profileModel(model, { backend: 'browser:webgpu', ...quick, browser: { allowFallbackAdapter: true } });
    assert.equal(p.runtime.executionProvider, 'webgpu');
    assert.match(p.runtime.adapter ?? '', /fallback/);
    assert.equal(p.latencyMs.runs.length, 2);
    assert.ok(p.nodes.length > 0);
  });

  void it('timeModelsInBrowser times models interleaved inside the page', async () => {
    requireChromium();
    const bytes = new Uint8Array(readFileSync(MODEL));
    const stats = await timeModelsInBrowser({ a: bytes, b: bytes }, { backend: 'browser:wasm', runs: 5, warmupMs: 0 });
    assert.deepEqual(Object.keys(stats), ['a', 'b']);
    for (const s of Object.values(stats)) {
      assert.equal(s.runs.length, 5);
      assert.ok(s.runs.every((x) => x > 0));
      assert.ok(s.medianMs <= s.p90Ms && s.minMs <= s.medianMs);
      assert.deepEqual(s.cpuRuns, s.runs, 'a page has no CPU clock: cpu repeats wall');
    }
  });
});
