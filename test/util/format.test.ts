import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatBytes, formatClock, formatMs, formatNumber, formatPercent, formatRatio, formatTable } from '../../src/util/format.js';

void describe('format helpers', () => {
  void test('formatNumber: significant digits, no trailing zeros', () => {
    assert.equal(formatNumber(0.31), '0.31');
    assert.equal(formatNumber(0.123456), '0.1235');
    assert.equal(formatNumber(1234.5), '1235');
    assert.equal(formatNumber(123456), '123456');
    assert.equal(formatNumber(-2.5), '-2.5');
    assert.equal(formatNumber(0), '0');
    assert.equal(formatNumber(1e-9), '1.000e-9');
    assert.equal(formatNumber(Number.NaN), 'NaN');
    assert.equal(formatNumber(-Infinity), '-inf');
  });

  void test('formatMs across magnitudes', () => {
    assert.equal(formatMs(0.0421), '0.0421 ms');
    assert.equal(formatMs(12.345), '12.3 ms');
    assert.equal(formatMs(1234), '1.23 s');
    assert.equal(formatMs(125_000), '2m 05s');
    assert.equal(formatMs(3_720_000), '1h 02m');
    assert.equal(formatMs(-5), '-5 ms');
  });

  void test('formatClock for ETAs', () => {
    assert.equal(formatClock(0), '0:00');
    assert.equal(formatClock(6_100), '0:07');
    assert.equal(formatClock(754_000), '12:34');
    assert.equal(formatClock(3_723_000), '1:02:03');
    assert.equal(formatClock(Number.NaN), '--:--');
  });

  void test('formatBytes, formatPercent, formatRatio', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(46_900_000), '44.7 MiB');
    assert.equal(formatPercent(0.892), '89.2%');
    assert.equal(formatPercent(1, 0), '100%');
    assert.equal(formatRatio(3.4166), '3.42x');
  });

  void test('formatTable: widths, numeric columns right-aligned, explicit align', () => {
    const t = formatTable(
      ['layer', 'ms', 'share'],
      [
        ['conv1', 12.5, '40.0%'],
        ['inception_3a/5x5', '3.25 ms', '9.5%'],
      ],
    );
    assert.equal(
      t,
      [
        'layer                  ms  share',
        '----------------  -------  -----',
        'conv1                12.5  40.0%',
        'inception_3a/5x5  3.25 ms   9.5%',
      ].join('\n'),
    );
    // Short rows are padded; explicit alignment wins; trailing spaces are trimmed.
    assert.equal(formatTable(['a', 'b'], [['x'], ['yy', '1']], { align: ['right'] }), [' a  b', '--  -', ' x', 'yy  1'].join('\n'));
  });
});
