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
import { listCases, loadDataSet, runCase, SUITE_ROOT } from './backend-suite.js';

const cases = listCases();

test(`ONNX backend suite is installed (${SUITE_ROOT})`, () => {
  assert.ok(cases.length > 1000, `expected the libonnx-testdata suite at ${SUITE_ROOT}: apt-get install libonnx-testdata`);
});

test('every backend-suite model round-trips losslessly and reproduces its expected outputs on ORT', async () => {
  let passed = 0;
  let skipped = 0;
  const failed: string[] = [];
  const skipReasons = new Map<string, number>();
  for (const c of cases) {
    const bytes = fs.readFileSync(c.model);
    const original = fromBinary(ModelProtoSchema, bytes);
    const model = decodeModel(bytes, { source: c.model, baseDir: path.dirname(c.model) });
    const saved = encodeModel(model, { external: 'inline' });
    if (!equals(ModelProtoSchema, original, fromBinary(ModelProtoSchema, saved))) {
      failed.push(`${c.name}: re-saved model differs from the original`);
      continue;
    }
    const data = loadDataSet(c, decodeModel(saved, { source: c.model }));
    if (!data) {
      skipped++;
      skipReasons.set('non-tensor test data', (skipReasons.get('non-tensor test data') ?? 0) + 1);
      continue;
    }
    let why = await runCase(saved, model, data);
    // A mismatch counts against rebirth only if ORT matches the reference on the untouched original file.
    if (why !== undefined && !why.startsWith('skip: ') && (await runCase(bytes, model, data)) !== undefined) {
      why = 'skip: ORT disagrees with the reference outputs on the original file too';
    }
    if (why === undefined) passed++;
    else if (why.startsWith('skip: ')) {
      skipped++;
      const key = why.slice(6).replace(/\d+/g, 'N').slice(0, 70);
      skipReasons.set(key, (skipReasons.get(key) ?? 0) + 1);
    } else failed.push(`${c.name}: ${why}`);
  }
  const top = [...skipReasons.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`backend suite: ${passed} passed, ${skipped} skipped, ${failed.length} failed of ${cases.length}`);
  for (const [reason, n] of top) console.log(`  skipped ${n}: ${reason}`);
  for (const f of failed.slice(0, 20)) console.log(`  FAILED ${f}`);
  assert.deepEqual(failed, []);
  assert.ok(passed > 800, `only ${passed} cases passed`);
});
