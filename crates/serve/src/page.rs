//! The pages: HTML shells whose scripts draw JSON (the sweep page's first look
//! embedded, the rest fetched) with DOM calls that set text, never markup, so
//! no string from a sweep file or the database is read as HTML. Updates redraw
//! in place: a page is not reloaded and keeps its scroll, filters and zoom.
//! Charts are Apache ECharts, embedded in the binary with its licence.

use serde_json::Value;

/// The charting library and its licence, served from `/static/`.
pub const ECHARTS: &[u8] = include_bytes!("../assets/echarts.min.js");
pub const ECHARTS_LICENSE: &str = include_str!("../assets/echarts-LICENSE.txt");

const COMMON: &str = include_str!("common.js");
const SWEEP: &str = include_str!("sweep.js");
const STUDY: &str = include_str!("study.js");
const TRIAL: &str = include_str!("trial.js");

/// JSON inside <script>: "</script>" or "<!--" in a string would end or bend
/// the element; JSON lets every "<" be written as \u003c.
fn script_json(v: &Value) -> String {
    v.to_string().replace('<', "\\u003c")
}

fn shell(title: &str, body: &str, data: &Value, script: &str, charts: bool) -> String {
    let title = html_escape::encode_text(title);
    let lib = if charts {
        "<script src=\"/static/echarts.min.js\"></script>"
    } else {
        ""
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>{title} - ablate</title><style>{STYLE}</style>{lib}</head><body>{body}\
         <footer class=\"muted\">ablate serve; charts by Apache ECharts \
         (<a href=\"/static/echarts-LICENSE.txt\">licence</a>)</footer>\
         <script id=\"first\" type=\"application/json\">{data}</script>\
         <script>{COMMON}\n{script}</script></body></html>\n",
        data = script_json(data),
    )
}

/// The page for a sweep named `name`, drawn first from `first`.
pub fn sweep_page(name: &str, first: &Value) -> String {
    let title = html_escape::encode_text(name);
    let body = format!(
        "<h1 id=\"name\">{title}</h1><p id=\"age\"></p><p id=\"error\" class=\"error\"></p>\
         <p id=\"history\" class=\"muted\"></p>\
         <section id=\"studies\"></section><section id=\"round\"></section>\
         <section id=\"running\"></section><section id=\"failed\"></section>\
         <section id=\"claims\"></section><section id=\"notes\"></section>"
    );
    shell(name, &body, first, SWEEP, false)
}

/// The page of study `study` of sweep `sweep`; its script fetches the rest.
pub fn study_page(sweep: &str, study: &str) -> String {
    let body = format!(
        "<p><a href=\"/\">{sw}</a> / study</p><h1 id=\"name\">{st}</h1><p id=\"age\"></p>\
         <p id=\"error\" class=\"error\"></p><p id=\"provisional\" class=\"warn\"></p>\
         <section id=\"claims\"></section><section id=\"table\"></section>\
         <section id=\"charts\"><h2>Charts</h2><p class=\"muted\">Scroll or drag in a chart to zoom; \
         the toolbox resets it.</p><div id=\"bars\"></div><div id=\"forests\"></div></section>\
         <section id=\"parallel\"><h2>Parallel coordinates</h2><p class=\"muted\">Drag along an axis \
         to keep a range (brushing); the trial table below follows. <button id=\"unbrush\">clear</button></p>\
         <div id=\"pc\" class=\"chart wide\"></div></section>\
         <section id=\"trials\"><h2>Trials</h2><div id=\"filters\"></div><p id=\"kept\"></p><p id=\"count\"></p>\
         <div id=\"trialtable\"></div><p><button id=\"prev\">previous</button> \
         <button id=\"next\">next</button></p></section>",
        sw = html_escape::encode_text(sweep),
        st = html_escape::encode_text(study),
    );
    shell(
        study,
        &body,
        &serde_json::json!({ "study": study }),
        STUDY,
        true,
    )
}

/// The page of trial `id`; its script fetches the rest.
pub fn trial_page(sweep: &str, id: &str) -> String {
    let body = format!(
        "<p><a href=\"/\">{sw}</a> / trial</p><h1 id=\"name\">{short}</h1><p id=\"age\"></p>\
         <p id=\"error\" class=\"error\"></p><section id=\"summary\"></section>\
         <section id=\"curves\"><h2>Learning curves</h2><div id=\"curvecharts\"></div></section>\
         <section id=\"attempts\"></section><section id=\"log\"></section>\
         <section id=\"artifacts\"></section><section id=\"config\"></section>",
        sw = html_escape::encode_text(sweep),
        short = html_escape::encode_text(&id.chars().take(12).collect::<String>()),
    );
    shell(id, &body, &serde_json::json!({ "id": id }), TRIAL, true)
}

/// A page that says why a request was not served.
pub fn message_page(title: &str, message: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>{STYLE}</style></head><body><h1>{t}</h1><p>{m}</p><p><a href=\"/\">the sweep</a></p></body></html>\n",
        t = html_escape::encode_text(title),
        m = html_escape::encode_text(message),
    )
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;max-width:80em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:left}\
th{background:#f3f3f3}th.sort{cursor:pointer;text-decoration:underline dotted}.error{color:#b00}\
.warn{color:#a60}.muted{color:#666}progress{width:10em}.best{font-weight:bold}\
.chart{width:100%;max-width:60em;height:22em;margin:1em 0}.wide{max-width:80em;height:26em}\
pre{background:#f7f7f7;padding:.6em;overflow:auto;max-height:30em}footer{margin-top:3em;font-size:.85em}\
select{margin:0 .8em .4em .2em}";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn no_string_of_the_sweep_can_end_the_script_or_open_a_tag() {
        let name = "</script><script>alert(1)</script><!--";
        let first = serde_json::json!({ "sweep": name, "notes": [name] });
        for page in [
            sweep_page(name, &first),
            study_page(name, name),
            trial_page(name, name),
        ] {
            // Exactly the page's own scripts, and no markup from the name.
            let own = if page.contains("echarts.min.js") {
                3
            } else {
                2
            };
            assert_eq!(page.matches("<script").count(), own, "{page}");
            assert_eq!(page.matches("</script>").count(), own, "{page}");
            assert!(!page.contains("<!--"), "{page}");
            assert!(
                page.contains("&lt;/script&gt;&lt;script&gt;alert(1)"),
                "{page}"
            );
        }
        // The embedded JSON still reads back to the same strings.
        let page = sweep_page(name, &first);
        let start = page.find("application/json\">").unwrap() + "application/json\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        let back: Value = serde_json::from_str(&page[start..end]).unwrap();
        assert_eq!(back, first);
        let msg = message_page("<b>", "<i>x</i>");
        assert!(!msg.contains("<b>") && !msg.contains("<i>"), "{msg}");
    }

    #[test]
    fn the_charting_library_and_its_licence_are_embedded() {
        assert!(ECHARTS.len() > 500_000);
        assert!(ECHARTS_LICENSE.contains("Apache License"));
        assert!(ECHARTS_LICENSE.contains("d3"));
    }
}
