import { test } from 'node:test';
import assert from 'node:assert/strict';
import { broadcastShapes, dimProduct, normalizeAxis, samePads, windowOutput } from '../../src/ops/dims.js';
import { sliceLength } from '../../src/ops/structure.js';

test('windowOutput: floor and ceil modes, dilation, and the dropped last window', () => {
  assert.equal(windowOutput(224, 7, 2, 1, 3, 3, false), 112); // ResNet / GoogLeNet conv1
  assert.equal(windowOutput(112, 3, 2, 1, 0, 0, true), 56); // GoogLeNet pool1 (Caffe ceil)
  assert.equal(windowOutput(112, 3, 2, 1, 0, 0, false), 55);
  assert.equal(windowOutput(10, 3, 1, 2, 0, 0, false), 6); // effective kernel 5
  assert.equal(windowOutput(5, 2, 2, 1, 1, 1, true), 3); // the 4th window would start in the end padding
  assert.equal(windowOutput(5, 2, 2, 1, 0, 1, true), 3);
});

test('samePads puts the odd pixel at the end (UPPER) or the beginning (LOWER)', () => {
  assert.deepEqual(samePads(7, 3, 2, 1, true), [1, 1]);
  assert.deepEqual(samePads(8, 3, 2, 1, true), [0, 1]);
  assert.deepEqual(samePads(8, 3, 2, 1, false), [1, 0]);
  assert.deepEqual(samePads(5, 1, 3, 1, true), [0, 0]);
});

test('broadcastShapes follows numpy and keeps symbols', () => {
  assert.deepEqual(broadcastShapes([[2, 1, 4], [3, 1]]), [2, 3, 4]);
  assert.deepEqual(broadcastShapes([['N', 3], [1, 3]]), ['N', 3]);
  assert.deepEqual(broadcastShapes([['N', 3], [5, 3]]), [5, 3]);
  assert.deepEqual(broadcastShapes([['N', 3], ['M', 3]]), [null, 3]);
  assert.deepEqual(broadcastShapes([[null, 3], [1, 3]]), [null, 3]);
  assert.deepEqual(broadcastShapes([[null, 3], [4, 3]]), [4, 3]);
  assert.deepEqual(broadcastShapes([[], [2]]), [2]);
  assert.equal(typeof broadcastShapes([[2, 3], [4, 3]]), 'string');
});

test('dimProduct keeps a lone symbol and gives up on symbol arithmetic', () => {
  assert.equal(dimProduct([2, 3, 4]), 24);
  assert.equal(dimProduct(['N', 1]), 'N');
  assert.equal(dimProduct(['N', 2]), null);
  assert.equal(dimProduct([]), 1);
  assert.equal(dimProduct([3, null]), null);
});

test('normalizeAxis and sliceLength follow the ONNX clamping rules', () => {
  assert.equal(normalizeAxis(-1, 4), 3);
  assert.equal(normalizeAxis(4, 4), undefined);
  assert.equal(sliceLength(10, 0, 3, 1), 3);
  assert.equal(sliceLength(10, -3, 1e19, 1), 3);
  assert.equal(sliceLength(10, 20, 1000, 1), 0);
  assert.equal(sliceLength(10, -1, -1e19, -1), 10);
  assert.equal(sliceLength(10, 8, 1, -2), 4);
});
