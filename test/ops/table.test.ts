import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OP_CATEGORIES, OP_ROWS, OPS, categoryOf, nodeInfo, opInfo, type AttrSpec } from '../../src/ops/table.js';

/** The ops the brief requires, with the DeepRebirth category each must have. */
const REQUIRED: Record<string, 'tensor' | 'non-tensor' | 'other'> = {
  Conv: 'tensor', ConvTranspose: 'tensor', Gemm: 'tensor', MatMul: 'tensor',
  Relu: 'non-tensor', LeakyRelu: 'non-tensor', Clip: 'non-tensor', Sigmoid: 'non-tensor', HardSigmoid: 'non-tensor',
  HardSwish: 'non-tensor', Tanh: 'non-tensor', BatchNormalization: 'non-tensor', LRN: 'non-tensor',
  MaxPool: 'non-tensor', AveragePool: 'non-tensor', GlobalAveragePool: 'non-tensor', GlobalMaxPool: 'non-tensor',
  Concat: 'non-tensor', Split: 'non-tensor', Add: 'non-tensor', Sub: 'non-tensor', Mul: 'non-tensor', Div: 'non-tensor',
  Flatten: 'non-tensor', Reshape: 'non-tensor', Transpose: 'non-tensor', Dropout: 'non-tensor', Identity: 'non-tensor',
  Softmax: 'non-tensor', LogSoftmax: 'non-tensor', Pad: 'non-tensor', Unsqueeze: 'non-tensor', Squeeze: 'non-tensor',
  ReduceMean: 'non-tensor', ReduceSum: 'non-tensor',
  Constant: 'other', Shape: 'other', Gather: 'other', Cast: 'other',
};

test('every op type has exactly one row, and the registry is keyed by it', () => {
  const seen = new Map<string, number>();
  for (const row of OP_ROWS) seen.set(row.opType, (seen.get(row.opType) ?? 0) + 1);
  const duplicates = [...seen].filter(([, n]) => n > 1).map(([op]) => op);
  assert.deepEqual(duplicates, []);
  assert.equal(Object.keys(OPS).length, OP_ROWS.length);
  for (const [key, row] of Object.entries(OPS)) assert.equal(row.opType, key);
});

test('every required op has a complete row with the expected category', () => {
  for (const [op, category] of Object.entries(REQUIRED)) {
    const row = opInfo(op);
    assert.ok(row, `${op} has no row`);
    assert.equal(row.category, category, `${op} category`);
  }
  console.log(`op table: ${OP_ROWS.length} rows (${Object.keys(REQUIRED).length} required)`);
});

function checkAttr(op: string, name: string, spec: AttrSpec): void {
  const where = `${op}.${name}`;
  const ways = [spec.default !== undefined, spec.required === true, spec.whenAbsent !== undefined].filter(Boolean).length;
  assert.equal(ways, 1, `${where}: exactly one of default / required / whenAbsent`);
  if (spec.since !== undefined && spec.until !== undefined) assert.ok(spec.since < spec.until, `${where}: since < until`);
  const values = [spec.default, spec.olderDefault?.value].filter((v) => v !== undefined);
  for (const v of values) {
    switch (spec.type) {
      case 'int': assert.ok(typeof v === 'number' && Number.isInteger(v), `${where}: int default`); break;
      case 'float': assert.ok(typeof v === 'number', `${where}: float default`); break;
      case 'string': assert.ok(typeof v === 'string', `${where}: string default`); break;
      case 'ints': assert.ok(Array.isArray(v) && v.every((x) => Number.isInteger(x)), `${where}: ints default`); break;
      case 'floats': assert.ok(Array.isArray(v), `${where}: floats default`); break;
      default: assert.fail(`${where}: a ${spec.type} attribute cannot have a static default`);
    }
  }
}

test('every row is complete: category, summary, inputs, outputs, attributes, three rules', () => {
  for (const row of OP_ROWS) {
    assert.ok(OP_CATEGORIES.includes(row.category), `${row.opType} category`);
    assert.ok(row.summary.length > 0, `${row.opType} summary`);
    assert.equal(typeof row.inferShape, 'function', `${row.opType} inferShape`);
    assert.equal(typeof row.flops, 'function', `${row.opType} flops`);
    assert.equal(typeof row.params, 'function', `${row.opType} params`);
    assert.ok(row.outputs.length > 0, `${row.opType} outputs`);
    row.inputs.forEach((input, k) => {
      assert.ok(input.name, `${row.opType} input ${k} name`);
      if (input.variadic) assert.equal(k, row.inputs.length - 1, `${row.opType}: only the last input may be variadic`);
    });
    for (const [name, spec] of Object.entries(row.attributes)) checkAttr(row.opType, name, spec);
  }
});

test('opset history of attributes that became inputs is recorded', () => {
  assert.equal(OPS.Split?.attributes.split?.until, 13);
  assert.equal(OPS.ReduceSum?.attributes.axes?.until, 13);
  assert.equal(OPS.ReduceMean?.attributes.axes?.until, 18);
  assert.equal(OPS.Squeeze?.attributes.axes?.until, 13);
  assert.equal(OPS.Unsqueeze?.attributes.axes?.until, 13);
  assert.equal(OPS.Clip?.attributes.min?.until, 11);
  assert.equal(OPS.Dropout?.attributes.ratio?.until, 12);
  assert.equal(OPS.Pad?.attributes.pads?.until, 11);
  assert.equal(OPS.Reshape?.attributes.shape?.until, 5);
  assert.deepEqual(OPS.Softmax?.attributes.axis?.olderDefault, { until: 13, value: 1 });
  assert.equal(OPS.MaxPool?.attributes.ceil_mode?.since, 10);
  assert.equal(OPS.LRN?.attributes.size?.required, true);
  assert.equal(OPS.LeakyRelu?.attributes.alpha?.default, 0.01);
  assert.equal(OPS.HardSigmoid?.attributes.alpha?.default, 0.2);
  assert.equal(OPS.BatchNormalization?.attributes.epsilon?.default, 1e-5);
});

test('categoryOf: unknown ops and other domains are "other"', () => {
  assert.equal(categoryOf({ opType: 'Conv', domain: '' }), 'tensor');
  assert.equal(categoryOf({ opType: 'Conv', domain: 'ai.onnx' }), 'tensor');
  assert.equal(categoryOf({ opType: 'MaxPool', domain: '' }), 'non-tensor');
  assert.equal(categoryOf({ opType: 'Shape', domain: '' }), 'other');
  assert.equal(categoryOf({ opType: 'FusedConv', domain: 'com.microsoft' }), 'other');
  assert.equal(categoryOf({ opType: 'Conv', domain: 'com.example' }), 'other');
  assert.equal(categoryOf({ opType: 'NoSuchOp', domain: '' }), 'other');
  assert.equal(opInfo('NoSuchOp'), undefined);
  assert.equal(opInfo('constructor'), undefined, 'the registry has no prototype keys');
  const node = { name: 'n', opType: 'Relu', domain: 'com.example', inputs: [], outputs: [], attributes: [], docString: '' };
  assert.equal(nodeInfo(node), undefined);
});
