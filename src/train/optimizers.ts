import { RebirthError } from '../errors.js';

/**
 * Optimizers run in JavaScript over Float32Arrays. The update is O(parameters) per step; for the
 * networks rebirth retrains it costs well under 1% of a step (measured in bench/train-throughput.ts),
 * so moving it into the ONNX graph would add a second set of graph inputs/outputs for optimizer state
 * and buy nothing.
 */
export type OptimizerConfig =
  | { kind: 'sgd'; momentum?: number; nesterov?: boolean; weightDecay?: number }
  | { kind: 'adam' | 'adamw'; beta1?: number; beta2?: number; eps?: number; weightDecay?: number };

export interface ParamGroup {
  /** Multiplies the scheduled learning rate for this parameter (DeepRebirth: 10x for rebirth layers). */
  lrMult: number;
  /** Multiplies weight decay (0 for biases and BatchNorm parameters is customary). */
  decayMult: number;
}

export interface OptimizerState {
  kind: OptimizerConfig['kind'];
  step: number;
  /** Per parameter: named slots (momentum buffer, Adam moments). */
  slots: Record<string, Record<string, Float32Array>>;
}

export class Optimizer {
  private stepCount = 0;
  private slots = new Map<string, Record<string, Float32Array>>();

  constructor(readonly config: OptimizerConfig) {
    if (config.kind !== 'sgd' && config.kind !== 'adam' && config.kind !== 'adamw') {
      throw new RebirthError(`unknown optimizer '${String((config as { kind: unknown }).kind)}'; use sgd, adam or adamw`);
    }
  }

  get steps(): number {
    return this.stepCount;
  }

  /** One update of every parameter that has a gradient, in place. */
  step(params: Map<string, Float32Array>, grads: Map<string, Float32Array>, lr: number, groups: Map<string, ParamGroup>): void {
    this.stepCount++;
    for (const [name, g] of grads) {
      const w = params.get(name);
      if (!w) throw new RebirthError(`gradient for unknown parameter '${name}'`);
      if (w.length !== g.length) throw new RebirthError(`gradient for '${name}' has ${g.length} values, parameter has ${w.length}`);
      const group = groups.get(name) ?? { lrMult: 1, decayMult: 1 };
      const rate = lr * group.lrMult;
      if (this.config.kind === 'sgd') this.sgd(name, w, g, rate, group.decayMult);
      else this.adam(name, w, g, rate, group.decayMult);
    }
  }

  /** PyTorch's SGD: g += wd*w; v = mu*v + g; step = nesterov ? g + mu*v : v; w -= lr*step. */
  private sgd(name: string, w: Float32Array, g: Float32Array, lr: number, decayMult: number): void {
    const c = this.config as Extract<OptimizerConfig, { kind: 'sgd' }>;
    const mu = c.momentum ?? 0;
    const wd = (c.weightDecay ?? 0) * decayMult;
    const v = mu > 0 ? this.slot(name, 'momentum', w.length) : undefined;
    for (let i = 0; i < w.length; i++) {
      let d = (g[i] as number) + wd * (w[i] as number);
      if (v) {
        const vi = mu * (v[i] as number) + d;
        v[i] = vi;
        d = c.nesterov ? d + mu * vi : vi;
      }
      w[i] = (w[i] as number) - lr * d;
    }
  }

  /**
   * Adam (Kingma & Ba) with bias correction; 'adam' adds L2 decay to the gradient, 'adamw' decays the
   * weight directly (Loshchilov & Hutter): w -= lr*wd*w, independent of the moment estimates.
   */
  private adam(name: string, w: Float32Array, g: Float32Array, lr: number, decayMult: number): void {
    const c = this.config as Extract<OptimizerConfig, { kind: 'adam' | 'adamw' }>;
    const b1 = c.beta1 ?? 0.9;
    const b2 = c.beta2 ?? 0.999;
    const eps = c.eps ?? 1e-8;
    const wd = (c.weightDecay ?? 0) * decayMult;
    const m = this.slot(name, 'm', w.length);
    const v = this.slot(name, 'v', w.length);
    const c1 = 1 - b1 ** this.stepCount;
    const c2 = 1 - b2 ** this.stepCount;
    const decoupled = c.kind === 'adamw';
    for (let i = 0; i < w.length; i++) {
      let gi = g[i] as number;
      const wi = w[i] as number;
      if (!decoupled) gi += wd * wi;
      const mi = b1 * (m[i] as number) + (1 - b1) * gi;
      const vi = b2 * (v[i] as number) + (1 - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      let next = wi - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
      if (decoupled) next -= lr * wd * wi;
      w[i] = next;
    }
  }

  private slot(name: string, key: string, n: number): Float32Array {
    let s = this.slots.get(name);
    if (!s) {
      s = {};
      this.slots.set(name, s);
    }
    let a = s[key];
    if (!a) {
      a = new Float32Array(n);
      s[key] = a;
    }
    return a;
  }

  state(): OptimizerState {
    return { kind: this.config.kind, step: this.stepCount, slots: Object.fromEntries(this.slots) };
  }

  load(state: OptimizerState): void {
    if (state.kind !== this.config.kind) {
      throw new RebirthError(`checkpoint was written by optimizer '${state.kind}', this run uses '${this.config.kind}'`);
    }
    this.stepCount = state.step;
    this.slots = new Map(Object.entries(state.slots));
  }
}
