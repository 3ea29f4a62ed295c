//! `ablate-serve` owns `ablate serve`: a sweep watched in a browser while it
//! runs (locally or under Slurm) and after. It reads the sweep's database
//! read-only, one short read per look (`look.rs`), and never writes it; it
//! knows nothing of scheduling, training or judging beyond what the status it
//! reads says. Who may read is `guard.rs`'s: loopback unless told otherwise, a
//! token, the Host header. What the browser gets is `page.rs`'s.

mod api;
mod guard;
mod look;
mod pace;
mod page;
mod routes;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ablate_spec::Sweep;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;

pub use guard::Guard;
pub use look::{live_states, status_json};

/// How often a connected page's data is looked at again.
const EVERY: Duration = Duration::from_secs(1);

/// The longest query string served; longer ones are a 400.
const MAX_QUERY: usize = 2048;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "{addr} is in use (another `ablate serve`, or another server): pass --port with a free port"
    )]
    InUse { addr: SocketAddr },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot draw a random token: {0}")]
    Token(getrandom::Error),
    #[error("the server stopped: {0}")]
    Serve(std::io::Error),
}

/// Where to listen and whether to ask for a token.
#[derive(Debug, Clone)]
pub struct Options {
    pub addr: SocketAddr,
    pub token: bool,
}

pub(crate) struct Shared {
    pub(crate) looker: look::Looker,
    guard: Guard,
}

/// Serves `sweep`'s pages from the database at `db` until ctrl-c. `started`
/// gets the address bound (port 0 picks a free one) and the URL to open, with
/// its token.
pub async fn serve(
    sweep: Sweep,
    db: PathBuf,
    opts: &Options,
    started: impl FnOnce(SocketAddr, &str),
) -> Result<(), ServeError> {
    let token = if opts.token {
        Some(Guard::random_token().map_err(ServeError::Token)?)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AddrInUse => ServeError::InUse { addr: opts.addr },
            _ => ServeError::Bind {
                addr: opts.addr,
                source,
            },
        })?;
    let addr = listener.local_addr().map_err(ServeError::Serve)?;
    let url = match &token {
        Some(t) => format!("http://{addr}/?token={t}"),
        None => format!("http://{addr}/"),
    };
    let shared = Arc::new(Shared {
        looker: look::Looker::new(sweep, db),
        guard: Guard::new(token),
    });
    started(addr, &url);
    axum::serve(listener, router(shared))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(ServeError::Serve)
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(sweep_page))
        .route("/api/status", get(status))
        .route("/events", get(events))
        .route("/study/{name}", get(routes::study_page))
        .route("/trial/{id}", get(routes::trial_page))
        .route("/api/study/{name}", get(routes::study))
        .route("/api/study/{name}/points", get(routes::points))
        .route("/api/trials", get(routes::trials))
        .route("/api/trial/{id}", get(routes::trial))
        .route("/static/echarts.min.js", get(routes::echarts))
        .route("/static/echarts-LICENSE.txt", get(routes::echarts_license))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), guarded))
        .with_state(shared)
}

/// Every request passes the guard first; a query string past `MAX_QUERY` is refused.
async fn guarded(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    match admit(&s.guard, &req) {
        None => message(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The query string is too long.",
        ),
        Some(verdict) => respond(&s.guard, verdict, req, next).await,
    }
}

/// The guard's verdict on a request; None for a query string past `MAX_QUERY`.
fn admit(guard: &Guard, req: &Request) -> Option<guard::Verdict> {
    let query = req.uri().query();
    if query.is_some_and(|q| q.len() > MAX_QUERY) {
        return None;
    }
    let text = |h: header::HeaderName| req.headers().get(h).and_then(|v| v.to_str().ok());
    Some(guard.check(text(header::HOST), query, text(header::COOKIE)))
}

async fn respond(guard: &Guard, verdict: guard::Verdict, req: Request, next: Next) -> Response {
    match verdict {
        guard::Verdict::BadHost => message(
            StatusCode::BAD_REQUEST,
            "Bad host",
            "This server answers only to an IP address or localhost in the Host header.",
        ),
        guard::Verdict::NoToken => message(
            StatusCode::UNAUTHORIZED,
            "Token needed",
            "Open the URL `ablate serve` printed (it carries ?token=...), or restart it with --no-token.",
        ),
        guard::Verdict::Allow { set_cookie } => {
            let mut resp = next.run(req).await;
            if let (true, Some(t)) = (set_cookie, guard.token()) {
                let cookie = format!("{}={t}; Path=/; HttpOnly; SameSite=Strict", guard::COOKIE);
                if let Ok(v) = HeaderValue::from_str(&cookie) {
                    resp.headers_mut().insert(header::SET_COOKIE, v);
                }
            }
            resp
        }
    }
}

pub(crate) fn message(code: StatusCode, title: &str, text: &str) -> Response {
    (code, Html(page::message_page(title, text))).into_response()
}

async fn not_found() -> Response {
    message(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such page here.",
    )
}

async fn sweep_page(State(s): State<Arc<Shared>>) -> Response {
    let (_, look) = s.looker.current().await;
    Html(page::sweep_page(&s.looker.sweep().name, &look.status)).into_response()
}

async fn status(State(s): State<Arc<Shared>>) -> Response {
    let (_, look) = s.looker.current().await;
    (
        [(header::CONTENT_TYPE, "application/json")],
        look.status_text(),
    )
        .into_response()
}

/// Server-sent events: `status` with the whole status JSON whenever the
/// database changed since the page's last one, `alive` otherwise, once a second.
async fn events(
    State(s): State<Arc<Shared>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold(
        (s, None),
        |(s, last): (_, Option<look::Stamp>)| async move {
            if last.is_some() {
                tokio::time::sleep(EVERY).await;
            }
            if last.as_ref() == Some(&look::Stamp::of(s.looker.db())) {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
                let now = now.map_or(0.0, |d| d.as_secs_f64());
                return Some((
                    Ok(Event::default().event("alive").data(format!("{now:.0}"))),
                    (s, last),
                ));
            }
            let (stamp, look) = s.looker.current().await;
            let event = Event::default()
                .event("status")
                .data(String::from_utf8_lossy(&look.status_text()));
            Some((Ok(event), (s, Some(stamp))))
        },
    );
    Sse::new(stream)
}
