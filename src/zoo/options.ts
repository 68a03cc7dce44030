import { RebirthError } from '../errors.js';

/**
 * BatchNorm statistics of freshly built networks. 'identity' (gamma 1, beta 0, mean 0, var 1) makes
 * every BatchNormalization a no-op up to epsilon; 'random' perturbs all four so that folding BN into the
 * preceding conv changes the weights and a wrong fold shows up numerically.
 */
export type BnStats = 'identity' | 'random';

export interface ZooOptions {
  /** Batch dimension of the graph input and output: a fixed size, or a symbolic name. Default 'N'. */
  batch?: number | string;
  /** Seed of the weight initialisation. Default 0. */
  seed?: number;
  /** Outputs of the final classifier. Default: the network's own (1000 for ImageNet, 10 for googlenet-mini). */
  classes?: number;
  /** Default 'identity'. Only networks with BatchNormalization (resnet*) are affected. */
  bnStats?: BnStats;
  /**
   * Write the shape of every intermediate value into graph.valueInfo (needed by summarizeLayers). Off by
   * default: a rewrite that changes a value's shape but keeps its name would leave a stale entry there.
   */
  valueInfo?: boolean;
}

export interface ResolvedZooOptions {
  batch: number | string;
  seed: number;
  classes: number;
  bnStats: BnStats;
  valueInfo: boolean;
}

export function resolveZooOptions(model: string, options: ZooOptions, defaultClasses: number): ResolvedZooOptions {
  const batch = options.batch ?? 'N';
  if (typeof batch === 'number' ? !Number.isInteger(batch) || batch < 1 : batch.length === 0) {
    throw new RebirthError(`zoo model '${model}': batch must be an integer >= 1 or a symbolic name like 'N', got ${JSON.stringify(batch)}`);
  }
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) {
    throw new RebirthError(`zoo model '${model}': seed must be a safe integer, got ${seed}`);
  }
  const classes = options.classes ?? defaultClasses;
  if (!Number.isInteger(classes) || classes < 1) {
    throw new RebirthError(`zoo model '${model}': classes must be an integer >= 1, got ${classes}`);
  }
  const bnStats = options.bnStats ?? 'identity';
  if (bnStats !== 'identity' && bnStats !== 'random') {
    throw new RebirthError(`zoo model '${model}': bnStats must be 'identity' or 'random', got '${String(bnStats)}'`);
  }
  return { batch, seed, classes, bnStats, valueInfo: options.valueInfo ?? false };
}
