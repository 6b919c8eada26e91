//! An app's signing key: printing it (derived from the deployment's secret, never stored) and
//! rotating it, a generation at a time (`docs/verifying-requests.md`).

use chrono::{DateTime, Utc};

use super::Ops;
use super::apps::{change_app, parse_app, read_app};
use super::error::OpsError;
use crate::config::ENV_SIGNING_SECRET;
use crate::model::App;
use crate::signing::app_key;

/// The keys an app verifies calls with, current first (two while it rotates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppKeys {
    /// The app.
    pub app: String,
    /// `(generation, key)`, current first; the previous one while the app rotates.
    pub keys: Vec<(u32, String)>,
}

/// The deployment's signing secrets (`PSU_SCHED_SIGNING_SECRET`, newest first), refused when
/// unset: an app's key is derived from the first.
fn require_secrets(secrets: &[String]) -> Result<&str, OpsError> {
    secrets
        .first()
        .map(String::as_str)
        .ok_or(OpsError::Unset {
            variable: ENV_SIGNING_SECRET,
            why: "an app's key is derived from the deployment's signing secret; set it to the secret the scheduler signs with in this environment",
        })
}

/// What a rotation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// Start a new generation; calls carry both until the rotation is finished.
    Start,
    /// Stop signing with the previous generation.
    Finish,
}

impl Ops {
    /// The app's current key (and its previous one while it rotates), derived from the first
    /// of the deployment's `secrets` and its record's salt. An app without a record has no key:
    /// its calls are not signed by any (the dispatcher does not call them while it signs), so
    /// that no key of a deleted record ever signs again.
    pub async fn app_keys(&self, name: &str, secrets: &[String]) -> Result<AppKeys, OpsError> {
        let name = parse_app(name)?;
        let secret = require_secrets(secrets)?;
        let app = read_app(self.store().await?, &name).await?;
        Ok(AppKeys {
            app: name.to_string(),
            keys: app
                .key_generations()
                .into_iter()
                .map(|g| {
                    (
                        g,
                        app_key(secret, name.as_str(), g, app.key_salt.as_deref()),
                    )
                })
                .collect(),
        })
    }

    /// Starts or finishes the rotation of the app's key. Starting is refused while a rotation
    /// is in progress, finishing when none is.
    pub async fn rotate_key(
        &self,
        name: &str,
        rotation: Rotation,
        now: DateTime<Utc>,
    ) -> Result<App, OpsError> {
        let name = parse_app(name)?;
        change_app(self.store().await?, &name, now, |app| {
            let mut next = app.clone();
            match (rotation, app.previous_key_generation) {
                (Rotation::Start, None) => {
                    next.previous_key_generation = Some(app.key_generation);
                    next.key_generation = app.key_generation.saturating_add(1);
                }
                (Rotation::Start, Some(previous)) => {
                    return Err(OpsError::Rotation(format!(
                        "the app {name} is already rotating from generation {previous} to {}; finish it first: psu-sched app rotate-key --app {name} --finish",
                        app.key_generation
                    )));
                }
                (Rotation::Finish, Some(_)) => next.previous_key_generation = None,
                (Rotation::Finish, None) => {
                    return Err(OpsError::Rotation(format!(
                        "the app {name} is not rotating its key (generation {}); start a rotation: psu-sched app rotate-key --app {name}",
                        app.key_generation
                    )));
                }
            }
            Ok(next)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::ops::AppInput;
    use crate::store::memory::MemoryStore;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("now")
    }

    async fn ops_with_app() -> Ops {
        let ops = Ops::with_store("memory", Arc::new(MemoryStore::new()));
        let input = AppInput {
            base_url: Some("https://finance.example.edu".into()),
            budget: None,
            timezone: None,
            ..AppInput::default()
        };
        ops.create_app("finance", &input, now()).await.expect("app");
        ops
    }

    #[tokio::test]
    async fn a_rotation_signs_with_both_generations_until_it_is_finished() {
        let ops = ops_with_app().await;
        let secrets = vec!["deployment".to_owned()];
        let first = ops.app_keys("finance", &secrets).await.expect("keys");
        let salt = ops.app("finance").await.expect("app").key_salt;
        assert!(salt.is_some(), "a new record has a salt");
        assert_eq!(
            first.keys,
            vec![(1, app_key("deployment", "finance", 1, salt.as_deref()))]
        );
        let rotating = ops
            .rotate_key("finance", Rotation::Start, now())
            .await
            .expect("start");
        assert_eq!(rotating.key_generations(), vec![2, 1]);
        let keys = ops.app_keys("finance", &secrets).await.expect("keys");
        assert_eq!(keys.keys.iter().map(|k| k.0).collect::<Vec<_>>(), [2, 1]);
        assert!(matches!(
            ops.rotate_key("finance", Rotation::Start, now()).await,
            Err(OpsError::Rotation(_))
        ));
        let done = ops
            .rotate_key("finance", Rotation::Finish, now())
            .await
            .expect("finish");
        assert_eq!(done.key_generations(), vec![2]);
        assert!(matches!(
            ops.rotate_key("finance", Rotation::Finish, now()).await,
            Err(OpsError::Rotation(_))
        ));
    }

    #[tokio::test]
    async fn no_key_without_the_deployment_secret_or_for_an_unknown_app() {
        let ops = ops_with_app().await;
        let err = ops.app_keys("finance", &[]).await.expect_err("no secret");
        assert!(
            err.is_input() && err.to_string().contains(ENV_SIGNING_SECRET),
            "{err}"
        );
        assert!(matches!(
            ops.app_keys("payroll", &["s".to_owned()]).await,
            Err(OpsError::AppNotFound(_))
        ));
    }
}
