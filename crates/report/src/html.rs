//! `index.html`: the Markdown report turned into one self-contained page (charts
//! embedded as data URIs, no script, nothing fetched), through pulldown-cmark.
//! Raw HTML in the Markdown is shown as text, never passed through: every string
//! from a sweep file or the database reaches the page escaped.

use std::collections::HashMap;

use base64::Engine as _;
use pulldown_cmark::{CowStr, Event, Options, Parser, Tag};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

pub fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:.3em .6em;text-align:left}th{background:#f0f0f0}img{max-width:100%;display:block;margin:1em 0}code{background:#f4f4f4;padding:0 .2em}li{margin:.2em 0}";

/// `images`: file name -> PNG bytes, for `![alt](name)` images.
pub fn render(markdown: &str, title: &str, images: &HashMap<String, Vec<u8>>) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    let events = Parser::new_ext(markdown, options).map(|e| match e {
        Event::Html(h) | Event::InlineHtml(h) => Event::Text(h),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let src = match images.get(dest_url.as_ref()) {
                Some(png) => format!("data:image/png;base64,{}", base64(png)),
                // A missing chart shows its alt text, not a request for a file.
                None => String::new(),
            };
            Event::Start(Tag::Image {
                link_type,
                dest_url: CowStr::from(src),
                title,
                id,
            })
        }
        other => other,
    });
    let mut body = String::new();
    pulldown_cmark::html::push_html(&mut body, events);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n{body}</body></html>\n",
        escape(title)
    )
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
            "# a \\<script\\>x\\</script\\>\n\n| h |\n|---|\n| \\<img onerror=1\\> **b** |\n\n<script>raw</script>\n",
            "<t>",
            &HashMap::new(),
        );
        assert!(
            !html.contains("<script>") && !html.contains("<img onerror"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;") && html.contains("<strong>b</strong>"));
        assert!(html.contains("<title>&lt;t&gt;</title>"));
        assert!(
            html.contains("<table>") && html.contains("<th>h</th>"),
            "{html}"
        );
    }

    #[test]
    fn nested_lists_and_charts_render() {
        let png = vec![1u8, 2, 3];
        let images: HashMap<String, Vec<u8>> = [("c.png".to_string(), png)].into();
        let html = render(
            "- a\n  - b\n\n![chart](c.png)\n\n![gone](x.png)\n",
            "t",
            &images,
        );
        assert!(html.contains("<li>a\n<ul>\n<li>b</li>"), "{html}");
        assert!(
            html.contains("src=\"data:image/png;base64,AQID\""),
            "{html}"
        );
        assert!(!html.contains("x.png"), "{html}");
    }
}
