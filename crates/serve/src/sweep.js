// The sweep page: draws the status JSON of `ablate serve` (see look.rs), the
// first look embedded in the page, later ones pushed.
function done(c) { return (c.counts && c.counts.succeeded) || 0; }
const seen = [];
function draw(s) {
  $("error").textContent = s.error || "";
  if (s.sweep) $("name").textContent = s.sweep;
  // Once an adaptive sweep's claims have all stopped, its trials never run
  // (seeds no claim needed) are not counted as to do.
  const unneeded = s.adaptive && s.adaptive.done ? (c) => (c.counts && c.counts.pending) || 0 : () => 0;
  const total = s.total || 0, ok = done(s);
  const skip = unneeded(s);
  const doneText = ok + "/" + (total - skip) + " trials done" + (skip ? " (" + skip + " not needed: every claim has stopped)" : "");
  if (seen[seen.length - 1] !== doneText) seen.push(doneText);
  $("history").textContent = "seen on this page without a reload: " + seen.join(" → ");
  const studies = (s.studies || []).map((c) => {
    const p = el("progress"); p.value = done(c);
    const name = String(c.study);
    // Pretraining stages are memberships too, but have no study page.
    const title = name.startsWith("pretrain:") ? el("span", name) : link(studyHref(name), name);
    const needed = (c.total || 0) - unneeded(c);
    p.max = needed || 1;
    return [title, done(c) + "/" + needed + " done", p,
      Object.entries(c.counts || {}).map(([k, v]) => (k === "pending" && unneeded(c) ? "not needed" : k) + " " + v).join(", ")];
  });
  const sum = el("div");
  sum.appendChild(el("p", doneText + (s.db_exists === false ? " (no database yet: " + s.db + ")" : "")));
  const pace = s.pace;
  if (pace && pace.mean_trial_seconds !== null && pace.due + pace.running > 0) {
    sum.appendChild(el("p", "rate: a trial takes " + num(pace.mean_trial_seconds, 1) + " s on average, " + pace.running +
      " at once; about " + span(Math.round(pace.eta_seconds)) + " left for the " + (pace.due + pace.running) + " trials due now", "muted"));
  }
  sum.appendChild(table(["study", "done", "", "trials by state"], studies));
  section("studies", "Studies", sum);
  const a = s.adaptive;
  section("round", "Adaptive seeds", a ? el("p", "look " + a.looks_judged + " of " + a.looks + (a.done ? "; every claim has stopped" : "")) : null);
  const running = (s.running || []).map((t) => {
    const at = t.attempt || {};
    return [link(trialHref(t.id), t.id.slice(0, 12)), labels(t.labels), at.slot || "", progress(at.epoch, at.progress), at.started_at || ""];
  });
  const more = (key) => (s[key + "_more"] ? el("p", "and " + s[key + "_more"] + " more (the trial table of each study lists them all)", "muted") : null);
  const withMore = (t, key) => { const d = el("div"); d.appendChild(t); const m = more(key); if (m) d.appendChild(m); return d; };
  section("running", "Running", running.length ? withMore(table(["trial", "labels", "slot", "progress", "started"], running), "running") : null);
  const bad = (s.failed || []).concat(s.blocked || []).map((t) => [link(trialHref(t.id), t.id.slice(0, 12)), t.state, labels(t.labels), t.reason || ""]);
  section("failed", "Failed and blocked", bad.length ? withMore(table(["trial", "state", "labels", "why"], bad), "failed") : null);
  const claims = (s.claims || []).map((c) => [c.claim, c.verdict, c.study ? link(studyHref(c.study), c.study) : ""]);
  // Provisional while trials are due now (an adaptive sweep's later seeds are
  // not due until a look asks for them).
  const due = s.pace ? s.pace.due + s.pace.running > 0 : (s.counts || {}).pending > 0;
  section("claims", due ? "Claims so far (provisional: trials are still due)" : "Claims", claims.length ? table(["claim", "verdict", "study"], claims) : null);
  const notes = el("ul");
  (s.notes || []).forEach((n) => notes.appendChild(el("li", n)));
  section("notes", "Notes", (s.notes || []).length ? notes : null);
}
draw(JSON.parse($("first").textContent));
watch(draw);
