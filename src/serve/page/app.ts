/// <reference lib="dom" />
// The page of `rebirth serve`: a person picks an .onnx file; the page profiles it on onnxruntime-web,
// shows where the time goes (tensor vs non-tensor layers), plans DeepRebirth's merges, applies them and
// compares, all with the library's own code bundled for the browser (src/runtime/page-bundle.ts). The
// model is never uploaded: the server only serves code.
import { errorMessage, firstLine } from '../../errors.js';
import type { Model } from '../../ir/graph.js';
import { applyMerges, planMerges, type MergePlan } from '../../merge/plan.js';
import { decodeModel } from '../../onnx/decode.js';
import { encodeModel } from '../../onnx/encode.js';
import { attribute, type LayerProfile } from '../../profile/layers.js';
import { layerChart } from '../../profile/report.js';
import { NON_TENSOR_COLOR, TENSOR_COLOR, stackedBarChart } from '../../report/svg.js';
import { readModelNodes } from '../../runtime/model-nodes.js';
import { attributeKernels } from '../../runtime/kernels.js';
import type { RuntimeProfile } from '../../runtime/profile.js';
import { quantile } from '../../util/stats.js';
import type { PageExecutionProvider, PageProfileRequest, PageRuntimeRequest } from '../../runtime/browser-protocol.js';
import { formatMs, formatNumber, formatPercent } from '../../util/format.js';
import { PAGE_MERGE_OPTIONS } from '../merge-options.js';
import { profileInPage, timeInPage } from '../../runtime/page/runner.js';

/** Same defaults as `rebirth profile` (src/runtime/profile.ts). */
const PROFILE_DEFAULTS = { warmup: 3, warmupMs: 300, runs: 20, profileRuns: 10, seed: 1 } as const;

function element<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`page element #${id} is missing`);
  return e as T;
}

function setText(id: string, text: string): void {
  element(id).textContent = text;
}

function show(id: string, visible = true): void {
  element(id).hidden = !visible;
}

/** Inserts SVG markup from src/report/svg.ts as parsed nodes (never as HTML), replacing what was there. */
function setSvg(id: string, svg: string): void {
  const doc = new DOMParser().parseFromString(svg, 'image/svg+xml');
  element(id).replaceChildren(document.importNode(doc.documentElement, true));
}

function cell(text: string, numeric = false, testid?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (numeric) td.className = 'num';
  if (testid !== undefined) td.dataset.testid = testid;
  return td;
}

function row(cells: HTMLTableCellElement[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  tr.replaceChildren(...cells);
  return tr;
}

function runtimeRequest(): PageRuntimeRequest {
  const query = new URLSearchParams(location.search);
  const ep: PageExecutionProvider = query.get('ep') === 'webgpu' ? 'webgpu' : 'wasm';
  const threads = Number(query.get('threads') ?? '1');
  return { executionProvider: ep, threads: [1, 2, 4].includes(threads) ? threads : 1, allowFallbackAdapter: query.get('fallback') === '1' };
}

const runtime = runtimeRequest();

function status(text: string): void {
  setText('status', text);
}

function fail(e: unknown): void {
  const box = element('error');
  box.textContent = firstLine(errorMessage(e));
  box.hidden = false;
  status('Stopped.');
}

function profileRequest(): PageProfileRequest {
  return { ...runtime, modelUrl: '', optLevel: 'all', ...PROFILE_DEFAULTS, inputShapes: {} };
}

/** profileModel + attribute (src/profile/layers.ts), with the runs made in this page. */
async function profileBytes(model: Model, bytes: Uint8Array, name: string, label: string): Promise<LayerProfile> {
  const raw = await profileInPage(profileRequest(), (done, total) => status(`${label}: run ${done} of ${total}…`), bytes);
  const { nodes, unattributed } = attributeKernels(raw.kernels, readModelNodes(bytes));
  const profile: RuntimeProfile = {
    latencyMs: { median: quantile(raw.latencies, 0.5), p90: quantile(raw.latencies, 0.9), runs: raw.latencies },
    nodes,
    unattributed,
    backend: raw.runtime.backend,
    optLevel: 'all',
    threads: raw.runtime.threads,
    runtime: raw.runtime,
  };
  return attribute(model, profile, name);
}

interface Loaded {
  name: string;
  model: Model;
  bytes: Uint8Array;
  profile: LayerProfile;
  plan: MergePlan;
}

let current: Loaded | undefined;
let downloadUrl: string | undefined;

function mflops(v: number | undefined): string {
  return v === undefined ? '?' : formatNumber(v / 1e6, 3);
}

function renderPlan(plan: MergePlan): void {
  const n = plan.candidates.length;
  setText('plan-summary', n === 0
    ? 'DeepRebirth finds nothing to merge in this model.'
    : `DeepRebirth would merge ${n} block${n === 1 ? '' : 's'} (streamline: a conv and the pooling / LRN / activation layers after it become one conv; branch: an Inception module's branches become fewer, wider ones, as the 'what' column details).`);
  element('plan-rows').replaceChildren(...plan.candidates.map((c) => row([
    cell(c.name), cell(c.kind), cell(c.description),
    cell(mflops(c.flops.before), true), cell(mflops(c.flops.after), true),
    cell(formatNumber(c.params.before, 6), true), cell(formatNumber(c.params.after, 6), true),
  ])));
  element('refused').replaceChildren(...(plan.refused.length === 0
    ? [Object.assign(document.createElement('li'), { textContent: 'nothing: every candidate block can be merged' })]
    : plan.refused.map((r) => Object.assign(document.createElement('li'), { textContent: `${r.name}: ${r.reason}` }))));
  element<HTMLButtonElement>('merge-button').disabled = n === 0;
}

async function onFile(file: File): Promise<void> {
  const started = performance.now();
  show('error', false);
  show('profile', false);
  show('plan', false);
  show('merged', false);
  current = undefined;
  status(`Reading ${file.name}…`);
  const bytes = new Uint8Array(await file.arrayBuffer());
  const model = decodeModel(bytes);
  const profile = await profileBytes(model, bytes, file.name, `Profiling ${file.name}`);
  setText('latency-median', formatMs(profile.latencyMs.median));
  setText('latency-p90', formatMs(profile.latencyMs.p90));
  setText('non-tensor-share', formatPercent(profile.nonTensorShare));
  setText('layer-count', String(profile.layers.length));
  setText('runtime', `${profile.runtime.userAgent} · onnxruntime-web ${profile.runtime.executionProvider}${profile.runtime.adapter ? ` (${profile.runtime.adapter})` : ''}, ${profile.runtime.threads} thread(s), cross-origin isolated: ${String(crossOriginIsolated)}`);
  setSvg('layer-chart', layerChart(profile, `${file.name}: time per layer (onnxruntime-web ${profile.runtime.executionProvider}, ${profile.threads} thread(s))`));
  show('profile');
  status(`Planning merges…`);
  const plan = planMerges(model, PAGE_MERGE_OPTIONS);
  renderPlan(plan);
  show('plan');
  current = { name: file.name, model, bytes, profile, plan };
  status(`Profiled ${file.name} in ${formatMs(performance.now() - started)} (from file selection).`);
}

async function onMerge(): Promise<void> {
  const loaded = current;
  if (loaded === undefined) return;
  const started = performance.now();
  show('error', false);
  element<HTMLButtonElement>('merge-button').disabled = true;
  status('Merging…');
  const result = applyMerges(loaded.model, PAGE_MERGE_OPTIONS);
  const bytes = encodeModel(result.model);
  const mergedName = loaded.name.replace(/\.onnx$/i, '') + '.merged.onnx';
  const profile = await profileBytes(result.model, bytes, mergedName, 'Profiling the merged model');
  // The side-by-side numbers come from one interleaved timing of both models, so load drift during
  // the comparison hits both alike (timeModels in src/runtime/timing.ts does the same in Node).
  const timed = await timeInPage({ ...runtime, modelUrls: {}, optLevel: 'all', warmup: 3, warmupMs: 300, runs: 30 },
    (done, total) => status(`Timing original and merged side by side: round ${done} of ${total}…`),
    { original: loaded.bytes, merged: bytes });
  const a = timed.runs.original ?? [];
  const b = timed.runs.merged ?? [];
  const ratios = a.map((x, i) => x / (b[i] ?? Number.NaN)).filter((v) => Number.isFinite(v) && v > 0);
  const gain = quantile(ratios, 0.5);
  const before = loaded.profile;
  element('compare-rows').replaceChildren(
    row([cell('median latency (interleaved timing)'), cell(formatMs(quantile(a, 0.5)), true, 'latency-original-median'), cell(formatMs(quantile(b, 0.5)), true, 'latency-merged-median')]),
    row([cell('p90 (interleaved timing)'), cell(formatMs(quantile(a, 0.9)), true), cell(formatMs(quantile(b, 0.9)), true)]),
    row([cell('median latency (profile)'), cell(formatMs(before.latencyMs.median), true), cell(formatMs(profile.latencyMs.median), true)]),
    row([cell('tensor layers, ms per run'), cell(formatNumber(before.byCategory.tensor, 3), true), cell(formatNumber(profile.byCategory.tensor, 3), true)]),
    row([cell('non-tensor layers, ms per run'), cell(formatNumber(before.byCategory['non-tensor'], 3), true), cell(formatNumber(profile.byCategory['non-tensor'], 3), true)]),
    row([cell('non-tensor share'), cell(formatPercent(before.nonTensorShare), true), cell(formatPercent(profile.nonTensorShare), true)]),
    row([cell('layers timed'), cell(String(before.layers.length), true), cell(String(profile.layers.length), true)]),
  );
  setText('speedup', `Merged ${result.merges.length} block${result.merges.length === 1 ? '' : 's'}: ${formatNumber(gain, 3)}x faster (median of per-round ratios over ${ratios.length} interleaved rounds). The rebirth layers start from the original weights (inherit); retrain them with \`rebirth merge --retrain distill\` before deploying.`);
  setSvg('compare-chart', stackedBarChart({
    title: 'kernel time per run by layer category',
    categories: ['original', 'merged'],
    series: [
      { name: 'tensor (conv, fc)', color: TENSOR_COLOR, values: [before.byCategory.tensor, profile.byCategory.tensor] },
      { name: 'non-tensor (pool, LRN, BN, ReLU, concat, ...)', color: NON_TENSOR_COLOR, values: [before.byCategory['non-tensor'], profile.byCategory['non-tensor']] },
    ],
    yLabel: 'ms per run',
    width: 520,
  }));
  setSvg('merged-chart', layerChart(profile, `${mergedName}: time per layer`));
  if (downloadUrl !== undefined) URL.revokeObjectURL(downloadUrl);
  downloadUrl = URL.createObjectURL(new Blob([new Uint8Array(bytes)], { type: 'application/octet-stream' }));
  const link = element<HTMLAnchorElement>('download');
  link.href = downloadUrl;
  link.download = mergedName;
  link.textContent = `Download ${mergedName} (${formatNumber(bytes.length / 1e6, 3)} MB)`;
  show('merged');
  element<HTMLButtonElement>('merge-button').disabled = false;
  status(`Merged and profiled in ${formatMs(performance.now() - started)}.`);
}

function reloadWith(key: string, value: string): void {
  const query = new URLSearchParams(location.search);
  query.set(key, value);
  location.search = query.toString();
}

function start(): void {
  element<HTMLSelectElement>('ep').value = runtime.executionProvider;
  element<HTMLSelectElement>('threads').value = String(runtime.threads);
  element<HTMLSelectElement>('ep').addEventListener('change', (e) => reloadWith('ep', (e.target as HTMLSelectElement).value));
  element<HTMLSelectElement>('threads').addEventListener('change', (e) => reloadWith('threads', (e.target as HTMLSelectElement).value));
  setText('runtime', `onnxruntime-web ${runtime.executionProvider}, ${runtime.threads} thread(s); cross-origin isolated: ${String(crossOriginIsolated)}; ${navigator.hardwareConcurrency} logical cores`);
  const input = element<HTMLInputElement>('model-input');
  input.addEventListener('change', () => {
    const file = input.files?.[0];
    if (file !== undefined) onFile(file).catch(fail);
  });
  element('merge-button').addEventListener('click', () => {
    onMerge().catch((e: unknown) => {
      element<HTMLButtonElement>('merge-button').disabled = false;
      fail(e);
    });
  });
}

start();
