//! The one way the binary waits on the libraries' async work (the store, the
//! orchestrator): a current-thread tokio runtime per command.

use std::future::Future;

pub fn block_on<F: Future>(f: F) -> anyhow::Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(f))
}
