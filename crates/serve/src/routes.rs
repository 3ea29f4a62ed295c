//! The study and trial pages, the JSON they fetch and the embedded charting
//! library. A study or trial the sweep does not have is a 404 page (a page
//! route) or a 404 message (a JSON route); nothing maps a request path onto
//! the file system: the static files are two fixed names.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::{Shared, api, message, page};

fn json_or_refusal(r: Result<serde_json::Value, api::Refusal>) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err((code, text)) => {
            (code, axum::Json(serde_json::json!({ "error": text }))).into_response()
        }
    }
}

/// A JSON answer made once per look (see `Look::memo`).
fn memo_or_refusal(r: Result<Bytes, api::Refusal>) -> Response {
    match r {
        Ok(text) => ([(header::CONTENT_TYPE, "application/json")], text).into_response(),
        Err(refusal) => json_or_refusal(Err(refusal)),
    }
}

pub async fn study_page(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    let sweep = s.looker.sweep();
    if !sweep.studies.iter().any(|x| x.name == name) {
        return message(
            StatusCode::NOT_FOUND,
            "No such study",
            &format!("Sweep {} has no study named {name:?}.", sweep.name),
        );
    }
    Html(page::study_page(&sweep.name, &name)).into_response()
}

pub async fn trial_page(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let sweep = s.looker.sweep();
    match api::find(sweep, &id) {
        Some(t) => Html(page::trial_page(&sweep.name, t.id.as_str())).into_response(),
        None => message(
            StatusCode::NOT_FOUND,
            "No such trial",
            &format!("Sweep {} has no trial {id:?}.", sweep.name),
        ),
    }
}

pub async fn study(State(s): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    let (_, look) = s.looker.current().await;
    let key = format!("study {name}");
    memo_or_refusal(look.memo(&key, || api::study(look.model.as_ref(), &name)))
}

pub async fn points(
    State(s): State<Arc<Shared>>,
    Path(name): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let after = match q.iter().find(|(k, _)| k == "after") {
        None => None,
        Some((_, v)) => match v.parse::<u64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return json_or_refusal(Err((
                    StatusCode::BAD_REQUEST,
                    format!("after must be a look number (a whole number), got {v:?}"),
                )));
            }
        },
    };
    let (_, look) = s.looker.current().await;
    let key = format!("points {name} {after:?}");
    memo_or_refusal(look.memo(&key, || api::points(&look, &name, after)))
}

pub async fn trials(
    State(s): State<Arc<Shared>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let (_, look) = s.looker.current().await;
    let key = format!("trials {q:?}");
    memo_or_refusal(look.memo(&key, || {
        api::trials(look.model.as_ref(), s.looker.sweep(), &q)
    }))
}

pub async fn trial(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let (_, look) = s.looker.current().await;
    let sweep = s.looker.sweep();
    json_or_refusal(api::trial(look.model.as_ref(), sweep, s.looker.db(), &id).await)
}

pub async fn echarts() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        page::ECHARTS,
    )
        .into_response()
}

pub async fn echarts_license() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        page::ECHARTS_LICENSE,
    )
        .into_response()
}
