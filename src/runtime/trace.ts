// ORT's Chrome-trace format, shared by every build that profiles: onnxruntime-node writes it to a file,
// onnxruntime-web prints it (to stdout in Node, to console.log in a browser). Nothing here imports from
// Node, so the page served by `rebirth serve` parses traces with the same code (docs/browser.md).
import { RebirthError, errorMessage } from '../errors.js';

/** One Chrome-trace event as ORT writes it (durations and timestamps in microseconds). */
export interface TraceEvent {
  cat: string;
  name: string;
  ph: string;
  ts: number;
  dur: number;
  args: Record<string, unknown>;
}

function isTraceEvent(v: unknown): v is TraceEvent {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return typeof e.cat === 'string' && typeof e.name === 'string' && typeof e.ts === 'number';
}

/** Parses ORT's Chrome-trace JSON (a top-level array of events); `source` names it in errors. */
export function parseTrace(text: string, source: string): TraceEvent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new RebirthError(`cannot parse the onnxruntime profile from ${source}: ${errorMessage(e)}`, { cause: e });
  }
  if (!Array.isArray(parsed)) {
    throw new RebirthError(`onnxruntime profile from ${source} is not a JSON array of trace events`);
  }
  return parsed.filter(isTraceEvent).map((e) => ({
    cat: e.cat,
    name: e.name,
    ph: typeof e.ph === 'string' ? e.ph : 'X',
    ts: e.ts,
    dur: typeof e.dur === 'number' ? e.dur : 0,
    args: typeof e.args === 'object' && e.args !== null ? e.args : {},
  }));
}

/** The trace is the only JSON array in what ORT printed during endProfiling; trim any stray text around it. */
export function extractJsonArray(text: string): string {
  const start = text.indexOf('[');
  const end = text.lastIndexOf(']');
  if (start < 0 || end < start) {
    throw new RebirthError('onnxruntime-web printed no profile during endProfiling (was profiling enabled?)');
  }
  return text.slice(start, end + 1);
}
