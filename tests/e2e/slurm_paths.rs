//! Slurm sees the same worker output as a local run, and a sweep's paths mean
//! themselves: an output folder with `%` in its name is not a filename pattern
//! to sbatch, and a worker's last line counts even without a newline.

use crate::slurm::{cluster, run_args};
use crate::support::{ablate_env as ablate, stderr, stdout};

#[test]
fn a_percent_in_the_output_folder_and_a_last_line_without_newline() {
    let Some(_one) = cluster() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let worker = "import json, os, sys\ninp = json.load(open(sys.argv[1]))\nos.makedirs(inp['run_dir'], exist_ok=True)\nprint(json.dumps({'event': 'started', 'trial': inp['id']}), flush=True)\nres = {'trial': inp['id'], 'test': {'gender': {'accuracy': 0.75}}}\nsys.stdout.write(json.dumps({'event': 'finished', 'result': res}))\nsys.stdout.flush()\n";
    std::fs::write(d.join("w.py"), worker).unwrap();
    let text = format!(
        "[sweep]\nname = \"pct\"\noutput = \"out%j\"\n[worker]\ncommand = [\"python3\", \"{}\"]\n[data.faces]\nkind = \"synthetic-faces\"\n[train]\nthreads = 1\n[[study]]\nname = \"d\"\nfixed.tasks = [\"gender\"]\ngrid.depth = [\"vgg7\"]\n",
        d.join("w.py").display()
    );
    std::fs::write(d.join("s.toml"), text).unwrap();
    let out = ablate(d, &run_args(&[]), &[]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("1 succeeded"), "{}", stdout(&out));
    let folders: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("out"))
        .collect();
    assert_eq!(folders, ["out%j"], "Slurm wrote elsewhere");
}
