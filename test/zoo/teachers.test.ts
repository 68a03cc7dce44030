/**
 * The committed Fashion-MNIST teachers: googlenet-mini's contract (input N x 1 x 28 x 28 of pixel/255,
 * ten logits out), the architecture of their zoo entry, and the test top-1 their training log reports,
 * recomputed on ORT over the whole test set (it is what every depth-compression figure is measured from).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModel } from '../../src/onnx/file.js';
import { loadFashionMnist } from '../../src/data/fashion-mnist.js';
import { evaluate } from '../../src/train/evaluate.js';
import { buildZooModel } from '../../src/zoo/index.js';
import { inspectModel } from '../../src/inspect/inspect.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const hasData = fs.existsSync('/usr/share/datasets/fashion-mnist');

for (const name of ['resnet-mini', 'mobilenetv2-mini'] as const) {
  test(`models/${name}.onnx: the zoo architecture, googlenet-mini's contract, and the top-1 of its log`, { skip: hasData ? false : 'Fashion-MNIST not installed' }, async () => {
    const file = path.join(root, 'models', `${name}.onnx`);
    const model = loadModel(file);
    const zoo = buildZooModel(name, { batch: 1 });
    const params = inspectModel(model).parameters;
    assert.ok(params > 100_000, `${params} parameters`);
    assert.equal(params, inspectModel(zoo).parameters, 'parameter count of the zoo entry');
    assert.deepEqual(model.graph.nodes.map((n) => n.opType), zoo.graph.nodes.map((n) => n.opType), 'the same layers in the same order');
    const input = model.graph.inputs.find((v) => !model.graph.initializers.has(v.name));
    assert.deepEqual(input?.shape?.slice(1), [1, 28, 28]);
    const log = fs.readFileSync(path.join(root, 'models', `${name}.train.txt`), 'utf8');
    const best = /best epoch (\d+): test top-1 ([\d.]+)%/.exec(log);
    assert.ok(best, 'the log names its best epoch');
    const top1 = Number(best[2]) / 100;
    assert.ok(top1 >= 0.93, `the issue asks for >= 93%, the log says ${best[2]}%`);
    const r = await evaluate(model, loadFashionMnist({ split: 'test' }), { threads: 1 });
    assert.ok(Math.abs(r.top1 - top1) < 0.0005, `ORT top-1 ${(100 * r.top1).toFixed(2)}% vs the log's ${best[2]}%`);
  });
}
