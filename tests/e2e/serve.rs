//! `ablate serve`: a sweep watched in a browser. A sweep of gated stand-in
//! trials runs while the test looks at one page in headless Chromium (over the
//! DevTools protocol) before and after it lets them finish, without a reload;
//! then at the study page (table, charts, brushing, sorting) and a trial's
//! page; hostile strings stay text; requests without the token, from a foreign
//! Host, for unknown paths or with huge queries are refused; a port in use is an
//! error naming it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::cdp::Page;
use crate::support::{KillOnDrop, chromium, stderr};

const FAKE: &str = env!("CARGO_BIN_EXE_ablate-fake-worker");
const ABLATE: &str = env!("CARGO_BIN_EXE_ablate");

/// `ablate serve` on a free port: the child and the URL it printed.
pub(crate) fn serve(dir: &Path, extra: &[&str]) -> (KillOnDrop, String) {
    let mut child = Command::new(ABLATE)
        .args(["serve", "s.toml", "--port", "0"])
        .args(extra)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    (KillOnDrop(child), url)
}

/// A raw HTTP/1.1 GET: status code and body.
fn get(url: &str, path: &str, headers: &[&str]) -> (u16, String) {
    let authority = url.trim_start_matches("http://").split('/').next().unwrap();
    let mut s = TcpStream::connect(authority).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|h| h.starts_with("Host:")) {
        req += &format!("Host: {authority}\r\n");
    }
    for h in headers {
        req += &format!("{h}\r\n");
    }
    s.write_all(format!("{req}\r\n").as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let code = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, text.split_once("\r\n\r\n").unwrap().1.to_string())
}

fn token(url: &str) -> &str {
    url.rsplit_once("token=").unwrap().1
}

/// The status JSON the server gives, by the token.
fn status(url: &str) -> serde_json::Value {
    let (code, body) = get(url, &format!("/api/status?token={}", token(url)), &[]);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Waits (polling, 20 s at most) until `ok` holds of the status.
fn until(url: &str, what: &str, ok: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let s = status(url);
        if ok(&s) {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never {what}: {s}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_page_follows_a_running_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = format!(
        "[sweep]\nname = \"watched\"\noutput = \"out\"\n[worker]\ncommand = [\"{FAKE}\"]\n\
         [data.faces]\nkind = \"synthetic-faces\"\n\
         [[study]]\nname = \"depths\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\", \"vgg9\"]\n"
    );
    std::fs::write(d.join("s.toml"), text).unwrap();
    // Before the sweep ever ran: no database yet, said on the page.
    let (_server, url) = serve(d, &[]);
    let before = status(&url);
    assert_eq!(before["db_exists"], false, "{before}");
    let gate = d.join("gate");
    let run = Command::new(ABLATE)
        .args(["run", "s.toml", "--cpu-slots", "1"])
        .current_dir(d)
        .env("FAKE_GATE", &gate)
        .env("FAKE_EPOCH_MS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut run = KillOnDrop(run);
    until(&url, "a running trial", |s| {
        s["running"].as_array().is_some_and(|r| r.len() == 1)
    });
    // Its step within the epoch, from heartbeats, advances (recorded every 2 s).
    let step = |s: &serde_json::Value| s["running"][0]["attempt"]["progress"]["step"].as_u64();
    let first = until(&url, "a step recorded", |s| step(s).is_some());
    let first = step(&first).unwrap();
    until(&url, "the step advanced", |s| {
        step(s).is_some_and(|n| n > first)
    });
    let chromium = chromium();
    // One page, opened before the gate and never reloaded: a mark set on it
    // survives only if the page is the same one.
    let mut page = chromium.map(|c| {
        let mut p = Page::open(c, d, &url);
        p.wait(
            "the first look drawn",
            "document.body.innerText.includes('0/2 trials done')",
        );
        let first = p.text();
        assert!(first.contains("watched"), "{first}");
        assert!(first.contains("depths 0/2 done"), "{first}");
        assert!(first.contains("Running"), "{first}");
        p.wait(
            "the step shown",
            "/epoch 2, step \\d+\\/1000/.test(document.body.innerText)",
        );
        p.wait(
            "the live link up",
            "document.getElementById('age').textContent.startsWith('live')",
        );
        p.eval("window.__same_page = 1");
        p
    });
    std::fs::write(&gate, "").unwrap();
    let ran = run.0.wait().unwrap();
    let mut err = String::new();
    run.0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(ran.success(), "{err}");
    until(&url, "two trials done", |s| s["counts"]["succeeded"] == 2);
    let Some(p) = page.as_mut() else {
        eprintln!("skipped the browser checks: no Chromium (install the chromium package)");
        return;
    };
    p.wait(
        "the update pushed",
        "document.body.innerText.includes('2/2 trials done')",
    );
    let last = p.text();
    assert_eq!(p.eval("window.__same_page"), 1, "the page was reloaded");
    assert!(last.contains("depths 2/2 done"), "{last}");
    assert!(!last.contains("Running"), "{last}");
    let history = p.eval("document.getElementById('history').textContent");
    let history = history.as_str().unwrap();
    assert!(
        history.contains("0/2 trials done") && history.contains("2/2 trials done"),
        "{history}"
    );
    study_and_trial_pages(chromium.unwrap(), d, &url);
}

/// The study page of the finished sweep: table, charts, parallel coordinates
/// whose brush filters the trial table, sorting; then a trial's page.
fn study_and_trial_pages(chromium: &str, d: &Path, url: &str) {
    let t = token(url);
    let base = url.split("/?").next().unwrap();
    let mut p = Page::open(chromium, d, &format!("{base}/study/depths?token={t}"));
    p.wait(
        "the trial table",
        "document.querySelectorAll('#trialtable tr').length === 3",
    );
    p.wait(
        "the count",
        "document.getElementById('count').textContent === 'trials 1-2 of 2'",
    );
    let text = p.text();
    assert!(text.contains("Mean ± sd over seeds"), "{text}");
    assert!(text.contains("licence"), "{text}");
    p.wait(
        "charts drawn",
        "document.querySelectorAll('#bars canvas').length > 0",
    );
    p.wait(
        "parallel coordinates drawn",
        "document.querySelectorAll('#pc canvas').length > 0",
    );
    assert_eq!(p.eval("document.getElementById('error').textContent"), "");
    // Brushing the depth axis down to vgg7 keeps one trial in the table.
    p.eval("charts.pc.dispatchAction({ type: 'axisAreaSelect', parallelAxisIndex: 0, intervals: [[0, 0]] })");
    p.wait(
        "the brush applied",
        "document.getElementById('count').textContent.includes('of 1')",
    );
    let text = p.text();
    assert!(text.contains("depth in {vgg7}"), "{text}");
    // An update (what the server's push runs) keeps the brush and a chart's zoom.
    p.eval("charts[Object.keys(charts).find((k) => k.startsWith('bars:'))].dispatchAction({ type: 'dataZoom', dataZoomIndex: 0, start: 20, end: 60 })");
    let zoom = "(() => { const z = charts[Object.keys(charts).find((k) => k.startsWith('bars:'))].getOption().dataZoom[0]; return z.start + '-' + z.end; })()";
    assert_eq!(p.eval(zoom), "20-60");
    p.eval("window.__refreshed = false; refresh().then(() => { window.__refreshed = true; })");
    p.wait("the update drawn", "window.__refreshed === true && !busy");
    assert_eq!(p.eval(zoom), "20-60", "the zoom was lost");
    assert!(p.text().contains("depth in {vgg7}"), "the brush was lost");
    let count = "document.getElementById('count').textContent";
    assert_eq!(p.eval(count), "trials 1-1 of 1");
    // Sorting by seed, then the other way.
    p.eval("document.getElementById('unbrush').click()");
    p.wait(
        "the brush cleared",
        "document.getElementById('count').textContent.includes('of 2')",
    );
    p.eval("[...document.querySelectorAll('th.sort')].find((th) => th.textContent.startsWith('seed')).click()");
    p.wait(
        "sorted",
        "[...document.querySelectorAll('th.sort')].some((th) => th.textContent === 'seed ▲')",
    );
    // A trial's page: its attempts, worker.log, curves and configuration.
    let id = status(url)["studies"].to_string();
    assert!(id.contains("depths"), "{id}");
    let first = p.eval("document.querySelector('#trialtable a').getAttribute('href')");
    let href = first.as_str().unwrap().to_string();
    let mut tp = Page::open(chromium, d, &format!("{base}{href}?token={t}"));
    tp.wait(
        "the attempts",
        "document.body.innerText.includes('Attempts')",
    );
    tp.wait(
        "a curve drawn",
        "document.querySelectorAll('#curvecharts canvas').length > 0",
    );
    let text = tp.text();
    for want in [
        "succeeded",
        "fake worker: trial",
        "depth=vgg",
        "Configuration",
        "metrics.jsonl",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    // Chart titles are drawn, not text: ask the page which curves it drew.
    let curves = tp.eval("Object.keys(curveCharts).join(', ')");
    assert!(
        curves.as_str().unwrap().contains("training loss"),
        "{curves}"
    );
}

/// A worker's message full of markup is shown as text on every page, never
/// run; the JSON routes refuse unknown studies and trials and bad queries.
#[test]
fn hostile_strings_are_text_and_bad_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = format!(
        "[sweep]\nname = \"h\"\noutput = \"out\"\n[worker]\ncommand = [\"{FAKE}\"]\n\
         [data.faces]\nkind = \"synthetic-faces\"\n\
         [[study]]\nname = \"depths\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\", \"vgg9\"]\n"
    );
    std::fs::write(d.join("s.toml"), text).unwrap();
    let evil = "<img src=x onerror=\"window.__pwned=1\"></script><script>window.__pwned=2</script>";
    let out = Command::new(ABLATE)
        .args(["run", "s.toml", "--cpu-slots", "1"])
        .current_dir(d)
        .env("FAKE_FAIL", "depth=vgg7:1")
        .env("FAKE_FAIL_MESSAGE", evil)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let (_server, url) = serve(d, &[]);
    let t = token(&url);
    let base = url.split("/?").next().unwrap().to_string();
    let api = |path: &str| {
        get(
            &url,
            &format!(
                "{path}{}token={t}",
                if path.contains('?') { "&" } else { "?" }
            ),
            &[],
        )
    };
    let (code, body) = api("/api/trials?study=depths&state=failed");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["total"], 1, "{v}");
    let failed_id = v["rows"][0]["id"].as_str().unwrap().to_string();
    let (code, body) = api(&format!("/api/trial/{}", &failed_id[..12]));
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("window.__pwned"),
        "the message is served as data: {body}"
    );
    for (path, want) in [
        ("/study/nope", 404),
        ("/trial/0123456789ab", 404),
        ("/api/study/nope", 404),
        ("/api/study/nope/points", 404),
        ("/api/trial/..%2F..%2Fetc%2Fpasswd", 404),
        ("/api/trials?study=nope", 404),
        ("/api/trials?study=depths&r.gender_accuracy=0.9:0.1", 400),
        ("/api/trials?study=depths&offset=-3", 400),
        ("/static/../Cargo.toml", 404),
    ] {
        let (code, body) = api(path);
        assert_eq!(code, want, "{path}: {body}");
        assert!(!body.contains("[package]"), "{body}");
    }
    let (code, body) = api("/api/trials?study=depths&sort=seed&desc=1&limit=1");
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["total"].as_u64(), v["rows"].as_array().map(Vec::len)),
        (Some(2), Some(1)),
        "{v}"
    );
    let (code, body) = api("/static/echarts.min.js");
    assert_eq!(code, 200);
    assert!(body.len() > 500_000);
    let (code, body) = api("/static/echarts-LICENSE.txt");
    assert!(code == 200 && body.contains("Apache License"), "{body}");
    let Some(c) = chromium() else {
        eprintln!("skipped the browser checks: no Chromium (install the chromium package)");
        return;
    };
    for path in ["/".to_string(), format!("/trial/{}", &failed_id[..12])] {
        let mut p = Page::open(c, d, &format!("{base}{path}?token={t}"));
        p.wait(
            "the message shown",
            "document.body.innerText.includes('onerror')",
        );
        assert_eq!(
            p.eval("window.__pwned === undefined"),
            true,
            "{path}: markup ran"
        );
        assert_eq!(
            p.eval("document.querySelectorAll('img').length"),
            0,
            "{path}"
        );
        assert!(p.text().contains(evil), "{path}: {}", p.text());
    }
}

#[test]
fn requests_without_the_token_from_a_foreign_host_or_for_nothing_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("s.toml"),
        "[sweep]\nname = \"s\"\noutput = \"out\"\n[data.faces]\nkind = \"synthetic-faces\"\n\
         [[study]]\nname = \"t\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\"]\n",
    )
    .unwrap();
    let (_server, url) = serve(d, &[]);
    let t = token(&url);
    let (code, body) = get(&url, "/", &[]);
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("token"), "{body}");
    let (code, _) = get(&url, &format!("/?token={t}0"), &[]);
    assert_eq!(code, 401);
    // DNS rebinding: the right token, another site's name.
    let (code, body) = get(&url, &format!("/?token={t}"), &["Host: evil.example:8080"]);
    assert_eq!(code, 400, "{body}");
    // The cookie a first request sets stands for the token.
    let (code, _) = get(&url, "/api/status", &[&format!("Cookie: ablate_token={t}")]);
    assert_eq!(code, 200);
    for path in ["/nothing", "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd"] {
        let (code, body) = get(&url, &format!("{path}?token={t}"), &[]);
        assert_eq!(code, 404, "{path}: {body}");
        assert!(!body.contains("root:"), "{body}");
    }
    let huge = "x".repeat(5000);
    let (code, _) = get(&url, &format!("/?token={t}&q={huge}"), &[]);
    assert_eq!(code, 400);
    // --no-token: served without one.
    let (_open, open_url) = serve(d, &["--no-token"]);
    assert_eq!(get(&open_url, "/api/status", &[]).0, 200);
    // The port in use: an error that names it.
    let port = url.rsplit_once(':').unwrap().1.split('/').next().unwrap();
    let out = Command::new(ABLATE)
        .args(["serve", "s.toml", "--port", port])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("127.0.0.1:{port} is in use")),
        "{err}"
    );
    assert!(err.contains("--port"), "{err}");
}
