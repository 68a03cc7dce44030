// The runtime-plan flags shared by merge, tucker and optimize (src/plan, docs/planner.md).
import { RebirthError } from '../errors.js';
import type { Budget } from '../plan/search.js';
import { targetNames } from '../plan/targets.js';
import type { RuntimePlan, RuntimePlanOptions } from '../plan/plan.js';
import { explainPlan, planHeadline } from '../plan/explain.js';
import { optFlag, optString, type ParsedArgs } from './command.js';

export const PLAN_OPTIONS = {
  target: { type: 'string' }, 'latency-budget': { type: 'string' }, speedup: { type: 'string' },
  'plan-cache': { type: 'string' }, 'no-plan-cache': { type: 'boolean' },
} as const;

export const PLAN_USAGE = '[--target node|wasm|browser [--latency-budget MS | --speedup X] [--plan-cache DIR] [--no-plan-cache]]';

export interface PlanFlags {
  target: string;
  budget?: Budget;
  cache: RuntimePlanOptions['cache'];
}

function positiveNumber(args: ParsedArgs, name: string, above: number): number | undefined {
  const s = optString(args, name);
  if (s === undefined) return undefined;
  const v = Number(s);
  if (!Number.isFinite(v) || v <= above) throw new RebirthError(`--${name} must be a number > ${above}, got '${s}'`);
  return v;
}

/** The plan flags, or undefined without --target (then every candidate is applied, as before). */
export function planFlags(args: ParsedArgs): PlanFlags | undefined {
  const target = optString(args, 'target');
  const budgetFlags = ['latency-budget', 'speedup', 'plan-cache', 'no-plan-cache'].filter((f) => args.values[f] !== undefined);
  if (target === undefined) {
    if (budgetFlags.length) throw new RebirthError(`--${budgetFlags[0]} needs --target (plans are measured on a target runtime)`);
    return undefined;
  }
  const names = targetNames();
  if (!names.includes(target)) throw new RebirthError(`--target must be one of ${names.join(', ')}; got '${target}'`);
  const latencyMs = positiveNumber(args, 'latency-budget', 0);
  const speedup = positiveNumber(args, 'speedup', 1);
  if (latencyMs !== undefined && speedup !== undefined) throw new RebirthError('--latency-budget and --speedup are both given; give one budget');
  const dir = optString(args, 'plan-cache');
  const budget: Budget | undefined = latencyMs !== undefined ? { latencyMs } : speedup !== undefined ? { speedup } : undefined;
  return {
    target,
    ...(budget ? { budget } : {}),
    cache: { ...(dir !== undefined ? { dir } : {}), read: !optFlag(args, 'no-plan-cache') },
  };
}

/** Progress lines of the planner go to stderr, so --json stdout stays one document. */
export function planLog(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** The plan as the JSON reports carry it (the model itself is the output file). */
export function planJson(plan: RuntimePlan): Omit<RuntimePlan, 'model'> {
  const { model: _model, ...rest } = plan;
  return rest;
}

/** Text lines: the whole plan with --explain, its headline otherwise. */
export function planText(plan: RuntimePlan, explain: boolean): string[] {
  return explain ? explainPlan(plan) : [planHeadline(plan)];
}
