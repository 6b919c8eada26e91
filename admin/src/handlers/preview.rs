//! `GET /preview`: a schedule's preview for the job form's script (JSON).

use std::collections::HashMap;

use axum::Json;
use axum::extract::Query;
use chrono::Utc;

use crate::views::preview::Preview;

/// The preview of
/// `GET /preview?schedule=...&timezone=...&start=...&end=...[&dates_zone=...]`.
pub(crate) async fn get(Query(query): Query<HashMap<String, String>>) -> Json<Preview> {
    let get = |k: &str| query.get(k).map(String::as_str).unwrap_or("");
    let dates_zone = Some(get("dates_zone")).filter(|z| !z.is_empty());
    Json(Preview::of(
        get("schedule"),
        get("timezone"),
        (get("start"), get("end"), dates_zone),
        Utc::now(),
    ))
}
