// The page of `rebirth serve` in a real Chromium: pick googlenet-mini, wait for its profile, merge, and
// check the download against the library's applyMerges run in Node, on onnxruntime-node.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { applyMerges, planMerges } from '../../src/merge/plan.js';
import { decodeModel } from '../../src/onnx/decode.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { loadModel } from '../../src/onnx/file.js';
import { Session, type HostTensor } from '../../src/runtime/session.js';
import { PAGE_MERGE_OPTIONS } from '../../src/serve/merge-options.js';
import { appBundle, startServer } from '../../src/serve/server.js';
import { root } from '../cli/run.js';
import { artefactPath, launchChromium } from './helpers.js';

const MODEL = join(root, 'models', 'googlenet-mini.onnx');

async function runOnNode(bytes: Uint8Array, feeds: Record<string, HostTensor>): Promise<Record<string, HostTensor>> {
  const s = await Session.create(bytes, { backend: 'node' });
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

function seededImages(n: number): HostTensor {
  let state = 7;
  const data = Float32Array.from({ length: n * 28 * 28 }, () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 4294967296 * 2 - 1;
  });
  return { type: 'float32', dims: [n, 1, 28, 28], data };
}

void describe('rebirth serve page (Chromium)', () => {
  void it('bundles the library for the page without Node-only modules', async () => {
    const bundle = await appBundle();
    for (const m of ['merge/plan', 'onnx/decode', 'onnx/encode', 'shapes/infer', 'runtime/trace', 'profile/layers']) {
      assert.ok(bundle.modules.includes(m), `${m} is in the page bundle`);
    }
    // Stood in for by src/runtime/page/shims (page-bundle.ts), or Node-only servers; all import Node at load time.
    for (const m of ['runtime/session', 'runtime/browser', 'onnx/file', 'serve/server', 'runtime/browser-server', 'runtime/page-bundle']) {
      assert.ok(!bundle.modules.includes(m), `${m} must not be in the page bundle`);
    }
    assert.ok(bundle.files.has('app.js') && bundle.files.has('bench.js'));
  });

  void it('profiles googlenet-mini from the file input, plans, merges, and offers the merged ONNX', async (t) => {
    const server = await startServer();
    const browser = await launchChromium();
    try {
      const { page } = browser;
      const foreign: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith(`${server.url}/`) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) foreign.push(r.url());
      });
      const pageErrors: string[] = [];
      page.on('pageerror', (e) => pageErrors.push(e.message));

      const response = await page.goto(`${server.url}/`);
      const headers = response?.headers() ?? {};
      assert.equal(headers['cross-origin-opener-policy'], 'same-origin');
      assert.equal(headers['cross-origin-embedder-policy'], 'require-corp');
      assert.equal(await page.evaluate(() => globalThis.crossOriginIsolated), true, 'COOP/COEP make the page cross-origin isolated');

      const started = Date.now();
      await page.setInputFiles('[data-testid=model-input]', MODEL);
      await page.waitForFunction(() => {
        const latency = document.querySelector('[data-testid=latency-median]')?.textContent ?? '';
        const error = document.querySelector<HTMLElement>('[data-testid=error]');
        return latency !== '' || (error !== null && !error.hidden);
      }, undefined, { timeout: 120_000 });
      const seconds = (Date.now() - started) / 1000;
      t.diagnostic(`file selection to latency: ${seconds.toFixed(2)} s (target < 10 s)`);
      assert.equal(await page.locator('[data-testid=error]').isHidden(), true, `page error: ${await page.textContent('[data-testid=error]')}`);
      assert.match(await page.textContent('[data-testid=latency-median]') ?? '', /^\d[\d.]* (ms|s)$/);
      assert.match(await page.textContent('[data-testid=non-tensor-share]') ?? '', /^\d[\d.]*%$/);
      assert.match(await page.textContent('[data-testid=runtime]') ?? '', /HeadlessChrome\/\d+.*wasm, 1 thread/);

      // The chart is the paper's Figure 1: one bar per layer, tensor and non-tensor series.
      const chart = await page.locator('[data-testid=layer-chart] svg').innerHTML();
      assert.match(chart, /tensor \(conv, fc\)/);
      assert.match(chart, /non-tensor/);
      assert.ok(Number(await page.textContent('[data-testid=layer-count]')) >= 20, 'googlenet-mini has dozens of timed layers');

      // The plan is the library's: same candidates, same refusals.
      const plan = planMerges(loadModel(MODEL), PAGE_MERGE_OPTIONS);
      const names = await page.locator('[data-testid=merge-plan] tbody tr td:first-child').allTextContents();
      assert.deepEqual(names, plan.candidates.map((c) => c.name));
      assert.ok(names.length > 0);
      const refused = await page.locator('[data-testid=merge-refused] li').allTextContents();
      if (plan.refused.length > 0) assert.deepEqual(refused, plan.refused.map((r) => `${r.name}: ${r.reason}`));
      else assert.equal(refused.length, 1);

      await page.click('[data-testid=merge-button]');
      await page.waitForSelector('[data-testid=latency-merged-median]', { timeout: 120_000 });
      assert.match(await page.textContent('[data-testid=latency-merged-median]') ?? '', /^\d[\d.]* (ms|s)$/);
      assert.match(await page.textContent('[data-testid=speedup]') ?? '', /Merged \d+ blocks?: [\d.]+x faster/);
      await page.screenshot({ path: artefactPath('serve-page.png'), fullPage: true });

      const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=download]')]);
      assert.equal(download.suggestedFilename(), 'googlenet-mini.merged.onnx');
      const file = await download.path();
      const bytes = new Uint8Array(readFileSync(file));
      writeFileSync(artefactPath('googlenet-mini.merged.onnx'), bytes);

      // A valid ONNX model whose outputs match the library's own merge on onnxruntime-node.
      const downloaded = decodeModel(bytes);
      const reference = applyMerges(loadModel(MODEL), PAGE_MERGE_OPTIONS);
      assert.equal(downloaded.graph.nodes.length, reference.model.graph.nodes.length);
      assert.deepEqual(downloaded.graph.nodes.map((n) => n.opType), reference.model.graph.nodes.map((n) => n.opType));
      const feeds = { [downloaded.graph.inputs[0]?.name ?? 'data']: seededImages(4) };
      const got = await runOnNode(bytes, feeds);
      const want = await runOnNode(encodeModel(reference.model), feeds);
      assert.deepEqual(Object.keys(got), Object.keys(want));
      for (const [name, w] of Object.entries(want)) {
        const g = got[name];
        assert.ok(g !== undefined);
        assert.deepEqual(g.dims, w.dims);
        const a = g.data as Float32Array;
        const b = w.data as Float32Array;
        let worst = 0;
        for (let i = 0; i < b.length; i++) worst = Math.max(worst, Math.abs((a[i] ?? NaN) - (b[i] ?? NaN)) / (1e-6 + Math.abs(b[i] ?? 0)));
        assert.ok(worst <= 1e-5, `output ${name}: worst relative difference ${worst}`);
      }
      // Same code, same numbers: the page's bundle of the library writes exactly the bytes Node writes.
      assert.ok(Buffer.from(bytes).equals(Buffer.from(encodeModel(reference.model))), 'download equals encodeModel(applyMerges(...)) in Node byte for byte');

      assert.deepEqual(foreign, [], 'the page loads nothing from other origins');
      assert.deepEqual(pageErrors, []);
    } finally {
      await browser.close();
      await server.close();
    }
  });
});
