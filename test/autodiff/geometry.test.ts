// The window arithmetic the rules rely on, checked against what ONNX Runtime actually computes: pool output
// sizes with ceil_mode, AveragePool divisors with count_include_pad, SAME padding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import type { Node } from '../../src/ir/graph.js';
import { makeAttr } from '../../src/ir/attributes.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { adjointTransposeSettings, avgPoolAxisCounts, windowGeometry } from '../../src/autodiff/geometry.js';
import { windowOutput } from '../../src/ops/dims.js';

async function pool1d(op: string, input: number[], attrs: Record<string, number | number[]>): Promise<number[]> {
  const b = new GraphBuilder('pool');
  const x = b.input('x', [1, 1, input.length]);
  b.output(b.op(op, [x], attrs));
  const s = await ort.InferenceSession.create(encodeModel(modelOf(b.graph, 18)), { logSeverityLevel: 3 });
  const out = await s.run({ x: new ort.Tensor('float32', Float32Array.from(input), [1, 1, input.length]) });
  return Array.from(Object.values(out)[0]?.data as Float32Array);
}

/** Every (in, kernel, stride, pads) with in <= 8, kernel <= 4, stride <= 3, pads < kernel. */
function* configs(): Generator<{ n: number; k: number; s: number; pb: number; pe: number }> {
  for (let n = 1; n <= 8; n++) for (let k = 1; k <= 4; k++) for (let s = 1; s <= 3; s++) {
    for (let pb = 0; pb < k; pb++) for (const pe of new Set([pb, 0, k - 1])) if (n + pb + pe >= k) yield { n, k, s, pb, pe };
  }
}

test('ceil_mode output sizes follow ONNX Runtime (last window must start inside input + begin pad)', async () => {
  for (const { n, k, s, pb, pe } of configs()) {
    const y = await pool1d('MaxPool', new Array<number>(n).fill(1), { kernel_shape: [k], strides: [s], pads: [pb, pe], ceil_mode: 1 });
    assert.equal(windowOutput(n, k, s, 1, pb, pe, true), y.length, `in ${n} k ${k} s ${s} pads ${pb},${pe}`);
  }
});

test('AveragePool divisors (count_include_pad 1 and 0, ceil_mode edges) follow ONNX Runtime', async () => {
  for (const { n, k, s, pb, pe } of configs()) {
    if (pb !== pe || windowOutput(n, k, s, 1, pb, pe, true) !== Math.ceil((n + pb + pe - k) / s) + 1) continue;
    // Input i is 2^i: the output's numerator is then a bit pattern, so sum/divisor pins the divisor down.
    const input = Array.from({ length: n }, (_, i) => 2 ** i);
    for (const cip of [0, 1]) {
      const y = await pool1d('AveragePool', input, { kernel_shape: [k], strides: [s], pads: [pb, pe], ceil_mode: 1, count_include_pad: cip });
      const counts = avgPoolAxisCounts(n, y.length, k, s, pb, pe, cip === 1);
      y.forEach((v, o) => {
        const start = o * s - pb;
        let sum = 0;
        for (let i = Math.max(0, start); i < Math.min(n, start + k); i++) sum += input[i] as number;
        assert.ok(Math.abs(v - sum / (counts[o] as number)) <= 1e-6 * Math.abs(v), `in ${n} k ${k} s ${s} pad ${pb} cip ${cip} window ${o}: ${v} vs ${sum}/${counts[o]}`);
      });
    }
  }
});

test('SAME_UPPER puts the odd pad at the end, SAME_LOWER at the beginning', () => {
  const node = (autoPad: string): Node => ({ name: 'c', opType: 'Conv', domain: '', inputs: [], outputs: [], docString: '', attributes: [makeAttr('auto_pad', autoPad), makeAttr('strides', [2])] });
  assert.deepEqual(windowGeometry(node('SAME_UPPER'), [7], [4]), { kernel: [4], strides: [2], dilations: [1], padsBegin: [1], padsEnd: [2] });
  assert.deepEqual(windowGeometry(node('SAME_LOWER'), [7], [4]).padsBegin, [2]);
});

test('the adjoint ConvTranspose reproduces the input size: crop when windows overhang, output_padding when rows go unused', () => {
  // in 8, k 3, s 2, pads 1/1: out 4; full extent 2*3 + 3 = 9 = 1 + 8: nothing to crop or add.
  assert.deepEqual(adjointTransposeSettings(8, 4, 3, 2, 1, 1), { padBegin: 1, padEnd: 0, outputPadding: 0 });
  // in 7, k 3, s 2, pads 1/1: out 4; full 9 = 1 + 7 + 1 -> crop one at the end.
  assert.deepEqual(adjointTransposeSettings(7, 4, 3, 2, 1, 1), { padBegin: 1, padEnd: 1, outputPadding: 0 });
  // in 8, k 3, s 2, no pads: out 3; full 7 < 8 -> the last row is read by no window.
  assert.deepEqual(adjointTransposeSettings(8, 3, 3, 2, 1, 0), { padBegin: 0, padEnd: 0, outputPadding: 1 });
});
