//! `ablate list [DIR]`: the sweeps whose databases lie under a folder, with
//! their trials by state and when each last ran, read-only.

use std::path::{Path, PathBuf};

use anyhow::Result;

use ablate_report::text as table;

/// Folders never searched: build output and version control, not sweeps.
const SKIP: [&str; 4] = ["target", ".git", "node_modules", "cache"];

/// The databases under `dir` (SQLite files named `*.db`), sorted.
fn databases(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .max_depth(8)
        .into_iter()
        .filter_entry(|e| !(e.file_type().is_dir() && SKIP.iter().any(|s| e.file_name() == *s)))
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .filter(|p| p.extension().is_some_and(|x| x == "db"))
        .collect();
    found.sort();
    found
}

/// One row per sweep a database holds.
#[derive(Debug, serde::Serialize)]
struct Row {
    database: String,
    sweep: String,
    file: String,
    overrides: Option<String>,
    counts: std::collections::BTreeMap<String, usize>,
    last_run: String,
}

pub fn list(dir: &Path, json: bool) -> Result<()> {
    let mut rows = Vec::new();
    let mut unreadable = Vec::new();
    for db in databases(dir) {
        let read = crate::rt::block_on(async {
            let store = ablate_store::Store::open_read_only(&db).await?;
            let s = store.sweeps().await;
            store.close().await;
            anyhow::Ok(s?)
        })
        .and_then(|r| r);
        match read {
            Ok(sweeps) => rows.extend(sweeps.into_iter().map(|s| Row {
                database: db.display().to_string(),
                overrides: ablate_spec::overrides_in(&s.spec_text).map(str::to_string),
                sweep: s.name,
                file: s.file,
                counts: s.counts,
                last_run: s.updated_at,
            })),
            // Some other program's SQLite file, or not SQLite at all.
            Err(e) => unreadable.push(format!("{}: {e:#}", db.display())),
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("no ablate database under {}", dir.display());
    } else {
        let states = table::STATES;
        let mut header = vec!["sweep", "file", "database", "trials"];
        header.extend(states);
        header.push("last run");
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let mut c = vec![
                    r.sweep.clone(),
                    match &r.overrides {
                        Some(o) => format!("{} {o}", r.file),
                        None => r.file.clone(),
                    },
                    r.database.clone(),
                    r.counts.values().sum::<usize>().to_string(),
                ];
                c.extend(
                    states
                        .iter()
                        .map(|s| r.counts.get(*s).copied().unwrap_or(0).to_string()),
                );
                c.push(r.last_run.clone());
                c
            })
            .collect();
        print!("{}", table::table(&header, &cells));
    }
    for u in unreadable {
        println!("not an ablate database: {u}");
    }
    Ok(())
}
