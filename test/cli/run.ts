// Running the CLI as a user does, for the CLI tests.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

export const root = path.join(import.meta.dirname, '..', '..');
const bin = path.join(root, 'src', 'cli', 'bin.ts');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `rebirth ARGS` with no stdin; cwd is the repository, where `--import tsx` resolves (files: absolute paths). */
export function rebirth(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', bin, ...args], { encoding: 'utf8', timeout: 300_000, cwd: root, input: '' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same without blocking, so independent cases can run side by side. */
export function rebirthAsync(...args: string[]): Promise<CliResult> {
  return rebirthChild(args);
}

export interface ChildOptions {
  /** Added to this process's environment. */
  env?: Record<string, string>;
  /** Default 300 s. */
  timeoutMs?: number;
  /** Called with the child's pid once it is spawned (to signal it, or to find its processes). */
  onSpawn?: (pid: number) => void;
}

/** `rebirth ARGS` as a child process, with its exit signal too (a test that kills it checks both). */
export function rebirthChild(args: readonly string[], options: ChildOptions = {}): Promise<CliResult & { signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', bin, ...args], {
      cwd: root, stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs ?? 300_000, env: { ...process.env, ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
  });
}

/** Bad input: a non-zero exit, exactly one line on stderr matching `pattern`, no stack trace. */
export function expectOneLineError(r: CliResult, pattern: RegExp): void {
  assert.notEqual(r.code, 0, 'exit code must be non-zero');
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace without --verbose');
}
