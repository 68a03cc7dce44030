/**
 * Teacher logits on disk, so a second run (or a resumed one) over the same images does not run the
 * teacher again. One cache per (teacher model bytes, preprocessing, number of classes), in two
 * append-only files: `<id>.keys` (one line per row: the sample's file path, size and modification
 * time) and `<id>.f32` (the rows, k float32 values each). A row counts only when both its key line and
 * its values are complete, so a run killed mid-write leaves a cache that opens with the complete rows.
 * Only the key -> row index lives in memory; rows are read from the file batch by batch.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { RebirthError, errorMessage, firstLine } from '../errors.js';

/** $XDG_CACHE_HOME/rebirth/teacher-logits, or ~/.cache/rebirth/teacher-logits. */
export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'rebirth', 'teacher-logits');
}

/** The cache id: a digest of everything the logits depend on besides the sample itself. */
export function cacheId(teacher: Uint8Array, preprocessKey: string, classes: number): string {
  return createHash('sha256').update(teacher).update('\0').update(preprocessKey).update('\0').update(String(classes)).digest('hex').slice(0, 32);
}

export class LogitCache {
  private readonly rows = new Map<string, number>();
  private count = 0;
  private readonly keysFd: number;
  private readonly valuesFd: number;
  private closed = false;

  private constructor(readonly dir: string, readonly id: string, readonly classes: number, private readonly lock: string | undefined) {
    const keysFile = path.join(dir, `${id}.keys`);
    const valuesFile = path.join(dir, `${id}.f32`);
    const rowBytes = 4 * classes;
    const text = fs.existsSync(keysFile) ? fs.readFileSync(keysFile, 'utf8') : '';
    const lines = text.split('\n');
    lines.pop(); // the text after the last newline: empty, or a key whose write was cut short
    const valueRows = fs.existsSync(valuesFile) ? Math.floor(fs.statSync(valuesFile).size / rowBytes) : 0;
    this.count = Math.min(lines.length, valueRows);
    for (let i = 0; i < this.count; i++) this.rows.set(lines[i] ?? '', i);
    this.keysFd = fs.openSync(keysFile, 'a+');
    this.valuesFd = fs.openSync(valuesFile, 'a+');
    // Drop incomplete tails so the next appends line up row for row.
    const keyBytes = Buffer.byteLength(lines.slice(0, this.count).map((l) => `${l}\n`).join(''));
    if (fs.fstatSync(this.keysFd).size !== keyBytes) fs.ftruncateSync(this.keysFd, keyBytes);
    if (fs.fstatSync(this.valuesFd).size !== this.count * rowBytes) fs.ftruncateSync(this.valuesFd, this.count * rowBytes);
  }

  /**
   * Open (creating) the cache `id` in `dir`. When another live process holds it, or `dir` is undefined,
   * a private cache in a temporary folder is used instead (removed on close), so two runs never
   * interleave their rows.
   */
  static open(dir: string | undefined, id: string, classes: number, onWarning?: (line: string) => void): LogitCache {
    if (dir === undefined) return new LogitCache(fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-logits-')), id, classes, undefined);
    try {
      fs.mkdirSync(dir, { recursive: true });
    } catch (e) {
      throw new RebirthError(`cannot create the teacher-logit cache folder ${dir} (${firstLine(errorMessage(e))}); set XDG_CACHE_HOME to a writable folder`, { cause: e });
    }
    const lock = path.join(dir, `${id}.lock`);
    if (takeLock(lock)) return new LogitCache(dir, id, classes, lock);
    onWarning?.(`warning: the teacher-logit cache ${path.join(dir, id)} is in use by another run; this run keeps its own`);
    const own = fs.mkdtempSync(path.join(os.tmpdir(), 'rebirth-logits-'));
    return new LogitCache(own, id, classes, undefined);
  }

  /** Rows present. */
  get size(): number {
    return this.count;
  }

  rowOf(key: string): number | undefined {
    return this.rows.get(key);
  }

  /** Append rows (`values` holds keys.length * classes numbers); returns the first new row's index. */
  append(keys: readonly string[], values: Float32Array): number {
    if (values.length !== keys.length * this.classes) throw new RangeError(`append: ${values.length} values for ${keys.length} rows of ${this.classes}`);
    for (const k of keys) if (k.includes('\n')) throw new RebirthError(`cannot cache a file whose name holds a newline: ${JSON.stringify(k)}; rename it`);
    const first = this.count;
    // Values first: a key line is only ever written after its row is complete.
    fs.writeSync(this.valuesFd, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    fs.writeSync(this.keysFd, keys.map((k) => `${k}\n`).join(''));
    keys.forEach((k, i) => this.rows.set(k, first + i));
    this.count += keys.length;
    return first;
  }

  /** Rows `rows` into `out` (rows.length * classes values). */
  read(rows: ArrayLike<number>, out: Float32Array): void {
    const k = this.classes;
    const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i] ?? 0;
      if (r < 0 || r >= this.count) throw new RangeError(`logit cache row ${r} out of range`);
      fs.readSync(this.valuesFd, bytes, i * 4 * k, 4 * k, r * 4 * k);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.keysFd);
    fs.closeSync(this.valuesFd);
    if (this.lock) fs.rmSync(this.lock, { force: true });
    else fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Create `lock` holding our pid; a lock left by a process that no longer runs is taken over. */
function takeLock(lock: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(fs.readFileSync(lock, 'utf8'));
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) return false; // ours too: another open instance
      fs.rmSync(lock, { force: true });
    }
  }
  return false;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
