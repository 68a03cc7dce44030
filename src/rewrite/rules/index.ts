import type { AnyRule } from '../engine.js';
import { foldBatchNorm } from './fold-batchnorm.js';
import { foldPad } from './fold-pad.js';
import { foldScale } from './fold-scale.js';
import { horizontalFusion } from './horizontal-fusion.js';
import { mergeLinearConvs } from './merge-linear-convs.js';
import { removeIdentity } from './remove-identity.js';

export { foldBatchNorm, foldPad, foldScale, horizontalFusion, mergeLinearConvs, removeIdentity };

/** Every rule, in the order they are tried on a node whose op type several rules index. */
export const ALL_RULES: readonly AnyRule[] = [removeIdentity, foldBatchNorm, foldScale, foldPad, mergeLinearConvs, horizontalFusion];

export function ruleByName(name: string): AnyRule | undefined {
  return ALL_RULES.find((r) => r.name === name);
}
