//! The binary over one store, moto or SQLite, for the tests that run a scenario on both
//! (`pause.rs`, `notify.rs`).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::cli::{Cli, Run};
use crate::helpers::tempdb::TempDb;

/// The binary over one store: the moto table of `cli`, or a SQLite file.
pub(crate) struct On<'a> {
    pub(crate) cli: &'a Cli,
    pub(crate) sqlite: Option<String>,
}

impl On<'_> {
    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        match &self.sqlite {
            Some(store) => self.cli.run_with(args, &[("PSU_SCHED_STORE", store)]).await,
            None => self.cli.run(args).await,
        }
    }

    pub(crate) async fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args).await;
        assert_eq!(run.code, 0, "{args:?} on {}: {run:?}", self.name());
        run
    }

    pub(crate) fn name(&self) -> &str {
        self.sqlite.as_deref().unwrap_or("moto")
    }

    /// A simulated tick at `at`, its summary.
    pub(crate) async fn tick(&self, at: DateTime<Utc>) -> Value {
        self.ok(&["tick", "--now", &at.to_rfc3339(), "--simulate", "--json"])
            .await
            .json()
    }

    pub(crate) async fn export(&self) -> String {
        self.ok(&["export"]).await.stdout
    }
}

/// The binary over the SQLite file `db`, initialised.
pub(crate) async fn on_sqlite<'a>(cli: &'a Cli, db: &TempDb) -> On<'a> {
    let on = On {
        cli,
        sqlite: Some(format!("sqlite:{}", db.0.display())),
    };
    on.ok(&["init"]).await;
    on
}

/// Runs `check` on a fresh moto table and on a fresh SQLite file.
pub(crate) async fn on_both_stores(check: impl AsyncFn(&On<'_>)) {
    let cli = Cli::new().await;
    check(&On {
        cli: &cli,
        sqlite: None,
    })
    .await;
    let db = TempDb::new();
    check(&on_sqlite(&cli, &db).await).await;
}
