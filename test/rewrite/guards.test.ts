import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RewriteContext } from '../../src/rewrite/engine.js';
import { checkNode, constantTensor, exclusiveWeights, floatConstant, guard, intConstant, singleUse, type Attrs } from '../../src/rewrite/guards.js';
import { int64Tensor } from '../../src/ir/tensor.js';
import { builder, model, randomTensor } from './ort.js';

function convGraph(opset = 13): { ctx: RewriteContext; x: string; y: string } {
  const b = builder();
  const x = b.input('x', [1, 2, 4, 4]);
  b.input('wi', [2, 2, 1, 1]);
  b.graph.initializers.set('wi', randomTensor('wi', [2, 2, 1, 1], 9));
  const y = b.op('Conv', [x, b.initializer(randomTensor('W', [2, 2, 1, 1], 1))], { strides: [1, 1] }, 'conv');
  b.output(b.op('Relu', [y], {}, 'relu'));
  b.op('Conv', [y, 'wi'], {}, 'conv2');
  b.op('Constant', [], { value: int64Tensor('', [2], [3, 4]) }, 'const');
  b.op('Constant', [], { value_float: { float: 2.5 } }, 'constf');
  return { ctx: new RewriteContext(model(b, opset)), x, y };
}

test('checkNode applies spec defaults and validates attributes against the opset', () => {
  const { ctx } = convGraph();
  const conv = ctx.graph.nodes[0]!;
  const attrs = checkNode(ctx, conv) as Attrs;
  assert.equal(typeof attrs, 'object');
  assert.equal(attrs.int('group'), 1);
  assert.equal(attrs.string('auto_pad'), 'NOTSET');
  assert.deepEqual(attrs.ints('strides'), [1, 1]);
  assert.equal(attrs.ints('dilations'), undefined);
  assert.equal(attrs.has('group'), false);

  conv.attributes.push({ name: 'group', kind: 'float', value: 1 });
  assert.match(checkNode(ctx, conv) as string, /'group' is a float, the spec says int/);
  conv.attributes.pop();
  conv.domain = 'com.example';
  assert.match(checkNode(ctx, conv) as string, /domain 'com.example'/);
  conv.domain = '';
  conv.opType = 'FancyConv';
  assert.match(checkNode(ctx, conv) as string, /do not know op FancyConv/);
});

test('an attribute removed in a later opset is refused there', () => {
  const { ctx } = convGraph(11);
  const pad = { name: 'p', opType: 'Pad', domain: '', inputs: ['x'], outputs: ['p'], docString: '', attributes: [{ name: 'pads', kind: 'ints' as const, value: [0n, 0n] }] };
  assert.match(checkNode(ctx, pad) as string, /'pads' is not part of Pad at opset 11/);
});

test('constants: initializers and Constant nodes are; graph inputs and computed values are not', () => {
  const { ctx, x, y } = convGraph();
  assert.equal(typeof constantTensor(ctx, 'W', 'weight'), 'object');
  assert.match(constantTensor(ctx, 'wi', 'weight') as string, /graph input/);
  assert.match(constantTensor(ctx, x, 'weight') as string, /graph input/);
  assert.match(constantTensor(ctx, y, 'weight') as string, /computed by 'conv' \(Conv\)/);
  assert.match(constantTensor(ctx, 'nope', 'weight') as string, /not defined/);
  assert.deepEqual(intConstant(ctx, 'const_out', 'shape'), [3, 4]);
  const f = floatConstant(ctx, 'constf_out', 'scale');
  assert.ok(typeof f !== 'string' && f.values[0] === 2.5);
  assert.match(floatConstant(ctx, 'const_out', 'scale') as string, /int64; only float32/);
});

test('singleUse, exclusiveWeights and the combined guard', () => {
  const { ctx, y } = convGraph();
  const conv = ctx.graph.nodes[0]!;
  const relu = ctx.graph.nodes[1]!;
  const conv2 = ctx.graph.nodes[2]!;
  assert.match(singleUse(ctx, y, relu) as string, /2 readers/);
  assert.equal(singleUse(ctx, conv2.outputs[0]!, relu), `'${conv2.outputs[0]}' has 0 readers (); folding needs it to feed only 'relu' (Relu)`);
  assert.equal(exclusiveWeights(ctx, ['W'], [conv]), undefined);
  assert.match(exclusiveWeights(ctx, ['W'], [relu]) as string, /shared with 'conv'/);
  const ok = guard(ctx, { nodes: [conv, relu] as const, rewritten: ['W'] });
  assert.ok(Array.isArray(ok) && ok.length === 2);
  assert.match(guard(ctx, { nodes: [conv], intermediates: [{ value: y, reader: relu }] }) as string, /2 readers/);
  assert.match(guard(ctx, { nodes: [conv2], rewritten: ['wi'] }) as string, /graph input/);
});
