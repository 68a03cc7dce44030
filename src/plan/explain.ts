/** A runtime plan in words: what `--explain` prints, one line per candidate with its measured gain and why. */
import { formatNumber } from '../util/format.js';
import type { RuntimePlan, RuntimePlanReport } from './plan.js';
import { fmtRatio } from './search.js';

function params(n: number): string {
  return n === 0 ? '0' : n >= 1e6 ? `${formatNumber(n / 1e6, 3)}M` : n >= 1e3 ? `${formatNumber(n / 1e3, 3)}K` : String(n);
}

/** One line: target, what was kept, the plan's measured speed-up and where the plan came from. */
export function planHeadline(plan: RuntimePlanReport & Partial<Pick<RuntimePlan, 'cache'>>): string {
  const total = plan.stages.reduce((a, s) => a + s.candidates.length, 0);
  const gain = plan.summary ? `; the planned model (exact folds and kept changes) measured ${fmtRatio(plan.summary)} against the original` : '';
  const cache = plan.cache?.hit ? ` (cached plan ${plan.cache.file ?? ''}, no measurement)` : `; ${plan.decisions} decisions in ${plan.measuringSeconds.toFixed(0)} s`;
  return `plan for ${plan.target} (${plan.runtime}; ${plan.machine}): kept ${plan.kept.length} of ${total} candidates${gain}${cache}`;
}

export function explainPlan(plan: RuntimePlanReport & Partial<Pick<RuntimePlan, 'cache'>>): string[] {
  const lines = [planHeadline(plan)];
  if (plan.cache?.note) lines.push(`note: ${plan.cache.note}`);
  if (plan.budget) {
    const goal = plan.budget.speedup !== undefined ? `speed-up ${plan.budget.speedup}x` : `latency ${plan.budget.latencyMs} ms`;
    const last = plan.budget.checks[plan.budget.checks.length - 1];
    lines.push(`budget ${goal}: ${plan.budget.reached ? 'reached' : 'not reached'}${last ? ` (last check ${fmtRatio(last)}, ${formatNumber(last.candidateMs, 4)} ms)` : ''}`);
  }
  for (const stage of plan.stages) {
    lines.push(`${stage.family} stage: ${stage.candidates.filter((c) => c.status === 'kept').length} of ${stage.candidates.length} kept`);
    for (const c of stage.candidates) {
      const gain = c.gain ? `${fmtRatio(c.gain)} ${c.gain.phase === 'backward' ? 'without/with' : c.gain.phase === 'joint' ? 'jointly' : 'in context'}` : 'not measured';
      lines.push(`  ${c.status === 'kept' ? 'kept' : 'left'} ${c.name} [${c.family}, ${c.exactness}, retrains ${params(c.retrainParams)}] ${gain}: ${c.why}`);
    }
    for (const r of stage.refused) lines.push(`  not a candidate: ${r.site}${r.variant ? ` (${r.variant})` : ''}: ${r.reason}`);
  }
  return lines;
}
