// A fake timer and synthetic candidates for the planner's tests: latency is a function of which
// candidates are applied, with seeded noise, and decisions go through the real rule (decideAdaptive).
import type { Model } from '../../src/ir/graph.js';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { decideAdaptive } from '../../src/runtime/decide.js';
import { Random } from '../../src/util/random.js';
import { prepare, type Exactness, type PlanCandidate, type PreparedCandidate } from '../../src/plan/candidate.js';
import type { MeasureFn, PlanPoint } from '../../src/plan/search.js';

/** x -> Relu r1 -> Relu r2 -> ... -> Relu rn -> output: one replaceable node per synthetic site. */
export function chainModel(n: number): Model {
  const b = new GraphBuilder('chain');
  let v = b.input('x', [1, 4]);
  for (let i = 1; i <= n; i++) v = b.op('Relu', [v], {}, `r${i}`);
  b.output(v);
  return modelOf(b.graph);
}

export interface FakeSpec {
  name: string;
  /** The chain node it replaces (default: the site). */
  node: string;
  site?: string;
  variant?: string;
  severity?: number;
  exactness?: Exactness;
  retrainParams?: number;
}

/** A candidate that replaces one Relu of the chain by a Sigmoid (the model only has to differ). */
export async function fakeCandidate(base: Model, spec: FakeSpec): Promise<PreparedCandidate> {
  const candidate: PlanCandidate = {
    name: spec.name, family: 'fake', site: spec.site ?? spec.node, variant: spec.variant ?? spec.name, nodes: [spec.node],
    exactness: spec.exactness ?? 'approximate', retrainParams: spec.retrainParams ?? 0, severity: spec.severity ?? 0,
    description: `${spec.node} -> Sigmoid`, recipe: { family: 'fusion', rule: 'fake', node: spec.node },
    build: (m) => Promise.resolve({
      ...m,
      graph: { ...m.graph, nodes: m.graph.nodes.map((n) => (n.name === spec.node ? { ...n, name: `${spec.node}_${spec.name}`, opType: 'Sigmoid' } : n)) },
    }),
  };
  return prepare(base, candidate);
}

export interface FakeTimer {
  measure: MeasureFn;
  /** Every measurement: the applied lists of baseline and candidate. */
  calls: Array<{ baseline: string[]; candidate: string[] }>;
}

/**
 * Latency `latencyOf(applied)` ms per run with multiplicative noise (lognormal, sd `noise`), paired
 * rounds drawn on demand, decided by the real adaptive rule (minGain 1%, as plans use).
 */
export function fakeTimer(latencyOf: (applied: ReadonlySet<string>) => number, noise = 0.01, seed = 1): FakeTimer {
  const calls: FakeTimer['calls'] = [];
  const rng = new Random(seed);
  const measure: MeasureFn = async (baseline: PlanPoint, candidate: PlanPoint) => {
    calls.push({ baseline: [...baseline.applied], candidate: [...candidate.applied] });
    const a = latencyOf(new Set(baseline.applied));
    const b = latencyOf(new Set(candidate.applied));
    return decideAdaptive((n) => {
      const wall: number[][] = [[], []];
      for (let i = 0; i < n; i++) {
        wall[0]?.push(a * Math.exp(rng.normal(0, noise)));
        wall[1]?.push(b * Math.exp(rng.normal(0, noise)));
      }
      return { wall, cpu: wall };
    }, { minGain: 0.01, clock: 'wall' });
  };
  return { measure, calls };
}
