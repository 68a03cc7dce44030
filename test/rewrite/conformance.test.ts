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
import { judgeCase, listCases, loadDataSet, SuiteTally } from '../conformance/backend-suite.js';

const cases = listCases(['node', 'simple', 'pytorch-converted', 'pytorch-operator']);

test('backend-suite models keep their expected outputs after optimize', async () => {
  assert.ok(cases.length > 1000, 'the libonnx-testdata suite is not installed (apt-get install libonnx-testdata)');
  const tally = new SuiteTally();
  let changed = 0;
  const firings: Record<string, number> = {};
  for (const c of cases) {
    const model = decodeModel(fs.readFileSync(c.model), { source: c.model, baseDir: path.dirname(c.model) });
    const data = loadDataSet(c, model);
    if (!data) {
      tally.skip('non-tensor test data');
      continue;
    }
    let result;
    try {
      result = await optimizeModel(model, { verify: false, decide: () => true });
    } catch (e) {
      tally.fail(`${c.name}: optimize threw: ${errorMessage(e)}`);
      continue;
    }
    for (const [rule, n] of Object.entries(result.rules)) firings[rule] = (firings[rule] ?? 0) + n;
    if (result.nodesAfter !== result.nodesBefore || Object.values(result.rules).some((n) => n > 0)) changed++;
    const problems = checkGraph(result.model.graph);
    if (problems.length > 0) {
      tally.fail(`${c.name}: ${problems[0]}`);
      continue;
    }
    tally.record(c.name, await judgeCase(encodeModel(result.model, { external: 'inline' }), result.model, data, fs.readFileSync(c.model), model));
  }
  console.log(`${tally.report('rewrite conformance', cases.length)}\n  ${changed} models rewritten; firings: ${JSON.stringify(firings)}`);
  const { failed, passed } = tally;
  assert.deepEqual(failed, []);
  assert.ok(passed > 800, `only ${passed} cases passed`);
  assert.ok(changed > 20, `only ${changed} models were rewritten: the rules no longer match the suite's patterns`);
});
