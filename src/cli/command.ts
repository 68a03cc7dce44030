import { parseArgs, type ParseArgsConfig } from 'node:util';
import { resolve as resolvePath } from 'node:path';
import { RebirthError } from '../errors.js';

type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** One CLI command: a thin layer that parses options and calls the library. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: OptionSpec;
  run(args: ParsedArgs): Promise<void>;
}

export interface ParsedArgs {
  positionals: string[];
  values: Record<string, string | boolean | Array<string | boolean> | undefined>;
}

export const COMMON_OPTIONS: OptionSpec = {
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

export function parseCommandArgs(cmd: Command, argv: string[]): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: argv, options: { ...COMMON_OPTIONS, ...cmd.options }, allowPositionals: true, strict: true,
    });
    return { values, positionals };
  } catch (e) {
    const msg = (e instanceof Error ? e.message.split('\n')[0] : String(e)) ?? 'bad arguments';
    const ambiguous = /Option '(--[\w-]+)' argument is ambiguous/.exec(msg);
    if (ambiguous) throw new RebirthError(`${ambiguous[1]}: a value starting with '-' must be written ${ambiguous[1]}=VALUE`);
    throw new RebirthError(`rebirth ${cmd.name}: ${msg}; usage: ${cmd.usage}`);
  }
}

/** Typed option readers that turn bad values into one-line errors naming the option. */
export function optString(args: ParsedArgs, name: string): string | undefined {
  const v = args.values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new RebirthError(`--${name} needs a value`);
  return v;
}

export function optFlag(args: ParsedArgs, name: string): boolean {
  return args.values[name] === true;
}

export function optInt(args: ParsedArgs, name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
  const s = optString(args, name);
  if (s === undefined) return fallback;
  const v = Number(s);
  const min = range.min ?? -Infinity;
  const max = range.max ?? Infinity;
  if (!Number.isInteger(v) || v < min || v > max) {
    const bounds = range.max !== undefined ? ` from ${min} to ${max}` : range.min !== undefined ? ` >= ${min}` : '';
    throw new RebirthError(`--${name} must be a whole number${bounds}, got '${s}'`);
  }
  return v;
}

export function optNumber(args: ParsedArgs, name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
  const s = optString(args, name);
  if (s === undefined) return fallback;
  const v = Number(s);
  if (!Number.isFinite(v) || v < (range.min ?? -Infinity) || v > (range.max ?? Infinity)) {
    throw new RebirthError(`--${name} must be a number${range.min !== undefined ? ` >= ${range.min}` : ''}${range.max !== undefined ? ` and <= ${range.max}` : ''}, got '${s}'`);
  }
  return v;
}

export function optChoice<T extends string>(args: ParsedArgs, name: string, choices: readonly T[], fallback: T): T {
  const s = optString(args, name);
  if (s === undefined) return fallback;
  if (!(choices as readonly string[]).includes(s)) {
    throw new RebirthError(`--${name} must be one of ${choices.join(', ')}; got '${s}'`);
  }
  return s as T;
}

export function positional(args: ParsedArgs, index: number, what: string, cmd: Command): string {
  const v = args.positionals[index];
  if (v === undefined) throw new RebirthError(`rebirth ${cmd.name}: missing ${what}; usage: ${cmd.usage}`);
  return v;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Fail before any work when -o would overwrite an input (saveModel re-checks at write time). */
export function checkOutput(out: string, inputs: ReadonlyArray<string | undefined>): void {
  const target = resolvePath(out);
  for (const i of inputs) {
    if (i !== undefined && resolvePath(i) === target) {
      throw new RebirthError(`refusing to overwrite the input model ${i}; choose another output path with -o`);
    }
  }
}
