// Preprocessing specs: presets, JSON validation, geometry (torchvision's conventions), pixel arithmetic,
// and the round trip through ONNX metadata_props.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  PRESETS, centerBox, loadClassNames, loadPreprocess, parsePreprocess, pixelsToTensor, planImage, randomResizedBox, readDataInfo,
  recordDataInfo, resolvePreprocess, shorterSideSize,
} from '../../src/data/preprocess.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { decodeModel } from '../../src/onnx/decode.js';
import { RebirthError } from '../../src/errors.js';
import { Random } from '../../src/util/random.js';
import { tempDir } from './images.js';

const rebirthError = (re: RegExp) => (e: unknown): boolean => e instanceof RebirthError && re.test(e.message) && !e.message.includes('\n');

void describe('specs', () => {
  void test('presets resolve for their usual models', () => {
    const imagenet = resolvePreprocess(PRESETS.imagenet, [3, 224, 224]);
    assert.equal(imagenet.resize, 256, 'torchvision: Resize(256) before CenterCrop(224)');
    assert.deepEqual(imagenet.crop, [224, 224]);
    const caffe = resolvePreprocess(PRESETS.caffe, [3, 224, 224]);
    assert.equal(caffe.resizeMode, 'square');
    assert.equal(caffe.channelOrder, 'bgr');
    const unit = resolvePreprocess(PRESETS.unit, [1, 28, 28]);
    assert.equal(unit.resize, 28, 'unit: no margin, a 28x28 image is used as it is');
  });

  void test('a file can start from a preset and override fields', () => {
    const dir = tempDir();
    const file = path.join(dir, 'p.json');
    fs.writeFileSync(file, JSON.stringify({ name: 'imagenet', resize: 288 }));
    const spec = loadPreprocess(file);
    assert.equal(spec.resize, 288);
    assert.deepEqual(spec.mean, [0.485, 0.456, 0.406]);
  });

  void test('bad specs are one-line errors naming the field and the file', () => {
    assert.throws(() => parsePreprocess({ divide: 255, meen: [0] }, 'p.json'), rebirthError(/p\.json: unknown field 'meen'/));
    assert.throws(() => parsePreprocess({ mean: [0] }, 'p.json'), rebirthError(/'divide' is missing/));
    assert.throws(() => parsePreprocess({ divide: 255, std: [0] }, 'p.json'), rebirthError(/'std' must not contain 0/));
    assert.throws(() => parsePreprocess({ divide: 255, train: { scale: [0.5, 2] } }, 'p.json'), rebirthError(/train\.scale/));
    assert.throws(() => parsePreprocess({ divide: 255, channelOrder: 'rbg' }, 'p.json'), rebirthError(/channelOrder.*rgb, bgr/));
    assert.throws(() => loadPreprocess('imagenette'), rebirthError(/--preprocess imagenette: not a preset \(unit, imagenet, caffe\)/));
    assert.throws(() => loadPreprocess('/nonexistent/p.json'), rebirthError(/cannot read it/));
    assert.throws(() => resolvePreprocess(PRESETS.imagenet, [1, 28, 28]), rebirthError(/'mean' has 3 values for a 1-channel model/));
    assert.throws(() => resolvePreprocess({ ...PRESETS.unit, crop: [32, 32] }, [1, 28, 28]), rebirthError(/crop 32x32 differs from the model's input 28x28/));
    assert.throws(() => resolvePreprocess(PRESETS.unit, [4, 28, 28]), rebirthError(/takes 4 channels/));
  });

  void test('class name files: lines or a JSON array, no duplicates', () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, 'a.txt'), 'cat\n\ndog\r\nbird\n');
    assert.deepEqual(loadClassNames(path.join(dir, 'a.txt')), ['cat', 'dog', 'bird']);
    fs.writeFileSync(path.join(dir, 'b.json'), '["x", "y"]');
    assert.deepEqual(loadClassNames(path.join(dir, 'b.json')), ['x', 'y']);
    fs.writeFileSync(path.join(dir, 'c.txt'), 'x\nx\n');
    assert.throws(() => loadClassNames(path.join(dir, 'c.txt')), rebirthError(/lists 'x' twice/));
  });
});

void describe('geometry', () => {
  void test('resize of the shorter side truncates the long side, as torchvision', () => {
    assert.deepEqual(shorterSideSize(500, 375, 256), [341, 256]); // int(256 * 500 / 375) = 341
    assert.deepEqual(shorterSideSize(375, 500, 256), [256, 341]);
    assert.deepEqual(centerBox(341, 256, 224, 224), { left: 59, top: 16, width: 224, height: 224 }); // round(58.5) = 59 (JS rounds half up)
  });

  void test('evaluation plan: resize then centre crop; training plans are deterministic per draw', () => {
    const p = resolvePreprocess(PRESETS.imagenet, [3, 224, 224]);
    const plan = planImage(p, 500, 375);
    assert.deepEqual(plan.resize, [341, 256]);
    assert.equal(plan.crop.width, 224);
    assert.equal(plan.flip, false);
    const a = planImage(p, 500, 375, { seed: 5, flip: true });
    const b = planImage(p, 500, 375, { seed: 5, flip: true });
    assert.deepEqual(a, b);
    assert.ok(a.region && a.region.left + a.region.width <= 500 && a.region.top + a.region.height <= 375);
    assert.deepEqual(a.resize, [224, 224]);
    assert.equal(a.flip, true);
  });

  void test('random resized crops stay inside, cover the area range, and fall back to the centre', () => {
    const rng = new Random(3);
    for (let i = 0; i < 200; i++) {
      const box = randomResizedBox(64, 48, [0.08, 1], [3 / 4, 4 / 3], rng);
      assert.ok(box.left >= 0 && box.top >= 0 && box.left + box.width <= 64 && box.top + box.height <= 48);
      const area = (box.width * box.height) / (64 * 48);
      assert.ok(area > 0.05 && area <= 1.05, `area fraction ${area}`);
    }
    // A 100x10 strip cannot hold any box of ratio <= 4/3 and area >= 90%: the fallback clamps the ratio.
    const strip = randomResizedBox(100, 10, [0.9, 1], [3 / 4, 4 / 3], new Random(1));
    assert.deepEqual(strip, { left: 43, top: 0, width: 13, height: 10 });
  });
});

void describe('pixels', () => {
  void test('unit divides by 255 exactly; mean/std per channel; BGR reverses the channels', () => {
    const unit = resolvePreprocess(PRESETS.unit, [1, 1, 2]);
    const out = new Float32Array(2);
    pixelsToTensor(Uint8Array.of(7, 255), 1, unit, out);
    assert.deepEqual([...out], [Math.fround(7 / 255), 1]);
    const caffe = resolvePreprocess({ ...PRESETS.caffe, resize: 2 }, [3, 1, 1]);
    const rgb = new Float32Array(3);
    pixelsToTensor(Uint8Array.of(200, 100, 50), 3, caffe, rgb);
    assert.deepEqual([...rgb], [50 - 104, 100 - 117, 200 - 123], 'B, G, R minus the BGR mean pixel');
    const imagenet = resolvePreprocess(PRESETS.imagenet, [3, 1, 1]);
    pixelsToTensor(Uint8Array.of(255, 0, 128), 3, { ...imagenet, resize: 1 }, rgb);
    assert.ok(Math.abs((rgb[0] ?? 0) - (1 - 0.485) / 0.229) < 1e-6);
  });

  void test('colour to one channel uses PIL convert("L") luma; grey to three channels repeats it', () => {
    const grey = resolvePreprocess(PRESETS.unit, [1, 1, 2]);
    const out = new Float32Array(2);
    pixelsToTensor(Uint8Array.of(255, 0, 0, 100, 150, 200), 3, grey, out);
    assert.deepEqual([...out].map((v) => Math.round(v * 255)), [76, 141], 'PIL: L = R*299/1000 + G*587/1000 + B*114/1000');
    const rgb = resolvePreprocess(PRESETS.unit, [3, 1, 1]);
    const three = new Float32Array(3);
    pixelsToTensor(Uint8Array.of(51), 1, rgb, three);
    assert.deepEqual([...three], [0.2, 0.2, 0.2].map((v) => Math.fround(v)));
  });
});

void test('preprocessing and class names round-trip through ONNX metadata_props', () => {
  const b = new GraphBuilder('m');
  const x = b.input('data', ['N', 3, 8, 8]);
  b.output(b.op('Relu', [x]), ['N', 3, 8, 8]);
  const model = modelOf(b.graph);
  recordDataInfo(model, { preprocess: resolvePreprocess(PRESETS.imagenet, [3, 8, 8]), classNames: ['a', 'b/c'] });
  recordDataInfo(model, { classNames: ['a', 'b'] }); // replaces, does not duplicate
  const back = decodeModel(encodeModel(model));
  const info = readDataInfo(back);
  assert.deepEqual(info.classNames, ['a', 'b']);
  assert.deepEqual(info.preprocess?.mean, [0.485, 0.456, 0.406]);
  assert.deepEqual(info.preprocess?.crop, [8, 8]);
  assert.equal(back.metadata.filter((m) => m.key === 'rebirth.classes').length, 1);
  back.metadata.push({ key: 'rebirth.preprocess', value: '{' });
  back.metadata.splice(back.metadata.findIndex((m) => m.key === 'rebirth.preprocess'), 1);
  assert.throws(() => readDataInfo(back, 'm.onnx'), rebirthError(/m\.onnx: metadata 'rebirth\.preprocess' is not valid JSON/));
});
