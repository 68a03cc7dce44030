// `rebirth demo --model MODEL --data DIR`: the whole pipeline on the user's model and images, here
// googlenet-mini with Fashion-MNIST written as an unlabeled folder (training) and a labeled one (evaluation).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runDemo } from '../../src/pipeline/demo.js';
import { loadFashionMnist, FASHION_MNIST_DEFAULT_DIR } from '../../src/data/fashion-mnist.js';
import { writeImageFolder } from '../../src/data/export.js';
import { readDataInfo } from '../../src/data/preprocess.js';
import { loadModel } from '../../src/onnx/file.js';
import { teacherPath } from '../../src/util/paths.js';
import { tempDir } from './images.js';

test('demo on an unlabeled training folder with a labeled evaluation folder', { skip: !fs.existsSync(FASHION_MNIST_DEFAULT_DIR) }, async () => {
  const root = tempDir('rebirth-demo-assets-');
  const classes = path.join(root, 'train-classes');
  await writeImageFolder(loadFashionMnist({ split: 'train', limit: 192 }), classes);
  const unlabeled = path.join(root, 'unlabeled');
  fs.mkdirSync(unlabeled);
  for (const c of fs.readdirSync(classes)) for (const f of fs.readdirSync(path.join(classes, c))) fs.renameSync(path.join(classes, c, f), path.join(unlabeled, f));
  const evalDir = path.join(root, 'test');
  await writeImageFolder(loadFashionMnist({ split: 'test', limit: 192 }), evalDir);
  const outDir = path.join(root, 'out');
  process.env.XDG_CACHE_HOME = path.join(root, 'cache'); // the teacher-logit cache, not the user's ~/.cache
  const lines: string[] = [];
  const s = await runDemo({ outDir, teacher: teacherPath(), data: unlabeled, evalData: evalDir, epochs: 1, runs: 2, googlenet: false, log: (l) => lines.push(l) });
  assert.deepEqual(s.data, { train: unlabeled, test: evalDir });
  assert.ok(s.accuracy.teacher > 0.8 && s.accuracy.merged > 0.1, `teacher ${s.accuracy.teacher}, merged ${s.accuracy.merged}`);
  assert.equal(s.skipped.count, 0);
  assert.equal(path.basename(s.output), 'googlenet-mini-rebirth.onnx');
  assert.equal(readDataInfo(loadModel(s.output)).classNames?.[1], '1_Trouser');
  const html = fs.readFileSync(s.report, 'utf8');
  assert.match(html, /Confusion table: merged model on /);
  assert.match(html, /Table 2 analogue/);
});
