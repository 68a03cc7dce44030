/**
 * Choosing what to merge: a dynamic program over each chain's segmentations, then a knapsack across
 * chains, minimising the summed importance (loss increase) subject to the summed latency staying under
 * the budget. This is the selection of Kim et al. (ICML'23) and LayerMerge (ICML'24): both score each
 * candidate block on its own, assume scores and latencies add up, and solve the resulting
 * shortest-path-with-a-budget exactly by dynamic programming over a discretised latency.
 *
 * Chain with units 0..n-1: a segmentation is a sequence of items (src/shrink/candidates.ts) covering
 * [0, n) without overlap. With latencies quantised to q = (baseline chains' latency) / resolution,
 *   best_p[t] = min over items (i..p-1) of best_i[t - lat(item)] + imp(item),   best_0[0] = 0,
 * and best_n is the chain's frontier F_c[t]. Chains combine by G_c[t] = min_u G_{c-1}[t - u] + F_c[u].
 * The answer is the least G[t] with t <= budget / q (ties: the faster). Rounding each item to the
 * nearest quantum keeps the error of a sum of m items within m q / 2.
 */
import { RebirthError } from '../errors.js';
import type { Item } from './candidates.js';
import type { ModelStructure } from './structure.js';

export interface PlanInput {
  structure: ModelStructure;
  items: readonly Item[];
  /** Item id -> ms on the target. */
  latency: ReadonlyMap<string, number>;
  /** Item id -> loss increase. */
  importance: ReadonlyMap<string, number>;
  /** Budget for the chains' summed latency, ms. */
  budgetMs: number;
  /** Quanta per baseline chains' latency (default 2000). */
  resolution?: number;
}

export interface Plan {
  /** One item per chain segment, in chain order. */
  items: Item[];
  /** Summed latency of the chosen items, and of the 'keep' items (the unchanged network). */
  predictedMs: number;
  baselineMs: number;
  importance: number;
  budgetMs: number;
  /** False when no segmentation fits the budget; the plan is then the fastest one. */
  met: boolean;
}

interface ChainDp {
  /** frontier[t]: least importance of a segmentation with quantised latency t. */
  frontier: Float64Array;
  /** Per position p and quantum t: the item ending the best segmentation (index into items) and its start quantum. */
  choice: Int32Array[];
  from: Int32Array[];
  items: Item[];
  lat: Int32Array;
}

function solveChain(items: Item[], n: number, lat: Int32Array, imp: Float64Array, cap: number): ChainDp {
  const best: Float64Array[] = [];
  const choice: Int32Array[] = [];
  const from: Int32Array[] = [];
  for (let p = 0; p <= n; p++) {
    best.push(new Float64Array(cap + 1).fill(Infinity));
    choice.push(new Int32Array(cap + 1).fill(-1));
    from.push(new Int32Array(cap + 1).fill(-1));
  }
  (best[0] as Float64Array)[0] = 0;
  const ending = new Map<number, number[]>();
  items.forEach((it, k) => ending.set(it.last + 1, [...(ending.get(it.last + 1) ?? []), k]));
  for (let p = 1; p <= n; p++) {
    const cur = best[p] as Float64Array;
    for (const k of ending.get(p) ?? []) {
      const it = items[k] as Item;
      const prev = best[it.first] as Float64Array;
      const l = lat[k] as number;
      const v = imp[k] as number;
      for (let t = 0; t + l <= cap; t++) {
        const base = prev[t] as number;
        if (base === Infinity) continue;
        if (base + v < (cur[t + l] as number)) {
          cur[t + l] = base + v;
          (choice[p] as Int32Array)[t + l] = k;
          (from[p] as Int32Array)[t + l] = t;
        }
      }
    }
  }
  return { frontier: best[n] as Float64Array, choice, from, items, lat };
}

function backtrack(dp: ChainDp, n: number, t: number): Item[] {
  const out: Item[] = [];
  let p = n;
  let q = t;
  while (p > 0) {
    const k = (dp.choice[p] as Int32Array)[q] as number;
    if (k < 0) throw new RebirthError('shrink plan: internal error, no segmentation reaches this latency');
    const it = dp.items[k] as Item;
    out.push(it);
    q = (dp.from[p] as Int32Array)[q] as number;
    p = it.first;
  }
  return out.reverse();
}

/** The least-importance segmentation under the budget (see the file comment). */
export function planSegments(input: PlanInput): Plan {
  const { structure, items, latency, importance } = input;
  const chains = structure.chains.map((c, ci) => ({ n: c.units.length, items: items.filter((it) => it.chain === ci && latency.has(it.id)) }));
  const keepMs = (it: Item): number => latency.get(it.id) ?? 0;
  let baselineMs = 0;
  for (const it of items) if (it.kind === 'keep') baselineMs += keepMs(it);
  const resolution = input.resolution ?? 2000;
  const q = Math.max(baselineMs, 1e-6) / resolution;
  const quant = (ms: number): number => Math.max(0, Math.round(ms / q));
  // The fastest segmentation bounds how far the frontiers need to reach.
  let cap = 0;
  const prepared = chains.map(({ n, items: its }) => {
    const lat = Int32Array.from(its, (it) => quant(latency.get(it.id) ?? 0));
    const imp = Float64Array.from(its, (it) => importance.get(it.id) ?? 0);
    const keepQ = its.filter((it) => it.kind === 'keep').reduce((s, it) => s + quant(latency.get(it.id) ?? 0), 0);
    cap += keepQ;
    return { n, its, lat, imp };
  });
  const budgetQ = Math.floor(input.budgetMs / q);
  cap = Math.max(cap, budgetQ) + 1;
  const dps = prepared.map(({ n, its, lat, imp }) => solveChain(its, n, lat, imp, cap));
  // Knapsack across chains: G[t] least summed importance at total quantum t.
  let g = new Float64Array(cap + 1).fill(Infinity);
  g[0] = 0;
  const split: Int32Array[] = [];
  for (const dp of dps) {
    const next = new Float64Array(cap + 1).fill(Infinity);
    const arg = new Int32Array(cap + 1).fill(-1);
    for (let t = 0; t <= cap; t++) {
      const base = g[t] as number;
      if (base === Infinity) continue;
      for (let u = 0; t + u <= cap; u++) {
        const f = dp.frontier[u] as number;
        if (f === Infinity) continue;
        if (base + f < (next[t + u] as number)) {
          next[t + u] = base + f;
          arg[t + u] = u;
        }
      }
    }
    g = next;
    split.push(arg);
  }
  let chosen = -1;
  for (let t = 0; t <= Math.min(budgetQ, cap); t++) {
    if ((g[t] as number) === Infinity) continue;
    if (chosen < 0 || (g[t] as number) < (g[chosen] as number) - 1e-12) chosen = t;
  }
  const met = chosen >= 0;
  if (!met) chosen = g.findIndex((v) => v !== Infinity);
  if (chosen < 0) throw new RebirthError('shrink plan: no segmentation of the chains was found; check that every unit has a latency');
  const picked: Item[][] = [];
  let t = chosen;
  for (let c = dps.length - 1; c >= 0; c--) {
    const u = (split[c] as Int32Array)[t] as number;
    picked[c] = backtrack(dps[c] as ChainDp, (prepared[c] as { n: number }).n, u);
    t -= u;
  }
  const planItems = picked.flat();
  const predictedMs = planItems.reduce((s, it) => s + (latency.get(it.id) ?? 0), 0);
  const imp = planItems.reduce((s, it) => s + (importance.get(it.id) ?? 0), 0);
  return { items: planItems, predictedMs, baselineMs, importance: imp, budgetMs: input.budgetMs, met };
}
