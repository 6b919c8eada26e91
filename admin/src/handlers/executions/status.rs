//! `GET /executions/{id}/status`: whether an execution's run has ended, for the script of its
//! page, as JSON.

use axum::Json;
use serde_json::{Value, json};

use crate::context::Ctx;
use crate::error::Error;
use crate::paths::ExecutionPath;

/// `{"status": "running", "finished": false}`; a refusal is `{"error": "..."}`.
pub(crate) async fn get(ctx: Ctx, id: Result<ExecutionPath, Error>) -> Result<Json<Value>, Error> {
    let ExecutionPath(id) = id.map_err(Error::json)?;
    let e = ctx
        .ops
        .execution(&id.to_string())
        .await
        .map_err(|e| Error::from(e).json())?;
    Ok(Json(json!({
        "status": e.status.as_str(),
        "finished": e.status.is_final(),
    })))
}
