"use strict";
// Draws the status JSON of `ablate serve` (see look.rs); every string is set as
// text, never parsed as HTML.
const $ = (id) => document.getElementById(id);
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function table(head, rows) {
  const t = el("table"), tr = el("tr");
  head.forEach((h) => tr.appendChild(el("th", h)));
  t.appendChild(tr);
  rows.forEach((r) => {
    const row = el("tr");
    r.forEach((c) => row.appendChild(c instanceof Node ? wrap(c) : el("td", c)));
    t.appendChild(row);
  });
  return t;
}
function wrap(node) { const td = el("td"); td.appendChild(node); return td; }
function section(id, title, body) {
  const s = $(id);
  s.replaceChildren();
  if (body === null) return;
  s.appendChild(el("h2", title));
  s.appendChild(body);
}
function labels(l) {
  return Object.entries(l || {}).map(([k, v]) => k + "=" + (typeof v === "string" ? v : JSON.stringify(v))).join(" ");
}
function done(c) { return (c.counts && c.counts.succeeded) || 0; }
let seenAt = Date.now(), changedAt = null, skew = 0;
function draw(s) {
  seenAt = Date.now();
  changedAt = s.changed_at;
  $("error").textContent = s.error || "";
  if (s.sweep) $("name").textContent = s.sweep;
  const total = s.total || 0, ok = done(s);
  const studies = (s.studies || []).map((c) => {
    const p = el("progress"); p.max = c.total || 1; p.value = done(c);
    return [c.study, done(c) + "/" + c.total + " done", p,
      Object.entries(c.counts || {}).map(([k, v]) => k + " " + v).join(", ")];
  });
  const sum = el("div");
  sum.appendChild(el("p", ok + "/" + total + " trials done" + (s.db_exists === false ? " (no database yet: " + s.db + ")" : "")));
  sum.appendChild(table(["study", "done", "", "trials by state"], studies));
  section("studies", "Studies", sum);
  const a = s.adaptive;
  section("round", "Adaptive seeds", a ? el("p", "look " + a.looks_judged + " of " + a.looks + (a.done ? "; every claim has stopped" : "")) : null);
  const running = (s.running || []).map((t) => {
    const at = t.attempt || {};
    return [t.id.slice(0, 12), labels(t.labels), at.slot || "", at.epoch == null ? "" : "epoch " + at.epoch, at.started_at || ""];
  });
  section("running", "Running", running.length ? table(["trial", "labels", "slot", "progress", "started"], running) : null);
  const bad = (s.failed || []).concat(s.blocked || []).map((t) => [t.id.slice(0, 12), t.state, labels(t.labels), t.reason || ""]);
  section("failed", "Failed and blocked", bad.length ? table(["trial", "state", "labels", "why"], bad) : null);
  const claims = (s.claims || []).map((c) => [c.claim, c.verdict, c.study]);
  section("claims", "Claims (provisional while trials are missing)", claims.length ? table(["claim", "verdict", "study"], claims) : null);
  const notes = el("ul");
  (s.notes || []).forEach((n) => notes.appendChild(el("li", n)));
  section("notes", "Notes", (s.notes || []).length ? notes : null);
}
function span(secs) {
  return secs < 120 ? secs + " s" : secs < 7200 ? Math.round(secs / 60) + " min" : Math.round(secs / 3600) + " h";
}
function age() {
  const secs = Math.round((Date.now() - seenAt) / 1000);
  let text = secs < 3 ? "live" : "no word from the server for " + span(secs) + " (stopped?)";
  if (changedAt) {
    const still = Math.max(0, Math.round(Date.now() / 1000 + skew - changedAt));
    text += "; the database last changed " + span(still) + " ago";
  }
  $("age").textContent = text;
  $("age").className = secs < 3 ? "muted" : "error";
}
draw(JSON.parse($("first").textContent));
const events = new EventSource("events");
events.addEventListener("status", (e) => draw(JSON.parse(e.data)));
// An alive event carries the server's clock, so ages are the server's.
events.addEventListener("alive", (e) => {
  seenAt = Date.now();
  const now = parseFloat(e.data);
  if (!isNaN(now)) skew = now - Date.now() / 1000;
});
setInterval(age, 1000);
age();
