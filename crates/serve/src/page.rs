//! The sweep page: one HTML document whose script draws the status JSON (the
//! first look embedded, later ones pushed by `/events`) with DOM calls that set
//! text, never markup, so no string from a sweep file or the database is read as
//! HTML. An update redraws the tables in place: the page is not reloaded and
//! keeps its scroll.

use serde_json::Value;

/// The page for a sweep named `name`, drawn first from `first`.
pub fn sweep_page(name: &str, first: &Value) -> String {
    let title = html_escape::encode_text(name);
    // Inside <script>, "</script>" or "<!--" in a string would end or bend the
    // element: JSON lets every "<" be written as \u003c.
    let data = first.to_string().replace('<', "\\u003c");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} - ablate</title><style>{STYLE}</style></head>\
         <body><h1 id=\"name\">{title}</h1><p id=\"age\"></p><p id=\"error\" class=\"error\"></p>\
         <section id=\"studies\"></section><section id=\"round\"></section>\
         <section id=\"running\"></section><section id=\"failed\"></section>\
         <section id=\"claims\"></section><section id=\"notes\"></section>\
         <script id=\"first\" type=\"application/json\">{data}</script>\
         <script>{SCRIPT}</script></body></html>\n"
    )
}

/// A page that says why a request was not served.
pub fn message_page(title: &str, message: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>{STYLE}</style></head><body><h1>{t}</h1><p>{m}</p></body></html>\n",
        t = html_escape::encode_text(title),
        m = html_escape::encode_text(message),
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;max-width:70em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}\
th{background:#f3f3f3}.error{color:#b00}.muted{color:#666}progress{width:10em}";

const SCRIPT: &str = include_str!("page.js");

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn no_string_of_the_sweep_can_end_the_script_or_open_a_tag() {
        let name = "</script><script>alert(1)</script><!--";
        let first = serde_json::json!({ "sweep": name, "notes": [name] });
        let page = sweep_page(name, &first);
        // Exactly the page's own two scripts, and no markup from the name.
        assert_eq!(page.matches("<script").count(), 2, "{page}");
        assert_eq!(page.matches("</script>").count(), 2, "{page}");
        assert!(!page.contains("<!--"), "{page}");
        assert!(
            page.contains("&lt;/script&gt;&lt;script&gt;alert(1)"),
            "{page}"
        );
        // The embedded JSON still reads back to the same strings.
        let start = page.find("application/json\">").unwrap() + "application/json\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        let back: Value = serde_json::from_str(&page[start..end]).unwrap();
        assert_eq!(back, first);
        let msg = message_page("<b>", "<i>x</i>");
        assert!(!msg.contains("<b>") && !msg.contains("<i>"), "{msg}");
    }
}
