//! A reader that finds the database while a run is still creating it reads an
//! empty store, never a file without its tables (CI once saw `ablate status`
//! fail with "no such table: results" in that window).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ablate_store::{Store, StoreError};

/// Reads `path` as `ablate status` does, as soon as the file appears and until
/// the writer is done; returns how many reads found the file.
async fn read_while_created(path: &Path, writer: &tokio::task::JoinHandle<Store>) -> usize {
    let mut reads = 0;
    while !writer.is_finished() {
        if path.exists() {
            match Store::open_read_only(path).await {
                Ok(store) => {
                    let sweeps = store.sweeps().await;
                    store.close().await;
                    if let Err(e) = sweeps {
                        panic!("read {reads} saw a database without its tables: {e}");
                    }
                    reads += 1;
                }
                Err(StoreError::Missing { .. }) => {}
                Err(e) => panic!("read {reads} failed: {e}"),
            }
        }
        tokio::task::yield_now().await;
    }
    reads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_appears_with_its_tables_or_not_at_all() {
    for _ in 0..30 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out/ablate.db");
        let target = path.clone();
        let writer = tokio::spawn(async move { Store::open(&target).await.unwrap() });
        read_while_created(&path, &writer).await;
        let store = writer.await.unwrap();
        assert!(store.sweeps().await.unwrap().is_empty());
        store.close().await;
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| !n.starts_with("ablate.db"))
            .collect();
        assert!(left.is_empty(), "files left beside the database: {left:?}");
    }
}
