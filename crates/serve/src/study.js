// A study's page: its claims, the report's table and charts (Apache ECharts,
// zoomable), parallel coordinates with brushing, and its trials filtered,
// sorted and paged by the server. Every change the server pushes redraws in
// place with the user's filters, page, sort, brush and zoom kept.
const STUDY = JSON.parse($("first").textContent).study;
const enc = encodeURIComponent;
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
const OUTCOME = { "shown different": "#1f77b4", "shown within the margin": "#2ca02c", "shown worse than the margin": "#d62728", open: "#8c8c8c" };
const view = { values: {}, ranges: {}, brushed: false, state: "", sort: "", desc: false, offset: 0, limit: 50 };
const charts = {};
let study = null, points = null;

function chart(parent, key, cls) {
  if (!charts[key]) {
    const d = el("div", null, cls || "chart");
    parent.appendChild(d);
    charts[key] = echarts.init(d);
  }
  return charts[key];
}

function drawClaims(s) {
  $("provisional").textContent = s.provisional ? "Provisional: trials of this sweep are still due, so these numbers and verdicts may change." : "";
  const rows = s.claims.map((c) => [c.claim, el("strong", c.verdict), c.why]);
  section("claims", "Claims judged on this study", rows.length ? table(["claim", "verdict", "why"], rows) : el("p", "No claim is judged on this study (yet)."));
}

function drawTable(s) {
  const t = s.table;
  const head = t.axes.concat(["N"], t.metrics.map((m) => m.label + (m.lower_is_better ? " ↓" : " ↑")));
  const rows = t.rows.map((r) => {
    const cells = r.key.concat([r.done + "/" + r.trials + (r.flagged ? " (" + r.flagged + " flagged)" : "")]);
    r.cells.forEach((c, i) => {
      if (c.mean === undefined) { cells.push(c.missing ? "missing" : "n/a"); return; }
      const d = t.metrics[i].lower_is_better ? 2 : 3;
      cells.push(el("span", c.mean.toFixed(d) + " ± " + c.sd.toFixed(d), c.best ? "best" : ""));
    });
    return cells;
  });
  section("table", "Mean ± sd over seeds", table(head, rows));
}

function errorBar(params, api) {
  const x = api.value(0), lo = api.coord([x, api.value(1)]), hi = api.coord([x, api.value(2)]);
  const style = { stroke: api.visual("color"), lineWidth: 1.5 };
  return { type: "group", children: [
    { type: "line", shape: { x1: lo[0], y1: lo[1], x2: hi[0], y2: hi[1] }, style },
    { type: "line", shape: { x1: lo[0] - 6, y1: lo[1], x2: lo[0] + 6, y2: lo[1] }, style },
    { type: "line", shape: { x1: hi[0] - 6, y1: hi[1], x2: hi[0] + 6, y2: hi[1] }, style }] };
}

function barsOption(b) {
  const k = b.series.length, series = [];
  b.series.forEach((s, j) => {
    const color = PALETTE[j % PALETTE.length], off = k > 1 ? (j - (k - 1) / 2) * 0.25 : 0;
    const ci = [], mean = [], dots = [];
    s.bars.forEach((x, i) => {
      if (x.ci) ci.push([i + off, x.ci[0], x.ci[1]]);
      if (x.mean !== null) mean.push([i + off, x.mean, x.n]);
      x.points.forEach((p, q) => dots.push([i + off + 0.06 * ((q % 5) - 2) / 2, p]));
    });
    series.push({ name: s.name, type: "custom", renderItem: errorBar, itemStyle: { color }, data: ci, encode: { x: 0, y: [1, 2] }, z: 2 });
    series.push({ name: s.name, type: "scatter", symbolSize: 11, itemStyle: { color }, data: mean, z: 3 });
    series.push({ name: s.name, type: "scatter", symbolSize: 4, itemStyle: { color, opacity: 0.55 }, data: dots, z: 1 });
  });
  return {
    title: { text: b.title, textStyle: { fontSize: 13 } },
    legend: { top: 24, data: b.series.map((s) => s.name) },
    tooltip: { trigger: "item", formatter: (p) => p.seriesName + ": " + (Array.isArray(p.value) ? num(p.value[1]) : "") },
    toolbox: { feature: { dataZoom: {}, restore: {} } },
    grid: { top: 64, left: 64, right: 48, bottom: 64 },
    xAxis: { type: "value", min: -0.5, max: b.groups.length - 0.5, interval: 1, splitLine: { show: false },
      axisLabel: { interval: 0, rotate: b.groups.length > 5 ? 25 : 0, formatter: (v) => b.groups[Math.round(v)] || "" } },
    yAxis: { type: "value", name: b.y_label, scale: true },
    dataZoom: [{ type: "inside", yAxisIndex: 0 }, { type: "slider", yAxisIndex: 0, right: 8, width: 14 }],
    series,
  };
}

function forestOption(f) {
  const labels = f.rows.map((r) => (r.diff === undefined ? "■ " : "   ") + r.label);
  const ci = [], diff = [], margin = [];
  f.rows.forEach((r, i) => {
    if (r.diff === undefined) return;
    const color = OUTCOME[r.outcome] || OUTCOME.open;
    ci.push({ value: [r.ci[0], i, r.ci[1]], itemStyle: { color } });
    diff.push({ value: [r.diff, i, r.outcome], itemStyle: { color } });
    if (r.margin !== null) margin.push([-r.margin, i, r.margin]);
  });
  const hbar = (params, api) => {
    const a = api.coord([api.value(0), api.value(1)]), b = api.coord([api.value(2), api.value(1)]);
    return { type: "line", shape: { x1: a[0], y1: a[1], x2: b[0], y2: b[1] }, style: { stroke: api.visual("color"), lineWidth: 2 } };
  };
  const band = (params, api) => {
    const a = api.coord([api.value(0), api.value(1)]), b = api.coord([api.value(2), api.value(1)]);
    const h = api.size([0, 1])[1] * 0.7;
    return { type: "rect", shape: { x: a[0], y: a[1] - h / 2, width: b[0] - a[0], height: h }, style: { fill: "rgba(44,160,44,0.12)" } };
  };
  return {
    title: { text: f.title, subtext: f.x_label, textStyle: { fontSize: 13 }, subtextStyle: { fontSize: 11 } },
    tooltip: { trigger: "item", formatter: (p) => labels[p.value[1]].trim() + ": " + num(p.value[0]) + (p.value[2] && typeof p.value[2] === "string" ? " (" + p.value[2] + ")" : "") },
    toolbox: { feature: { dataZoom: { yAxisIndex: false }, restore: {} } },
    grid: { top: 70, left: 16, right: 40, bottom: 40, containLabel: true },
    xAxis: { type: "value", scale: true },
    yAxis: { type: "category", data: labels, inverse: true, axisLabel: { fontSize: 11 } },
    dataZoom: [{ type: "inside", xAxisIndex: 0 }],
    series: [
      { type: "custom", renderItem: band, data: margin, encode: { x: [0, 2], y: 1 }, z: 1, silent: true },
      { type: "custom", renderItem: hbar, data: ci, encode: { x: [0, 2], y: 1 }, z: 2 },
      { type: "scatter", data: diff, symbolSize: 9, z: 3, markLine: { silent: true, symbol: "none", data: [{ xAxis: 0 }], lineStyle: { color: "#444" } } },
    ],
  };
}

function drawCharts(s) {
  s.bars.forEach((b) => chart($("bars"), "bars:" + b.name).setOption(barsOption(b), { replaceMerge: ["series"] }));
  s.forests.forEach((f) => {
    const c = chart($("forests"), "forest:" + f.metric.key);
    c.getDom().style.height = Math.max(260, 110 + 24 * f.rows.length) + "px";
    c.resize();
    c.setOption(forestOption(f), { replaceMerge: ["series"] });
  });
}

// Parallel coordinates: one axis per factor, then per metric; a brushed range
// on any axis filters the trial table through the same query the server reads.
// After the first fetch only the trials that changed since the page's last
// look come (`?after=`), merged by trial id.
const lines = new Map();
let seenLook = null, dims = null;
async function loadPoints() {
  const url = "/api/study/" + enc(STUDY) + "/points" + (seenLook === null ? "" : "?after=" + seenLook);
  let p = await getJson(url);
  const d = JSON.stringify([p.factors, p.metrics]);
  if (!p.full && d !== dims) { seenLook = null; return loadPoints(); }
  if (p.full) lines.clear();
  p.lines.forEach((l) => lines.set(l[0], l));
  p.gone.forEach((id) => lines.delete(id));
  seenLook = p.look;
  const fresh = d !== dims;
  dims = d;
  drawParallel(p, fresh);
}

function drawParallel(p, fresh) {
  points = p;
  const c = chart($("pc"), "pc", "chart wide");
  const cats = p.factors.map(([name, values]) => values);
  const axes = p.factors.map(([name], i) => ({ dim: i, name, type: "category", data: cats[i] }))
    .concat(p.metrics.map((m, j) => ({ dim: p.factors.length + j, name: m.label, type: "value", scale: true, inverse: m.lower_is_better })));
  const data = [...lines.values()].map((l) => l.slice(1).map((v) => (v === null ? "-" : v)));
  // The axes are set only when they change: updates change the lines, so a brush stays.
  if (!c.getOption() || fresh) {
    c.setOption({ parallel: { left: 60, right: 90, top: 50, bottom: 30 }, parallelAxis: axes,
      series: [{ type: "parallel", lineStyle: { width: 1, opacity: 0.45 }, progressive: 1000, data }] }, { replaceMerge: ["parallelAxis", "series"] });
    if (!c.__brushing) { c.on("axisareaselected", brushed); c.__brushing = true; }
  } else {
    c.setOption({ series: [{ data }] });
  }
}

function brushed() {
  const c = charts.pc, nf = points.factors.length;
  view.values = {}; view.ranges = {};
  points.factors.concat(points.metrics.map((m) => [m.key])).forEach((d, i) => {
    const model = c.getModel().getComponent("parallelAxis", i);
    const iv = (model && model.activeIntervals) || [];
    if (!iv.length) return;
    if (i < nf) {
      const vals = d[1].filter((_, k) => iv.some(([a, b]) => k >= a - 0.5 && k <= b + 0.5));
      view.values[d[0]] = vals;
    } else {
      view.ranges[d[0]] = [Math.min(...iv.map((x) => x[0])), Math.max(...iv.map((x) => x[1]))];
    }
  });
  view.brushed = Object.keys(view.values).length + Object.keys(view.ranges).length > 0;
  view.offset = 0;
  drawFilters();
  loadTrials();
}

function query() {
  const q = ["study=" + enc(STUDY), "offset=" + view.offset, "limit=" + view.limit];
  if (view.state) q.push("state=" + enc(view.state));
  if (view.sort) q.push("sort=" + enc(view.sort) + (view.desc ? "&desc=1" : ""));
  Object.entries(view.values).forEach(([k, vs]) => q.push("f." + enc(k) + "=" + vs.map(enc).join(",")));
  Object.entries(view.ranges).forEach(([k, [lo, hi]]) => q.push("r." + enc(k) + "=" + lo + ":" + hi));
  return q.join("&");
}

function drawFilters() {
  const box = $("filters");
  box.replaceChildren();
  const pick = (name, values, current, set) => {
    const s = el("select");
    s.appendChild(el("option", "every " + name));
    values.forEach((v) => { const o = el("option", v); o.value = v; if (current === v) o.selected = true; s.appendChild(o); });
    s.onchange = () => { set(s.selectedIndex === 0 ? null : s.value); view.offset = 0; loadTrials(); };
    box.appendChild(el("label", name));
    box.appendChild(s);
  };
  // A factor with one value filters nothing.
  Object.entries(study.factors).filter(([, values]) => values.length > 1).forEach(([f, values]) => {
    const cur = view.values[f] && view.values[f].length === 1 ? view.values[f][0] : null;
    pick(f, values, cur, (v) => { if (v === null) delete view.values[f]; else view.values[f] = [v]; });
  });
  pick("state", ["pending", "running", "succeeded", "failed", "blocked", "interrupted"], view.state || null, (v) => { view.state = v || ""; });
  const active = Object.entries(view.values).map(([k, v]) => k + " in {" + v.join(", ") + "}")
    .concat(Object.entries(view.ranges).map(([k, [lo, hi]]) => k + " in [" + num(lo) + ", " + num(hi) + "]"));
  $("kept").textContent = active.length ? "kept: " + active.join("; ") : "";
}

async function loadTrials() {
  try {
    const page = await getJson("/api/trials?" + query());
    const metrics = study.metrics.filter((m) => page.rows.some((r) => m.key in r.metrics));
    const factors = Object.keys(study.factors);
    const sortable = (key, text) => {
      const th = el("th", text + (view.sort === key ? (view.desc ? " ▼" : " ▲") : ""), "sort");
      th.onclick = () => { view.desc = view.sort === key ? !view.desc : false; view.sort = key; view.offset = 0; loadTrials(); };
      return th;
    };
    const head = [el("th", "trial"), sortable("state", "state"), sortable("seed", "seed")]
      .concat(factors.map((f) => sortable(f, f)), metrics.map((m) => sortable(m.key, m.label)));
    const rows = page.rows.map((r) => [link(trialHref(r.id), r.id.slice(0, 12) + (r.flagged ? " (flagged)" : "")), r.state, String(r.seed)]
      .concat(factors.map((f) => r.labels[f] || ""), metrics.map((m) => num(r.metrics[m.key]))));
    $("trialtable").replaceChildren(table(head, rows));
    const last = Math.min(page.total, page.offset + page.rows.length);
    $("count").textContent = "trials " + (page.total ? page.offset + 1 : 0) + "-" + last + " of " + page.total;
    $("prev").disabled = page.offset === 0;
    $("next").disabled = last >= page.total;
  } catch (e) { $("error").textContent = String(e.message || e); }
}

let busy = false, again = false;
async function refresh() {
  if (busy) { again = true; return; }
  busy = true;
  try {
    study = await getJson("/api/study/" + enc(STUDY));
    $("error").textContent = "";
    drawClaims(study);
    drawTable(study);
    drawCharts(study);
    await loadPoints();
    drawFilters();
    await loadTrials();
  } catch (e) { $("error").textContent = String(e.message || e); }
  busy = false;
  if (again) { again = false; refresh(); }
}

$("prev").onclick = () => { view.offset = Math.max(0, view.offset - view.limit); loadTrials(); };
$("next").onclick = () => { view.offset += view.limit; loadTrials(); };
$("unbrush").onclick = () => {
  if (charts.pc) points.factors.concat(points.metrics).forEach((_, i) => charts.pc.dispatchAction({ type: "axisAreaSelect", parallelAxisIndex: i, intervals: [] }));
  view.values = {}; view.ranges = {}; view.brushed = false; view.offset = 0; drawFilters(); loadTrials();
};
window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
refresh();
watch(() => refresh());
