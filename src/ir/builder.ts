import type { Dim, Graph, Model, Node, ValueInfo } from './graph.js';
import type { Tensor } from './tensor.js';
import { DataType } from './tensor.js';
import { makeAttr, type AttrInput } from './attributes.js';
import { NameGen } from './topology.js';

/** The opset rebirth writes new models in. Dropout-13, Softmax-13 (axis -1) and ReduceSum-13 semantics. */
export const DEFAULT_OPSET = 13;

export function emptyGraph(name: string): Graph {
  return { name, docString: '', inputs: [], outputs: [], valueInfo: [], initializers: new Map(), nodes: [] };
}

export function modelOf(graph: Graph, opset = DEFAULT_OPSET): Model {
  return {
    irVersion: 8,
    producerName: 'rebirth',
    producerVersion: '0.1.0',
    domain: '',
    modelVersion: 0n,
    docString: '',
    opsetImports: [{ domain: '', version: opset }],
    metadata: [],
    graph,
    trainingInfo: [],
    functions: [],
  };
}

export function tensorValue(name: string, shape: Dim[] | undefined, elemType: number = DataType.FLOAT): ValueInfo {
  return shape ? { name, elemType, shape: [...shape], docString: '' } : { name, elemType, docString: '' };
}

/**
 * Builds graphs node by node: `b.op('Conv', [x, w], { pads: [1,1,1,1] })` returns the output name.
 * Used by the zoo, the rewrite rules and the autodiff alike.
 */
export class GraphBuilder {
  readonly graph: Graph;
  readonly names: NameGen;

  constructor(graphOrName: Graph | string) {
    this.graph = typeof graphOrName === 'string' ? emptyGraph(graphOrName) : graphOrName;
    this.names = new NameGen(this.graph);
  }

  input(name: string, shape: Dim[], elemType: number = DataType.FLOAT): string {
    this.names.fresh(name);
    this.graph.inputs.push(tensorValue(name, shape, elemType));
    return name;
  }

  output(name: string, shape?: Dim[], elemType: number = DataType.FLOAT): void {
    this.graph.outputs.push(tensorValue(name, shape, elemType));
  }

  initializer(tensor: Tensor): string {
    const name = this.graph.initializers.has(tensor.name) ? this.names.fresh(tensor.name) : tensor.name;
    this.names.fresh(name);
    this.graph.initializers.set(name, { ...tensor, name });
    return name;
  }

  /** Add a node; returns its outputs (count defaults to 1). */
  node(
    opType: string, inputs: string[], attrs: Record<string, AttrInput | undefined> = {},
    options: { name?: string; outputs?: string[] | number; domain?: string } = {},
  ): string[] {
    const name = this.names.fresh(options.name ?? opType);
    const outs = Array.isArray(options.outputs)
      ? options.outputs.map((o) => this.names.fresh(o))
      : Array.from({ length: options.outputs ?? 1 }, (_, k) => this.names.fresh(k === 0 ? `${name}_out` : `${name}_out${k}`));
    const node: Node = {
      name, opType, domain: options.domain ?? '', inputs, outputs: outs, docString: '',
      attributes: Object.entries(attrs).filter((e): e is [string, AttrInput] => e[1] !== undefined).map(([k, v]) => makeAttr(k, v)),
    };
    this.graph.nodes.push(node);
    return outs;
  }

  /** Single-output shorthand. */
  op(opType: string, inputs: string[], attrs: Record<string, AttrInput | undefined> = {}, name?: string): string {
    return this.node(opType, inputs, attrs, name === undefined ? {} : { name })[0] as string;
  }
}
