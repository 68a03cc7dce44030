import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Progress, type ProgressStream } from '../../src/util/progress.js';

class FakeStream implements ProgressStream {
  chunks: string[] = [];
  constructor(
    readonly isTTY: boolean,
    readonly columns = 100,
  ) {}
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

function clock(): { now: () => number; advance: (ms: number) => void } {
  let t = 1000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

void describe('Progress (not a TTY)', () => {
  void test('plain lines at most every 5 s and a final line, no control characters', () => {
    const s = new FakeStream(false);
    const c = clock();
    const p = new Progress({ total: 1000, label: 'train', unit: 'img', stream: s, now: c.now });
    assert.equal(s.text, '', 'nothing is printed before there is news');
    for (let i = 0; i < 100; i++) {
      c.advance(100); // 10 s in all
      p.tick(10, { loss: 0.3125, acc: '89.2%' });
    }
    p.done();
    p.done();
    const lines = s.text.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 3, s.text); // at 5 s, at 10 s, final
    assert.ok(!CONTROL.test(s.text));
    assert.equal(lines[0], 'train  50% 500/1000 img 100 img/s ETA 0:05 loss=0.3125 acc=89.2%');
    assert.match(lines[2] ?? '', /^train 100% 1000\/1000 img 100 img\/s in 10 s loss=0\.3125 acc=89\.2%$/);
  });

  void test('labels and values are stripped of control characters', () => {
    const s = new FakeStream(false);
    const p = new Progress({ total: 1, label: 'a\x1b[31mb', stream: s, now: clock().now });
    p.tick(1, { 'k\r': 'v\x07' });
    p.done();
    p.log('line1\nline2\x1b[0m');
    assert.ok(!CONTROL.test(s.text), JSON.stringify(s.text));
    assert.match(s.text, /line1\nline2 \[0m\n$/);
  });

  void test('unknown total shows counts and elapsed time', () => {
    const s = new FakeStream(false);
    const c = clock();
    const p = new Progress({ total: 0, unit: 'step', stream: s, now: c.now });
    c.advance(2000);
    p.tick(4);
    p.done();
    assert.equal(s.text, '4 step 2 step/s in 2 s\n');
  });
});

void describe('Progress (TTY)', () => {
  void test('redraws one line with bar, percent, rate, ETA and extras; throttled; ends with newline', () => {
    const s = new FakeStream(true, 100);
    const c = clock();
    const p = new Progress({ total: 200, label: 'eval', unit: 'img', stream: s, now: c.now });
    assert.equal(s.chunks.length, 1, 'the bar appears at once');
    p.tick(1); // same instant: throttled
    assert.equal(s.chunks.length, 1);
    c.advance(1000);
    p.tick(49, { loss: 1.5 });
    const frame = s.chunks.at(-1) ?? '';
    assert.ok(frame.startsWith('\r') && frame.endsWith('\x1b[K'));
    assert.match(frame, /^\reval \[#+-+\]  25% 50\/200 img 50 img\/s ETA 0:03 loss=1\.5\x1b\[K$/);
    const visible = frame.slice(1, -3);
    assert.ok(visible.length <= 99, `line of ${visible.length} chars must fit 100 columns`);
    c.advance(1000);
    p.tick(150);
    p.done();
    assert.ok(s.text.endsWith('\n'));
    assert.match(s.chunks.at(-2) ?? '', /^\reval \[#+\] 100% 200\/200 img 100 img\/s in 2 s loss=1\.5\x1b\[K$/);
  });

  void test('long extras are cut to the terminal width', () => {
    const s = new FakeStream(true, 40);
    const p = new Progress({ total: 10, label: 'x', stream: s, now: clock().now, ttyIntervalMs: 0 });
    p.tick(1, { note: 'a very long value that cannot possibly fit in forty columns' });
    for (const chunk of s.chunks) assert.ok(chunk.length - 4 <= 39, JSON.stringify(chunk));
  });

  void test('log clears the bar, prints, and redraws', () => {
    const s = new FakeStream(true);
    const p = new Progress({ total: 10, stream: s, now: clock().now });
    p.log('epoch 1 done');
    assert.equal(s.chunks[1], '\r\x1b[Kepoch 1 done\n');
    assert.ok(s.chunks[2]?.startsWith('\r'));
  });

  void test('tty option overrides the stream', () => {
    const s = new FakeStream(true);
    const p = new Progress({ total: 2, stream: s, now: clock().now, tty: false });
    p.done();
    assert.ok(!CONTROL.test(s.text));
  });
});
