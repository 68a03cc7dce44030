/**
 * Conformance against the ONNX backend test suite: every model loads, saves and reloads equal at the
 * protobuf field level, and the re-saved model reproduces the shipped expected outputs on ORT where ORT
 * supports the test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { equals, fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from '../../src/onnx/generated/onnx_pb.js';
import { decodeModel } from '../../src/onnx/decode.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { judgeCase, listCases, loadDataSet, SuiteTally, SUITE_ROOT } from './backend-suite.js';

const cases = listCases();

test(`ONNX backend suite is installed (${SUITE_ROOT})`, () => {
  assert.ok(cases.length > 1000, `expected the libonnx-testdata suite at ${SUITE_ROOT}: apt-get install libonnx-testdata`);
});

test('every backend-suite model round-trips losslessly and reproduces its expected outputs on ORT', async () => {
  const tally = new SuiteTally();
  for (const c of cases) {
    const bytes = fs.readFileSync(c.model);
    const original = fromBinary(ModelProtoSchema, bytes);
    const model = decodeModel(bytes, { source: c.model, baseDir: path.dirname(c.model) });
    const saved = encodeModel(model, { external: 'inline' });
    if (!equals(ModelProtoSchema, original, fromBinary(ModelProtoSchema, saved))) {
      tally.fail(`${c.name}: re-saved model differs from the original`);
      continue;
    }
    const data = loadDataSet(c, decodeModel(saved, { source: c.model }));
    if (!data) {
      tally.skip('non-tensor test data');
      continue;
    }
    tally.record(c.name, await judgeCase(saved, model, data, bytes, model));
  }
  console.log(tally.report('backend suite', cases.length));
  const { failed, passed } = tally;
  assert.deepEqual(failed, []);
  assert.ok(passed > 800, `only ${passed} cases passed`);
});
