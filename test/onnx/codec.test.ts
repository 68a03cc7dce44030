import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProtoSchema } from '../../src/onnx/generated/onnx_pb.js';
import { decodeModel } from '../../src/onnx/decode.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { loadModel, saveModel } from '../../src/onnx/file.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { DataType, floatTensor, tensorToFloat32 } from '../../src/ir/tensor.js';
import { RebirthError } from '../../src/errors.js';
import type { Model } from '../../src/ir/graph.js';

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-codec-'));
}

function smallModel(): Model {
  const b = new GraphBuilder('g');
  const x = b.input('x', ['N', 2, 4, 4]);
  const w = b.initializer(floatTensor('w', [3, 2, 3, 3], Array.from({ length: 54 }, (_, i) => i / 10)));
  const y = b.op('Conv', [x, w], { pads: [1, 1, 1, 1] }, 'conv');
  const z = b.op('Relu', [y], {}, 'relu');
  b.output(z, ['N', 3, 4, 4]);
  return modelOf(b.graph);
}

test('a built model survives encode -> decode -> encode byte for byte', () => {
  const once = encodeModel(smallModel());
  const twice = encodeModel(decodeModel(once));
  assert.deepEqual(Buffer.from(twice), Buffer.from(once));
});

test('tensors in typed fields stay in typed fields, raw_data stays raw_data', () => {
  const m = create(ModelProtoSchema, {
    irVersion: 8n,
    opsetImport: [{ domain: '', version: 13n }],
    graph: {
      name: 'g',
      initializer: [
        create(TensorProtoSchema, { name: 'a', dims: [2n], dataType: DataType.FLOAT, floatData: [1.5, -2] }),
        create(TensorProtoSchema, { name: 'b', dims: [2n], dataType: DataType.INT64, int64Data: [7n, -9n] }),
        create(TensorProtoSchema, { name: 'c', dims: [2n], dataType: DataType.FLOAT16, int32Data: [0x3c00, 0xc000] }),
        create(TensorProtoSchema, { name: 'd', dims: [1n], dataType: DataType.FLOAT, rawData: new Uint8Array([0, 0, 128, 63]) }),
        create(TensorProtoSchema, { name: 'e', dims: [2n], dataType: DataType.STRING, stringData: [new Uint8Array([104, 105]), new Uint8Array()] }),
      ],
    },
  });
  const bytes = toBinary(ModelProtoSchema, m);
  const model = decodeModel(bytes);
  assert.deepEqual(Array.from(tensorToFloat32(model.graph.initializers.get('a')!)), [1.5, -2]);
  assert.deepEqual(Array.from(tensorToFloat32(model.graph.initializers.get('c')!)), [1, -2]);
  assert.equal(model.graph.initializers.get('d')!.storage, 'raw');
  const back = fromBinary(ModelProtoSchema, encodeModel(model));
  assert.ok(equals(ModelProtoSchema, fromBinary(ModelProtoSchema, bytes), back));
});

test('fields unknown to the schema (newer ONNX) pass through untouched', () => {
  const bytes = encodeModel(smallModel());
  // Field 26 (ModelProto.configuration, IR 11) as an empty length-delimited field: key 26<<3|2 = 0xd2 0x01.
  const withUnknown = new Uint8Array([...bytes, 0xd2, 0x01, 0x00]);
  const out = encodeModel(decodeModel(withUnknown));
  const unknown = fromBinary(ModelProtoSchema, out).$unknown ?? [];
  assert.equal(unknown.length, 1);
  assert.equal(unknown[0]?.no, 26);
});

test('subgraph attributes (If branches) round-trip', () => {
  const branch = (v: number): ReturnType<typeof smallModel>['graph'] => {
    const b = new GraphBuilder(`branch${v}`);
    const c = b.op('Constant', [], { value: floatTensor('c', [1], [v]) });
    b.output(c, [1]);
    return b.graph;
  };
  const b = new GraphBuilder('main');
  const cond = b.input('cond', [], DataType.BOOL);
  const y = b.op('If', [cond], { then_branch: branch(1), else_branch: branch(2) });
  b.output(y, [1]);
  const bytes = encodeModel(modelOf(b.graph));
  assert.deepEqual(Buffer.from(encodeModel(decodeModel(bytes))), Buffer.from(bytes));
});

test('saveModel writes external tensors beside the model and loadModel reads them back', () => {
  const dir = tmpDir();
  const m = smallModel();
  const w = m.graph.initializers.get('w')!;
  w.storage = 'external';
  saveModel(m, path.join(dir, 'm.onnx'));
  assert.ok(fs.existsSync(path.join(dir, 'm.onnx.data')));
  const back = loadModel(path.join(dir, 'm.onnx'));
  const w2 = back.graph.initializers.get('w')!;
  assert.equal(w2.storage, 'external');
  assert.deepEqual(Array.from(tensorToFloat32(w2)), Array.from(tensorToFloat32(w)));
  // A model moved without its data file names the missing file.
  fs.rmSync(path.join(dir, 'm.onnx.data'));
  assert.throws(() => loadModel(path.join(dir, 'm.onnx')), /external data file 'm.onnx.data'.*not found/);
});

test('saveModel is atomic and refuses to overwrite its input', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'm.onnx');
  saveModel(smallModel(), file);
  assert.throws(() => saveModel(smallModel(), file, { protect: [file] }), /refusing to overwrite the input model/);
  assert.deepEqual(fs.readdirSync(dir), ['m.onnx']);
  assert.throws(() => saveModel(smallModel(), path.join(dir, 'nope', 'x.onnx')), /directory .* does not exist/);
});

test('bad files give one-line errors naming the file', () => {
  const dir = tmpDir();
  const cases: Array<[string, Uint8Array | null, RegExp]> = [
    ['missing.onnx', null, /missing.onnx: no such file/],
    ['empty.onnx', new Uint8Array(), /empty.onnx is empty/],
    ['text.onnx', new TextEncoder().encode('hello, this is not a model\n'), /text.onnx is not (a valid ONNX file|an ONNX model)/],
    ['truncated.onnx', encodeModel(smallModel()).slice(0, 100), /truncated.onnx is not (a valid ONNX file|an ONNX model)/],
  ];
  for (const [name, bytes, re] of cases) {
    const f = path.join(dir, name);
    if (bytes) fs.writeFileSync(f, bytes);
    assert.throws(() => loadModel(f), (e: unknown) => e instanceof RebirthError && re.test(e.message) && !e.message.includes('\n'));
  }
  assert.throws(() => loadModel(dir), /is a directory/);
});
