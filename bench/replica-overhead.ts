/**
 * What data-parallel training costs on top of its replicas' own work: googlenet-mini's step with the
 * trainer's default replicas (batch 64 over 2 threads: two 1-thread replicas of 32 examples) against one
 * 1-thread session running one replica's share (32 examples) alone, the floor the split step could reach.
 * The two are timed in alternating blocks of `--steps` steps in one process, so a drift of the host reaches
 * both. The split step is timed as the trainer pays for it: runner.run (sending the step, both replicas'
 * session.run, combining the outputs) plus the optimizer update in this thread; the lone session is timed
 * over session.run only.
 *
 * Why it exists (issue 13): before the parameters went through shared memory (src/train/step-worker.ts)
 * the split step cost 15.9 ms more than a replica alone (docs/training.md); this prints what is left.
 *
 * usage: npx tsx bench/replica-overhead.ts [--rounds 6] [--steps 15] [--batch 64] [--threads 2]
 */
import { parseArgs } from 'node:util';
import { formatTable } from '../src/util/format.js';
import { quantile } from '../src/util/stats.js';
import { fmtLoad, loadAverage } from './harness.js';
import { googlenetTraining, type GoogLeNetTraining } from './googlenet-training.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '6' }, steps: { type: 'string', default: '15' },
    batch: { type: 'string', default: '64' }, threads: { type: 'string', default: '2' },
  },
});
const rounds = Number(values.rounds);
const steps = Number(values.steps);
const B = Number(values.batch);
const threads = Number(values.threads);
for (const [flag, v] of [['--rounds', rounds], ['--steps', steps], ['--batch', B], ['--threads', threads]] as const) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${flag} must be a positive integer, got '${String(v)}'`);
}

const loadBefore = loadAverage();
const split = await googlenetTraining({ batch: B, threads });
const share = Math.ceil(B / split.replicas);
/** Intra-op threads of each replica, as the step runner gives them. */
const replicaThreads = Math.max(1, Math.floor(threads / split.replicas));
const alone = await googlenetTraining({ batch: share, threads: replicaThreads, replicas: 1 });

/** ms per step over one block, after `warm` untimed steps (every block: the other configuration ran in between). */
async function block(t: GoogLeNetTraining, batch: number, withUpdate: boolean, warm = 3): Promise<number> {
  const feeds = t.feeds();
  for (let i = 0; i < warm; i++) await t.session.run(feeds, batch);
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const out = await t.session.run(t.feeds(), batch);
    if (withUpdate) t.update(out);
  }
  return (performance.now() - t0) / steps;
}

const splitMs: number[] = [];
const aloneMs: number[] = [];
for (let r = 0; r < rounds; r++) {
  splitMs.push(await block(split, B, true));
  aloneMs.push(await block(alone, share, false));
}
await split.session.release();
await alone.session.release();

const med = (xs: number[]): number => quantile(xs, 0.5);
const over = splitMs.map((s, i) => s - (aloneMs[i] as number));
console.log(`googlenet-mini training, batch ${B}, ${threads} threads; ${rounds} rounds of ${steps} steps; load average ${fmtLoad(loadBefore)} before, ${fmtLoad(loadAverage())} after`);
console.log(formatTable(['configuration', 'median ms/step', 'range over rounds', 'images/s'], [
  [`${split.replicas} replicas x ${replicaThreads} thread, batch ${B} (step + update)`, med(splitMs).toFixed(1), `${Math.min(...splitMs).toFixed(1)}-${Math.max(...splitMs).toFixed(1)}`, (B / med(splitMs) * 1000).toFixed(0)],
  [`one replica's share alone: 1 session, batch ${share} (session.run)`, med(aloneMs).toFixed(1), `${Math.min(...aloneMs).toFixed(1)}-${Math.max(...aloneMs).toFixed(1)}`, (share / med(aloneMs) * 1000).toFixed(0)],
]));
console.log(`overhead of the split step over a replica alone: median ${med(over).toFixed(1)} ms/step (${(100 * med(over) / med(aloneMs)).toFixed(0)}%), paired by round`);
