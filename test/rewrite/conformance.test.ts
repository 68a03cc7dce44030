/**
 * Every model of the ONNX backend test suite that ORT can run still reproduces the suite's expected
 * outputs after optimization with every rule (horizontal fusion approved unconditionally, so it is
 * exercised wherever it matches), and every optimized graph meets the engine's postconditions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { decodeModel } from '../../src/onnx/decode.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { checkGraph } from '../../src/rewrite/engine.js';
import { optimizeModel } from '../../src/rewrite/optimize.js';
import { errorMessage } from '../../src/errors.js';
import { listCases, loadDataSet, runCase } from '../conformance/backend-suite.js';

const cases = listCases(['node', 'simple', 'pytorch-converted', 'pytorch-operator']);

test('backend-suite models keep their expected outputs after optimize', async () => {
  assert.ok(cases.length > 1000, 'the libonnx-testdata suite is not installed (apt-get install libonnx-testdata)');
  let passed = 0;
  let skipped = 0;
  let changed = 0;
  const failed: string[] = [];
  const firings: Record<string, number> = {};
  const skipReasons = new Map<string, number>();
  for (const c of cases) {
    const model = decodeModel(fs.readFileSync(c.model), { source: c.model, baseDir: path.dirname(c.model) });
    const data = loadDataSet(c, model);
    if (!data) {
      skipped++;
      skipReasons.set('non-tensor test data', (skipReasons.get('non-tensor test data') ?? 0) + 1);
      continue;
    }
    let result;
    try {
      result = await optimizeModel(model, { verify: false, decide: () => true });
    } catch (e) {
      failed.push(`${c.name}: optimize threw: ${errorMessage(e)}`);
      continue;
    }
    for (const [rule, n] of Object.entries(result.rules)) firings[rule] = (firings[rule] ?? 0) + n;
    if (result.nodesAfter !== result.nodesBefore || Object.values(result.rules).some((n) => n > 0)) changed++;
    const problems = checkGraph(result.model.graph);
    if (problems.length > 0) {
      failed.push(`${c.name}: ${problems[0]}`);
      continue;
    }
    let why = await runCase(encodeModel(result.model, { external: 'inline' }), result.model, data);
    // A mismatch counts against the optimizer only if ORT matches the reference on the original model
    // (random ops, string formatting and a few kernels disagree with the reference on their own).
    if (why !== undefined && !why.startsWith('skip: ') && (await runCase(fs.readFileSync(c.model), model, data)) !== undefined) {
      why = 'skip: ORT disagrees with the reference outputs on the original model too';
    }
    if (why === undefined) passed++;
    else if (why.startsWith('skip: ')) {
      skipped++;
      const key = why.slice(6).replace(/\d+/g, 'N').slice(0, 70);
      skipReasons.set(key, (skipReasons.get(key) ?? 0) + 1);
    } else failed.push(`${c.name}: ${why}`);
  }
  console.log(`rewrite conformance: ${passed} passed, ${skipped} skipped, ${failed.length} failed of ${cases.length}; ${changed} models rewritten`);
  console.log(`  firings: ${JSON.stringify(firings)}`);
  for (const [reason, n] of [...skipReasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 6)) console.log(`  skipped ${n}: ${reason}`);
  for (const f of failed.slice(0, 20)) console.log(`  FAILED ${f}`);
  assert.deepEqual(failed, []);
  assert.ok(passed > 800, `only ${passed} cases passed`);
  assert.ok(changed > 20, `only ${changed} models were rewritten: the rules no longer match the suite's patterns`);
});
