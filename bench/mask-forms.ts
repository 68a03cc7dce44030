/**
 * ReLU's backward, dy masked by y > 0, in the forms an ONNX training graph can write, on googlenet-mini-sized
 * tensors (batch 64): Where(Greater(y, 0), dy, 0) (the form before Session 12), Cast(Greater(y, 0)) * dy
 * (GradForms.mask 'cast', the default), Sign(y) * dy. All forms and shapes interleaved round by round in one
 * process; per form the median and minimum of the per-round means. Compare the printed times with each other.
 * usage: npx tsx bench/mask-forms.ts [--threads 1] [--rounds 15]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { GraphBuilder, modelOf } from '../src/ir/builder.js';
import { floatTensor } from '../src/ir/tensor.js';
import { encodeModel } from '../src/onnx/encode.js';
import { Session } from '../src/runtime/session.js';

const { values } = parseArgs({ options: { threads: { type: 'string' }, rounds: { type: 'string' } } });
const threads = Number(values.threads ?? 1);
const rounds = Number(values.rounds ?? 15);
const runsPerRound = 20;
const shapes: number[][] = [[64, 96, 14, 14], [64, 32, 28, 28], [64, 16, 7, 7]];
type Build = (b: GraphBuilder, y: string, dy: string) => string;
const zero = (b: GraphBuilder, name: string): string => b.initializer(floatTensor(name, [], [0]));
const forms: [string, Build][] = [
  ['Where(y > 0, dy, 0)', (b, y, dy) => b.op('Where', [b.op('Greater', [y, zero(b, 'z')]), dy, zero(b, 'z2')])],
  ['Cast(y > 0) * dy', (b, y, dy) => b.op('Mul', [b.op('Cast', [b.op('Greater', [y, zero(b, 'z')])], { to: 1 }), dy])],
  ['Sign(y) * dy', (b, y, dy) => b.op('Mul', [b.op('Sign', [y]), dy])],
];
const count = (s: readonly number[]): number => s.reduce((a, c) => a * c, 1);
const cases: { key: string; s: Session; feeds: Parameters<Session['run']>[0] }[] = [];
for (const shape of shapes) {
  // Half the activations dead, as after a ReLU on centred pre-activations.
  const y = new Float32Array(count(shape)).map(() => Math.max(0, Math.random() - 0.5));
  const dy = new Float32Array(count(shape)).map(() => Math.random() - 0.5);
  for (const [name, build] of forms) {
    const b = new GraphBuilder('mask');
    b.output(build(b, b.input('y', shape), b.input('dy', shape)));
    const s = await Session.create(encodeModel(modelOf(b.graph, 17)), { threads });
    cases.push({ key: `${shape.join('x')}  ${name}`, s, feeds: { y: { type: 'float32', dims: shape, data: y }, dy: { type: 'float32', dims: shape, data: dy } } });
  }
}
const loadBefore = os.loadavg()[0]?.toFixed(2);
const times = new Map<string, number[]>();
for (let round = 0; round < rounds; round++) {
  for (const { key, s, feeds } of round % 2 === 0 ? cases : [...cases].reverse()) {
    await s.run(feeds);
    const t0 = performance.now();
    for (let i = 0; i < runsPerRound; i++) await s.run(feeds);
    times.set(key, [...(times.get(key) ?? []), (performance.now() - t0) / runsPerRound]);
  }
}
console.log(`${threads} thread(s), ${rounds} rounds of ${runsPerRound} runs (ms per run, including ORT's input and output copies)`);
for (const [key, t] of times) {
  const sorted = [...t].sort((a, b) => a - b);
  console.log(`${key.padEnd(44)} median ${(sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(3)}  min ${(sorted[0] ?? 0).toFixed(3)}`);
}
console.log(`load average before ${loadBefore}, after ${os.loadavg()[0]?.toFixed(2)}`);
for (const { s } of cases) await s.release();
