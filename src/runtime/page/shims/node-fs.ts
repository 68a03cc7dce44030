// The page bundle's node:fs and node:path, for src/onnx/decode.ts only (src/runtime/page-bundle.ts): decode.ts
// reads tensors stored in external data files next to the model. The page gets one file from the file
// picker and has no file system, so such a model is refused with a way out.
import { RebirthError } from '../../../errors.js';

function refuse(): never {
  throw new RebirthError('this model keeps its weights in external data files, which the page cannot read: pack them into the .onnx file (onnx.save_model(..., save_as_external_data=False)) or use the CLI');
}

export const openSync = refuse;
export const fstatSync = refuse;
export const readSync = refuse;
export const closeSync = refuse;
export const resolve = refuse;
export const relative = refuse;
