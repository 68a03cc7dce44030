import { formatClock, formatMs, formatNumber } from './format.js';

/** The part of a writable stream a progress bar needs; process.stderr satisfies it. */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  /** Terminal width; lines are cut to fit because a wrapped line cannot be redrawn with '\r'. */
  columns?: number;
}

export interface ProgressOptions {
  /** Units of work in all (images, steps, batches). 0 means unknown: no bar, percent or ETA. */
  total: number;
  label?: string;
  /** Unit name for counts and rates, e.g. "img" gives "1234 img/s". Default "it". */
  unit?: string;
  /** Default process.stderr: progress is diagnostics, stdout stays clean for results and pipes. */
  stream?: ProgressStream;
  /** Milliseconds clock, injectable for tests. Default performance.now. */
  now?: () => number;
  /** Override the stream's isTTY (e.g. --no-progress-bar). */
  tty?: boolean;
  /** Plain (non-TTY) mode: minimum time between lines. Default 5000 ms: readable CI logs. */
  plainIntervalMs?: number;
  /** TTY mode: minimum time between redraws. Default 100 ms: redrawing per tick costs more than tiny steps. */
  ttyIntervalMs?: number;
}

const BAR_MIN = 10;
const BAR_MAX = 30;

/**
 * A progress report for long work. On a terminal one line is redrawn in place (bar, percent, rate,
 * ETA, extra fields such as loss); elsewhere (CI logs, pipes) plain lines are printed at most every
 * plainIntervalMs and once at the end, with no control characters at all.
 */
export class Progress {
  private readonly total: number;
  private readonly label: string;
  private readonly unit: string;
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly tty: boolean;
  private readonly plainIntervalMs: number;
  private readonly ttyIntervalMs: number;
  private readonly start: number;
  private count = 0;
  private extra: Record<string, string | number> = {};
  private lastDraw: number;
  private finished = false;

  constructor(options: ProgressOptions) {
    if (!Number.isFinite(options.total) || options.total < 0) {
      throw new RangeError(`Progress total must be a finite number >= 0, got ${options.total}`);
    }
    this.total = options.total;
    this.label = sanitize(options.label ?? '');
    this.unit = sanitize(options.unit ?? 'it');
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? (() => performance.now());
    this.tty = options.tty ?? this.stream.isTTY === true;
    this.plainIntervalMs = options.plainIntervalMs ?? 5000;
    this.ttyIntervalMs = options.ttyIntervalMs ?? 100;
    this.start = this.now();
    this.lastDraw = this.start;
    // A terminal shows the bar at 0% at once so the user sees work has begun; a log waits for news.
    if (this.tty) this.drawTty();
  }

  /** Record n more units done; `extra` fields replace earlier ones of the same name. */
  tick(n = 1, extra?: Record<string, string | number>): void {
    if (this.finished) return;
    this.count += n;
    if (extra) this.extra = { ...this.extra, ...extra };
    const t = this.now();
    if (this.tty) {
      if (t - this.lastDraw >= this.ttyIntervalMs) {
        this.lastDraw = t;
        this.drawTty();
      }
    } else if (t - this.lastDraw >= this.plainIntervalMs) {
      this.lastDraw = t;
      this.stream.write(`${this.line(false)}\n`);
    }
  }

  /** Final line (always printed), ending with a newline. Calling it twice prints once. */
  done(extra?: Record<string, string | number>): void {
    if (this.finished) return;
    this.finished = true;
    if (extra) this.extra = { ...this.extra, ...extra };
    if (this.tty) {
      this.drawTty(true);
      this.stream.write('\n');
    } else {
      this.stream.write(`${this.line(true)}\n`);
    }
  }

  private drawTty(final = false): void {
    const columns = this.stream.columns && this.stream.columns > 20 ? this.stream.columns : 80;
    // columns - 1: writing into the last column makes some terminals wrap early.
    let text = this.line(final, columns - 1);
    if (Array.from(text).length > columns - 1) text = Array.from(text).slice(0, columns - 1).join('');
    // '\r' + text + erase-to-end-of-line: erases leftovers when the new line is shorter.
    this.stream.write(`\r${text}\x1b[K`);
  }

  /** The status line; with `width` (TTY) a bar is included, sized to fit. */
  private line(final: boolean, width?: number): string {
    const elapsed = Math.max(0, this.now() - this.start);
    const rate = elapsed > 0 ? (this.count * 1000) / elapsed : 0;
    const known = this.total > 0;
    const fraction = known ? Math.min(1, this.count / this.total) : 0;
    const parts: string[] = [];
    const countText = known
      ? `${formatNumber(this.count, 6)}/${formatNumber(this.total, 6)} ${this.unit}`
      : `${formatNumber(this.count, 6)} ${this.unit}`;
    const percent = known ? `${(fraction * 100).toFixed(0).padStart(3)}%` : '';
    const rateText = elapsed > 0 ? `${formatNumber(rate, 3)} ${this.unit}/s` : `-- ${this.unit}/s`;
    let timeText: string;
    if (final) timeText = `in ${formatMs(elapsed)}`;
    else if (known && rate > 0) timeText = `ETA ${formatClock(((this.total - this.count) / rate) * 1000)}`;
    else timeText = `elapsed ${formatClock(elapsed)}`;
    const extras = Object.entries(this.extra).map(
      ([k, v]) => `${sanitize(k)}=${typeof v === 'number' ? formatNumber(v) : sanitize(v)}`,
    );

    if (this.label) parts.push(this.label);
    if (width !== undefined && known) {
      // A quarter of the terminal, fixed per width rather than fitted to the rest of the line: a bar
      // that resizes as the text beside it changes length jitters. Overlong lines are cut at the end.
      const barWidth = Math.max(BAR_MIN, Math.min(BAR_MAX, Math.floor(width / 4)));
      const filled = Math.round(fraction * barWidth);
      parts.push(`[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}]`);
    }
    if (percent) parts.push(percent);
    parts.push(countText, rateText, timeText, ...extras);
    return parts.join(' ');
  }

  /**
   * Print a message of its own (e.g. an epoch summary) without garbling the bar: on a terminal the
   * bar line is cleared, the message printed, and the bar redrawn below it.
   */
  log(message: string): void {
    // Newlines are kept (a multi-line summary stays readable); every other control character goes in logs.
    const text = this.tty ? message : message.split('\n').map(sanitize).join('\n');
    if (this.tty && !this.finished) {
      this.stream.write(`\r\x1b[K${text}\n`);
      this.drawTty();
    } else {
      this.stream.write(`${text}\n`);
    }
  }
}

/** Strip control characters (C0, DEL, C1) so labels and values can never inject terminal escapes. */
function sanitize(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}
