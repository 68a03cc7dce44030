import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { RebirthError } from '../../src/errors.js';
import { encodeNpy, npyToFloat32, parseNpy, readNpy, writeNpy, type NpyArray } from '../../src/data/npy.js';

/** test/fixtures/npy, found from here whether run from test/ (tsx) or from dist/test/ (compiled). */
const FIXTURES = ((): string => {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'test', 'fixtures', 'npy');
    if (existsSync(candidate) && !candidate.includes(`${sep}dist${sep}`)) return candidate;
    if (dirname(dir) === dir) throw new Error('test/fixtures/npy not found above this test file');
  }
})();
const fixture = (name: string): string => join(FIXTURES, `${name}.npy`);
const tmp = mkdtempSync(join(tmpdir(), 'rebirth-npy-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const PYTHON = '/usr/bin/python3';
const hasNumpy = ((): boolean => {
  if (!existsSync(PYTHON)) return false;
  try {
    execFileSync(PYTHON, ['-c', 'import numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

void describe('npy fixtures written by numpy (scripts/make-npy-fixtures.py)', () => {
  void test('<f4 2x3: values i*0.5-3 in C order', () => {
    const a = readNpy(fixture('f4_2x3'));
    assert.equal(a.dtype, 'float32');
    assert.deepEqual(a.shape, [2, 3]);
    assert.ok(a.data instanceof Float32Array);
    assert.deepEqual([...a.data], [-3, -2.5, -2, -1.5, -1, -0.5]);
  });

  void test('<f8, <i4, <i2, |u1 and |b1', () => {
    const f8 = readNpy(fixture('f8_4'));
    assert.equal(f8.dtype, 'float64');
    assert.ok(f8.data instanceof Float64Array);
    assert.deepEqual([...f8.data], [-3, -2.5, -2, -1.5]);

    const i4 = readNpy(fixture('i4_3x2'));
    assert.equal(i4.dtype, 'int32');
    assert.deepEqual(i4.shape, [3, 2]);
    assert.deepEqual([...i4.data], [-3, -2, -1, 0, 1, 2]);

    const i2 = readNpy(fixture('i2_5'));
    assert.equal(i2.dtype, 'int16');
    assert.ok(i2.data instanceof Int16Array);
    assert.deepEqual([...i2.data], [-2000, -1000, 0, 1000, 2000]);

    const u1 = readNpy(fixture('u1_2x2x2'));
    assert.equal(u1.dtype, 'uint8');
    assert.deepEqual(u1.shape, [2, 2, 2]);
    assert.deepEqual([...u1.data], [0, 30, 60, 90, 120, 150, 180, 210]);

    const b1 = readNpy(fixture('b1_4'));
    assert.equal(b1.dtype, 'bool');
    assert.deepEqual([...b1.data], [1, 0, 0, 1]);
  });

  void test('<i8 keeps values beyond 2^32 exactly as bigint', () => {
    const a = readNpy(fixture('i8_2x2'));
    assert.equal(a.dtype, 'int64');
    assert.ok(a.data instanceof BigInt64Array);
    assert.deepEqual([...a.data], [-3n, 2n ** 40n, -(2n ** 40n), 7n]);
  });

  void test('0-d scalar and empty arrays', () => {
    const s = readNpy(fixture('f4_scalar'));
    assert.deepEqual(s.shape, []);
    assert.deepEqual([...s.data], [1.5]);
    const e = readNpy(fixture('f4_0x3'));
    assert.deepEqual(e.shape, [0, 3]);
    assert.equal(e.data.length, 0);
  });

  void test('format version 2.0 header', () => {
    const a = readNpy(fixture('f4_v2_3'));
    assert.deepEqual(a.shape, [3]);
    assert.deepEqual([...a.data], [-3, -2.5, -2]);
  });

  void test('Fortran order is refused with a clear error naming the file', () => {
    const file = fixture('f4_fortran_2x3');
    assert.throws(() => readNpy(file), (e: unknown) => {
      assert.ok(e instanceof RebirthError);
      assert.match(e.message, /Fortran order/);
      assert.ok(e.message.includes(file));
      assert.match(e.message, /ascontiguousarray/);
      return true;
    });
  });

  void test('big-endian dtype is refused, listing the supported ones', () => {
    assert.throws(() => readNpy(fixture('f4_bigendian_3')), /'>f4'.*supported: <f4/);
  });
});

void describe('npy round trip', () => {
  const cases: NpyArray[] = [
    { dtype: 'float32', shape: [2, 3], data: Float32Array.from([0.1, -2, 3.5, Number.NaN, Infinity, -0]) },
    { dtype: 'float64', shape: [3], data: Float64Array.from([Math.PI, -1e300, 5e-324]) },
    { dtype: 'int32', shape: [1, 2, 2], data: Int32Array.from([-(2 ** 31), 0, 1, 2 ** 31 - 1]) },
    { dtype: 'int64', shape: [2], data: BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n]) },
    { dtype: 'uint8', shape: [4], data: Uint8Array.from([0, 1, 128, 255]) },
    { dtype: 'int16', shape: [2, 1], data: Int16Array.from([-32768, 32767]) },
    { dtype: 'bool', shape: [3], data: Uint8Array.from([1, 0, 1]) },
    { dtype: 'float32', shape: [], data: Float32Array.from([7]) },
    { dtype: 'float32', shape: [0], data: new Float32Array(0) },
  ];

  for (const c of cases) {
    void test(`${c.dtype} shape (${c.shape.join(',')})`, () => {
      const bytes = encodeNpy(c);
      // The spec asks for the data to start 64-byte aligned.
      const headerLen = (bytes[8] ?? 0) | ((bytes[9] ?? 0) << 8);
      assert.equal((10 + headerLen) % 64, 0);
      const back = parseNpy(bytes);
      assert.equal(back.dtype, c.dtype);
      assert.deepEqual(back.shape, c.shape);
      assert.deepEqual(back.data, c.data);
    });
  }

  void test('writeNpy/readNpy through a file, and subarray views encode only their own elements', () => {
    const big = Float32Array.from([9, 9, 1, 2, 3, 9]);
    const file = join(tmp, 'view.npy');
    writeNpy(file, { dtype: 'float32', shape: [3], data: big.subarray(2, 5) });
    const back = readNpy(file);
    assert.deepEqual([...back.data], [1, 2, 3]);
  });

  void test('a header over 64 KiB switches to format 2.0', () => {
    const shape = Array.from({ length: 22_000 }, () => 1);
    const bytes = encodeNpy({ dtype: 'uint8', shape, data: Uint8Array.from([5]) });
    assert.equal(bytes[6], 2);
    const back = parseNpy(bytes);
    assert.equal(back.shape.length, 22_000);
    assert.deepEqual([...back.data], [5]);
  });

  void test('npyToFloat32 converts any dtype', () => {
    assert.deepEqual([...npyToFloat32(readNpy(fixture('i8_2x2')))], [-3, 2 ** 40, -(2 ** 40), 7]);
    assert.deepEqual([...npyToFloat32(readNpy(fixture('u1_2x2x2')))].slice(0, 3), [0, 30, 60]);
  });
});

void describe('npy errors', () => {
  const good = encodeNpy({ dtype: 'float32', shape: [4], data: Float32Array.from([1, 2, 3, 4]) });

  void test('truncated data names the file and the sizes', () => {
    assert.throws(() => parseNpy(good.subarray(0, good.length - 3), 'w.npy'), /w\.npy is truncated: .*16 data bytes, only 13/);
  });

  void test('truncated header', () => {
    assert.throws(() => parseNpy(good.subarray(0, 40), 'w.npy'), /w\.npy is truncated inside its \.npy header/);
  });

  void test('not a .npy file', () => {
    assert.throws(() => parseNpy(new TextEncoder().encode('PK\x03\x04 zip data'), 'w.npz'), /w\.npz is not a \.npy file/);
  });

  void test('trailing bytes are reported', () => {
    const longer = new Uint8Array(good.length + 4);
    longer.set(good);
    assert.throws(() => parseNpy(longer, 'w.npy'), /4 bytes after its data/);
  });

  void test('missing file', () => {
    assert.throws(() => readNpy(join(tmp, 'nope.npy')), (e: unknown) => e instanceof RebirthError && /cannot read .*nope\.npy/.test(e.message));
  });

  void test('shape/data mismatch on write', () => {
    assert.throws(() => encodeNpy({ dtype: 'float32', shape: [2, 2], data: new Float32Array(3) }), /needs 4 elements, data has 3/);
  });

  void test('garbled header dict', () => {
    const bytes = Uint8Array.from(good);
    const text = new TextDecoder().decode(bytes.subarray(10, 40));
    const at = 10 + text.indexOf(':');
    bytes[at] = 0x3b; // ':' -> ';'
    assert.throws(() => parseNpy(bytes, 'g.npy'), /g\.npy has a malformed \.npy header/);
  });
});

void describe('numpy reads what we write', { skip: hasNumpy ? false : 'python3 with numpy not available' }, () => {
  void test('every dtype loads in numpy with the same values', () => {
    const arrays: Record<string, NpyArray> = {
      f4: { dtype: 'float32', shape: [2, 2], data: Float32Array.from([0.5, -1.25, 3, 4]) },
      f8: { dtype: 'float64', shape: [2], data: Float64Array.from([0.1, 1e-300]) },
      i4: { dtype: 'int32', shape: [3], data: Int32Array.from([-7, 0, 7]) },
      i8: { dtype: 'int64', shape: [1], data: BigInt64Array.from([2n ** 50n]) },
      u1: { dtype: 'uint8', shape: [2, 1, 1], data: Uint8Array.from([3, 250]) },
      i2: { dtype: 'int16', shape: [2], data: Int16Array.from([-300, 300]) },
      b1: { dtype: 'bool', shape: [2], data: Uint8Array.from([0, 1]) },
      sc: { dtype: 'float32', shape: [], data: Float32Array.from([2.5]) },
    };
    for (const [name, arr] of Object.entries(arrays)) writeNpy(join(tmp, `${name}.npy`), arr);
    const script = `
import json, sys, numpy as np
out = {}
for name in sys.argv[2:]:
    a = np.load(sys.argv[1] + '/' + name + '.npy')
    out[name] = [a.dtype.str, list(a.shape), [repr(v) for v in a.ravel().tolist()], bool(a.flags['C_CONTIGUOUS'])]
print(json.dumps(out))
`;
    const stdout = execFileSync(PYTHON, ['-c', script, tmp, ...Object.keys(arrays)], { encoding: 'utf8' });
    const seen = JSON.parse(stdout) as Record<string, [string, number[], string[], boolean]>;
    assert.deepEqual(seen, {
      f4: ['<f4', [2, 2], ['0.5', '-1.25', '3.0', '4.0'], true],
      f8: ['<f8', [2], ['0.1', '1e-300'], true],
      i4: ['<i4', [3], ['-7', '0', '7'], true],
      i8: ['<i8', [1], [String(2 ** 50)], true],
      u1: ['|u1', [2, 1, 1], ['3', '250'], true],
      i2: ['<i2', [2], ['-300', '300'], true],
      b1: ['|b1', [2], ['False', 'True'], true],
      sc: ['<f4', [], ['2.5'], true],
    });
  });
});
