/**
 * An error meant for the user: its message is one line that names the file, node or option at fault
 * and says what would fix it. The CLI prints only the message (no stack) unless --verbose.
 */
export class RebirthError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RebirthError';
  }
}

/** Narrow an unknown thrown value to a message, for wrapping third-party errors in a RebirthError. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/** First line of a (possibly multi-line) message: third-party errors often carry stack-like dumps. */
export function firstLine(text: string): string {
  const line = text.split('\n').find((l) => l.trim().length > 0) ?? text;
  return line.trim();
}

/** A library option that must be a whole number of at least `min` (counts of runs, rounds, steps). */
export function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new RebirthError(`option ${name} must be an integer >= ${min}, got ${value}`);
  }
}
