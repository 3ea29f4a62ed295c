//! `ablate serve`: a sweep watched in a browser. A sweep of gated stand-in
//! trials runs while the test looks at its page in headless Chromium, before
//! and after it lets them finish; requests without the token, from a foreign
//! Host, for unknown paths or with huge queries are refused; a port in use is an
//! error naming it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{CHROMIUM_FLAGS, KillOnDrop, chromium, stderr};

const FAKE: &str = env!("CARGO_BIN_EXE_ablate-fake-worker");
const ABLATE: &str = env!("CARGO_BIN_EXE_ablate");

/// `ablate serve` on a free port: the child and the URL it printed.
fn serve(dir: &Path, extra: &[&str]) -> (KillOnDrop, String) {
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
fn until(url: &str, what: &str, ok: impl Fn(&serde_json::Value) -> bool) {
    let start = Instant::now();
    while !ok(&status(url)) {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never {what}: {}",
            status(url)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The page's text after its script drew it, in headless Chromium (scripts
/// and styles left out).
fn page_text(chromium: &str, dir: &Path, url: &str) -> String {
    let out = Command::new(chromium)
        .args(CHROMIUM_FLAGS)
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(["--timeout=10000", "--dump-dom", url])
        .output()
        .unwrap();
    let mut dom = String::from_utf8_lossy(&out.stdout).into_owned();
    for tag in ["script", "style"] {
        while let Some(start) = dom.find(&format!("<{tag}")) {
            let end = dom[start..]
                .find(&format!("</{tag}>"))
                .map_or(dom.len(), |e| start + e + tag.len() + 3);
            dom.replace_range(start..end, " ");
        }
    }
    let mut text = String::new();
    let mut in_tag = false;
    for c in dom.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
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
    let chromium = chromium();
    if let Some(c) = chromium {
        let first = page_text(c, d, &url);
        assert!(first.contains("watched"), "{first}");
        assert!(first.contains("0/2 trials done"), "{first}");
        assert!(first.contains("depths 0/2 done"), "{first}");
        assert!(first.contains("Running"), "{first}");
    }
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
    if let Some(c) = chromium {
        let last = page_text(c, d, &url);
        assert!(last.contains("2/2 trials done"), "{last}");
        assert!(last.contains("depths 2/2 done"), "{last}");
        assert!(!last.contains("Running"), "{last}");
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
