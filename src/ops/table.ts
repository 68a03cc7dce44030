/**
 * The op table: one row per ONNX operator of the default domain that rebirth understands, keyed by op
 * type. Rows live in nn.ts, elementwise.ts, structure.ts and plumbing.ts; this file joins them into the
 * single registry everything else reads. test/ops/table.test.ts checks that keys are unique and rows are
 * complete, so a row added in the wrong file or twice cannot silently shadow another.
 */
import type { Node } from '../ir/graph.js';
import { ELEMENTWISE_OPS } from './elementwise.js';
import { NN_OPS } from './nn.js';
import { PLUMBING_OPS } from './plumbing.js';
import { STRUCTURE_OPS } from './structure.js';
import type { OpCategory } from './types.js';
import type { OpInfo } from './context.js';

export type { AttrSpec, InputSpec, OpCategory, ValueType } from './types.js';
export type { OpInfo } from './context.js';
export { FLOPS_CONVENTION, OP_CATEGORIES } from './types.js';

/** Every row, in file order (the registry's source; exported for the uniqueness test). */
export const OP_ROWS: readonly OpInfo[] = [...NN_OPS, ...ELEMENTWISE_OPS, ...STRUCTURE_OPS, ...PLUMBING_OPS];

function buildRegistry(rows: readonly OpInfo[]): Readonly<Record<string, OpInfo>> {
  const table: Record<string, OpInfo> = Object.create(null) as Record<string, OpInfo>;
  for (const row of rows) {
    if (row.opType in table) throw new Error(`op table: '${row.opType}' has two rows`);
    table[row.opType] = row;
  }
  return Object.freeze(table);
}

/** The registry: op type -> row. */
export const OPS: Readonly<Record<string, OpInfo>> = buildRegistry(OP_ROWS);

/** Domains that mean the default ONNX operator set. */
export function isDefaultDomain(domain: string): boolean {
  return domain === '' || domain === 'ai.onnx';
}

/** The row for an op type of the default domain, or undefined when rebirth does not know it. */
export function opInfo(opType: string): OpInfo | undefined {
  return OPS[opType];
}

/** The row for a node: only default-domain nodes have one (a custom 'Conv' in another domain does not). */
export function nodeInfo(node: Node): OpInfo | undefined {
  return isDefaultDomain(node.domain) ? OPS[node.opType] : undefined;
}

/** DeepRebirth category of a node; nodes rebirth does not know (or of other domains) are 'other'. */
export function categoryOf(node: Pick<Node, 'opType' | 'domain'>): OpCategory {
  return isDefaultDomain(node.domain) ? (OPS[node.opType]?.category ?? 'other') : 'other';
}
