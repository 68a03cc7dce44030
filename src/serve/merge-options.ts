import type { MergeOptions } from '../merge/plan.js';

/**
 * The merges the page plans and applies: what `rebirth merge MODEL -o OUT` does without --data (every
 * kind of merge and the exact folds, the library's defaults; rebirth layers initialised from the
 * original weights, `inherit`, with the CLI's seed 1), so the page's download equals the CLI's
 * `applyMerges` output for the same model (test/browser/page.test.ts checks it on ORT).
 */
export const PAGE_MERGE_OPTIONS: Readonly<MergeOptions> = Object.freeze({ init: 'inherit', seed: 1, kernel: 'cover', reducerRatio: 0.5 });
