// A trial's page: what it is (labels, config), how it went (attempts, learning
// curves as the epochs arrive, the end of its worker.log) and what it left
// (metrics, artifacts). Redrawn in place on every change the server pushes.
const ID = JSON.parse($("first").textContent).id;
const curveCharts = {};

// The numbers an epoch report carries, by name: training loss and learning
// rate, then each validation metric (`val.gender.accuracy` and so on).
function series(epochs) {
  const out = {};
  const add = (name, epoch, v) => { if (typeof v === "number" && isFinite(v)) (out[name] = out[name] || []).push([epoch, v]); };
  epochs.forEach((e, i) => {
    const n = typeof e.epoch === "number" ? e.epoch : i + 1;
    add("training loss", n, e.train_loss);
    add("learning rate", n, e.lr);
    const val = e.val || {};
    Object.entries(val).forEach(([task, m]) => {
      if (!m || typeof m !== "object") return;
      add("validation " + task + " accuracy", n, m.accuracy);
      if (m.expected) add("validation " + task + " MAE (expected value)", n, m.expected.mae);
      if (m.argmax) add("validation " + task + " MAE (argmax)", n, m.argmax.mae);
    });
    add("validation score", n, e.val_score);
  });
  return out;
}

function drawCurves(attempts) {
  const byName = {};
  attempts.forEach((a) => Object.entries(series(a.epochs || [])).forEach(([name, pts]) => {
    (byName[name] = byName[name] || []).push({ name: "attempt " + a.id, type: "line", showSymbol: pts.length < 40, data: pts });
  }));
  const names = Object.keys(byName);
  if (!names.length) { $("curvecharts").replaceChildren(el("p", "No epoch reported yet.", "muted")); Object.keys(curveCharts).forEach((k) => delete curveCharts[k]); return; }
  const p = $("curvecharts").querySelector("p");
  if (p) p.remove();
  names.forEach((name) => {
    if (!curveCharts[name]) {
      const d = el("div", null, "chart");
      d.style.height = "16em";
      $("curvecharts").appendChild(d);
      curveCharts[name] = echarts.init(d);
      curveCharts[name].setOption({
        title: { text: name, textStyle: { fontSize: 13 } }, tooltip: { trigger: "axis" }, legend: { top: 22 },
        toolbox: { feature: { dataZoom: {}, restore: {} } }, grid: { top: 56, left: 56, right: 24, bottom: 36 },
        xAxis: { type: "value", name: "epoch", minInterval: 1 }, yAxis: { type: "value", scale: true },
        dataZoom: [{ type: "inside", xAxisIndex: 0 }],
      });
    }
    curveCharts[name].setOption({ series: byName[name] }, { replaceMerge: ["series"] });
  });
}

function draw(t) {
  $("error").textContent = "";
  const d = t.detail || {};
  const sum = el("div");
  sum.appendChild(el("p", labels(t.labels)));
  sum.appendChild(el("p", "state: " + (t.state || "unknown") + "; " + t.kind + "; full id " + t.id));
  const member = el("p", "in: ");
  (t.studies || []).forEach((s) => { member.appendChild(link(studyHref(s), s)); member.appendChild(document.createTextNode(" ")); });
  (t.stages || []).forEach((s) => member.appendChild(el("span", "pretraining stage " + s + " ")));
  (t.depends_on || []).forEach((id) => { member.appendChild(document.createTextNode("starts from ")); member.appendChild(link(trialHref(id), String(id).slice(0, 12))); });
  sum.appendChild(member);
  if (t.degenerate) sum.appendChild(el("p", "flagged degenerate: " + t.degenerate.join("; "), "warn"));
  const metrics = Object.entries(t.metrics || {}).map(([k, v]) => [k, num(v)]);
  if (metrics.length) sum.appendChild(table(["test metric", "value"], metrics));
  section("summary", "Trial", sum);
  if (d.error) $("error").textContent = d.error;
  const attempts = d.attempts || [];
  drawCurves(attempts);
  const lastEpoch = (a) => { const e = (a.epochs || []).at(-1); return e ? (typeof e.epoch === "number" ? e.epoch : a.epochs.length) : null; };
  const state = (a) => (a.state === "running" && (a.progress || lastEpoch(a) !== null) ? "running: " + progress(lastEpoch(a), a.progress) : a.state);
  const rows = attempts.map((a) => [String(a.id), state(a), a.started_at, a.ended_at || "", a.slot, a.device_name || a.device, a.host,
    a.backend + (a.job_id ? " " + a.job_id : ""), a.exit_code === null ? (a.signal === null ? "" : "signal " + a.signal) : String(a.exit_code),
    a.failure_class || "", a.message || ""]);
  section("attempts", "Attempts", rows.length ? table(["attempt", "state", "started", "ended", "slot", "device", "host", "backend", "exit", "failure", "message"], rows) : el("p", "Not started yet.", "muted"));
  const log = el("div");
  log.appendChild(el("p", t.log_path, "muted"));
  log.appendChild(el("pre", t.log === null || t.log === undefined ? "(no worker.log yet)" : t.log));
  section("log", "worker.log (its end)", log);
  const arts = (d.artifacts || []).map((a) => [a.path, String(a.bytes), a.sha256]);
  section("artifacts", "Artifacts", arts.length ? table(["file", "bytes", "sha256"], arts) : el("p", "None recorded (a trial records its files when it succeeds).", "muted"));
  const cfg = el("div");
  cfg.appendChild(el("pre", JSON.stringify({ config: t.config, exec: t.exec }, null, 2)));
  section("config", "Configuration (what decides its result; hashed, it is the trial id)", cfg);
}

let busy = false, again = false;
async function refresh() {
  if (busy) { again = true; return; }
  busy = true;
  try { draw(await getJson("/api/trial/" + encodeURIComponent(ID))); } catch (e) { $("error").textContent = String(e.message || e); }
  busy = false;
  if (again) { again = false; refresh(); }
}
window.addEventListener("resize", () => Object.values(curveCharts).forEach((c) => c.resize()));
refresh();
watch(() => refresh());
