// The page bundle's stand-in for src/runtime/session.ts (mapped by src/runtime/page-bundle.ts). Modules the page
// needs import from session.ts: profile.ts and timing.ts (through
// merge/plan.ts). session.ts runs ONNX Runtime in Node and imports node:fs, node:os and node:module at
// load time; in the page, src/runtime/page/runner.ts runs onnxruntime-web itself, so Session only refuses.
import { RebirthError } from '../../../errors.js';

export { isBrowserBackend } from '../../backends.js';
export { parseTrace } from '../../trace.js';

export class Session {
  static create(): Promise<never> {
    return Promise.reject(new RebirthError('Session runs ONNX Runtime in Node; in the page, src/runtime/page/runner.ts runs onnxruntime-web'));
  }
}
