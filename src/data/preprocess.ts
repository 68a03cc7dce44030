/**
 * Preprocessing as data: how a decoded image becomes the float tensor a model expects. A spec is plain
 * JSON (presets below, or `--preprocess FILE.json`), so it can be stored in the model it belongs to
 * (ONNX metadata_props) and read back by every command that feeds that model.
 *
 * Evaluation (and teacher logits): resize so the shorter side is `resize` pixels (or the whole image to
 * `resize` x `resize` with resizeMode 'square', Caffe's habit), then cut the centre `crop` window.
 * Training adds, per spec.train: a random resized crop (torchvision's RandomResizedCrop: area fraction
 * in `scale`, aspect ratio in `ratio`, 10 tries, else the centre crop), or a random crop of the resized
 * image (Caffe), and a left-right flip with probability 1/2.
 * Values: v = (pixel / divide - mean[c]) / std[c], channels in RGB or BGR order, laid out NCHW.
 */
import * as fs from 'node:fs';
import type { Model } from '../ir/graph.js';
import { RebirthError, errorMessage, firstLine } from '../errors.js';
import { Random } from '../util/random.js';

export type ResizeMode = 'shorter' | 'square';
export type Interpolation = 'nearest' | 'bilinear' | 'bicubic' | 'lanczos3';
export type TrainCrop = 'center' | 'random' | 'random-resized';

export interface PreprocessSpec {
  /** A preset's name, kept for messages and metadata; a file spec may name itself. */
  name?: string;
  /** Shorter side (or both sides, 'square') after resizing, in pixels. Default: crop / cropFraction. */
  resize?: number;
  /** Used when `resize` is absent: resize = round(crop shorter side / cropFraction). Default 1 (no margin). */
  cropFraction?: number;
  resizeMode?: ResizeMode;
  /** [height, width] of the centre crop; default the model's input size. */
  crop?: [number, number];
  interpolation?: Interpolation;
  /** Pixel values (0-255) are divided by this: 255 gives [0, 1], 1 keeps 0-255. */
  divide: number;
  /** Per channel (in the model's channel order) or one value for all. */
  mean: number[];
  std: number[];
  channelOrder: 'rgb' | 'bgr';
  layout: 'nchw';
  train?: {
    crop?: TrainCrop;
    /** random-resized: area fraction range (torchvision default [0.08, 1]). */
    scale?: [number, number];
    /** random-resized: aspect ratio range (torchvision default [3/4, 4/3]). */
    ratio?: [number, number];
    flip?: boolean;
  };
}

/**
 * A spec with every size fixed for one model input: what the decoder needs and what a model records.
 * `channels` is the model's channel count (1: luma of RGB, as PIL's convert('L'); 3: sRGB).
 */
export interface ResolvedPreprocess extends PreprocessSpec {
  channels: number;
  crop: [number, number];
  resize: number;
  resizeMode: ResizeMode;
  interpolation: Interpolation;
}

/** The built-in presets. */
export const PRESETS: Readonly<Record<'unit' | 'imagenet' | 'caffe', PreprocessSpec>> = Object.freeze({
  // pixel / 255 and nothing else: what rebirth's Fashion-MNIST teacher was trained on (loadFashionMnist).
  unit: { name: 'unit', divide: 255, mean: [0], std: [1], channelOrder: 'rgb', layout: 'nchw', train: { crop: 'center', flip: false } },
  // torchvision's ImageNet recipe: Resize(256) + CenterCrop(224) to evaluate, RandomResizedCrop + flip to train.
  imagenet: {
    name: 'imagenet', cropFraction: 0.875, divide: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225],
    channelOrder: 'rgb', layout: 'nchw', train: { crop: 'random-resized', scale: [0.08, 1], ratio: [3 / 4, 4 / 3], flip: true },
  },
  // BVLC Caffe models: 256x256 (aspect not kept), 0-255 BGR minus the ImageNet mean pixel, random 224 crop + mirror.
  caffe: {
    name: 'caffe', cropFraction: 0.875, resizeMode: 'square', divide: 1, mean: [104, 117, 123], std: [1],
    channelOrder: 'bgr', layout: 'nchw', train: { crop: 'random', flip: true },
  },
});

export type PresetName = keyof typeof PRESETS;

/** Metadata keys in the ONNX model (metadata_props). */
export const META_PREPROCESS = 'rebirth.preprocess';
export const META_CLASSES = 'rebirth.classes';

const KEYS = new Set(['name', 'resize', 'cropFraction', 'resizeMode', 'crop', 'interpolation', 'divide', 'mean', 'std', 'channelOrder', 'layout', 'train', 'channels']);
const TRAIN_KEYS = new Set(['crop', 'scale', 'ratio', 'flip']);

/** `--preprocess NAME|FILE.json`: a preset or a JSON spec file. */
export function loadPreprocess(arg: string): PreprocessSpec {
  if (arg in PRESETS) return structuredClone(PRESETS[arg as PresetName]);
  if (!arg.endsWith('.json')) {
    throw new RebirthError(`--preprocess ${arg}: not a preset (${Object.keys(PRESETS).join(', ')}) nor a .json file; pass one of those`);
  }
  let text: string;
  try {
    text = fs.readFileSync(arg, 'utf8');
  } catch (e) {
    throw new RebirthError(`--preprocess ${arg}: cannot read it (${firstLine(errorMessage(e))}); check the path`, { cause: e });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new RebirthError(`--preprocess ${arg}: not valid JSON (${firstLine(errorMessage(e))}); fix the file (docs/data.md shows the fields)`, { cause: e });
  }
  return parsePreprocess(value, arg);
}

/** Validate a spec given as parsed JSON; `where` (a file or 'metadata of MODEL') names it in errors. */
export function parsePreprocess(value: unknown, where: string): PreprocessSpec {
  const fail = (what: string): never => {
    throw new RebirthError(`${where}: ${what}; see docs/data.md for the preprocessing fields`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('expected a JSON object');
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.has(k)) fail(`unknown field '${k}'`);
  // A file may start from a preset and override fields: {"name": "imagenet", "resize": 288}.
  const base: Partial<PreprocessSpec> = typeof o.name === 'string' && o.name in PRESETS ? structuredClone(PRESETS[o.name as PresetName]) : {};
  const num = (k: string, min: number, integer = false): number | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) {
      return fail(`'${k}' must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const nums = (v: unknown, k: string, len?: number): number[] | undefined => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0 || (len !== undefined && v.length !== len) || !v.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      return fail(`'${k}' must be an array of ${len ?? 'one or more'} numbers, got ${JSON.stringify(v)}`);
    }
    return v as number[];
  };
  const choice = <T extends string>(v: unknown, k: string, allowed: readonly T[]): T | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) return fail(`'${k}' must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  };
  const spec: PreprocessSpec = {
    divide: num('divide', Number.MIN_VALUE) ?? base.divide ?? fail("'divide' is missing (255 for [0, 1] inputs, 1 for 0-255)"),
    mean: nums(o.mean, 'mean') ?? base.mean ?? [0],
    std: nums(o.std, 'std') ?? base.std ?? [1],
    channelOrder: choice(o.channelOrder, 'channelOrder', ['rgb', 'bgr'] as const) ?? base.channelOrder ?? 'rgb',
    layout: choice(o.layout, 'layout', ['nchw'] as const) ?? 'nchw',
  };
  if (spec.std.some((s) => s === 0)) fail("'std' must not contain 0");
  if (typeof o.name === 'string') spec.name = o.name;
  else if (o.name !== undefined) fail("'name' must be a string");
  const resize = num('resize', 1, true) ?? base.resize;
  if (resize !== undefined) spec.resize = resize;
  const cropFraction = num('cropFraction', Number.MIN_VALUE) ?? base.cropFraction;
  if (cropFraction !== undefined) {
    if (cropFraction > 1) fail(`'cropFraction' must be in (0, 1], got ${cropFraction}`);
    spec.cropFraction = cropFraction;
  }
  const resizeMode = choice(o.resizeMode, 'resizeMode', ['shorter', 'square'] as const) ?? base.resizeMode;
  if (resizeMode) spec.resizeMode = resizeMode;
  const crop = nums(o.crop, 'crop', 2) ?? base.crop;
  if (crop) {
    if (!crop.every((d) => Number.isInteger(d) && d >= 1)) fail(`'crop' must be [height, width] in whole pixels, got ${JSON.stringify(crop)}`);
    spec.crop = [crop[0] as number, crop[1] as number];
  }
  const interpolation = choice(o.interpolation, 'interpolation', ['nearest', 'bilinear', 'bicubic', 'lanczos3'] as const) ?? base.interpolation;
  if (interpolation) spec.interpolation = interpolation;
  if (o.channels !== undefined) num('channels', 1, true);
  const t = o.train ?? base.train;
  if (t !== undefined) {
    if (typeof t !== 'object' || t === null || Array.isArray(t)) return fail("'train' must be an object");
    const tr = t as Record<string, unknown>;
    for (const k of Object.keys(tr)) if (!TRAIN_KEYS.has(k)) fail(`unknown field 'train.${k}'`);
    const train: NonNullable<PreprocessSpec['train']> = {};
    const tc = choice(tr.crop, 'train.crop', ['center', 'random', 'random-resized'] as const);
    if (tc) train.crop = tc;
    const range = (k: 'scale' | 'ratio'): void => {
      const r = nums(tr[k], `train.${k}`, 2);
      if (!r) return;
      const [lo, hi] = r as [number, number];
      if (!(lo > 0 && lo <= hi) || (k === 'scale' && hi > 1)) fail(`'train.${k}' must be [low, high] with 0 < low <= high${k === 'scale' ? ' <= 1' : ''}, got ${JSON.stringify(r)}`);
      train[k] = [lo, hi];
    };
    range('scale');
    range('ratio');
    if (tr.flip !== undefined) {
      if (typeof tr.flip !== 'boolean') fail("'train.flip' must be true or false");
      train.flip = tr.flip as boolean;
    }
    spec.train = train;
  }
  return spec;
}

/** [channels, height, width] of a model's data input, when all three are fixed numbers. */
export function modelInputShape(model: Model): [number, number, number] | undefined {
  const g = model.graph;
  const input = g.inputs.find((v) => !g.initializers.has(v.name));
  const [, c, h, w] = input?.shape ?? [];
  return typeof c === 'number' && typeof h === 'number' && typeof w === 'number' ? [c, h, w] : undefined;
}

/** Fix every size of `spec` for an input of [channels, height, width]. */
export function resolvePreprocess(spec: PreprocessSpec, shape: readonly [number, number, number], where = '--preprocess'): ResolvedPreprocess {
  const [channels, h, w] = shape;
  if (channels !== 1 && channels !== 3) {
    throw new RebirthError(`${where}: the model takes ${channels} channels; images can feed 1 (grey) or 3 (RGB) channel models only`);
  }
  for (const [k, v] of [['mean', spec.mean], ['std', spec.std]] as const) {
    if (v.length !== 1 && v.length !== channels) {
      throw new RebirthError(`${where}: '${k}' has ${v.length} values for a ${channels}-channel model; give 1 or ${channels}`);
    }
  }
  const crop: [number, number] = spec.crop ? [...spec.crop] : [h, w];
  if (crop[0] !== h || crop[1] !== w) {
    throw new RebirthError(`${where}: crop ${crop.join('x')} differs from the model's input ${h}x${w}; set "crop": [${h}, ${w}] or drop it`);
  }
  const resize = spec.resize ?? Math.round(Math.min(h, w) / (spec.cropFraction ?? 1));
  const resizeMode = spec.resizeMode ?? 'shorter';
  if (resize < Math.max(h, w) && resizeMode === 'square') {
    throw new RebirthError(`${where}: resize ${resize} is smaller than the ${h}x${w} crop; use a resize of at least ${Math.max(h, w)}`);
  }
  if (resize < Math.min(h, w)) {
    throw new RebirthError(`${where}: resize ${resize} is smaller than the ${h}x${w} crop; use a resize of at least ${Math.min(h, w)}`);
  }
  return { ...structuredClone(spec), channels, crop, resize, resizeMode, interpolation: spec.interpolation ?? 'bilinear' };
}

/** Canonical JSON of a resolved spec: equal specs give equal strings (cache keys, metadata). */
export function preprocessKey(p: ResolvedPreprocess): string {
  const ordered = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(ordered);
    if (typeof v === 'object' && v !== null) {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, ordered((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  return JSON.stringify(ordered(p));
}

/** What a model records about its data: the preprocessing it expects, and its class names. */
export interface ModelDataInfo {
  preprocess?: PreprocessSpec;
  classNames?: string[];
}

/** Read what `recordDataInfo` wrote (or nothing); malformed entries are errors naming the model. */
export function readDataInfo(model: Model, where = 'the model'): ModelDataInfo {
  const out: ModelDataInfo = {};
  const get = (key: string): unknown => {
    const e = model.metadata.find((m) => m.key === key);
    if (!e) return undefined;
    try {
      return JSON.parse(e.value);
    } catch {
      throw new RebirthError(`${where}: metadata '${key}' is not valid JSON; rewrite it or pass the option explicitly`);
    }
  };
  const p = get(META_PREPROCESS);
  if (p !== undefined) out.preprocess = parsePreprocess(p, `metadata '${META_PREPROCESS}' of ${where}`);
  const c = get(META_CLASSES);
  if (c !== undefined) {
    if (!Array.isArray(c) || !c.every((x) => typeof x === 'string')) {
      throw new RebirthError(`${where}: metadata '${META_CLASSES}' must be a JSON array of strings; rewrite it or pass --classes FILE`);
    }
    out.classNames = c;
  }
  return out;
}

/** Record preprocessing and class names in `model.metadata` (replacing earlier entries of rebirth's keys). */
export function recordDataInfo(model: Model, info: ModelDataInfo): void {
  const set = (key: string, value: string): void => {
    const existing = model.metadata.find((m) => m.key === key);
    if (existing) {
      existing.value = value;
      delete existing.proto;
    } else {
      model.metadata.push({ key, value });
    }
  };
  if (info.preprocess) {
    // Only the spec (not the model-specific resolution) is stored, so a derived model with another
    // input size still reads back something it can resolve.
    const { channels: _c, ...spec } = info.preprocess as Partial<ResolvedPreprocess>;
    set(META_PREPROCESS, JSON.stringify(spec));
  }
  if (info.classNames) set(META_CLASSES, JSON.stringify(info.classNames));
}

/** `--classes FILE`: one class name per line (blank lines ignored), or a JSON array of names. */
export function loadClassNames(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new RebirthError(`--classes ${file}: cannot read it (${firstLine(errorMessage(e))}); check the path`, { cause: e });
  }
  let names: string[];
  if (text.trimStart().startsWith('[')) {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new RebirthError(`--classes ${file}: not valid JSON (${firstLine(errorMessage(e))}); write one name per line or a JSON array`, { cause: e });
    }
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new RebirthError(`--classes ${file}: the JSON must be an array of strings`);
    names = v;
  } else {
    names = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  }
  if (names.length === 0) throw new RebirthError(`--classes ${file} lists no class names; write one per line`);
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new RebirthError(`--classes ${file} lists '${n}' twice; each class once`);
    seen.add(n);
  }
  return names;
}

// ---- Geometry: pure functions shared by the decoder worker and the tests ---------------------------

/** A crop box in source pixels. */
export interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** One image's geometric plan: optional pre-resize crop, resize, post-resize crop, flip. */
export interface ImagePlan {
  /** Crop of the source before resizing (random resized crop). */
  region?: Box;
  /** Size after resizing [width, height]. */
  resize: [number, number];
  /** Crop of the resized image, of exactly the model's size. */
  crop: Box;
  flip: boolean;
}

/**
 * Per-sample random draws, made in the main thread from the batch's seeded generator so that a
 * sample's augmentation does not depend on which worker decodes it or when. `flip` is final (the
 * source has already combined the coin with whether the spec flips at all).
 */
export interface SampleDraw {
  seed: number;
  flip: boolean;
}

/** Size after resizing the shorter side to `size`, as torchvision's Resize(int): the long side truncated. */
export function shorterSideSize(width: number, height: number, size: number): [number, number] {
  if (width <= height) return [size, Math.max(1, Math.trunc((size * height) / width))];
  return [Math.max(1, Math.trunc((size * width) / height)), size];
}

/** The centre `ch` x `cw` window of a `width` x `height` image, offsets rounded as torchvision's CenterCrop. */
export function centerBox(width: number, height: number, ch: number, cw: number): Box {
  return { left: Math.round((width - cw) / 2), top: Math.round((height - ch) / 2), width: cw, height: ch };
}

/** The geometric plan for a `width` x `height` source under `p`; `draw` given means training. */
export function planImage(p: ResolvedPreprocess, width: number, height: number, draw?: SampleDraw): ImagePlan {
  const [ch, cw] = p.crop;
  const crop = p.train?.crop ?? 'center';
  if (draw && crop === 'random-resized') {
    const region = randomResizedBox(width, height, p.train?.scale ?? [0.08, 1], p.train?.ratio ?? [3 / 4, 4 / 3], new Random(draw.seed));
    return { region, resize: [cw, ch], crop: { left: 0, top: 0, width: cw, height: ch }, flip: draw.flip };
  }
  const resize: [number, number] = p.resizeMode === 'square' ? [p.resize, p.resize] : shorterSideSize(width, height, p.resize);
  // The shorter side may still be smaller than the crop when resize equals it and the crop is not square.
  const scale = Math.max(ch / resize[1], cw / resize[0], 1);
  if (scale > 1) {
    resize[0] = Math.ceil(resize[0] * scale);
    resize[1] = Math.ceil(resize[1] * scale);
  }
  let box = centerBox(resize[0], resize[1], ch, cw);
  if (draw && crop === 'random') {
    const rng = new Random(draw.seed);
    box = { left: rng.nextInt(resize[0] - cw + 1), top: rng.nextInt(resize[1] - ch + 1), width: cw, height: ch };
  }
  return { resize, crop: box, flip: draw?.flip ?? false };
}

/**
 * torchvision's RandomResizedCrop.get_params: up to 10 tries of a box with area fraction in `scale`
 * and aspect ratio (log-uniform) in `ratio` that fits; else the centre crop at the clamped ratio.
 */
export function randomResizedBox(width: number, height: number, scale: readonly [number, number], ratio: readonly [number, number], rng: Random): Box {
  const area = width * height;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * (scale[0] + rng.nextFloat() * (scale[1] - scale[0]));
    const aspect = Math.exp(logLo + rng.nextFloat() * (logHi - logLo));
    const w = Math.round(Math.sqrt(target * aspect));
    const h = Math.round(Math.sqrt(target / aspect));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      return { left: rng.nextInt(width - w + 1), top: rng.nextInt(height - h + 1), width: w, height: h };
    }
  }
  const inRatio = width / height;
  let w = width;
  let h = height;
  if (inRatio < Math.min(ratio[0], ratio[1])) h = Math.round(w / Math.min(ratio[0], ratio[1]));
  else if (inRatio > Math.max(ratio[0], ratio[1])) w = Math.round(h * Math.max(ratio[0], ratio[1]));
  return { left: Math.trunc((width - w) / 2), top: Math.trunc((height - h) / 2), width: w, height: h };
}

/**
 * HWC 8-bit pixels (1 or 3 channels as decoded) to CHW floats of `p.channels` channels. Three decoded
 * channels feeding a 1-channel model become luma with PIL's convert('L') weights (ITU-R 601-2, in 16-bit
 * fixed point as PIL computes it), so a grey model sees what torchvision would give it.
 */
export function pixelsToTensor(pixels: Uint8Array, decodedChannels: number, p: ResolvedPreprocess, out: Float32Array): void {
  const n = p.crop[0] * p.crop[1];
  const c = p.channels;
  if (out.length !== n * c) throw new RangeError(`pixelsToTensor: out has ${out.length} values, needs ${n * c}`);
  const mean = (k: number): number => p.mean[p.mean.length === 1 ? 0 : k] ?? 0;
  const std = (k: number): number => p.std[p.std.length === 1 ? 0 : k] ?? 1;
  const d = p.divide;
  if (c === 1) {
    const m = mean(0);
    const s = std(0);
    for (let i = 0; i < n; i++) {
      let v: number;
      if (decodedChannels === 1) v = pixels[i] ?? 0;
      else {
        const r = pixels[3 * i] ?? 0;
        const g = pixels[3 * i + 1] ?? 0;
        const b = pixels[3 * i + 2] ?? 0;
        v = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
      }
      // Divide (not multiply by 1 / divide): pixel / 255 is what loadFashionMnist and torchvision compute.
      out[i] = (v / d - m) / s;
    }
    return;
  }
  for (let k = 0; k < 3; k++) {
    const src = p.channelOrder === 'bgr' ? 2 - k : k;
    const m = mean(k);
    const s = std(k);
    const plane = k * n;
    for (let i = 0; i < n; i++) {
      const v = decodedChannels === 1 ? (pixels[i] ?? 0) : (pixels[3 * i + src] ?? 0);
      out[plane + i] = (v / d - m) / s;
    }
  }
}
