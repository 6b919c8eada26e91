//! A job: its page, its form (new and edit), its delete, the page's buttons (pause,
//! resume, run now), its backfill, and the overview's bulk actions on several jobs.

pub(crate) mod actions;
pub(crate) mod backfill;
pub(crate) mod bulk;
pub(crate) mod delete;
pub(crate) mod edit;
pub(crate) mod new;
pub(crate) mod show;

use shared::model::AppPause;
use shared::ops::OpsError;

use crate::context::Ctx;
use crate::error::Error;

/// The pause of the app `app`, while it is paused (one read of its record; an app without a
/// record is never paused).
pub(crate) async fn app_pause(ctx: &Ctx, app: &str) -> Result<Option<AppPause>, Error> {
    match ctx.ops.app(app).await {
        Ok(record) => Ok(record.paused),
        Err(OpsError::AppNotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
