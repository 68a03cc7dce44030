/** Human-readable formatting for CLI output, progress lines and reports. */

/**
 * A number with `digits` significant digits, without exponent notation for everyday magnitudes
 * and without trailing zeros ("0.31", "1234", "12.5"). Non-finite values print as "NaN"/"inf".
 */
export function formatNumber(value: number, digits = 4): string {
  if (Number.isNaN(value)) return 'NaN';
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e15 || abs < 1e-6) return value.toExponential(Math.max(0, digits - 1));
  // Integers at or above the significant-digit budget print whole: "12345" reads better than "1.235e4".
  if (abs >= 10 ** digits) return Math.round(value).toString();
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(abs)));
  return trimZeros(value.toFixed(Math.min(decimals, 20)));
}

function trimZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/**
 * A duration in milliseconds: "0.042 ms", "12.3 ms", "1.23 s", "2m 05s", "1h 02m".
 * Sub-millisecond precision matters for per-layer timings; minutes/hours matter for training.
 */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return formatNumber(ms);
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  if (abs < 1000) return `${sign}${formatNumber(abs, 3)} ms`;
  if (abs < 60_000) return `${sign}${formatNumber(abs / 1000, 3)} s`;
  const totalSeconds = Math.round(abs / 1000);
  if (totalSeconds < 3600) {
    const m = Math.floor(totalSeconds / 60);
    return `${sign}${m}m ${pad2(totalSeconds % 60)}s`;
  }
  const totalMinutes = Math.round(abs / 60_000);
  const h = Math.floor(totalMinutes / 60);
  return `${sign}${h}h ${pad2(totalMinutes % 60)}m`;
}

/** A clock-style duration for ETAs: "0:07", "12:34", "1:02:03". Seconds are rounded up so "0:00" means done. */
export function formatClock(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '--:--';
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}:${pad2(m)}:${pad2(s)}` : `${m}:${pad2(s)}`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : `${n}`;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

/** Bytes in binary units: "512 B", "1.5 KiB", "44.7 MiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return formatNumber(bytes);
  const sign = bytes < 0 ? '-' : '';
  let v = Math.abs(bytes);
  let unit = 0;
  while (v >= 1024 && unit < BYTE_UNITS.length - 1) {
    v /= 1024;
    unit++;
  }
  if (unit === 0) return `${sign}${Math.round(v)} B`;
  return `${sign}${formatNumber(v, 3)} ${BYTE_UNITS[unit]}`;
}

/** A fraction (0.892) as a percentage with fixed decimals ("89.2%"). */
export function formatPercent(fraction: number, decimals = 1): string {
  if (!Number.isFinite(fraction)) return formatNumber(fraction);
  return `${(fraction * 100).toFixed(decimals)}%`;
}

/** A speed-up factor: "3.42x". */
export function formatRatio(ratio: number, decimals = 2): string {
  if (!Number.isFinite(ratio)) return formatNumber(ratio);
  return `${ratio.toFixed(decimals)}x`;
}

export type Align = 'left' | 'right';

export interface TableOptions {
  /** One per column; a column without an entry is right-aligned when all its cells look numeric. */
  align?: readonly Align[];
  /** Spaces between columns (default 2). */
  gap?: number;
}

/** Cells that read as numbers, units and all: "12", "-3.5", "89.2%", "3.42x", "12.3 ms", "1.5 KiB". */
const NUMERIC_CELL = /^[-+]?(\d[\d,]*\.?\d*|\.\d+)(e[-+]?\d+)?\s*(%|x|ms|s|[KMGTP]i?B|B)?$/i;

/**
 * A fixed-width text table: header row, a dashed rule, then rows. Widths count code points so
 * accented layer names line up; wide (CJK) glyphs are not compensated for.
 */
export function formatTable(
  headers: readonly string[],
  rows: ReadonlyArray<ReadonlyArray<string | number>>,
  options: TableOptions = {},
): string {
  const gap = ' '.repeat(options.gap ?? 2);
  const columns = Math.max(headers.length, ...rows.map((r) => r.length));
  const text = rows.map((r) => Array.from({ length: columns }, (_, i) => cellText(r[i])));
  const head = Array.from({ length: columns }, (_, i) => headers[i] ?? '');
  const widths = head.map((h, i) => Math.max(textWidth(h), ...text.map((r) => textWidth(r[i] ?? ''))));
  const align: Align[] = head.map((_, i) => {
    const given = options.align?.[i];
    if (given) return given;
    const cells = text.map((r) => r[i] ?? '').filter((c) => c !== '');
    return cells.length > 0 && cells.every((c) => NUMERIC_CELL.test(c)) ? 'right' : 'left';
  });
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => pad(c, widths[i] ?? 0, align[i] ?? 'left'))
      .join(gap)
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join(gap);
  return [line(head), rule, ...text.map(line)].join('\n');
}

function cellText(cell: string | number | undefined): string {
  if (cell === undefined) return '';
  return typeof cell === 'number' ? formatNumber(cell) : cell;
}

function textWidth(s: string): number {
  return Array.from(s).length;
}

function pad(s: string, width: number, align: Align): string {
  const fill = ' '.repeat(Math.max(0, width - textWidth(s)));
  return align === 'right' ? fill + s : s + fill;
}
