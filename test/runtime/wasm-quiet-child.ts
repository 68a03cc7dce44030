// Child process for profile.test.ts: profiles on wasm (and releases a profiling session without calling
// endProfiling) and then prints exactly one line, so the parent can assert that nothing onnxruntime-web
// printed reached this process's real stdout.
import { profileModel } from '../../src/runtime/profile.js';
import { Session } from '../../src/runtime/session.js';
import { convReluPoolModel, CONV_RELU_POOL_INPUT } from './fixtures.js';

const p = await profileModel(convReluPoolModel(), { backend: 'wasm', warmup: 1, runs: 3 });
const s = await Session.create(convReluPoolModel(), { backend: 'wasm', profile: true });
await s.run({ X: { type: 'float32', dims: [1, 1, 4, 4], data: Float32Array.from(CONV_RELU_POOL_INPUT) } });
await s.release();
process.stdout.write(`${JSON.stringify({ nodes: p.nodes.map((n) => n.name) })}\n`);
