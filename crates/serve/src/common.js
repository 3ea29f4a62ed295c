"use strict";
// Shared by every page of `ablate serve`: DOM helpers that set text, never
// markup (no string from a sweep file or the database is read as HTML), and
// the live link: server-sent events, with how old the page's data is.
const $ = (id) => document.getElementById(id);
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function link(href, text) { const a = el("a", text); a.href = href; return a; }
function wrap(node) { const td = el("td"); td.appendChild(node); return td; }
function table(head, rows) {
  const t = el("table"), tr = el("tr");
  head.forEach((h) => tr.appendChild(h instanceof Node ? h : el("th", h)));
  t.appendChild(tr);
  rows.forEach((r) => {
    const row = el("tr");
    r.forEach((c) => row.appendChild(c instanceof Node ? (c.tagName === "TD" ? c : wrap(c)) : el("td", c)));
    t.appendChild(row);
  });
  return t;
}
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
function num(v, digits) {
  if (v === null || v === undefined) return "";
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(digits === undefined ? 4 : digits);
}
function span(secs) {
  return secs < 120 ? secs + " s" : secs < 7200 ? Math.round(secs / 60) + " min" : Math.round(secs / 3600) + " h";
}
// A running attempt's place: the step of the epoch under way (its last
// heartbeat) when that epoch is past the last one reported, else that epoch.
function progress(done, p) {
  if (p && (done === null || done === undefined || p.epoch > done)) {
    const pct = p.steps > 0 ? " (" + Math.floor((100 * p.step) / p.steps) + "%)" : "";
    return "epoch " + p.epoch + ", step " + p.step + "/" + p.steps + pct;
  }
  return done === null || done === undefined ? "" : "epoch " + done + " done";
}
function trialHref(id) { return "/trial/" + encodeURIComponent(String(id).slice(0, 12)); }
function studyHref(name) { return "/study/" + encodeURIComponent(name); }
async function getJson(url) {
  const r = await fetch(url, { credentials: "same-origin" });
  if (!r.ok) throw new Error(url + ": " + r.status + " " + (await r.text()).replace(/<[^>]*>/g, " ").trim());
  return r.json();
}
// The live link: `onStatus(status JSON)` on every change the server pushes;
// the line with id "age" says how old the data is.
const live = { seenAt: Date.now(), changedAt: null, skew: 0, updates: 0 };
function watch(onStatus) {
  const events = new EventSource("/events");
  events.addEventListener("status", (e) => {
    live.seenAt = Date.now();
    const s = JSON.parse(e.data);
    live.changedAt = s.changed_at;
    live.updates += 1;
    onStatus(s);
  });
  // An alive event carries the server's clock, so ages are the server's.
  events.addEventListener("alive", (e) => {
    live.seenAt = Date.now();
    const now = parseFloat(e.data);
    if (!isNaN(now)) live.skew = now - Date.now() / 1000;
  });
  setInterval(age, 1000);
  age();
}
function age() {
  const secs = Math.round((Date.now() - live.seenAt) / 1000);
  let text = secs < 3 ? "live" : "no word from the server for " + span(secs) + " (stopped?)";
  if (live.changedAt) {
    const still = Math.max(0, Math.round(Date.now() / 1000 + live.skew - live.changedAt));
    text += "; the database last changed " + span(still) + " ago";
  }
  const a = $("age");
  if (!a) return;
  a.textContent = text;
  a.className = secs < 3 ? "muted" : "error";
}
