/**
 * Rebinding the shapes of a model's graph inputs (onnx-simplifier's --overwrite-input-shape): symbolic
 * dims and fixed ones alike, e.g. a [batch, 3, height, width] export bound to [1, 3, 48, 96], or a
 * batch-1 export rebound to a training batch. Every other use of a rebound symbol follows, and the
 * value_info and graph output shapes are inferred again.
 *
 * Rebinding a fixed dim is checked against what the graph baked in: a Reshape whose constant target
 * turns a rebound dim into a number (PyTorch's `x.view(1, -1)`, or a shape subgraph folded at export
 * time) would silently mix samples. Where that dim is the batch and the Reshape copies it from its
 * input's leading dim, the target's leading entry becomes 0 ("copy that dim"); anywhere else the
 * rebinding is refused with the node named.
 */
import type { Dim, Model, Node, ValueInfo } from '../ir/graph.js';
import { DataType } from '../ir/tensor.js';
import { NameGen } from '../ir/topology.js';
import { RebirthError } from '../errors.js';
import { allNums, formatShape } from '../ops/dims.js';
import { isDefaultDomain } from '../ops/table.js';
import { inferShapes, inferTypes, type ShapeInference } from './infer.js';

/** New dims per graph input: whole numbers >= 1, or symbol names for dims that stay free. */
export type InputShapes = Readonly<Record<string, readonly Dim[]>>;

/** Graph inputs a caller feeds (not initializers), as `'name' [d0,d1,...]`, for messages. */
export function describeInputs(model: Model): string {
  const g = model.graph;
  const list = g.inputs.filter((v) => !g.initializers.has(v.name)).map((v) => `'${v.name}' ${formatShape(v.shape)}`);
  return list.length ? list.join(', ') : 'none';
}

/**
 * Graph inputs whose dims past the leading (batch) one are not all numbers, or whose rank is unknown:
 * what a caller must bind before anything that needs static shapes (profiling, merging, training).
 */
export function inputsNeedingShapes(model: Model): ValueInfo[] {
  const g = model.graph;
  return g.inputs.filter((v) => !g.initializers.has(v.name) && (!v.shape || !allNums(v.shape.slice(1))));
}

function checkShapes(model: Model, shapes: InputShapes): void {
  const g = model.graph;
  for (const [name, dims] of Object.entries(shapes)) {
    const input = g.inputs.find((v) => v.name === name);
    if (!input || g.initializers.has(name)) {
      const what = input ? `'${name}' is an initializer, not a graph input the caller feeds` : `no graph input named '${name}'`;
      throw new RebirthError(`${what}; the model's inputs are ${describeInputs(model)}`);
    }
    dims.forEach((d, k) => {
      const ok = typeof d === 'number' ? Number.isInteger(d) && d >= 1 : typeof d === 'string' && d.length > 0;
      if (!ok) throw new RebirthError(`input '${name}': dim ${k} is ${String(d)}; dims must be whole numbers >= 1`);
    });
    if (input.shape && input.shape.length !== dims.length) {
      throw new RebirthError(`input '${name}' has rank ${input.shape.length} (${formatShape(input.shape)}); got ${dims.length} dims ${formatShape([...dims])}`);
    }
  }
}

/** Symbol -> its new size or name, from the declared symbolic dims of the bound inputs. */
function symbolMap(model: Model, shapes: InputShapes): Map<string, Dim> {
  const map = new Map<string, Dim>();
  const where = new Map<string, string>();
  for (const [name, dims] of Object.entries(shapes)) {
    const declared = model.graph.inputs.find((v) => v.name === name)?.shape ?? [];
    declared.forEach((d, k) => {
      if (typeof d !== 'string') return;
      const now = dims[k] as Dim;
      const seen = map.get(d);
      if (seen !== undefined && seen !== now) {
        throw new RebirthError(`symbol '${d}' is dim ${k} of input '${name}' (bound to ${String(now)}) and of input '${where.get(d) ?? '?'}' (bound to ${String(seen)}); bind them to equal sizes`);
      }
      map.set(d, now);
      where.set(d, name);
    });
  }
  return map;
}

/** A fixed dim of an input being rebound to something else. */
interface Rebound {
  input: string;
  axis: number;
  from: number;
  to: Dim;
  /** The symbol standing for it while looking for nodes that baked the old size in. */
  probe: string;
}

function reboundDims(model: Model, shapes: InputShapes): Rebound[] {
  const out: Rebound[] = [];
  for (const [name, dims] of Object.entries(shapes)) {
    const declared = model.graph.inputs.find((v) => v.name === name)?.shape ?? [];
    declared.forEach((d, k) => {
      const to = dims[k] as Dim;
      if (typeof d === 'number' && d !== to) out.push({ input: name, axis: k, from: d, to, probe: `__rebound_${name}_${k}` });
    });
  }
  return out;
}

/** `model` with the given inputs' shapes, symbols substituted elsewhere in the inputs, and value_info / output shapes cleared. */
function withInputShapes(model: Model, shapes: InputShapes, symbols: Map<string, Dim>): Model {
  const g = model.graph;
  const sub = (d: Dim): Dim => (typeof d === 'string' && symbols.has(d) ? (symbols.get(d) as Dim) : d);
  const inputs = g.inputs.map((v) => {
    const dims = shapes[v.name];
    if (dims) return { ...v, shape: [...dims] };
    return v.shape ? { ...v, shape: v.shape.map(sub) } : v;
  });
  const strip = (v: ValueInfo): ValueInfo => {
    const { shape: _shape, ...rest } = v;
    return rest;
  };
  return {
    ...model,
    graph: {
      ...g, inputs, outputs: g.outputs.map(strip), valueInfo: g.valueInfo.map(strip),
      initializers: new Map(g.initializers), nodes: g.nodes.map((n) => ({ ...n, inputs: [...n.inputs] })),
    },
  };
}

function targetValue(inference: ShapeInference, node: Node): number[] | undefined {
  const name = node.inputs[1] ?? '';
  const v = inference.types.get(name)?.value;
  return allNums(v) ? v : undefined;
}

/**
 * Rewrite or refuse Reshapes whose constant target bakes a rebound fixed dim in (see the file comment).
 * Works on `probe`, whose rebound dims are symbols; rewrites the matching nodes of `target`.
 */
function unbake(probe: Model, target: Model, rebound: Rebound[]): void {
  const symbols = new Map(rebound.map((r) => [r.probe, r]));
  const names = new NameGen(target.graph);
  const nodes = new Map(target.graph.nodes.map((n, k) => [probe.graph.nodes[k] as Node, n]));
  for (let round = 0; round <= probe.graph.nodes.length; round++) {
    const inference = inferTypes(probe, { strict: false });
    let rewrote = false;
    for (const node of probe.graph.nodes) {
      if (node.opType !== 'Reshape' || !isDefaultDomain(node.domain)) continue;
      const input = inference.types.get(node.inputs[0] ?? '')?.shape;
      const output = inference.types.get(node.outputs[0] ?? '')?.shape;
      const carried = input?.filter((d): d is string => typeof d === 'string' && symbols.has(d)) ?? [];
      const t = targetValue(inference, node);
      if (!t || carried.length === 0 || output?.some((d) => typeof d === 'string' && symbols.has(d))) continue;
      const lead = typeof input?.[0] === 'string' ? symbols.get(input[0]) : undefined;
      const allowZero = node.attributes.some((a) => a.name === 'allowzero' && a.kind === 'int' && a.value !== 0n);
      if (lead && lead.axis === 0 && t[0] === lead.from && !allowZero) {
        const fixed = [0, ...t.slice(1)];
        const name = names.fresh(`${node.outputs[0] || node.name}_target`);
        const tensor = { name, dataType: DataType.INT64, dims: [fixed.length], data: new Uint8Array(BigInt64Array.from(fixed, (v) => BigInt(v)).buffer), storage: 'raw' as const, docString: '' };
        for (const m of [probe, target]) m.graph.initializers.set(name, tensor);
        node.inputs[1] = name;
        const twin = nodes.get(node);
        if (twin) twin.inputs[1] = name;
        rewrote = true;
        continue;
      }
      const r = symbols.get(carried[0] as string) as Rebound;
      throw new RebirthError(`node '${node.name || node.outputs[0] || '?'}' (Reshape) bakes dim ${r.axis} of input '${r.input}' (${r.from}) into its target [${t.join(',')}]; rebinding it to ${String(r.to)} would change what the node computes; re-export the model with that dim dynamic (torch: dynamic_axes)`);
    }
    if (!rewrote) return;
  }
}

/**
 * A graph output that keeps the old batch while an input's batch is rebound means a node fixed it (a Slice
 * of the first sample, a Reshape whose target the engine could not see): refused rather than guessed.
 */
function checkOutputsFollow(model: Model, result: Model, rebound: Rebound[]): void {
  const batch = rebound.find((r) => r.axis === 0);
  if (!batch) return;
  model.graph.outputs.forEach((declared, k) => {
    const now = result.graph.outputs[k]?.shape?.[0];
    const kept = typeof batch.to === 'number' ? now === batch.from : typeof now === 'number';
    if (declared.shape?.[0] === batch.from && kept) {
      const out = declared;
      throw new RebirthError(`output '${out.name}' keeps batch ${String(now)} after input '${batch.input}' is rebound from batch ${batch.from} to ${String(batch.to)}: a node fixes the batch; re-export the model with a dynamic batch (torch: dynamic_axes)`);
    }
  });
}

/**
 * A copy of `model` whose graph inputs have the given shapes (numbers, or symbol names for dims that stay
 * free), with value_info and graph output shapes inferred again. Throws a one-line RebirthError naming the
 * input for an unknown name (listing the inputs), a wrong rank (with the model's shape), a dim that is not
 * a whole number >= 1, and a rebinding the graph cannot follow (naming the node).
 */
export function bindInputShapes(model: Model, shapes: InputShapes): Model {
  checkShapes(model, shapes);
  const symbols = symbolMap(model, shapes);
  const result = withInputShapes(model, shapes, symbols);
  const rebound = reboundDims(model, shapes);
  if (rebound.length > 0) {
    const probeShapes: Record<string, Dim[]> = {};
    for (const [name, dims] of Object.entries(shapes)) {
      probeShapes[name] = dims.map((d, k) => rebound.find((r) => r.input === name && r.axis === k)?.probe ?? d);
    }
    unbake(withInputShapes(model, probeShapes, symbols), result, rebound);
  }
  try {
    inferShapes(result);
  } catch (e) {
    if (!(e instanceof RebirthError)) throw e;
    const bound = Object.entries(shapes).map(([n, d]) => `'${n}' to ${formatShape([...d])}`).join(', ');
    throw new RebirthError(`binding input ${bound}: ${e.message}`);
  }
  // Outputs inference could not reach keep their declared shapes, rebound symbols substituted.
  result.graph.outputs.forEach((o, k) => {
    const declared = model.graph.outputs[k]?.shape;
    if (!o.shape && declared) o.shape = declared.map((d) => (typeof d === 'string' && symbols.has(d) ? (symbols.get(d) as Dim) : d));
  });
  checkOutputsFollow(model, result, rebound);
  return result;
}
