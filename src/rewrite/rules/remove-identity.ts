// Nodes that return their input unchanged at inference: Identity; Dropout (inference mode);
// Pad with all-zero pads; Reshape to the shape the input already has; Transpose by the identity
// permutation; Cast to the type the input already has. Removing one rewires its readers to its input.
// When its output is a graph output, the graph output's name has to survive: the input's producer
// is renamed to write that name instead (impossible when the input is itself a graph input,
// initializer or graph output, so those are refused).
import type { Dim, Node } from '../../ir/graph.js';
import { defineRule, type RewriteContext } from '../engine.js';
import { checkNode, constantTensor, intConstant, label, type Attrs } from '../guards.js';

interface RemoveIdentity {
  node: Node;
  input: string;
  output: string;
  /** 'reroute': readers of the output read the input; 'rename': the input's producer takes the output's name. */
  how: 'reroute' | 'rename';
}

/** Why the node is an identity, or null when it is not (or that cannot be shown); a string refuses. */
function isNoOp(node: Node, attrs: Attrs, ctx: RewriteContext): true | string | null {
  switch (node.opType) {
    case 'Identity':
      return true;
    case 'Dropout': {
      // Opsets 7-11 Dropout is the identity at inference; from 12 it is unless training_mode is true.
      const training = node.inputs[2] ?? '';
      if (training !== '') {
        const t = constantTensor(ctx, training, `training_mode of ${label(node)}`);
        if (typeof t === 'string') return t;
        if (!t.data || t.data.some((b) => b !== 0)) return `${label(node)} runs in training mode`;
      }
      const mask = node.outputs[1] ?? '';
      if (mask !== '' && (ctx.consumers(mask).length > 0 || ctx.isGraphOutput(mask))) return `${label(node)}: its mask output '${mask}' is used`;
      return true;
    }
    case 'Pad': {
      const pads = (ctx.opset ?? 0) < 11 ? attrs.ints('pads') : intConstant(ctx, node.inputs[1] ?? '', 'pads');
      if (pads === undefined || typeof pads === 'string') return null;
      return pads.every((p) => p === 0) ? true : null;
    }
    case 'Reshape': {
      const shape = intConstant(ctx, node.inputs[1] ?? '', 'shape');
      const input = ctx.valueType(node.inputs[0] ?? '')?.shape;
      if (typeof shape === 'string' || !input) return null;
      return reshapeKeepsShape(input, shape, attrs.int('allowzero') !== 0) ? true : null;
    }
    case 'Transpose': {
      const perm = attrs.ints('perm');
      if (perm) return perm.every((p, i) => p === i) ? true : null;
      // No perm reverses the axes: the identity only for rank 0 or 1.
      const rank = ctx.valueType(node.inputs[0] ?? '')?.shape?.length;
      return rank !== undefined && rank <= 1 ? true : null;
    }
    case 'Cast': {
      const from = ctx.valueType(node.inputs[0] ?? '')?.elemType;
      return from !== undefined && from === attrs.int('to') ? true : null;
    }
    default:
      return null;
  }
}

/** Reshape semantics: 0 copies the input dim (unless allowzero), -1 takes what is left, others are literal. */
export function reshapeKeepsShape(input: readonly Dim[], target: readonly number[], allowzero: boolean): boolean {
  if (input.length !== target.length) return false;
  if (input.some((d) => d === 0)) return false;
  let inferred = 0;
  for (let i = 0; i < target.length; i++) {
    const t = target[i] as number;
    if (t === 0 && !allowzero) continue;
    if (t === -1) {
      inferred++;
      continue;
    }
    if (input[i] !== t) return false;
  }
  // With every other axis equal, the single -1 axis must equal the input's (element counts match).
  return inferred <= 1;
}

export const removeIdentity = defineRule<RemoveIdentity>({
  name: 'remove-identity',
  root: ['Identity', 'Dropout', 'Pad', 'Reshape', 'Transpose', 'Cast'],
  description: 'remove Identity, inference Dropout and no-op Pad / Reshape / Transpose / Cast',
  policy: 'always',
  match(node, ctx) {
    const input = node.inputs[0] ?? '';
    const output = node.outputs[0] ?? '';
    if (input === '' || output === '') return null;
    const attrs = checkNode(ctx, node);
    if (typeof attrs === 'string') return attrs;
    const noop = isNoOp(node, attrs, ctx);
    if (noop !== true) return noop;
    if (!ctx.isGraphOutput(output)) return { node, input, output, how: 'reroute' };
    const p = ctx.producer(input);
    if (!p) return `${label(node)}: '${output}' is a graph output and '${input}' is a graph input or initializer, so a node must stay to produce it`;
    if (ctx.isGraphOutput(input)) return `${label(node)}: both '${input}' and '${output}' are graph outputs`;
    return { node, input, output, how: 'rename' };
  },
  apply({ node, input, output, how }, ctx) {
    ctx.removeNodes([node]);
    if (how === 'reroute') ctx.replaceReads(output, input);
    else ctx.renameValue(input, output);
  },
});
