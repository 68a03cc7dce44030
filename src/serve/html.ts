// The documents of the page for people. Everything they load comes from our own server (scripts, styles,
// onnxruntime-web's files): no CDN, no web fonts (local font stacks only), and the Content-Security-Policy
// the server sends (src/runtime/browser-server.ts) holds the page to that.

/** The page for people: pick a model, see it profiled and merged in this browser. */
export const APP_HTML = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rebirth: profile and merge a CNN in your browser</title>
<link rel="stylesheet" href="/app/style.css">
<link rel="icon" href="data:,">
<script type="module" src="/app/app.js"></script>
</head>
<body>
<main>
<header>
<h1>rebirth</h1>
<p class="lede">Profile an ONNX model in this browser with onnxruntime-web, see what DeepRebirth would merge, merge it and compare.
The model is read, rewritten and run here: it never leaves this machine.</p>
</header>

<section id="pick">
<h2>Model</h2>
<div class="row">
<label class="file">Choose an .onnx file <input type="file" id="model-input" data-testid="model-input" accept=".onnx,application/octet-stream"></label>
<label>execution provider
<select id="ep" data-testid="ep"><option value="wasm">wasm (CPU)</option><option value="webgpu">webgpu</option></select></label>
<label>threads
<select id="threads" data-testid="threads"><option>1</option><option>2</option><option>4</option></select></label>
</div>
<p class="hint">Changing the execution provider or threads reloads the page (onnxruntime-web sets them up once per page); choose the file again afterwards.</p>
<p id="runtime" class="runtime" data-testid="runtime"></p>
<p id="status" class="status" data-testid="status" role="status">No model yet.</p>
<p id="error" class="error" data-testid="error" role="alert" hidden></p>
</section>

<section id="profile" hidden>
<h2>Profile</h2>
<div class="cards">
<div class="card"><span class="label">median latency</span><span class="value" id="latency-median" data-testid="latency-median"></span></div>
<div class="card"><span class="label">p90</span><span class="value" id="latency-p90" data-testid="latency-p90"></span></div>
<div class="card"><span class="label">non-tensor share of kernel time</span><span class="value" id="non-tensor-share" data-testid="non-tensor-share"></span></div>
<div class="card"><span class="label">layers timed</span><span class="value" id="layer-count" data-testid="layer-count"></span></div>
</div>
<div class="chart" id="layer-chart" data-testid="layer-chart"></div>
</section>

<section id="plan" hidden>
<h2>Merge plan</h2>
<p id="plan-summary"></p>
<div class="table-wrap"><table data-testid="merge-plan"><thead><tr><th>merge</th><th>kind</th><th>what</th><th class="num">MFLOPs before</th><th class="num">after</th><th class="num">params before</th><th class="num">after</th></tr></thead><tbody id="plan-rows"></tbody></table></div>
<h3>Left alone</h3>
<ul id="refused" data-testid="merge-refused"></ul>
<p><button id="merge-button" data-testid="merge-button" type="button" disabled>Merge</button></p>
</section>

<section id="merged" hidden>
<h2>Original and merged</h2>
<div class="table-wrap"><table data-testid="compare"><thead><tr><th></th><th class="num">original</th><th class="num">merged</th></tr></thead><tbody id="compare-rows"></tbody></table></div>
<p id="speedup" data-testid="speedup"></p>
<div class="chart" id="compare-chart" data-testid="compare-chart"></div>
<div class="chart" id="merged-chart" data-testid="merged-chart"></div>
<p><a id="download" data-testid="download" class="button" href="#">Download the merged model</a></p>
</section>
</main>
</body>
</html>
`;

export const APP_CSS = `
:root { color-scheme: light; --tensor: #4C78A8; --non-tensor: #F58518; }
body { margin: 0; background: #f6f7f9; color: #222; font: 15px/1.5 'DejaVu Sans', Verdana, 'Helvetica Neue', Arial, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 20px 28px 48px; }
h1 { font-size: 28px; margin: 4px 0; }
h2 { font-size: 19px; margin: 0 0 10px; }
h3 { font-size: 16px; margin: 14px 0 6px; }
.lede { color: #444; max-width: 80ch; margin: 0 0 18px; }
section { background: #fff; border: 1px solid #e2e4e8; border-radius: 6px; padding: 16px 20px; margin: 0 0 18px; }
.row { display: flex; flex-wrap: wrap; gap: 18px; align-items: center; }
label { font-size: 14px; color: #333; }
select { margin-left: 6px; font: inherit; }
label.file { background: #4C78A8; color: #fff; padding: 7px 14px; border-radius: 5px; cursor: pointer; }
label.file input { font-size: 13px; margin-left: 8px; color: #fff; }
.hint { color: #666; font-size: 13px; margin: 8px 0 0; }
.runtime { color: #555; font-size: 13px; margin: 6px 0 0; font-family: 'DejaVu Sans Mono', monospace; }
.status { margin: 8px 0 0; }
.error { margin: 8px 0 0; color: #a00; font-weight: 600; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 0 0 12px; }
.card { border: 1px solid #e2e4e8; border-radius: 6px; padding: 8px 14px; min-width: 150px; background: #fafbfc; }
.card .label { display: block; font-size: 12px; color: #666; }
.card .value { display: block; font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
.chart { overflow-x: auto; margin: 8px 0; }
.chart svg { display: block; max-width: 100%; height: auto; }
.table-wrap { overflow-x: auto; margin: 4px 0 10px; }
table { border-collapse: collapse; font-size: 13.5px; }
th, td { padding: 4px 12px; border-bottom: 1px solid #e6e6e6; text-align: left; vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; border-bottom: 2px solid #d0d4da; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
ul { margin: 0; padding-left: 20px; font-size: 14px; }
button, a.button { font: inherit; background: #4C78A8; color: #fff; border: none; border-radius: 5px; padding: 7px 16px; cursor: pointer; text-decoration: none; display: inline-block; }
button:disabled { background: #9bb0c8; cursor: default; }
`;
