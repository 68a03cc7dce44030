/**
 * The modern networks of the zoo: ResNet-18/34 and MobileNetV2 at 224 against torchvision 0.14 (layer
 * signatures and parameter counts from scripts/make-zoo-fixtures.py), and the Fashion-MNIST teachers
 * resnet-mini and mobilenetv2-mini (googlenet-mini's contract: data Nx1x28x28 in [0, 1], logits out).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Model } from '../../src/ir/graph.js';
import { getInt, getInts } from '../../src/ir/attributes.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { Session } from '../../src/runtime/session.js';
import { buildZooModel, countParameters, summarizeLayers, totalLayers, zooEntry } from '../../src/zoo/index.js';

interface TorchLayers {
  parameters: number;
  batchnorms: number;
  convs: Array<[number, number, number, number, number, number, number, boolean]>;
  linears: Array<[number, number, boolean]>;
}

function fixture(): Record<string, TorchLayers> {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    try {
      return (JSON.parse(readFileSync(join(dir, 'test', 'fixtures', 'zoo', 'torchvision-layers.json'), 'utf8')) as { models: Record<string, TorchLayers> }).models;
    } catch {
      if (dirname(dir) === dir) throw new Error('test/fixtures/zoo/torchvision-layers.json not found');
    }
  }
}

const lexicographic = (a: ReadonlyArray<number | boolean>, b: ReadonlyArray<number | boolean>): number => {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const d = Number(a[i]) - Number(b[i]);
    if (d !== 0) return d;
  }
  return a.length - b.length;
};

/** The fixture's signatures for our model: sorted convs, Gemms in order. */
function signatures(model: Model): { convs: Array<Array<number | boolean>>; linears: Array<Array<number | boolean>>; batchnorms: number } {
  const g = model.graph;
  const convs: Array<Array<number | boolean>> = [];
  const linears: Array<Array<number | boolean>> = [];
  for (const n of g.nodes) {
    const w = g.initializers.get(n.inputs[1] ?? '');
    if (n.opType === 'Conv' && w) {
      const pads = getInts(n, 'pads', [0, 0, 0, 0]);
      assert.ok(pads.every((p) => p === pads[0]), `${n.name}: symmetric padding`);
      convs.push([...w.dims, getInts(n, 'strides', [1, 1])[0] ?? 1, pads[0] ?? 0, getInt(n, 'group', 1), (n.inputs[2] ?? '') !== '']);
    }
    if (n.opType === 'Gemm' && w) linears.push([w.dims[0] ?? 0, w.dims[1] ?? 0, (n.inputs[2] ?? '') !== '']);
  }
  return { convs: convs.sort(lexicographic), linears, batchnorms: g.nodes.filter((n) => n.opType === 'BatchNormalization').length };
}

void describe('ResNet-18/34 and MobileNetV2 equal torchvision 0.14', () => {
  const torch = fixture();
  for (const [zoo, tv] of [['resnet18', 'resnet18'], ['resnet34', 'resnet34'], ['mobilenetv2', 'mobilenet_v2']] as const) {
    void it(`${zoo}: every conv and linear layer, the BatchNorms and ${torch[tv]?.parameters.toLocaleString('en-US')} parameters`, () => {
      const expected = torch[tv];
      assert.ok(expected);
      const model = buildZooModel(zoo, { batch: 1 });
      assert.equal(countParameters(model), expected.parameters);
      const ours = signatures(model);
      assert.deepEqual(ours.convs, [...expected.convs].sort(lexicographic));
      assert.deepEqual(ours.linears, expected.linears);
      assert.equal(ours.batchnorms, expected.batchnorms);
    });
  }

  void it('the published counts: 11,689,512, 21,797,672, 3,504,872', () => {
    assert.equal(countParameters(buildZooModel('resnet18')), 11_689_512);
    assert.equal(countParameters(buildZooModel('resnet34')), 21_797_672);
    assert.equal(countParameters(buildZooModel('mobilenetv2')), 3_504_872);
  });

  void it('mobilenetv2: ReLU6 as Clip(0, 6), residual Adds where stride 1 keeps the width, 300.8 M multiply-adds', async () => {
    const model = buildZooModel('mobilenetv2', { batch: 1, valueInfo: true });
    const ops = new Map<string, number>();
    for (const n of model.graph.nodes) ops.set(n.opType, (ops.get(n.opType) ?? 0) + 1);
    assert.equal(ops.get('Clip'), 35);
    assert.equal(ops.get('Add'), 10);
    assert.equal(totalLayers(summarizeLayers(model)).macs, 300_774_272);
    const session = await Session.create(encodeModel(model));
    try {
      const out = await session.run({ data: { type: 'float32', dims: [1, 3, 224, 224], data: new Float32Array(3 * 224 * 224).fill(0.5) } });
      assert.deepEqual(out.prob?.dims, [1, 1000]);
    } finally {
      await session.release();
    }
  });
});

void describe('resnet-mini and mobilenetv2-mini: googlenet-mini\'s contract', () => {
  for (const name of ['resnet-mini', 'mobilenetv2-mini']) {
    void it(`${name}: Nx1x28x28 in, logits Nx10 out, standardised inside, shapes as recorded, runs on ORT`, async () => {
      const model = buildZooModel(name, { valueInfo: true });
      const entry = zooEntry(name);
      assert.deepEqual(entry.input, { name: 'data', shape: [1, 28, 28] });
      assert.deepEqual(entry.output, { name: 'logits', kind: 'logits' });
      assert.deepEqual(model.graph.inputs[0]?.shape, ['N', 1, 28, 28]);
      assert.deepEqual(model.graph.outputs.map((o) => [o.name, o.shape]), [['logits', ['N', 10]]]);
      assert.deepEqual(model.graph.nodes.slice(0, 2).map((n) => n.opType), ['Sub', 'Div']);
      const totals = totalLayers(summarizeLayers(model));
      // googlenet-mini's scale: 264K parameters, 13.4 M multiply-adds.
      assert.ok(totals.params > 100_000 && totals.params < 300_000, `${totals.params} parameters`);
      assert.ok(totals.macs > 5e6 && totals.macs < 30e6, `${totals.macs} multiply-adds`);
      const g = { ...model.graph, outputs: [...model.graph.outputs, ...model.graph.valueInfo] };
      const session = await Session.create(encodeModel({ ...model, graph: g }));
      try {
        const x = Float32Array.from({ length: 2 * 784 }, (_, i) => ((i * 7919) % 256) / 255);
        const out = await session.run({ data: { type: 'float32', dims: [2, 1, 28, 28], data: x } });
        for (const v of model.graph.valueInfo) assert.deepEqual(out[v.name]?.dims, [2, ...(v.shape ?? []).slice(1)], v.name);
        const logits = out.logits;
        assert.ok(logits?.type === 'float32' && logits.data.every((v) => Number.isFinite(v)));
      } finally {
        await session.release();
      }
    });
  }

  void it('resnet-mini: 3 stages x 2 basic blocks (16, 32, 64), 1x1 stride-2 shortcuts on res3a and res4a', () => {
    const model = buildZooModel('resnet-mini');
    assert.equal(countParameters(model), 174_970);
    const names = new Set(model.graph.nodes.map((n) => n.name));
    for (const b of ['2a', '2b', '3a', '3b', '4a', '4b']) assert.ok(names.has(`res${b}`) && names.has(`res${b}_branch2b`), b);
    assert.deepEqual([...names].filter((n) => n.startsWith('res') && n.endsWith('_branch1')), ['res3a_branch1', 'res4a_branch1']);
  });

  void it('mobilenetv2-mini: 8 inverted residual blocks (16, 24, 32, 64), 4 residual Adds (blocks 3, 5, 6, 8), ReLU6', () => {
    const model = buildZooModel('mobilenetv2-mini');
    assert.equal(countParameters(model), 149_706);
    const ops = model.graph.nodes.map((n) => n.opType);
    assert.equal(ops.filter((o) => o === 'Add').length, 4);
    assert.equal(ops.filter((o) => o === 'Clip').length, 17);
    assert.ok(!ops.includes('Relu'));
  });
});
