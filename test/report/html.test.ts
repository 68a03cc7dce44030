import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RebirthError } from '../../src/errors.js';
import { htmlReport } from '../../src/report/html.js';
import { groupedBarChart, lineChart } from '../../src/report/svg.js';
import { checkMarkup, externalUrls } from './xml-check.js';

void describe('htmlReport', () => {
  const chart = groupedBarChart({ title: 'Latency', categories: ['GoogLeNet'], series: [{ name: 'before', values: [240.5] }, { name: 'after', values: [78.1] }] });
  const html = htmlReport({
    title: 'rebirth <report> & "more"',
    subtitle: 'GoogLeNet on x86',
    sections: [
      {
        heading: 'Speed-up <1>',
        paragraphs: ['3.08x faster & 0.4% less accurate', '<script>alert(1)</script>'],
        table: { headers: ['model', 'before', 'after', 'speed-up'], rows: [['GoogLeNet', '240.5 ms', '78.1 ms', '3.08x'], ['AlexNet', 120.3, 55.2, '2.18x']] },
        svg: chart,
      },
      { heading: 'Retraining', svg: lineChart({ title: 'acc', series: [{ name: 'a', points: [[0, 1], [1, 2]] }] }) },
    ],
  });

  void test('one well-formed self-contained document', () => {
    assert.ok(html.startsWith('<!DOCTYPE html>'));
    const { elements, text } = checkMarkup(html, { html: true });
    assert.ok(elements.includes('style'));
    assert.equal(elements.filter((e) => e === 'svg').length, 2);
    assert.ok(!elements.includes('script'), 'no scripts');
    assert.ok(!elements.includes('link') && !elements.includes('img'), 'no external resources');
    assert.deepEqual(externalUrls(html), []);
    assert.ok(text.includes('rebirth &lt;report&gt; &amp; &quot;more&quot;'));
    assert.ok(text.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  });

  void test('tables: numbers present, numeric columns right-aligned', () => {
    for (const v of ['240.5 ms', '78.1 ms', '3.08x', '120.3', '55.2']) assert.ok(html.includes(v), v);
    assert.ok(html.includes('<th>model</th><th class="num">before</th>'));
    assert.ok(html.includes('<td>AlexNet</td><td class="num">120.3</td>'));
  });

  void test('refuses svg with scripts or remote links', () => {
    for (const svg of ['<svg><script>x</script></svg>', '<svg><image href="https://x/y.png"/></svg>', '<svg onload="x()"></svg>', '<div></div>']) {
      assert.throws(() => htmlReport({ title: 't', sections: [{ heading: 'h', svg }] }), RebirthError);
    }
  });
});
