import { RebirthError } from '../errors.js';

/** Learning-rate schedules as pure functions of the step, so a resumed run continues exactly. */
export type ScheduleConfig =
  | { kind: 'constant' }
  /** DeepRebirth / Caffe "step": lr * gamma^floor(step / stepSize). */
  | { kind: 'step'; stepSize: number; gamma: number }
  /** Cosine from lr down to lr * minFactor over the run. */
  | { kind: 'cosine'; minFactor?: number };

export interface Schedule {
  config: ScheduleConfig;
  /** Linear warm-up from ~0 over this many steps (0 = none). */
  warmupSteps: number;
}

export function learningRate(base: number, schedule: Schedule, step: number, totalSteps: number): number {
  let lr: number;
  const c = schedule.config;
  switch (c.kind) {
    case 'constant': lr = base; break;
    case 'step': lr = base * c.gamma ** Math.floor(step / c.stepSize); break;
    case 'cosine': {
      const min = base * (c.minFactor ?? 0);
      const t = totalSteps > 0 ? Math.min(step / totalSteps, 1) : 0;
      lr = min + (base - min) * 0.5 * (1 + Math.cos(Math.PI * t));
      break;
    }
  }
  if (schedule.warmupSteps > 0 && step < schedule.warmupSteps) lr *= (step + 1) / schedule.warmupSteps;
  return lr;
}

/** Parse the CLI form: constant | cosine | step:SIZE:GAMMA (SIZE in epochs is converted by the caller). */
export function parseSchedule(text: string, stepsPerEpoch: number): ScheduleConfig {
  if (text === 'constant') return { kind: 'constant' };
  if (text === 'cosine') return { kind: 'cosine' };
  const m = /^step:(\d+(?:\.\d+)?):(\d*\.?\d+)$/.exec(text);
  if (m) return { kind: 'step', stepSize: Math.max(1, Math.round(Number(m[1]) * stepsPerEpoch)), gamma: Number(m[2]) };
  throw new RebirthError(`--schedule must be constant, cosine or step:EPOCHS:GAMMA (e.g. step:4:0.1), got '${text}'`);
}
