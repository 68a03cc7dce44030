/**
 * The planner's search with a fake timer: latency is a function of the applied candidates and every
 * decision goes through the real adaptive rule, so these check what the search keeps, not timing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PlanSearch, type CandidateOutcome } from '../../src/plan/search.js';
import { applyPatch } from '../../src/plan/candidate.js';
import { RebirthError } from '../../src/errors.js';
import { chainModel, fakeCandidate, fakeTimer } from './helpers.js';

const byName = (outcomes: CandidateOutcome[]): Map<string, CandidateOutcome> => new Map(outcomes.map((o) => [o.name, o]));

test('keeps what pays in context and leaves what does not (slower, or no gain)', async () => {
  const base = chainModel(3);
  const cands = [await fakeCandidate(base, { name: 'A', node: 'r1' }), await fakeCandidate(base, { name: 'B', node: 'r2' }), await fakeCandidate(base, { name: 'C', node: 'r3' })];
  const timer = fakeTimer((s) => 100 - (s.has('A') ? 20 : 0) + (s.has('B') ? 5 : 0));
  const search = new PlanSearch(base, { measure: timer.measure });
  const out = byName(await search.runStage('fake', cands));
  assert.deepEqual(search.current.applied, ['A']);
  assert.equal(out.get('A')?.status, 'kept');
  assert.ok((out.get('A')?.gain?.ratio ?? 0) > 1.2, 'A measured 100 -> 80 ms');
  assert.equal(out.get('B')?.status, 'left');
  assert.match(out.get('B')?.why ?? '', /does not pay on top of A: left: slower/);
  assert.equal(out.get('C')?.status, 'left');
  assert.match(out.get('C')?.why ?? '', /does not pay/);
  const model = search.current.model;
  assert.deepEqual(model.graph.nodes.map((n) => n.opType), ['Sigmoid', 'Relu', 'Relu']);
});

test('two candidates that each pay alone but not together: the second is measured with the first applied and left', async () => {
  const base = chainModel(2);
  const cands = [await fakeCandidate(base, { name: 'A', node: 'r1' }), await fakeCandidate(base, { name: 'B', node: 'r2', retrainParams: 5 })];
  // Alone each saves 20 ms; together they interfere and the model is as slow as the original.
  const latency = (s: ReadonlySet<string>): number => (s.has('A') && s.has('B') ? 100 : s.has('A') || s.has('B') ? 80 : 100);
  const alone = fakeTimer(latency);
  const one = await alone.measure({ applied: [], model: base }, { applied: ['A'], model: base });
  const two = await alone.measure({ applied: [], model: base }, { applied: ['B'], model: base });
  assert.ok(one.keep && two.keep, 'one at a time, against the original, both pay (and a one-at-a-time greedy would keep both)');
  const timer = fakeTimer(latency);
  const search = new PlanSearch(base, { measure: timer.measure });
  const out = byName(await search.runStage('fake', cands));
  assert.deepEqual(search.current.applied, ['A']);
  assert.equal(out.get('B')?.status, 'left');
  assert.match(out.get('B')?.why ?? '', /on top of A/);
  const final = await search.confirm();
  assert.ok(final && final.ratio > 1.2, 'the plan keeps the 20% gain instead of losing it');
});

test('backward elimination drops a change a later one made redundant', async () => {
  const base = chainModel(2);
  const cands = [await fakeCandidate(base, { name: 'A', node: 'r1', retrainParams: 1 }), await fakeCandidate(base, { name: 'B', node: 'r2', retrainParams: 2 })];
  // A saves 10% of the original; B brings the model to 60 ms whether or not A is applied.
  const timer = fakeTimer((s) => (s.has('B') ? 60 : s.has('A') ? 90 : 100));
  const search = new PlanSearch(base, { measure: timer.measure });
  const out = byName(await search.runStage('fake', cands));
  assert.deepEqual(search.current.applied, ['B']);
  assert.equal(out.get('A')?.status, 'left');
  assert.match(out.get('A')?.why ?? '', /kept at first, then left: with B it no longer pays/);
  assert.equal(out.get('A')?.gain?.phase, 'backward');
  assert.equal(out.get('B')?.status, 'kept');
  assert.ok(timer.calls.some((c) => c.baseline.join() === 'B' && c.candidate.join() === 'A,B'), 'A was timed as the plan against the plan without it');
});

test('a site keeps its least severe alternative unless a more severe one is measurably faster head to head; with a budget the first that pays', async () => {
  const base = chainModel(1);
  const alternatives = async (): Promise<Awaited<ReturnType<typeof fakeCandidate>>[]> => [
    await fakeCandidate(base, { name: 'blk@cover', node: 'r1', site: 'blk', variant: 'cover', severity: 0 }),
    await fakeCandidate(base, { name: 'blk@keep', node: 'r1', site: 'blk', variant: 'keep', severity: 1 }),
  ];
  const latency = (s: ReadonlySet<string>): number => (s.has('blk@keep') ? 70 : s.has('blk@cover') ? 80 : 100);
  const free = new PlanSearch(base, { measure: fakeTimer(latency).measure });
  const outFree = byName(await free.runStage('fake', await alternatives()));
  assert.deepEqual(free.current.applied, ['blk@keep']);
  assert.match(outFree.get('blk@cover')?.why ?? '', /keep was taken at blk instead/);
  assert.match(outFree.get('blk@keep')?.why ?? '', /against a less severe alternative/);
  assert.equal(outFree.get('blk@keep')?.measurements.at(-1)?.phase, 'head-to-head');

  // A more severe alternative that is not measurably faster than the less severe one is not taken.
  const close = new PlanSearch(base, { measure: fakeTimer((s) => (s.has('blk@keep') ? 79.9 : s.has('blk@cover') ? 80 : 100)).measure });
  const outClose = byName(await close.runStage('fake', await alternatives()));
  assert.deepEqual(close.current.applied, ['blk@cover']);
  assert.match(outClose.get('blk@keep')?.why ?? '', /cover was taken at blk instead .* head to head: not measurably faster/);

  const timer = fakeTimer(latency);
  const budgeted = new PlanSearch(base, { measure: timer.measure, budget: { speedup: 1.2 } });
  const outBudget = byName(await budgeted.runStage('fake', await alternatives()));
  assert.deepEqual(budgeted.current.applied, ['blk@cover']);
  assert.match(outBudget.get('blk@keep')?.why ?? '', /not tried: cover at blk paid first/);
  assert.ok(budgeted.reachedBudget);
});

test('exact changes are measured first, then the ones that retrain fewer parameters', async () => {
  const base = chainModel(4);
  const cands = [
    await fakeCandidate(base, { name: 'big', node: 'r1', retrainParams: 1000 }),
    await fakeCandidate(base, { name: 'small', node: 'r2', retrainParams: 10 }),
    await fakeCandidate(base, { name: 'exact2', node: 'r3', exactness: 'exact' }),
    await fakeCandidate(base, { name: 'exact1', node: 'r4', exactness: 'exact' }),
  ];
  const timer = fakeTimer((s) => 100 * 0.9 ** s.size);
  const search = new PlanSearch(base, { measure: timer.measure, noBackward: true });
  await search.runStage('fake', cands);
  const order = timer.calls.map((c) => c.candidate[c.candidate.length - 1]);
  assert.deepEqual(order, ['exact2', 'exact1', 'small', 'big']);
});

test('a speed-up budget stops the search once a measurement of the plan against the original reaches it', async () => {
  const base = chainModel(3);
  const cands = [
    await fakeCandidate(base, { name: 'exact', node: 'r1', exactness: 'exact' }),
    await fakeCandidate(base, { name: 'cheap', node: 'r2', retrainParams: 10 }),
    await fakeCandidate(base, { name: 'costly', node: 'r3', retrainParams: 100 }),
  ];
  const gains: Record<string, number> = { exact: 0.9, cheap: 0.8, costly: 0.7 };
  const latency = (s: ReadonlySet<string>): number => [...s].reduce((t, n) => t * (gains[n] ?? 1), 100);
  const timer = fakeTimer(latency);
  const search = new PlanSearch(base, { measure: timer.measure, budget: { speedup: 1.3 } });
  const out = byName(await search.runStage('fake', cands));
  assert.deepEqual(search.current.applied, ['exact', 'cheap'], '100 -> 90 -> 72 ms is 1.39x');
  assert.ok(search.reachedBudget);
  assert.equal(out.get('costly')?.why, 'not tried: the budget was reached');
  assert.ok(search.budgetChecks.length >= 1 && (search.budgetChecks.at(-1)?.ratio ?? 0) >= 1.3);
  assert.equal(search.budgetChecks.at(-1)?.phase, 'budget');

  // A latency budget: the original's time comes from the first measurement against it.
  const byLatency = new PlanSearch(base, { measure: fakeTimer(latency).measure, budget: { latencyMs: 85 } });
  await byLatency.runStage('fake', cands);
  assert.deepEqual(byLatency.current.applied, ['exact', 'cheap']);
  assert.ok(byLatency.reachedBudget);

  // An unreachable budget: everything that pays is kept and the budget is reported as not reached.
  const far = new PlanSearch(base, { measure: fakeTimer(latency).measure, budget: { speedup: 5 } });
  await far.runStage('fake', cands);
  assert.deepEqual(far.current.applied, ['exact', 'cheap', 'costly']);
  assert.equal(far.reachedBudget, false);
});

test('a candidate whose nodes another kept change replaced is left as unbuildable; patches refuse a second change of one node', async () => {
  const base = chainModel(1);
  const a = await fakeCandidate(base, { name: 'A', node: 'r1', site: 's1' });
  const b = await fakeCandidate(base, { name: 'B', node: 'r1', site: 's2', retrainParams: 1 });
  const once = applyPatch(base, a.patch);
  assert.equal(typeof once, 'object');
  const twice = applyPatch(once as Exclude<typeof once, string>, b.patch);
  assert.equal(typeof twice, 'string');
  assert.match(twice as string, /node 'r1' is no longer in the model/);
  const search = new PlanSearch(base, { measure: fakeTimer((s) => 100 - 20 * s.size).measure });
  const out = byName(await search.runStage('fake', [a, b]));
  assert.deepEqual(search.current.applied, ['A']);
  assert.match(out.get('B')?.why ?? '', /cannot be built on the plan: node 'r1' is no longer in the model/);
});

test('stages build on each other: the second stage measures on top of the first', async () => {
  const base = chainModel(2);
  const timer = fakeTimer((s) => 100 - 15 * s.size);
  const search = new PlanSearch(base, { measure: timer.measure });
  await search.runStage('one', [await fakeCandidate(base, { name: 'A', node: 'r1' })]);
  const next = search.current.model;
  await search.runStage('two', [await fakeCandidate(next, { name: 'B', node: 'r2' })]);
  assert.deepEqual(search.current.applied, ['A', 'B']);
  assert.deepEqual(timer.calls.at(-1), { baseline: ['A'], candidate: ['A', 'B'] });
});

test('a measurement that fails before any worked stops the plan; one that fails later leaves only its candidate', async () => {
  const base = chainModel(2);
  const cands = [await fakeCandidate(base, { name: 'A', node: 'r1' }), await fakeCandidate(base, { name: 'B', node: 'r2', retrainParams: 1 })];
  const broken = new PlanSearch(base, { measure: () => Promise.reject(new RebirthError('input \'x\' dim 2 is symbolic; pass feeds')) });
  await assert.rejects(broken.runStage('fake', cands), /pass feeds/);
  const timer = fakeTimer((s) => 100 - 20 * s.size);
  const flaky = new PlanSearch(base, {
    measure: (a, b) => (b.applied.includes('B') ? Promise.reject(new RebirthError('onnxruntime (node) cannot load this model: bad node')) : timer.measure(a, b)),
  });
  const out = byName(await flaky.runStage('fake', cands));
  assert.deepEqual(flaky.current.applied, ['A']);
  assert.match(out.get('B')?.why ?? '', /^cannot be measured on the target: onnxruntime \(node\) cannot load this model/);
});

test('small gains the one-by-one rule leaves are tested jointly: kept as a group when the group pays, judged whole backward', async () => {
  const base = chainModel(6);
  const names = ['A', 'B', 'C', 'D', 'E', 'F'];
  const cands = await Promise.all(names.map((name, i) => fakeCandidate(base, { name, node: `r${i + 1}` })));
  // Each saves 2% of 100 ms; with 4% noise per run one decision cannot tell 2% from nothing.
  const latency = (s: ReadonlySet<string>): number => 100 * 0.98 ** names.filter((n) => s.has(n)).length;
  const lines: string[] = [];
  const search = new PlanSearch(base, { measure: fakeTimer(latency, 0.04, 3).measure, log: (l) => lines.push(l) });
  const out = byName(await search.runStage('fake', cands));
  const joint = lines.filter((l) => l.startsWith('  joint '));
  assert.ok(joint.length >= 1, `a joint test ran:\n${lines.join('\n')}`);
  const grouped = [...out.values()].filter((o) => o.status === 'kept' && /pays jointly/.test(o.why));
  assert.ok(grouped.length >= 2, `a group was kept:\n${lines.join('\n')}`);
  assert.ok(grouped.every((o) => o.measurements.some((m) => m.phase === 'joint')));
  const final = await search.confirm();
  assert.ok(final && final.ratio > 1.05, `the plan keeps the small gains together (${final?.ratio})`);
  assert.ok(lines.some((l) => /^ {2}joint group .* \(backward\)/.test(l)), 'the group is judged whole by the backward pass');
  assert.ok(!lines.some((l) => grouped.some((o) => l.startsWith(`  ${o.name} (backward)`))), 'and its members are not judged one by one');

  // Identical copies: a group of nulls does not pay, and nothing is kept.
  const nullLines: string[] = [];
  const none = new PlanSearch(base, { measure: fakeTimer(() => 100, 0.04, 3).measure, log: (l) => nullLines.push(l) });
  const outNone = byName(await none.runStage('fake', cands));
  assert.deepEqual(none.current.applied, [], nullLines.join('\n'));
  assert.ok([...outNone.values()].every((o) => o.status === 'left'));
});

test('noJoint: the small gains stay left one by one', async () => {
  const base = chainModel(4);
  const names = ['A', 'B', 'C', 'D'];
  const cands = await Promise.all(names.map((name, i) => fakeCandidate(base, { name, node: `r${i + 1}` })));
  const latency = (s: ReadonlySet<string>): number => 100 * 0.98 ** names.filter((n) => s.has(n)).length;
  const lines: string[] = [];
  const search = new PlanSearch(base, { measure: fakeTimer(latency, 0.04, 3).measure, noJoint: true, log: (l) => lines.push(l) });
  await search.runStage('fake', cands);
  assert.ok(!lines.some((l) => l.startsWith('  joint')));
});
