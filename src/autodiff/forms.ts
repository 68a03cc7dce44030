// Which formulation each gradient rule emits where several exact ones exist. The defaults are the
// measured fastest on ORT 1.30 (docs/training.md); the others stay selectable so bench/train-profile.ts can
// compare old and new graphs interleaved in one process, and the tests check every form against the same
// references (finite differences, the PyTorch fixtures, ORT's Indices on ties).

export interface GradForms {
  /**
   * MaxPool backward: 'scatter' = forward with Indices + ScatterElements(add); 'argmax' = the plain (fast)
   * MaxPool forward, and backward from ArgMax over the stacked window taps routed by a one-hot ConvTranspose.
   */
  maxPool: 'scatter' | 'argmax';
  /**
   * Conv dX: 'transpose' = always ConvTranspose(dY, W); 'conv' = Conv with the flipped, transposed kernel
   * whenever the stride is 1; 'auto' = that Conv only where its im2col buffer is no larger than
   * ConvTranspose's column buffer (1x1 kernels, or no more output than input channels per group).
   */
  convInput: 'transpose' | 'conv' | 'auto';
  /**
   * Conv/ConvTranspose dW: 'batched-taps' = per-tap MatMul batched over (n, group), Concat, ReduceSum over n;
   * 'folded-taps' = per-tap product with the batch folded into the contraction.
   */
  convWeight: 'batched-taps' | 'folded-taps';
  /** LRN's s^-beta: 'pow' = Pow; 'roots' = Sqrt/Mul/Reciprocal when beta is a multiple of 1/4 (else Pow). */
  lrnPower: 'pow' | 'roots';
  /**
   * dy masked by a condition (the backward of Relu and Clip, and HardSwish's zero below -3): 'where' =
   * Where(cond, dy, 0); 'cast' = Cast(cond) * dy. They differ only where dy is not finite and cond is false
   * (Where gives 0, 0 * inf NaN).
   */
  mask: 'where' | 'cast';
}

/** Every choice of each form, for callers that take forms from text (bench/train-profile.ts). */
export const GRAD_FORM_CHOICES: { readonly [K in keyof GradForms]: readonly GradForms[K][] } = {
  maxPool: ['scatter', 'argmax'],
  convInput: ['transpose', 'conv', 'auto'],
  convWeight: ['batched-taps', 'folded-taps'],
  lrnPower: ['pow', 'roots'],
  mask: ['where', 'cast'],
};

export const DEFAULT_GRAD_FORMS: Readonly<GradForms> = Object.freeze({ maxPool: 'scatter', convInput: 'auto', convWeight: 'folded-taps', lrnPower: 'roots', mask: 'cast' });

let activeForms: Readonly<GradForms> = DEFAULT_GRAD_FORMS;

/** The forms the rules emit now: the defaults, or those a withGradForms call around the build set. */
export function gradForms(): Readonly<GradForms> {
  return activeForms;
}

/**
 * Runs `build` (synchronously, e.g. a buildTrainingGraph call) with some gradient forms overridden, and
 * restores the previous forms afterwards. For benchmarks and tests that compare formulations.
 */
export function withGradForms<T>(forms: Partial<GradForms>, build: () => T): T {
  const previous = activeForms;
  activeForms = { ...previous, ...forms };
  try {
    return build();
  } finally {
    activeForms = previous;
  }
}
