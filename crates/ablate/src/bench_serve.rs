//! `ablate bench serve URL`: many clients at once against a running `ablate
//! serve`, each asking for its pages and JSON over one kept-alive connection
//! for a while; prints requests per second and latency percentiles per path.
//! A benchmark, not a test: it passes whatever the numbers are.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The URL `ablate serve` printed (its token is used as a cookie).
    url: String,
    /// Clients at once, each on its own connection.
    #[arg(long, default_value_t = 50)]
    clients: usize,
    /// How long to keep asking, in seconds.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Paths to ask for, in turn (default: the sweep page, the status, and
    /// STUDY's page data, parallel coordinates and first trial page).
    #[arg(long = "path")]
    paths: Vec<String>,
    /// The study the default paths ask about.
    #[arg(long)]
    study: Option<String>,
}

/// One response: status code and body length.
async fn get(
    r: &mut BufReader<TcpStream>,
    host: &str,
    path: &str,
    cookie: &str,
) -> Result<(u16, usize)> {
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nCookie: {cookie}\r\n\r\n");
    r.get_mut().write_all(req.as_bytes()).await?;
    let mut line = String::new();
    r.read_line(&mut line).await?;
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .context("no status line")?
        .parse()?;
    let mut len = 0usize;
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse()?;
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).await?;
    Ok((code, len))
}

/// One client: its latencies per path index, and errors.
async fn client(
    host: String,
    paths: Vec<String>,
    cookie: String,
    until: Instant,
    first: usize,
) -> Result<(Vec<Vec<f64>>, usize)> {
    let mut r = BufReader::new(TcpStream::connect(&host).await?);
    let mut times = vec![Vec::new(); paths.len()];
    let mut errors = 0;
    let mut i = first;
    while Instant::now() < until {
        let k = i % paths.len();
        let start = Instant::now();
        match get(&mut r, &host, &paths[k], &cookie).await {
            Ok((200, _)) => times[k].push(start.elapsed().as_secs_f64() * 1000.0),
            Ok(_) => errors += 1,
            Err(_) => {
                errors += 1;
                r = BufReader::new(TcpStream::connect(&host).await?);
            }
        }
        i += 1;
    }
    Ok((times, errors))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(f64::NAN)
}

pub fn run(a: &Args) -> Result<()> {
    let rest = a
        .url
        .strip_prefix("http://")
        .context("the URL must start with http://")?;
    let (host, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let token = tail.split_once("token=").map_or("", |(_, t)| t);
    if a.clients == 0 || a.seconds.is_nan() || a.seconds <= 0.0 {
        bail!("--clients and --seconds must be above 0");
    }
    let mut paths = a.paths.clone();
    if paths.is_empty() {
        paths = vec!["/".into(), "/api/status".into()];
        if let Some(s) = &a.study {
            paths.push(format!("/api/study/{s}"));
            paths.push(format!("/api/study/{s}/points"));
            paths.push(format!("/api/trials?study={s}&sort=seed&desc=1"));
        }
    }
    let cookie = format!("ablate_token={token}");
    let until = Instant::now() + Duration::from_secs_f64(a.seconds);
    let started = Instant::now();
    let results = crate::rt::block_on(async {
        let tasks: Vec<_> = (0..a.clients)
            .map(|c| {
                tokio::spawn(client(
                    host.to_string(),
                    paths.clone(),
                    cookie.clone(),
                    until,
                    c,
                ))
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await);
        }
        out
    })?;
    let wall = started.elapsed().as_secs_f64();
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); paths.len()];
    let mut errors = 0;
    for r in results {
        let (times, e) = r??;
        errors += e;
        for (k, t) in times.into_iter().enumerate() {
            per[k].extend(t);
        }
    }
    let total: usize = per.iter().map(Vec::len).sum();
    println!(
        "{} clients for {:.1} s against {host}: {total} answers ({:.0}/s), {errors} errors",
        a.clients,
        wall,
        total as f64 / wall
    );
    println!("| path | answers | p50 ms | p90 ms | p99 ms | max ms |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (path, mut t) in paths.iter().zip(per) {
        t.sort_by(f64::total_cmp);
        println!(
            "| {path} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            t.len(),
            percentile(&t, 0.5),
            percentile(&t, 0.9),
            percentile(&t, 0.99),
            t.last().copied().unwrap_or(f64::NAN)
        );
    }
    Ok(())
}
