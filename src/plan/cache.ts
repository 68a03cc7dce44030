/**
 * Plans are expensive (tens of whole-model decisions) and depend only on the model, the target
 * runtime, the machine and the planner's options, so they are kept on disk under a key of exactly
 * those: `$XDG_CACHE_HOME/rebirth/plans` (default `~/.cache/rebirth/plans`) or a directory the caller
 * names. A file holds the plan without the model (the recipes rebuild it) and the key in clear, so a
 * hash collision or a hand-edited file is detected. Files are written to a temp file and renamed, so
 * a reader never sees half a plan and two planners racing on one key leave one whole file.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeFileAtomic } from '../onnx/file.js';

export function defaultPlanCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'rebirth', 'plans');
}

/** What a cached plan is valid for. */
export interface PlanKey {
  /** sha256 of the input model's ONNX bytes. */
  model: string;
  target: string;
  /** The runtime build ('onnxruntime-node 1.30.0'). */
  runtime: string;
  /** CPU model, cores, architecture. */
  machine: string;
  /** Everything else the plan depends on (families, alternatives, budget, decision rule), as canonical JSON. */
  options: string;
}

const FORMAT = 1;

export function hashBytes(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** JSON with object keys sorted, so equal options give equal keys whatever order they were written in. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

export function planCacheFile(dir: string, key: PlanKey): string {
  const id = createHash('sha256').update(canonicalJson(key)).digest('hex').slice(0, 32);
  return path.join(dir, `${id}.json`);
}

/** The cached plan for `key`, or undefined (no file, another key, another format, unreadable). */
export function readCachedPlan<T>(dir: string, key: PlanKey): { file: string; plan: T } | undefined {
  const file = planCacheFile(dir, key);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const p = parsed as { format?: unknown; key?: unknown; plan?: unknown };
  if (p.format !== FORMAT || canonicalJson(p.key) !== canonicalJson(key) || typeof p.plan !== 'object' || p.plan === null) return undefined;
  return { file, plan: p.plan as T };
}

export function writeCachedPlan(dir: string, key: PlanKey, plan: unknown): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = planCacheFile(dir, key);
  writeFileAtomic(file, `${JSON.stringify({ format: FORMAT, key, written: new Date().toISOString(), plan }, null, 1)}\n`);
  return file;
}
