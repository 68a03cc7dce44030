/**
 * Polish epochs alone: fine-tune a merged network (what `bench/shrink.ts --save DIR` or `rebirth shrink`
 * wrote) in its merged form by distillation from its teacher, as shrinkAndRetrain's `polish` does after
 * the merge, and print the test top-1 before and after every epoch. It studies the polish length and
 * rate on one retrained network without rerunning the whole retraining.
 * usage: npx tsx bench/polish.ts MERGED.onnx TEACHER.onnx [--epochs 3] [--lr LR (default: the polish's, 0.001)] [--seed 1] [--threads 2] [--out FILE]
 *   TEACHER is the original network (e.g. models/mobilenetv2-mini.onnx); data: Fashion-MNIST, all of it.
 */
import { parseArgs } from 'node:util';
import * as os from 'node:os';
import { loadModel, saveModel } from '../src/onnx/file.js';
import { loadFashionMnist } from '../src/data/fashion-mnist.js';
import { evaluate } from '../src/train/evaluate.js';
import { finetune } from '../src/train/finetune.js';
import { polishRate, shrinkDistillation } from '../src/pipeline/shrink-retrain.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { epochs: { type: 'string' }, lr: { type: 'string' }, seed: { type: 'string' }, threads: { type: 'string' }, out: { type: 'string' } },
});
const [studentFile, teacherFile] = positionals;
if (!studentFile || !teacherFile) throw new Error('usage: npx tsx bench/polish.ts MERGED.onnx TEACHER.onnx [--epochs 3] [--lr LR] [--seed 1] [--threads 2] [--out FILE]');
const epochs = Number(values.epochs ?? 3);
const seed = Number(values.seed ?? 1);
const threads = Number(values.threads ?? 2);
const load = (): string => os.loadavg().map((v) => v.toFixed(2)).join(', ');
const student = loadModel(studentFile);
const teacher = loadModel(teacherFile);
const train = loadFashionMnist({ split: 'train' });
const test = loadFashionMnist({ split: 'test' });
const pt = (top1: number): string => `${(100 * top1).toFixed(2)}% (${(100 * (top1 - teacherTop1)).toFixed(2)} pt)`;
// shrinkAndRetrain's polish: its distillation recipe at its polish rate unless --lr is given.
const recipe = shrinkDistillation(teacher, train, {
  test, seed, threads, progress: false,
  onEpoch: (h) => process.stdout.write(`epoch ${h.epoch}: loss ${h.loss.toFixed(4)}, test top-1 ${h.eval ? pt(h.eval.top1) : 'n/a'}, ${h.imagesPerSecond.toFixed(0)} img/s\n`),
});
const lr = values.lr !== undefined ? Number(values.lr) : polishRate(recipe.lr);
process.stdout.write(`bench/polish: ${studentFile} from ${teacherFile}, ${epochs} epochs at lr ${lr} (shrinkAndRetrain's polish recipe), seed ${seed}, ${threads} threads; load average ${load()}\n`);
const teacherTop1 = (await evaluate(teacher, test, { threads })).top1;
const before = (await evaluate(student, test, { threads })).top1;
process.stdout.write(`teacher ${(100 * teacherTop1).toFixed(2)}%; merged network before polishing ${pt(before)}\n`);
const r = await finetune(student, { ...recipe, epochs, lr });
const last = r.history.at(-1)?.eval?.top1 ?? NaN;
const best = r.history[r.bestEpoch - 1]?.eval?.top1 ?? NaN;
process.stdout.write(`last epoch ${pt(last)}; best epoch (${r.bestEpoch}, chosen on the test set, as finetune does without a validation split) ${pt(best)}; load average ${load()}\n`);
if (values.out) saveModel(r.model, values.out);
