//! `ablate list [DIR]`: the sweeps whose databases lie under a folder
//! (`ablate_store::databases`), with their trials by state and when each last
//! ran, read-only.

use std::path::Path;

use anyhow::Result;

use ablate_report::status::Listed;

pub fn list(dir: &Path, json: bool) -> Result<()> {
    let mut rows = Vec::new();
    let mut unreadable = Vec::new();
    for db in ablate_store::databases(dir) {
        let read = crate::rt::block_on(ablate_store::sweeps_in(&db)).and_then(|r| Ok(r?));
        match read {
            Ok(sweeps) => rows.extend(sweeps.into_iter().map(|s| Listed {
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
        print!("{}", ablate_report::status::list(&rows));
    }
    for u in unreadable {
        println!("not an ablate database: {u}");
    }
    Ok(())
}
