//! `ablate-store` owns the results database: SQLite through sqlx, migrations from
//! the top-level `migrations/`, WAL mode and a busy timeout.
//!
//! The orchestrator is its only writer ([`Store::open`]); status and report readers
//! use [`Store::open_read_only`], and WAL lets them read while a sweep writes, so no
//! one ever sees "database is locked". It knows nothing of how trials run.

mod create;
mod detail;
mod find;
mod records;
mod stale;
mod status;
mod success;
mod time;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

pub use detail::{ArtifactRow, AttemptDetail, TrialDetail};
pub use find::{databases, sweeps_in};
pub use records::{
    AttemptEnd, AttemptRow, AttemptStart, AttemptTally, RunningAttempt, SweepRecord, TrialRecord,
};
pub use stale::{RecordedResult, SupersededResult};
pub use status::{
    AttemptInfo, AttemptProvenance, Progress, ResultRow, StatusReport, StudyCounts, SweepRow,
    TrialStatus,
};
pub use success::{Artifact, FAULT_ENV, Success};
pub use time::now_rfc3339;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {}: {source}", path.display())]
    Sql { path: PathBuf, source: sqlx::Error },
    #[error("database {}: migration failed: {source}", path.display())]
    Migrate {
        path: PathBuf,
        source: sqlx::migrate::MigrateError,
    },
    #[error("database {} does not exist yet: run `ablate run` on the sweep first", path.display())]
    Missing { path: PathBuf },
    #[error("database {} is read-only and has a write-ahead log (-wal file) not yet merged into it; copy the database with its -wal file to a writable folder and read it there", path.display())]
    ReadOnlyWal { path: PathBuf },
    #[error("database {}: cannot create its folder: {source}", path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("database {}: stored JSON is invalid: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("database {}: {source}; it was written by another version of ablate?", path.display())]
    State {
        path: PathBuf,
        source: ablate_protocol::UnknownState,
    },
}

impl StoreError {
    /// Only a database that does not exist yet is the user's doing (a sweep never
    /// run, a wrong `--db`); the rest are failures while working.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, StoreError::Missing { .. })
    }
}

/// A handle on the database; cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    path: PathBuf,
    /// Which later columns of `attempts` the database has: a reader of a
    /// database an older ablate wrote, not yet migrated, reads NULL for those
    /// it lacks.
    columns: Columns,
}

/// The columns of `attempts` added after the first release.
#[derive(Debug, Clone, Copy)]
struct Columns {
    /// Peak memory (migration 0005).
    memory: bool,
    /// Progress within an epoch (migration 0006).
    progress: bool,
}

impl Columns {
    const ALL: Columns = Columns {
        memory: true,
        progress: true,
    };

    async fn of(pool: &SqlitePool, path: &Path) -> Result<Columns, StoreError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM pragma_table_info('attempts') WHERE name IN ('peak_host_bytes', 'progress_step')",
        )
        .fetch_all(pool)
        .await
        .map_err(|e| sql(path, e))?;
        let has = |n: &str| names.iter().any(|x| x == n);
        Ok(Columns {
            memory: has("peak_host_bytes"),
            progress: has("progress_step"),
        })
    }
}

/// How long a connection waits for a lock before giving up. Readers in WAL mode
/// never wait for the writer; this covers checkpoints and a second writer by mistake.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

impl Store {
    /// Opens (creating if needed) and migrates the database, as its one writer.
    pub async fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                path: path.to_path_buf(),
                source,
            })?;
        }
        create::publish_new(path).await?;
        let pool = Self::migrated(path).await?;
        Ok(Store {
            pool,
            path: path.to_path_buf(),
            columns: Columns::ALL,
        })
    }

    /// A one-connection pool on `path` (created if missing), migrated.
    pub(crate) async fn migrated(path: &Path) -> Result<SqlitePool, StoreError> {
        let opts = Self::options(path)?
            .create_if_missing(true)
            .synchronous(SqliteSynchronous::Normal);
        // One connection: the orchestrator's writes are serial by design.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .map_err(|e| sql(path, e))?;
        sqlx::migrate!("../../migrations")
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(pool)
    }

    /// Opens an existing database for reading only; safe while a sweep runs.
    /// A copy that cannot be written beside (an archive, a read-only mount),
    /// where WAL cannot keep its shared-memory file, is read as immutable.
    pub async fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        match Self::connect_read_only(path, false).await {
            Ok(store) => Ok(store),
            Err(e) if !writable_beside(path) => {
                // Immutable reads the main file only: changes still in the WAL
                // file would be missed, so such a copy is refused, not misread.
                let mut wal = path.as_os_str().to_owned();
                wal.push("-wal");
                if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
                    return Err(StoreError::ReadOnlyWal {
                        path: path.to_path_buf(),
                    });
                }
                Self::connect_read_only(path, true).await.map_err(|_| e)
            }
            Err(e) => Err(e),
        }
    }

    async fn connect_read_only(path: &Path, immutable: bool) -> Result<Store, StoreError> {
        let url = format!("sqlite://{}", path.display());
        let opts = SqliteConnectOptions::from_str(&url)
            .map_err(|e| sql(path, e))?
            .filename(path)
            .read_only(true)
            .immutable(immutable)
            .busy_timeout(BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await
            .map_err(|e| sql(path, e))?;
        let columns = Columns::of(&pool, path).await?;
        Ok(Store {
            pool,
            path: path.to_path_buf(),
            columns,
        })
    }

    /// The peak memory columns of `attempts`, or NULLs where the database
    /// predates them.
    pub(crate) fn peak_columns(&self) -> &'static str {
        if self.columns.memory {
            "peak_host_bytes, peak_gpu_bytes"
        } else {
            "NULL, NULL"
        }
    }

    /// The progress columns of `attempts` (epoch, step, steps, when), or NULLs
    /// where the database predates them.
    pub(crate) fn progress_columns(&self) -> &'static str {
        if self.columns.progress {
            "progress_epoch, progress_step, progress_steps, progress_at"
        } else {
            "NULL, NULL, NULL, NULL"
        }
    }

    fn options(path: &Path) -> Result<SqliteConnectOptions, StoreError> {
        let url = format!("sqlite://{}", path.display());
        Ok(SqliteConnectOptions::from_str(&url)
            .map_err(|e| sql(path, e))?
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub(crate) fn err(&self, e: sqlx::Error) -> StoreError {
        sql(&self.path, e)
    }

    pub(crate) fn json_err(&self, source: serde_json::Error) -> StoreError {
        StoreError::Json {
            path: self.path.clone(),
            source,
        }
    }

    /// A state column's value as its type (the schema's CHECK allows no other).
    pub(crate) fn parse_state<T: FromStr<Err = ablate_protocol::UnknownState>>(
        &self,
        name: &str,
    ) -> Result<T, StoreError> {
        name.parse().map_err(|source| StoreError::State {
            path: self.path.clone(),
            source,
        })
    }

    /// A backend column's value as its kind.
    pub(crate) fn parse_backend(
        &self,
        name: &str,
    ) -> Result<ablate_protocol::BackendKind, StoreError> {
        ablate_protocol::BackendKind::parse(name).ok_or_else(|| StoreError::State {
            path: self.path.clone(),
            source: ablate_protocol::UnknownState(format!("backend {name}")),
        })
    }

    /// `PRAGMA integrity_check`: "ok" for a healthy file.
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        let row: (String,) = sqlx::query_as("PRAGMA integrity_check")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.err(e))?;
        Ok(row.0)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Whether files can be created beside `path` (its folder is writable).
fn writable_beside(path: &Path) -> bool {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok()
        && nix::unistd::access(path, nix::unistd::AccessFlags::W_OK).is_ok()
}

fn sql(path: &Path, source: sqlx::Error) -> StoreError {
    StoreError::Sql {
        path: path.to_path_buf(),
        source,
    }
}
