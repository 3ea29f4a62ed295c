//! `index.html`: the Markdown report turned into one self-contained page (charts
//! embedded as data URIs, no script, nothing fetched). The Markdown is generated
//! by this crate, so only its small subset is translated here.

use std::collections::HashMap;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Inline Markdown of this crate (backslash escapes, **bold**, `code`) to HTML.
fn inline(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    let (mut bold, mut code) = (false, false);
    while let Some(c) = chars.next() {
        match c {
            '\\' if !code => {
                if let Some(n) = chars.next() {
                    out.push_str(&escape(&n.to_string()));
                }
            }
            '`' => {
                out.push_str(if code { "</code>" } else { "<code>" });
                code = !code;
            }
            '*' if !code && chars.peek() == Some(&'*') => {
                chars.next();
                out.push_str(if bold { "</strong>" } else { "<strong>" });
                bold = !bold;
            }
            c => out.push_str(&escape(&c.to_string())),
        }
    }
    if code {
        out.push_str("</code>");
    }
    if bold {
        out.push_str("</strong>");
    }
    out
}

/// Splits a table row on unescaped `|`.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                cur.push('\\');
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '|' => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().map(|c| c.trim().to_string()).collect()
}

pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left}th{background:#f0f0f0}img{max-width:100%;display:block;margin:1em 0}code{background:#f4f4f4;padding:0 .2em}";

/// `images`: file name -> PNG bytes, for `![alt](name)` lines.
pub fn render(markdown: &str, title: &str, images: &HashMap<String, Vec<u8>>) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(title)
    );
    let mut in_list = false;
    let mut table: Vec<Vec<String>> = Vec::new();
    let flush_table = |table: &mut Vec<Vec<String>>, out: &mut String| {
        if table.is_empty() {
            return;
        }
        out.push_str("<table>\n");
        for (i, row) in table.iter().enumerate().filter(|(i, _)| *i != 1) {
            let tag = if i == 0 { "th" } else { "td" };
            out.push_str("<tr>");
            for c in row {
                out.push_str(&format!("<{tag}>{}</{tag}>", inline(c)));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</table>\n");
        table.clear();
    };
    for line in markdown.lines() {
        if !line.starts_with('|') {
            flush_table(&mut table, &mut out);
        }
        if !line.starts_with("- ") && in_list {
            out.push_str("</ul>\n");
            in_list = false;
        }
        if let Some(h) = line.strip_prefix("# ") {
            out.push_str(&format!("<h1>{}</h1>\n", inline(h)));
        } else if let Some(h) = line.strip_prefix("## ") {
            out.push_str(&format!("<h2>{}</h2>\n", inline(h)));
        } else if let Some(item) = line.strip_prefix("- ") {
            if !in_list {
                out.push_str("<ul>\n");
                in_list = true;
            }
            out.push_str(&format!("<li>{}</li>\n", inline(item)));
        } else if line.starts_with('|') {
            table.push(cells(line));
        } else if let Some(rest) = line.strip_prefix("![") {
            let (alt, file) = rest.split_once("](").unwrap_or((rest, ""));
            let file = file.trim_end_matches(')');
            match images.get(file) {
                Some(png) => out.push_str(&format!(
                    "<img alt=\"{}\" src=\"data:image/png;base64,{}\">\n",
                    escape(alt),
                    base64(png)
                )),
                None => out.push_str(&format!("<p>(chart {} missing)</p>\n", escape(file))),
            }
        } else if !line.trim().is_empty() {
            out.push_str(&format!("<p>{}</p>\n", inline(line)));
        }
    }
    flush_table(&mut table, &mut out);
    if in_list {
        out.push_str("</ul>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn hostile_text_is_escaped() {
        let html = render(
            "# a \\<script\\>x\\</script\\>\n| h |\n|---|\n| \\<img onerror=1\\> **b** |\n",
            "<t>",
            &HashMap::new(),
        );
        assert!(
            !html.contains("<script>") && !html.contains("<img onerror"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;") && html.contains("<strong>b</strong>"));
        assert!(html.contains("<title>&lt;t&gt;</title>"));
    }
}
