/** The dynamic program against brute force over every segmentation of small random chains. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Random } from '../../src/util/random.js';
import type { Item } from '../../src/shrink/candidates.js';
import { planSegments } from '../../src/shrink/plan.js';
import type { Chain, ModelStructure, Unit } from '../../src/shrink/structure.js';

function item(chain: number, first: number, last: number, kind: Item['kind']): Item {
  const id = kind === 'keep' ? `${chain}:${first}` : `${chain}:${first}-${last}`;
  return { id, chain, first, last, kind, removed: [], macsBefore: 0, macs: 0, label: id };
}

/** Chains of `sizes` units; every run of up to 3 units is an item (single units: keep). */
function instance(rng: Random, sizes: number[]): { structure: ModelStructure; items: Item[]; latency: Map<string, number>; importance: Map<string, number> } {
  const node = { name: 'n', opType: 'Conv', domain: '', inputs: [], outputs: [], attributes: [], docString: '' };
  const chains: Chain[] = sizes.map((n) => ({
    name: `c${n}`, units: Array.from({ length: n }, (): Unit => ({ kind: 'conv', node, input: '', output: '' })), slots: Array.from({ length: n }, () => null),
  }));
  const items: Item[] = [];
  const latency = new Map<string, number>();
  const importance = new Map<string, number>();
  sizes.forEach((n, c) => {
    for (let i = 0; i < n; i++) {
      for (let j = i; j < Math.min(n, i + 3); j++) {
        const it = item(c, i, j, i === j ? 'keep' : 'merge');
        items.push(it);
        // Integer latencies (exact after quantisation) and importances.
        latency.set(it.id, i === j ? 4 + Math.floor(rng.nextFloat() * 6) : 2 + Math.floor(rng.nextFloat() * 10));
        importance.set(it.id, i === j ? 0 : Math.round(rng.nextFloat() * 100) / 10);
      }
    }
  });
  return { structure: { chains, shapes: new Map() }, items, latency, importance };
}

/** Every segmentation of every chain, combined: the least importance within the budget (or undefined). */
function bruteForce(inst: ReturnType<typeof instance>, sizes: number[], budget: number): number | undefined {
  const perChain = sizes.map((n, c) => {
    const out: Array<{ lat: number; imp: number }> = [];
    const rec = (p: number, lat: number, imp: number): void => {
      if (p === n) {
        out.push({ lat, imp });
        return;
      }
      for (const it of inst.items.filter((x) => x.chain === c && x.first === p)) rec(it.last + 1, lat + (inst.latency.get(it.id) ?? 0), imp + (inst.importance.get(it.id) ?? 0));
    };
    rec(0, 0, 0);
    return out;
  });
  let best: number | undefined;
  const combine = (c: number, lat: number, imp: number): void => {
    if (lat > budget) return;
    if (c === perChain.length) {
      if (best === undefined || imp < best) best = imp;
      return;
    }
    for (const s of perChain[c] ?? []) combine(c + 1, lat + s.lat, imp + s.imp);
  };
  combine(0, 0, 0);
  return best;
}

test('equals brute force on 60 random instances (two or three chains, every budget tight to loose)', () => {
  const rng = new Random(21);
  for (let trial = 0; trial < 60; trial++) {
    const sizes = trial % 2 ? [4, 3] : [3, 2, 4];
    const inst = instance(rng, sizes);
    const baseline = inst.items.filter((i) => i.kind === 'keep').reduce((s, i) => s + (inst.latency.get(i.id) ?? 0), 0);
    const budget = Math.floor(baseline * (0.3 + 0.8 * rng.nextFloat()));
    // One quantum per millisecond: the integer latencies are represented exactly.
    const plan = planSegments({ ...inst, budgetMs: budget, resolution: baseline });
    const want = bruteForce(inst, sizes, budget);
    if (want === undefined) {
      assert.equal(plan.met, false, `trial ${trial}: no plan fits ${budget}`);
      continue;
    }
    assert.ok(plan.met, `trial ${trial}`);
    assert.ok(Math.abs(plan.importance - want) < 1e-9, `trial ${trial}: DP ${plan.importance}, brute force ${want}`);
    assert.ok(plan.predictedMs <= budget);
    // The plan covers every unit of every chain exactly once.
    sizes.forEach((n, c) => {
      const segs = plan.items.filter((i) => i.chain === c);
      assert.equal(segs[0]?.first, 0);
      segs.forEach((s, k) => assert.equal(s.first, k === 0 ? 0 : (segs[k - 1]?.last ?? -1) + 1));
      assert.equal(segs[segs.length - 1]?.last, n - 1);
    });
  }
});

test('a budget below the fastest plan returns the fastest plan, flagged unmet', () => {
  const inst = instance(new Random(2), [3]);
  const plan = planSegments({ ...inst, budgetMs: 0.5, resolution: 100 });
  assert.equal(plan.met, false);
  let fastest = Infinity;
  const rec = (p: number, lat: number): void => {
    if (p === 3) {
      fastest = Math.min(fastest, lat);
      return;
    }
    for (const it of inst.items.filter((x) => x.first === p)) rec(it.last + 1, lat + (inst.latency.get(it.id) ?? 0));
  };
  rec(0, 0);
  assert.ok(Math.abs(plan.predictedMs - fastest) < 1e-9);
});
