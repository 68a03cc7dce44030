import type { ParseArgsConfig } from 'node:util';
import type { Dim, Model, ValueInfo } from '../ir/graph.js';
import { RebirthError } from '../errors.js';
import { bindInputShapes, inputsNeedingShapes } from '../shapes/bind.js';
import { formatShape } from '../ops/dims.js';
import type { ParsedArgs } from './command.js';

type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** `--input-shape NAME=D1,D2,...`, repeatable (onnx-simplifier's --overwrite-input-shape). */
export const INPUT_SHAPE_OPTION: OptionSpec = { 'input-shape': { type: 'string', multiple: true } };

/**
 * What a command does with the model, which decides how its input shapes are bound:
 * - 'inspect': binds what --input-shape gives and nothing else (inspect, eval: symbolic dims are fine);
 * - 'run': one run at a fixed size (profile, optimize, merge and tucker without retraining): dims past
 *   the batch must be static, a symbolic batch is run at 1;
 * - 'train': batches of the training size (train, grad, merge and tucker with retraining): dims past the
 *   batch must be static, and the batch dim is left free, even where the model or --input-shape fixes it
 *   (a batch-1 export trains at its training batch).
 */
export type ShapeUse = 'inspect' | 'run' | 'train';

export interface CliInputShapes {
  use: ShapeUse;
  shapes?: Record<string, number[]>;
}

function parseOne(text: string): [string, number[]] {
  const eq = text.lastIndexOf('=');
  const name = eq > 0 ? text.slice(0, eq) : '';
  if (!name) throw new RebirthError(`--input-shape '${text}': write NAME=D1,D2,... (e.g. input=1,3,224,224)`);
  const parts = text.slice(eq + 1).split(',');
  const dims = parts.map((p, k) => {
    const s = p.trim();
    if (!/^[+-]?\d+$/.test(s)) throw new RebirthError(`--input-shape ${text}: dim ${k} '${s}' is not a whole number; dims are whole numbers >= 1`);
    const d = Number(s);
    if (d < 1) throw new RebirthError(`--input-shape ${text}: dim ${k} is ${d}; dims are whole numbers >= 1`);
    return d;
  });
  return [name, dims];
}

/** The --input-shape flags as NAME -> dims, undefined when none are given. One-line errors name the flag. */
export function parseInputShapes(args: ParsedArgs): Record<string, number[]> | undefined {
  const raw = args.values['input-shape'];
  if (raw === undefined) return undefined;
  const list = (Array.isArray(raw) ? raw : [raw]).map((v) => {
    if (typeof v !== 'string') throw new RebirthError('--input-shape needs a value NAME=D1,D2,...');
    return v;
  });
  const shapes: Record<string, number[]> = {};
  for (const text of list) {
    const [name, dims] = parseOne(text);
    if (Object.prototype.hasOwnProperty.call(shapes, name)) throw new RebirthError(`--input-shape: input '${name}' is given twice; give each input once`);
    shapes[name] = dims;
  }
  return shapes;
}

/** --input-shape and the command's use of the model, for resolveModel. */
export function inputShapeArgs(args: ParsedArgs, use: ShapeUse): CliInputShapes {
  const shapes = parseInputShapes(args);
  return { use, ...(shapes ? { shapes } : {}) };
}

/** The flag that would bind `v`: the leading dim 1, numbers kept, <name> placeholders for symbolic dims. */
function suggestion(v: ValueInfo): string {
  if (!v.shape) return `--input-shape ${v.name}=D1,D2,...`;
  const dims = v.shape.map((d, k) => (k === 0 ? (typeof d === 'number' ? String(d) : '1') : typeof d === 'number' ? String(d) : `<${d ?? `dim${k}`}>`));
  return `--input-shape ${v.name}=${dims.join(',')}`;
}

/** A dim 0 the batches of a training command can vary: the model's own symbol, else 'batch'. */
function freeBatch(v: ValueInfo | undefined): Dim {
  const d = v?.shape?.[0];
  return typeof d === 'string' ? d : 'batch';
}

/**
 * The model with --input-shape applied for the command's use (see ShapeUse). Errors are one line, name
 * the input and say what to pass.
 */
export function applyInputShapes(model: Model, cli: CliInputShapes): Model {
  const g = model.graph;
  const fed = g.inputs.filter((v) => !g.initializers.has(v.name));
  const shapes: Record<string, Dim[]> = { ...(cli.shapes ?? {}) };
  if (cli.use === 'train') {
    for (const v of fed) {
      const dims = shapes[v.name] ?? v.shape;
      if (dims && dims.length > 0) shapes[v.name] = [freeBatch(v), ...dims.slice(1)];
    }
    // Inputs already free in their batch need no rebinding.
    for (const v of fed) {
      const dims = shapes[v.name];
      if (!cli.shapes?.[v.name] && dims && v.shape && dims.every((d, k) => d === v.shape?.[k])) delete shapes[v.name];
    }
  }
  let bound = model;
  if (Object.keys(shapes).length > 0) {
    try {
      bound = bindInputShapes(model, shapes);
    } catch (e) {
      if (!(e instanceof RebirthError)) throw e;
      throw new RebirthError(cli.shapes ? `--input-shape: ${e.message}` : `training feeds batches of its own size, so the batch dim is freed: ${e.message}`);
    }
  }
  if (cli.use !== 'inspect') {
    const open = inputsNeedingShapes(bound);
    if (open.length > 0) {
      const what = open.map((v) => `input '${v.name}' has ${v.shape ? `symbolic dims ${formatShape(v.shape)}` : 'no declared shape'}`).join(', ');
      throw new RebirthError(`${what}; pass ${open.map(suggestion).join(' ')}`);
    }
  }
  return bound;
}
