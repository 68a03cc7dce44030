/**
 * rebirth's library API. The CLI (src/cli) is a thin layer over these calls.
 */
export { RebirthError } from './errors.js';
// IR and codec
export type { Attribute, Dim, Graph, Model, Node, ValueInfo } from './ir/graph.js';
export type { Tensor } from './ir/tensor.js';
export { DataType, floatTensor, int64Tensor, tensorToFloat32 } from './ir/tensor.js';
export { GraphBuilder, modelOf } from './ir/builder.js';
export { inferShapes, inferTypes, shapeOf } from './shapes/infer.js';
export { inspectModel, formatSummary } from './inspect/inspect.js';
export type { ModelSummary } from './inspect/inspect.js';
export { decodeModel } from './onnx/decode.js';
export { encodeModel } from './onnx/encode.js';
export { loadModel, saveModel } from './onnx/file.js';
export { OPS, categoryOf, opInfo } from './ops/table.js';
// Runtime and profiling
export { Session } from './runtime/session.js';
export type { Backend, HostTensor, OptLevel, SessionOptions } from './runtime/session.js';
export { profileModel } from './runtime/profile.js';
export { profileLayers } from './profile/layers.js';
export type { LayerProfile, LayerTime } from './profile/layers.js';
// Exact rewrites
export { optimizeModel } from './rewrite/optimize.js';
export { ALL_RULES } from './rewrite/rules/index.js';
export { verifyModels } from './rewrite/verify.js';
// DeepRebirth and Tucker
export { applyMerges, planMerges, measureMerges } from './merge/plan.js';
export type { MergeOptions, MergeResult } from './merge/plan.js';
export { mergeAndRetrain } from './pipeline/merge-retrain.js';
export type { RetrainOptions, RetrainResult } from './pipeline/merge-retrain.js';
export { tuckerDecompose } from './decompose/tucker.js';
export type { TuckerOptions, TuckerResult } from './decompose/tucker.js';
export { tuckerAndRetrain } from './pipeline/tucker-retrain.js';
export type { TuckerRetrainMode, TuckerRetrainOptions, TuckerRetrainResult } from './pipeline/tucker-retrain.js';
export { googlenetTable3, fractionRanks } from './pipeline/table3.js';
export type { Table3Options, Table3Row } from './pipeline/table3.js';
export { fitRebirthLayers } from './merge/fit.js';
export type { FitOptions, FitReport } from './merge/fit.js';
export { finetune } from './train/finetune.js';
export type { FinetuneOptions } from './train/finetune.js';
export { runDemo } from './pipeline/demo.js';
// Training
export { buildTrainingGraph } from './autodiff/training-graph.js';
export type { TrainingGraph } from './autodiff/training-graph.js';
export { train } from './train/trainer.js';
export type { TrainOptions, TrainResult } from './train/trainer.js';
export { evaluate } from './train/evaluate.js';
export { loadFashionMnist } from './data/fashion-mnist.js';
export { readNpy, writeNpy } from './data/npy.js';
export { buildZooModel, ZOO } from './zoo/index.js';
