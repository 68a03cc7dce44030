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
export { bindInputShapes, inputsNeedingShapes } from './shapes/bind.js';
export type { InputShapes } from './shapes/bind.js';
export { foldShapeSubgraphs } from './shapes/fold.js';
export type { ShapeFoldResult } from './shapes/fold.js';
export { staticShapes } from './shapes/static.js';
export type { StaticShapesOptions } from './shapes/static.js';
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
export { decideFaster } from './runtime/decide.js';
export type { DecideOptions, FasterDecision } from './runtime/decide.js';
export { profileLayers } from './profile/layers.js';
export type { LayerProfile, LayerTime } from './profile/layers.js';
// The browser: onnxruntime-web in headless Chromium (profileModel / timeModels backends), and the local page
export type { BrowserBackend, LatencyBackend } from './runtime/session.js';
export type { RuntimeInfo } from './runtime/profile.js';
export { BrowserRuntime, chromiumPath, timeModelsInBrowser, withBrowser } from './runtime/browser.js';
export type { BrowserLaunchOptions } from './runtime/browser.js';
export { serve } from './serve/serve.js';
export { startServer } from './serve/server.js';
export type { RunningServer, ServeOptions } from './serve/server.js';
// Exact rewrites
export { optimizeModel } from './rewrite/optimize.js';
export { ALL_RULES } from './rewrite/rules/index.js';
export { verifyModels } from './rewrite/verify.js';
// DeepRebirth and Tucker
export { applyMerges, planMerges, measureMerges, mergeModel } from './merge/plan.js';
export type { MergeOptions, MergeResult } from './merge/plan.js';
export { foldForMerge, foldExact, MERGE_FOLD_RULES } from './merge/fold.js';
export type { FoldOptions, FoldReport, FoldResult } from './merge/fold.js';
export { mergeAndRetrain } from './pipeline/merge-retrain.js';
export type { RetrainOptions, RetrainResult } from './pipeline/merge-retrain.js';
export { analyzeStructure } from './shrink/structure.js';
export type { Activation, Chain, ModelStructure, Unit } from './shrink/structure.js';
export { composeConvs, sumConvs, identityConv } from './rewrite/linear-conv.js';
export type { LinearConv, PaddingMode } from './rewrite/linear-conv.js';
export { enumerateCandidates } from './shrink/candidates.js';
export type { Candidates, Item } from './shrink/candidates.js';
export { linearize, mergeGroups } from './shrink/apply.js';
export { planSegments } from './shrink/plan.js';
export type { Plan } from './shrink/plan.js';
export { buildShrunk, calibrationFromData, explainShrink, foldForShrink, planShrink, prepareShrink } from './shrink/shrink.js';
export type { PreparedShrink, ShrinkPlanOptions, ShrinkPlanResult } from './shrink/shrink.js';
export { SHRINK_TARGETS, type ShrinkTarget } from './shrink/latency.js';
export { shrinkAndRetrain } from './pipeline/shrink-retrain.js';
export type { ShrinkRetrainOptions, ShrinkRetrainResult } from './pipeline/shrink-retrain.js';
export { tuckerDecompose } from './decompose/tucker.js';
export type { TuckerOptions, TuckerResult } from './decompose/tucker.js';
export { tuckerAndRetrain } from './pipeline/tucker-retrain.js';
export type { TuckerRetrainMode, TuckerRetrainOptions, TuckerRetrainResult } from './pipeline/tucker-retrain.js';
export { retrainPlan } from './pipeline/plan-retrain.js';
export type { PlanRetrainMode, PlanRetrainOptions, PlanRetrainPass, PlanRetrainResult } from './pipeline/plan-retrain.js';
export { googlenetTable3 } from './pipeline/table3.js';
export { fractionRanks } from './decompose/ranks.js';
export type { Table3Options, Table3Row } from './pipeline/table3.js';
export { fitRebirthLayers } from './merge/fit.js';
export type { FitOptions, FitReport } from './merge/fit.js';
export { finetune } from './train/finetune.js';
export type { FinetuneOptions } from './train/finetune.js';
export { runDemo, DEMO_EPOCHS } from './pipeline/demo.js';
export type { DemoOptions, DemoPlan, DemoSummary } from './pipeline/demo.js';
// Runtime-aware plans: which merges, ranks and fusions pay on one target (docs/planner.md)
export { planModel, applyPlan, planMergeOptions, planShrinkItems, planTuckerRanks, PLAN_FAMILIES, PLAN_MIN_GAIN } from './plan/plan.js';
export type { KeptChange, PlanFamily, ShrinkStageOptions, RuntimePlan, RuntimePlanOptions, RuntimePlanReport, StageReport } from './plan/plan.js';
export { machineId, planTarget, registerTarget, targetNames } from './plan/targets.js';
export type { PlanTarget, TargetOptions, TargetSession } from './plan/targets.js';
export { PlanSearch, orderSites } from './plan/search.js';
export type { Budget, CandidateOutcome, MeasureFn, Measurement, PlanPoint, SearchOptions } from './plan/search.js';
export { buildShrink, proposeFusions, proposeMerges, proposeShrink, proposeTucker } from './plan/families.js';
export type { MergeFamilyOptions, Proposal, ShrinkFamilyOptions, TuckerFamilyOptions } from './plan/families.js';
export { applyPatch, diffModels, prepare } from './plan/candidate.js';
export type { CandidateRecipe, ShrinkRecipeItem, GraphPatch, PlanCandidate, PreparedCandidate } from './plan/candidate.js';
export { explainPlan, planHeadline } from './plan/explain.js';
export { defaultPlanCacheDir } from './plan/cache.js';
// Training
export { buildTrainingGraph } from './autodiff/training-graph.js';
export type { TrainingGraph } from './autodiff/training-graph.js';
export { train } from './train/trainer.js';
export type { TrainOptions, TrainResult } from './train/trainer.js';
export { evaluate } from './train/evaluate.js';
export { loadFashionMnist } from './data/fashion-mnist.js';
export { readNpy, writeNpy } from './data/npy.js';
// Your own data: image folders, .npy arrays, preprocessing specs, streaming sources
export { openData, openTrainEval, modelOutputClasses } from './data/open.js';
export type { OpenDataOptions, OpenedData, Split } from './data/open.js';
export { folderSource, scanImageFolder, IMAGE_EXTENSIONS } from './data/folder.js';
export type { FolderScan, FolderSourceOptions } from './data/folder.js';
export { npySource } from './data/npy-source.js';
export {
  PRESETS, loadPreprocess, parsePreprocess, resolvePreprocess, readDataInfo, recordDataInfo, loadClassNames, modelInputShape,
} from './data/preprocess.js';
export type { PreprocessSpec, ResolvedPreprocess, ModelDataInfo } from './data/preprocess.js';
export { streamBatches, headData, firstImages, isSource, isLabeled } from './data/source.js';
export type { Data, DataSource, SkippedFile } from './data/source.js';
export type { Dataset, Batch, BatchOptions } from './data/dataset.js';
export { writeImageFolder } from './data/export.js';
export { LogitCache, defaultCacheDir } from './data/logit-cache.js';
export { evalReport, evalSections } from './train/evaluate-report.js';
export type { EvalResult, EvalOptions } from './train/evaluate.js';
export { buildZooModel, ZOO } from './zoo/index.js';
