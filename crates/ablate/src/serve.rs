//! `ablate serve`: the sweep in a browser (`ablate_serve`), until ctrl-c.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    sweep: crate::sweep_arg::SweepArg,
    /// The sweep's database (default: its output folder's ablate.db).
    #[arg(long)]
    db: Option<PathBuf>,
    /// The port (0: any free one; the URL printed names it).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// The address to listen on; anything but loopback lets other machines ask.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Serve without the token the start-up URL carries (anyone who can reach
    /// the port reads the sweep).
    #[arg(long)]
    no_token: bool,
}

pub fn serve(a: &Args) -> Result<()> {
    let sweep = a.sweep.sweep()?;
    let db = ablate_orchestrator::db_path(&sweep, a.db.as_deref());
    let opts = ablate_serve::Options {
        addr: SocketAddr::new(a.bind, a.port),
        token: !a.no_token,
    };
    if !a.bind.is_loopback() {
        eprintln!(
            "warning: listening on {}, not loopback: other machines can reach it",
            a.bind
        );
    }
    let name = sweep.name.clone();
    // Many pages at once: every core answers.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(ablate_serve::serve(sweep, db, &opts, |addr, url| {
        // Whoever started the server may stop reading once it has the URL: a
        // closed stdout must not take the server down.
        let mut out = std::io::stdout();
        let _ = writeln!(out, "serving sweep {name} at {url}");
        let _ = writeln!(
            out,
            "from another machine: ssh -N -L {p}:localhost:{p} THIS_HOST, then open the URL there; ctrl-c stops",
            p = addr.port()
        );
        let _ = out.flush();
    }))?;
    Ok(())
}
