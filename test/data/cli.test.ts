// The CLI on the user's own data: eval on a folder (JSON counts, HTML confusion table), the --data plumbing of
// train and merge (label-free distillation, metadata recorded in the written model), and one-line errors.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { rebirth, rebirthAsync, expectOneLineError } from '../cli/run.js';
import { loadFashionMnist, FASHION_MNIST_DEFAULT_DIR } from '../../src/data/fashion-mnist.js';
import { writeImageFolder } from '../../src/data/export.js';
import { sliceDataset } from '../../src/data/dataset.js';
import { loadModel } from '../../src/onnx/file.js';
import { readDataInfo } from '../../src/data/preprocess.js';
import { teacherPath } from '../../src/util/paths.js';
import { brokenJpeg, imageFolder, tempDir, writeImage } from './images.js';

const skip = !fs.existsSync(FASHION_MNIST_DEFAULT_DIR);
// The teacher-logit cache of the commands run here goes to a temporary folder, not the user's ~/.cache.
process.env.XDG_CACHE_HOME = tempDir('rebirth-cli-cache-');
const teacher = teacherPath();
let root = '';
let labeled = '';

before(async () => {
  if (skip) return;
  root = tempDir('rebirth-cli-data-');
  // 120 Fashion-MNIST test images as class folders, plus one truncated JPEG (1 of 121: under 1%).
  labeled = path.join(root, 'labeled');
  await writeImageFolder(loadFashionMnist({ split: 'test', limit: 120 }), labeled);
  await brokenJpeg(path.join(labeled, '3_Dress', 'broken.jpg'));
  // The same kind of images without labels: a flat folder (train split images 0..63).
  const train = sliceDataset(loadFashionMnist({ split: 'train', limit: 64 }), 0, 64);
  const tmp = path.join(root, 'train-as-classes');
  await writeImageFolder(train, tmp);
  fs.mkdirSync(path.join(root, 'unlabeled'));
  for (const cls of fs.readdirSync(tmp)) for (const f of fs.readdirSync(path.join(tmp, cls))) fs.renameSync(path.join(tmp, cls, f), path.join(root, 'unlabeled', f));
});

void describe('rebirth eval --data DIR', { skip }, () => {
  void test('JSON counts the skipped file; --html writes the confusion table', () => {
    const html = path.join(root, 'eval.html');
    const r = rebirth('eval', teacher, '--data', labeled, '--html', html, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { top1: number; samples: number; skipped: { count: number; files: Array<{ file: string }> }; perClass: Array<{ name: string }> };
    assert.equal(out.samples, 120);
    assert.equal(out.skipped.count, 1);
    assert.match(out.skipped.files[0]?.file ?? '', /broken\.jpg$/);
    assert.ok(out.top1 > 0.8, `googlenet-mini on its own test images: ${out.top1}`);
    assert.equal(out.perClass[9]?.name, '9_Ankle-boot');
    assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('warning: skipped')).length, 1, 'one warning naming the file');
    const page = fs.readFileSync(html, 'utf8');
    assert.match(page, /Confusion table/);
    assert.match(page, /9_Ankle-boot/);
  });

  void test('bad input: one-line errors naming the path', async () => {
    const empty = tempDir();
    const noImages = tempDir();
    fs.writeFileSync(path.join(noImages, 'readme.txt'), 'x');
    const split = tempDir();
    await imageFolder(path.join(split, 'train'), ['a', 'b'], 1, 'grey-png', [28, 28]);
    await imageFolder(path.join(split, 'val'), ['a', 'c'], 1, 'grey-png', [28, 28]);
    const many = await imageFolder(tempDir(), Array.from({ length: 11 }, (_, i) => `c${String(i).padStart(2, '0')}`), 1, 'grey-png', [28, 28]);
    const link = await imageFolder(tempDir(), ['a'], 2, 'grey-png', [28, 28]);
    fs.symlinkSync('/nonexistent.png', path.join(link, 'a', 'gone.png'));
    // 153 files, 3 corrupt: the first is tolerated (1 <= 1.53), the second crosses 1%.
    const bad = await imageFolder(tempDir(), ['a'], 150, 'grey-png', [28, 28]);
    for (let i = 0; i < 3; i++) fs.writeFileSync(path.join(bad, 'a', `corrupt${i}.png`), 'garbage');
    const flat = tempDir();
    await writeImage(path.join(flat, 'x.png'), 28, 28, 'grey-png');
    const cases: Array<[string[], RegExp]> = [
      [['--data', empty], /--data .* is empty: put images in/],
      [['--data', noImages], /holds no images \(\.jpg/],
      [['--data', split], /have different class folders \('b' only in .*train; 'c' only in .*val\)/],
      [['--data', many], /has 11 classes but the model outputs 10/],
      [['--data', link], /cannot read .*gone\.png: no such file \(a broken link\?\)/],
      [['--data', flat], /is unlabeled \(no class folders\): evaluation needs labels/],
      [['--data', labeled, '--preprocess', 'nope'], /--preprocess nope: not a preset/],
    ];
    const results = await Promise.all(cases.map(([a]) => rebirthAsync('eval', teacher, ...a)));
    results.forEach((r, i) => expectOneLineError(r, cases[i]?.[1] ?? /./));
    const tooMany = await rebirthAsync('eval', teacher, '--data', bad);
    assert.notEqual(tooMany.code, 0);
    const lines = tooMany.stderr.trim().split('\n').filter((l) => !l.startsWith('evaluating'));
    assert.match(lines[0] ?? '', /^warning: skipped .*corrupt0\.png: cannot decode it/);
    assert.match(lines[1] ?? '', /^rebirth: 2 of 153 images in .* cannot be decoded, more than 1%: .*corrupt0\.png \(.*\), .*corrupt1\.png \(.*\); repair or remove them$/);
    assert.equal(lines.length, 2);
  });
});

void describe('--data plumbing of train and merge', { skip }, () => {
  void test('train on an image folder (2 data-parallel replicas, a validation split) records preprocessing and class names in the model', () => {
    const out = path.join(root, 'trained.onnx');
    const r = rebirth('train', teacher, '--data', labeled, '--epochs', '1', '--batch', '32', '--lr', '0.001', '--replicas', '2', '--validation', '30', '-o', out, '--json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { validation: number; history: Array<{ validation?: { top1: number }; eval?: { top1: number } }> };
    assert.equal(report.validation, 30);
    assert.ok(report.history.every((h) => h.validation !== undefined && h.eval !== undefined), 'both evaluated');
    const info = readDataInfo(loadModel(out));
    assert.equal(info.preprocess?.divide, 255);
    assert.equal(info.classNames?.[0], '0_T-shirt-top');
    assert.match(r.stderr, /no train\/ and val\/ split and no --eval-data was given/);
  });

  void test('merge --retrain distill on an unlabeled folder with --eval-data', () => {
    const cache = path.join(process.env.XDG_CACHE_HOME ?? '', 'rebirth', 'teacher-logits');
    const out = path.join(root, 'merged.onnx');
    const r = rebirth('merge', teacher, '-o', out, '--retrain', 'distill', '--data', path.join(root, 'unlabeled'), '--eval-data', labeled,
      '--epochs', '1', '--runs', '2', '--json');
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { accuracy: { before: number; after: number } };
    assert.ok(report.accuracy.before > 0.8 && report.accuracy.after > 0);
    assert.deepEqual(readDataInfo(loadModel(out)).classNames?.length, 10, 'class names from the evaluation folder');
    const keys = fs.readdirSync(cache).filter((f) => f.endsWith('.keys'));
    assert.equal(keys.length, 1);
    assert.equal(fs.readFileSync(path.join(cache, keys[0] ?? ''), 'utf8').trim().split('\n').length, 64, 'teacher logits of the 64 images cached');
    const paper = rebirth('merge', teacher, '-o', path.join(root, 'paper.onnx'), '--retrain', 'paper', '--data', path.join(root, 'unlabeled'), '--eval-data', labeled, '--epochs', '0.1', '--runs', '1');
    expectOneLineError(paper, /unlabeled \(no class folders\): .*--retrain distill/);
  });
});
