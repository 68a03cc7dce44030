/**
 * Do two ORT sessions of the same model bytes run at the same speed? A/A pairs (bench/aa-decisions.ts)
 * keep identical copies more often than the decision rule's error rate allows when one session of a pair
 * is steadily faster than the other, whatever the model. This opens `--pairs` pairs of sessions of one
 * model (the copy created second), times each pair in `--rounds` interleaved rounds (order alternating,
 * as InterleavedTimer does), and prints per pair the median ratio first/second with its distribution-free
 * 95% interval (pairedInterval), then how many intervals exclude 1 and in which direction.
 * `--create-first-last` creates the "first" session second (decideFaster's order), to see whether an
 * advantage follows the creation order or the name.
 * usage: npx tsx bench/session-bias.ts [--model googlenet-mini] [--pairs 10] [--rounds 60] [--backend node|wasm] [--create-first-last]
 */
import { parseArgs } from 'node:util';
import * as os from 'node:os';
import { buildZooModel } from '../src/zoo/index.js';
import { encodeModel } from '../src/onnx/encode.js';
import { InterleavedTimer } from '../src/runtime/timing.js';
import { pairedInterval } from '../src/runtime/decide.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, pairs: { type: 'string' }, rounds: { type: 'string' }, backend: { type: 'string' }, 'create-first-last': { type: 'boolean' } } });
const name = values.model ?? 'googlenet-mini';
const pairs = Number(values.pairs ?? 10);
const rounds = Number(values.rounds ?? 60);
const backend = values.backend === 'wasm' ? 'wasm' : 'node';
const bytes = encodeModel(buildZooModel(name, { batch: 1 }));
const load = (): string => os.loadavg().map((v) => v.toFixed(2)).join(' ');
console.log(`session-bias: ${name} on ${backend}, 1 thread, ${pairs} pairs x ${rounds} rounds, "${values['create-first-last'] ? 'second' : 'first'}" created first; load average before ${load()}`);
let faster = 0;
let slower = 0;
for (let p = 0; p < pairs; p++) {
  const timer = await InterleavedTimer.open({ first: bytes, second: bytes.slice() }, { backend, threads: 1, ...(values['create-first-last'] ? { createLast: 'first' } : {}) });
  try {
    const t = await timer.rounds(rounds);
    const r = pairedInterval(t.wall[0] ?? [], t.wall[1] ?? [], { confidence: 0.95 });
    const [lo, hi] = r.interval;
    if (lo > 1) faster++;
    if (hi < 1) slower++;
    console.log(`pair ${p + 1}: first / second ${r.ratio.toFixed(3)}x [${lo.toFixed(3)}-${hi.toFixed(3)}]${lo > 1 ? '  second faster' : hi < 1 ? '  first faster' : ''}`);
  } finally {
    await timer.release();
  }
}
console.log(`${faster} of ${pairs} pairs: the second session faster (interval above 1); ${slower}: the first faster; load average after ${load()}`);
