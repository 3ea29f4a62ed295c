//! `ablate report` on a small real sweep: the files, and the HTML page opened in
//! headless Chromium (installed by .ci/run; skipped with a message elsewhere).

use std::path::Path;
use std::process::Command;

use crate::support::{ablate_in, stderr, stdout};

const SWEEP: &str = "[sweep]\nname = \"r\"\nseeds = 2\noutput = \"out\"\n[data.faces]\nkind = \"synthetic-faces\"\nidentities = 20\nimages_per_identity = 5\n[train]\ninput_size = 32\nepochs = 2\nbatch_size = 16\nthreads = 1\n[[study]]\nname = \"enc\"\ndescription = \"<script>alert(1)</script> | *not bold*\"\nfixed = { depth = \"vgg7\", width = 0.125, tasks = [\"age\"] }\ngrid.encoding = [\"classification\", \"ldae\"]\n";

fn run_sweep(dir: &Path) {
    std::fs::write(dir.join("r.toml"), SWEEP).unwrap();
    let out = ablate_in(dir, &["run", "r.toml", "--cpu-slots", "2"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("report: reports/r/report.md"),
        "ablate run ends with the report: {}",
        stdout(&out)
    );
}

#[test]
fn report_files_and_escaping() {
    let dir = tempfile::tempdir().unwrap();
    run_sweep(dir.path());
    let rep = dir.path().join("reports/r");
    for f in [
        "index.html",
        "report.md",
        "results.csv",
        "results.json",
        "enc-age.png",
        "enc-age.svg",
        "enc-cs.png",
    ] {
        assert!(rep.join(f).is_file(), "{f}");
    }
    let csv = std::fs::read_to_string(rep.join("results.csv")).unwrap();
    assert!(csv.starts_with("trial_id,"), "{csv}");
    assert_eq!(csv.lines().count(), 1 + 4);
    let html = std::fs::read_to_string(rep.join("index.html")).unwrap();
    assert!(!html.contains("<script>"), "sweep strings are escaped");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; | *not bold*"),
        "{html}"
    );
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    assert!(md.contains("\\<script\\>") && md.contains("\\*not bold\\*"));
    let png = image::open(rep.join("enc-age.png")).unwrap();
    assert_eq!((png.width(), png.height()), (900, 480));

    // A partial sweep gives a partial report: a new seed is missing, not dropped.
    std::fs::write(
        dir.path().join("r.toml"),
        SWEEP.replace("seeds = 2", "seeds = 3"),
    )
    .unwrap();
    let out = ablate_in(dir.path(), &["report", "r.toml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    let row = md
        .lines()
        .find(|l| l.starts_with("| classification |"))
        .unwrap_or_else(|| panic!("{md}"));
    assert!(
        row.contains("/3") && md.contains("2 pending"),
        "the third seed is counted and missing: {md}"
    );
}

#[test]
fn the_page_renders_in_headless_chromium() {
    let Some(chromium) = crate::support::chromium() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    run_sweep(dir.path());
    let page = dir.path().join("reports/r/index.html");
    let shot = dir.path().join("shot.png");
    let profile = dir.path().join("profile");
    let out = Command::new(chromium)
        .args(crate::support::CHROMIUM_FLAGS)
        .args([
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1000,4000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let console_errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") && (l.contains("ERROR") || l.contains("Uncaught")))
        .collect();
    assert!(
        console_errors.is_empty(),
        "console errors: {console_errors:?}"
    );
    let img = image::open(&shot)
        .unwrap_or_else(|e| panic!("no screenshot ({e}); chromium said: {log}"))
        .to_rgb8();
    // Charts are the only saturated colour on the page: if they decoded and drew, many pixels are.
    let colourful = img
        .pixels()
        .filter(|p| p.0.iter().max().unwrap() - p.0.iter().min().unwrap() > 60)
        .count();
    assert!(
        colourful > 5000,
        "charts not visible in the screenshot ({colourful} colourful pixels)"
    );
}

/// A trial that starts from a degenerate pretraining trial is flagged too, with
/// the reason (a script worker flags every pretraining run it trains).
#[test]
fn dependants_of_a_degenerate_pretraining_trial_carry_its_flag() {
    let dir = tempfile::tempdir().unwrap();
    let script = "import json, os, sys\ninp = json.load(open(sys.argv[1]))\nos.makedirs(inp['run_dir'], exist_ok=True)\n\
                  pre = 'stage' in inp['labels']\n\
                  res = {'trial': inp['id'], 'test': {'identity': {'n': 10, 'accuracy': 0.1}} if pre else {'gender': {'n': 10, 'accuracy': 0.9}}, 'degenerate': {'evidence': ['identity: every validation image gets the same class']} if pre else None}\n\
                  json.dump(res, open(os.path.join(inp['run_dir'], 'result.json'), 'w'))\n\
                  print(json.dumps({'event': 'finished', 'result': res}), flush=True)\n";
    std::fs::write(dir.path().join("train.py"), script).unwrap();
    let text = "[sweep]\nname = \"dg\"\noutput = \"out\"\n[worker]\ncommand = [\"python3\", \"train.py\"]\n[data.faces]\nkind = \"synthetic-faces\"\n\
                [pretrain.face]\ntask = \"identity\"\ndata = \"faces\"\n\
                [[study]]\nname = \"p\"\nfixed = { tasks = [\"gender\"], depth = \"vgg7\" }\ngrid.pretrain = [\"none\", \"face\"]\n";
    std::fs::write(dir.path().join("s.toml"), text).unwrap();
    let out = ablate_in(dir.path(), &["run", "s.toml", "--cpu-slots", "1"]);
    if stderr(&out).contains("cannot start \"python3\"") {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.path().join("reports/dg/results.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (pre, deg) = (col("pretrain"), col("degenerate"));
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    assert_eq!(rows.len(), 3, "a pretraining trial and two trials");
    let kind = col("kind");
    for r in &rows {
        let flagged = !r[deg].is_empty();
        match (r[kind].as_str(), r[pre].as_str()) {
            ("pretrain", _) => assert!(flagged, "{r:?}"),
            (_, "face") => {
                assert!(flagged, "{r:?}");
                assert!(r[deg].contains("starts from pretraining trial"), "{r:?}");
            }
            _ => assert!(!flagged, "{r:?}"),
        }
    }
}
