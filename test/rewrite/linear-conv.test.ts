/**
 * The conv algebra against the definition (a direct float64 convolution): compositions with every mix
 * of kernels, strides, dilations, asymmetric pads and groups, sums, and the border condition: where
 * 'exact' refuses, the merged conv really differs from the original at the border (and only there).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GraphBuilder, modelOf } from '../../src/ir/builder.js';
import { encodeModel } from '../../src/onnx/encode.js';
import { Session } from '../../src/runtime/session.js';
import { Random } from '../../src/util/random.js';
import { convNode } from '../../src/shrink/apply.js';
import { composeConvs, identityConv, outputSize, pushPadding, sumConvs, type LinearConv } from '../../src/rewrite/linear-conv.js';
import { add, convolve, maxAbsDiff, randomConv, randomImage, type Image } from '../shrink/reference.js';

const refusal = (r: LinearConv | string): string => (typeof r === 'string' ? r : 'accepted');
const pick = <T>(rng: Random, xs: readonly T[]): T => xs[Math.floor(rng.nextFloat() * xs.length)] as T;

/** A random pair (A then B) with compatible channels and every geometry option. */
function randomPair(rng: Random): { a: LinearConv; b: LinearConv } {
  const groupsA = pick(rng, [1, 2, 4]);
  const cin = 4;
  const cmid = pick(rng, [4, 8]);
  // B: dense, grouped, or depthwise over the middle channels.
  const kindB = pick(rng, ['dense', 'grouped', 'depthwise'] as const);
  const groupB = kindB === 'dense' ? 1 : kindB === 'grouped' ? 2 : cmid;
  const cout = kindB === 'depthwise' ? cmid : pick(rng, [2, 4, 6]);
  const geom = (): { k: [number, number]; s: [number, number]; d: [number, number]; pads: [number, number, number, number] } => ({
    k: [pick(rng, [1, 2, 3, 5]), pick(rng, [1, 3])], s: [pick(rng, [1, 2, 3]), pick(rng, [1, 2])], d: [pick(rng, [1, 2]), 1],
    pads: [pick(rng, [0, 1, 2]), pick(rng, [0, 1]), pick(rng, [0, 1, 2]), pick(rng, [0, 2])],
  });
  return {
    a: randomConv(rng, { cin, cout: cmid, group: groupsA, ...geom(), bias: rng.nextFloat() < 0.7 }),
    b: randomConv(rng, { cin: cmid, cout, group: groupB, ...geom() }),
  };
}

/** B after A with B's padding moved onto A (the network composeConvs 'push' describes). */
function pushed(a: LinearConv, b: LinearConv): { a: LinearConv; b: LinearConv } {
  const p = pushPadding(a, b);
  return { a: { ...a, pads: p.a }, b: { ...b, pads: p.b } };
}

function outputsExist(a: LinearConv, b: LinearConv, x: Image): boolean {
  const na = outputSize(a, [x.h, x.w]);
  if (na.some((v) => v < 1)) return false;
  return outputSize(b, na).every((v) => v >= 1);
}

test('push: B after A (B\'s padding moved onto A) is the composed conv, for 300 random geometries', () => {
  const rng = new Random(7);
  let checked = 0;
  for (let trial = 0; trial < 300; trial++) {
    const { a, b } = randomPair(rng);
    const x = randomImage(4, 6 + Math.floor(rng.nextFloat() * 7), 5 + Math.floor(rng.nextFloat() * 7), trial);
    const moved = pushed(a, b);
    if (!outputsExist(moved.a, moved.b, x)) continue;
    const merged = composeConvs(a, b, { padding: 'push' });
    assert.ok(typeof merged !== 'string', typeof merged === 'string' ? merged : '');
    const want = convolve(convolve(x, moved.a), moved.b);
    const got = convolve(x, merged);
    assert.ok(maxAbsDiff(want, got) < 1e-9, `trial ${trial}: ${maxAbsDiff(want, got)} (${JSON.stringify({ a: { ...a, weight: [], bias: [] }, b: { ...b, weight: [], bias: [] } })})`);
    checked++;
  }
  assert.ok(checked > 200, `only ${checked} pairs had outputs`);
});

test('exact: an accepted pair equals the original B(A(x)); a refused one differs at the border and agrees inside', () => {
  const rng = new Random(11);
  let accepted = 0;
  let refused = 0;
  for (let trial = 0; trial < 300; trial++) {
    const { a, b } = randomPair(rng);
    const x = randomImage(4, 6 + Math.floor(rng.nextFloat() * 7), 5 + Math.floor(rng.nextFloat() * 7), 1000 + trial);
    if (!outputsExist(a, b, x)) continue;
    const original = convolve(convolve(x, a), b);
    const merged = composeConvs(a, b, { padding: 'exact', inputSize: [x.h, x.w] });
    if (typeof merged !== 'string') {
      assert.ok(maxAbsDiff(original, convolve(x, merged)) < 1e-9, `trial ${trial}`);
      accepted++;
      continue;
    }
    refused++;
    const push = composeConvs(a, b, { padding: 'push' });
    assert.ok(typeof push !== 'string');
    const y = convolve(x, push);
    assert.equal(y.h, original.h);
    assert.equal(y.w, original.w);
    // Outputs whose B-window stays inside A's output are the same either way.
    const na = outputSize(a, [x.h, x.w]);
    let differs = false;
    for (let o = 0; o < y.c; o++) {
      for (let r = 0; r < y.h; r++) {
        for (let c = 0; c < y.w; c++) {
          const top = r * (b.strides[0] as number) - (b.pads[0] as number);
          const left = c * (b.strides[1] as number) - (b.pads[1] as number);
          const inside = top >= 0 && left >= 0 && top + (b.dilations[0] as number) * ((b.kernel[0] as number) - 1) < (na[0] as number)
            && left + (b.dilations[1] as number) * ((b.kernel[1] as number) - 1) < (na[1] as number);
          const at = (o * y.h + r) * y.w + c;
          const d = Math.abs((y.data[at] as number) - (original.data[at] as number));
          if (inside) assert.ok(d < 1e-9, `trial ${trial}: interior output differs by ${d}`);
          else if (d > 1e-6) differs = true;
        }
      }
    }
    assert.ok(differs, `trial ${trial}: refused (${merged}) but the merged conv agrees everywhere`);
  }
  assert.ok(accepted > 30 && refused > 30, `accepted ${accepted}, refused ${refused}`);
});

test('two 3x3 same-padded convs are not one 5x5 same-padded conv; unpadded, they are (kernel k1 + k2 - 1)', () => {
  const rng = new Random(3);
  const a = randomConv(rng, { cin: 3, cout: 5, k: [3, 3], pads: [1, 1, 1, 1], bias: false });
  const b = randomConv(rng, { cin: 5, cout: 2, k: [3, 3], pads: [1, 1, 1, 1] });
  assert.match(refusal(composeConvs(a, b, { padding: 'exact', inputSize: [8, 8] })), /real pixels/);
  const unpadded = composeConvs({ ...a, pads: [0, 0, 0, 0] }, { ...b, pads: [0, 0, 0, 0] }, { padding: 'exact', inputSize: [8, 8] });
  assert.ok(typeof unpadded !== 'string');
  assert.deepEqual(unpadded.kernel, [5, 5]);
  const biased = randomConv(rng, { cin: 3, cout: 5, k: [1, 1] });
  assert.match(refusal(composeConvs(biased, b, { padding: 'exact', inputSize: [8, 8] })), /bias/);
  assert.ok(typeof composeConvs({ ...biased, bias: new Float64Array(5) }, b, { padding: 'exact', inputSize: [8, 8] }) !== 'string');
});

test('groups: depthwise after depthwise stays depthwise, 1x1 then depthwise becomes dense, grouped keeps its groups', () => {
  const rng = new Random(5);
  const dw = (k: number): LinearConv => randomConv(rng, { cin: 6, cout: 6, group: 6, k: [k, k], pads: [0, 0, 0, 0] });
  const m1 = composeConvs(dw(3), dw(3));
  assert.ok(typeof m1 !== 'string');
  assert.equal(m1.group, 6);
  assert.deepEqual(m1.kernel, [5, 5]);
  const m2 = composeConvs(randomConv(rng, { cin: 4, cout: 6, k: [1, 1] }), dw(3));
  assert.ok(typeof m2 !== 'string');
  assert.equal(m2.group, 1);
  const m3 = composeConvs(randomConv(rng, { cin: 4, cout: 8, group: 2, k: [3, 3] }), randomConv(rng, { cin: 8, cout: 4, group: 2, k: [1, 1] }));
  assert.ok(typeof m3 !== 'string');
  assert.equal(m3.group, 2);
  const x = randomImage(4, 9, 9, 1);
  const m4a = randomConv(rng, { cin: 4, cout: 8, group: 2, k: [1, 1] });
  const m4b = randomConv(rng, { cin: 8, cout: 8, group: 4, k: [3, 3] });
  const m4 = composeConvs(m4a, m4b);
  assert.ok(typeof m4 !== 'string');
  assert.equal(m4.group, 2);
  assert.ok(maxAbsDiff(convolve(convolve(x, m4a), m4b), convolve(x, m4)) < 1e-9);
});

test('sums: A(x) + B(x) as one conv (kernels, pads, dilations aligned), and a block with the identity shortcut', () => {
  const rng = new Random(9);
  for (let trial = 0; trial < 100; trial++) {
    const s = pick(rng, [1, 2]);
    const ka = pick(rng, [1, 3, 5]);
    const kb = pick(rng, [1, 3]);
    const pa = Math.floor(ka / 2);
    const pb = Math.floor(kb / 2);
    const a = randomConv(rng, { cin: 4, cout: 6, group: pick(rng, [1, 2]), k: [ka, ka], s: [s, s], pads: [pa, pa, pa, pa] });
    const b = randomConv(rng, { cin: 4, cout: 6, k: [kb, kb], s: [s, s], d: [pick(rng, [1, 2]), 1], pads: [pb, pb, pb, pb] });
    const x = randomImage(4, 7 + trial % 4, 8, trial);
    const ya = convolve(x, a);
    const yb = convolve(x, b);
    const merged = sumConvs(a, b, [x.h, x.w]);
    if (ya.h !== yb.h || ya.w !== yb.w) {
      assert.equal(typeof merged, 'string');
      continue;
    }
    assert.ok(typeof merged !== 'string', typeof merged === 'string' ? merged : '');
    assert.ok(maxAbsDiff(add(ya, yb), convolve(x, merged)) < 1e-9, `trial ${trial}`);
  }
  const path = randomConv(rng, { cin: 5, cout: 5, k: [3, 3], pads: [1, 1, 1, 1] });
  const block = sumConvs(path, identityConv(5), [6, 6]);
  assert.ok(typeof block !== 'string');
  const x = randomImage(5, 6, 6, 1);
  assert.ok(maxAbsDiff(add(convolve(x, path), x), convolve(x, block)) < 1e-12);
});

test('the emitted Conv node computes the composed conv on ONNX Runtime', async () => {
  const rng = new Random(13);
  const a = randomConv(rng, { cin: 4, cout: 8, group: 2, k: [3, 3], s: [2, 1], d: [1, 2], pads: [1, 0, 2, 1] });
  const b = randomConv(rng, { cin: 8, cout: 8, group: 8, k: [3, 1], s: [1, 2], pads: [1, 1, 0, 0] });
  const merged = composeConvs(a, b, { padding: 'push' });
  assert.ok(typeof merged !== 'string');
  const x = randomImage(4, 11, 10, 2);
  const builder = new GraphBuilder('g');
  builder.input('x', [1, 4, 11, 10]);
  builder.graph.nodes.push(convNode(builder.graph, builder.names, 'merged', 'x', 'y', merged));
  builder.output('y');
  const session = await Session.create(encodeModel(modelOf(builder.graph, 13)));
  try {
    const out = (await session.run({ x: { type: 'float32', dims: [1, 4, 11, 10], data: Float32Array.from(x.data) } })).y;
    const want = convolve(x, merged);
    assert.ok(out?.type === 'float32');
    assert.deepEqual(out.dims, [1, want.c, want.h, want.w]);
    let err = 0;
    out.data.forEach((v, i) => {
      err = Math.max(err, Math.abs(v - (want.data[i] as number)));
    });
    assert.ok(err < 1e-4, `ORT differs by ${err}`);
  } finally {
    await session.release();
  }
});
