//! Headless Chromium driven over the DevTools protocol: one page opened once
//! and asked about again and again (`eval`), so a test sees what a user who
//! never reloads sees. Only what the tests need: navigate and evaluate.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

use crate::support::{CHROMIUM_FLAGS, KillOnDrop};

pub struct Page {
    _browser: KillOnDrop,
    ws: WebSocket<tungstenite::stream::MaybeTlsStream<TcpStream>>,
    next: u64,
}

/// A plain GET on loopback: the body. DevTools' server keeps the connection
/// open whatever the request says, so the body is read by its length.
fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).unwrap();
    String::from_utf8_lossy(&body).into_owned()
}

impl Page {
    /// A fresh browser (its profile under `dir`) showing `url`.
    pub fn open(chromium: &str, dir: &Path, url: &str) -> Page {
        let profile = dir.join(format!("cdp-profile-{}", rand_suffix()));
        let child = Command::new(chromium)
            .args(CHROMIUM_FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(["--remote-debugging-port=0", "about:blank"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let browser = KillOnDrop(child);
        // Chromium writes the port it took into the profile.
        let start = Instant::now();
        let port: u16 = loop {
            let text =
                std::fs::read_to_string(profile.join("DevToolsActivePort")).unwrap_or_default();
            if let Some(p) = text.lines().next().and_then(|l| l.trim().parse().ok()) {
                break p;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "Chromium gave no DevTools port"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let list: Value = loop {
            let v: Value =
                serde_json::from_str(&http_get(port, "/json/list")).unwrap_or(Value::Null);
            if v.as_array()
                .is_some_and(|a| a.iter().any(|t| t["type"] == "page"))
            {
                break v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "Chromium has no page: {v}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let target = (list.as_array().unwrap().iter())
            .find(|t| t["type"] == "page")
            .unwrap();
        let ws_url = target["webSocketDebuggerUrl"].as_str().unwrap();
        let (ws, _) = tungstenite::connect(ws_url).unwrap();
        let mut page = Page {
            _browser: browser,
            ws,
            next: 0,
        };
        page.call("Page.navigate", &json!({ "url": url }));
        page
    }

    /// Sends one command and waits for its answer (events in between are dropped).
    fn call(&mut self, method: &str, params: &Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws.send(Message::text(msg)).unwrap();
        loop {
            let Message::Text(text) = self.ws.read().unwrap() else {
                continue;
            };
            let v: Value = serde_json::from_str(text.as_str()).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// The value of JavaScript `expr` in the page (promises awaited).
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            &json!({ "expression": expr, "returnByValue": true, "awaitPromise": true }),
        );
        r["result"]["value"].clone()
    }

    /// Waits (20 s at most) until `expr` is true in the page; the page's text
    /// when it never is.
    pub fn wait(&mut self, what: &str, expr: &str) {
        let start = Instant::now();
        while self.eval(&format!("Boolean({expr})")) != Value::Bool(true) {
            if start.elapsed() > Duration::from_secs(20) {
                let text = self.eval("document.body ? document.body.innerText : ''");
                panic!(
                    "never {what}; the page says:\n{}",
                    text.as_str().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The page's visible text, every run of white space (a table's tabs and
    /// newlines) one space.
    pub fn text(&mut self) -> String {
        let v = self.eval("document.body ? document.body.innerText : ''");
        let text = v.as_str().unwrap_or_default();
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
