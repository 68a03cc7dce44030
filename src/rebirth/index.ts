/** DeepRebirth merges: streamline (conv + pool/LRN) and branch (Inception) merging, planning and timing. */
export { applyMerges, measureMerges, pairedGain, planMerges, timeModels } from './plan.js';
export type {
  AppliedMerge, CandidateLatency, LatencyOptions, LatencyStats, MergeCandidate, MergeKind, MergeOptions, MergePlan, MergeResult, Refusal,
} from './plan.js';
export { matchStreamline, buildStreamline } from './streamline.js';
export type { KernelMode, StreamlineMatch, StreamlineOptions } from './streamline.js';
export { matchInception, buildBranch } from './branch.js';
export type { BranchLayout, BranchMatch, BranchOptions } from './branch.js';
export { foldPools, learningRateMultipliers, projectThrough, topChannelsByNorm } from './init.js';
export type { Exactness, InitMethod, RebirthLayer } from './init.js';
export { fitRebirthLayers } from './fit.js';
export type { FitOptions, FitReport } from './fit.js';
export { composeWindows, solvePadEnd, windowOutputSize } from './geometry.js';
export type { Window1D } from './geometry.js';
