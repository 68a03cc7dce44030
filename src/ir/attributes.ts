import type { Attribute, Graph, Node } from './graph.js';
import type { Tensor } from './tensor.js';
import { RebirthError } from '../errors.js';

/** Typed attribute access. Defaults come from the op table (src/ops), callers pass them in. */

export function findAttr(node: Node, name: string): Attribute | undefined {
  return node.attributes.find((a) => a.name === name);
}

function wrongKind(node: Node, name: string, want: string, got: string): RebirthError {
  return new RebirthError(`node '${node.name || node.opType}' (${node.opType}): attribute '${name}' is ${got}, expected ${want}`);
}

export function getInt(node: Node, name: string, fallback: number): number;
export function getInt(node: Node, name: string): number | undefined;
export function getInt(node: Node, name: string, fallback?: number): number | undefined {
  const a = findAttr(node, name);
  if (!a) return fallback;
  if (a.kind !== 'int') throw wrongKind(node, name, 'an int', a.kind);
  return Number(a.value);
}

export function getInts(node: Node, name: string, fallback: number[]): number[];
export function getInts(node: Node, name: string): number[] | undefined;
export function getInts(node: Node, name: string, fallback?: number[]): number[] | undefined {
  const a = findAttr(node, name);
  if (!a) return fallback;
  if (a.kind !== 'ints') throw wrongKind(node, name, 'a list of ints', a.kind);
  return a.value.map((v) => Number(v));
}

export function getFloat(node: Node, name: string, fallback: number): number;
export function getFloat(node: Node, name: string): number | undefined;
export function getFloat(node: Node, name: string, fallback?: number): number | undefined {
  const a = findAttr(node, name);
  if (!a) return fallback;
  if (a.kind === 'float') return a.value;
  if (a.kind === 'int') return Number(a.value);
  throw wrongKind(node, name, 'a float', a.kind);
}

export function getFloats(node: Node, name: string): number[] | undefined {
  const a = findAttr(node, name);
  if (!a) return undefined;
  if (a.kind !== 'floats') throw wrongKind(node, name, 'a list of floats', a.kind);
  return a.value;
}

export function getString(node: Node, name: string, fallback: string): string;
export function getString(node: Node, name: string): string | undefined;
export function getString(node: Node, name: string, fallback?: string): string | undefined {
  const a = findAttr(node, name);
  if (!a) return fallback;
  if (a.kind !== 'string') throw wrongKind(node, name, 'a string', a.kind);
  return new TextDecoder().decode(a.value);
}

export function getTensor(node: Node, name: string): Tensor | undefined {
  const a = findAttr(node, name);
  if (!a) return undefined;
  if (a.kind !== 'tensor') throw wrongKind(node, name, 'a tensor', a.kind);
  return a.value;
}

export function getGraph(node: Node, name: string): Graph | undefined {
  const a = findAttr(node, name);
  if (!a) return undefined;
  if (a.kind !== 'graph') throw wrongKind(node, name, 'a graph', a.kind);
  return a.value;
}

/** Shorthand values for building attributes: numbers become ints when integral unless wrapped. */
export type AttrInput =
  | number | string | number[] | string[] | Tensor | Graph
  | { float: number } | { floats: number[] } | { ints: number[] };

export function makeAttr(name: string, v: AttrInput): Attribute {
  if (typeof v === 'number') return Number.isInteger(v) ? { name, kind: 'int', value: BigInt(v) } : { name, kind: 'float', value: v };
  if (typeof v === 'string') return { name, kind: 'string', value: new TextEncoder().encode(v) };
  if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === 'string') return { name, kind: 'strings', value: (v as string[]).map((s) => new TextEncoder().encode(s)) };
    const nums = v as number[];
    return nums.every((x) => Number.isInteger(x))
      ? { name, kind: 'ints', value: nums.map((x) => BigInt(x)) }
      : { name, kind: 'floats', value: nums };
  }
  if ('float' in v) return { name, kind: 'float', value: v.float };
  if ('floats' in v) return { name, kind: 'floats', value: v.floats };
  if ('ints' in v) return { name, kind: 'ints', value: v.ints.map((x) => BigInt(x)) };
  if ('nodes' in v) return { name, kind: 'graph', value: v };
  return { name, kind: 'tensor', value: v };
}

export function setAttr(node: Node, name: string, v: AttrInput): void {
  const attr = makeAttr(name, v);
  const i = node.attributes.findIndex((a) => a.name === name);
  if (i >= 0) node.attributes[i] = attr;
  else node.attributes.push(attr);
}

export function removeAttr(node: Node, name: string): void {
  node.attributes = node.attributes.filter((a) => a.name !== name);
}
