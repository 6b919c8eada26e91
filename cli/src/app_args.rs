//! The `app` subcommands and their arguments, and `pause`'s (apart from `args.rs`, which
//! holds every other command's arguments, to keep that file short).

use clap::{Args, Subcommand};

/// An app's settings.
#[derive(Debug, Args)]
pub struct AppSettings {
    /// Where its jobs by path are called: https://host[:port][/prefix].
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// At most this many of its calls in flight at once within a tick (1-64; default 4).
    #[arg(long, value_name = "N")]
    pub budget: Option<String>,

    /// The IANA zone its jobs are created in when given none (default UTC), e.g.
    /// America/Los_Angeles. Its existing jobs keep their zone.
    #[arg(long, value_name = "ZONE")]
    pub timezone: Option<String>,

    /// Post a JSON message here when a job of the app fails --notify-after times in a row,
    /// and again when it recovers (a Slack or Teams incoming webhook; docs/admin.md). A
    /// secret: never shown back.
    #[arg(long, value_name = "URL", conflicts_with = "no_webhook")]
    pub webhook: Option<String>,

    /// Remove the app's webhook.
    #[arg(long)]
    pub no_webhook: bool,

    /// After how many failed or timed-out runs in a row of a job the webhook is told (1-100;
    /// default 1).
    #[arg(long, value_name = "N")]
    pub notify_after: Option<String>,

    /// JSON output (see docs/cli.md).
    #[arg(long)]
    pub json: bool,
}

/// `app ...`: the app is named by --app (or PSU_SCHED_APP).
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create an app record.
    #[command(after_help = "Examples:
  psu-sched app create --app shop --base-url https://shop.example.edu
  psu-sched app create --app shop --base-url https://shop.example.edu \\
      --webhook https://hooks.slack.com/services/... --notify-after 2")]
    Create(AppSettings),
    /// Change an app's base URL, budget or default zone; its jobs by path move with the base
    /// URL, its existing jobs keep their zone.
    Update(AppSettings),
    /// Show an app record and its jobs.
    Show(JsonArgs),
    /// List the app records.
    List(JsonArgs),
    /// Delete an app record (refused while the app has jobs).
    Delete(YesArgs),
    /// Print the app's signing key for its settings (derived from the secret in
    /// --signing-secret-arn or PSU_SCHED_SIGNING_SECRET, one of which must be set); while the
    /// app rotates, its previous key too.
    Key(JsonArgs),
    /// Pause the app: none of its jobs is called until `app resume`; each of their slots
    /// that comes due meanwhile is recorded `skipped` with the reason. No job is rewritten.
    #[command(after_help = "Example:
  psu-sched app pause --app billing --reason \"database migration until 14:00\"")]
    Pause(AppPauseArgs),
    /// Resume a paused app: its jobs are called again from their next slot (the slots passed
    /// over while paused are not made up).
    #[command(after_help = "Example:
  psu-sched app resume --app billing")]
    Resume(JsonArgs),
    /// Start a new generation of the app's signing key: calls carry signatures for both
    /// generations until --finish, so the app can deploy its new key first.
    #[command(after_help = "Examples:
  psu-sched app rotate-key --app billing
  psu-sched app key --app billing          # deploy the app with the new key, then:
  psu-sched app rotate-key --app billing --finish")]
    RotateKey(RotateKeyArgs),
}

/// `app rotate-key`.
#[derive(Debug, Args)]
pub struct RotateKeyArgs {
    /// Finish the rotation: stop signing with the previous generation.
    #[arg(long)]
    pub finish: bool,

    /// JSON output (see docs/cli.md).
    #[arg(long)]
    pub json: bool,
}

/// `app pause`.
#[derive(Debug, Args)]
pub struct AppPauseArgs {
    /// Why (required): one line of 1 to 200 characters, shown by `app show`, the admin and
    /// every skipped slot's error.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,

    /// JSON output (see docs/cli.md).
    #[arg(long)]
    pub json: bool,
}

/// `pause`: a job, by name, and why.
#[derive(Debug, Args)]
pub struct PauseArgs {
    /// The job's name.
    #[arg(long, value_name = "NAME")]
    pub name: String,

    /// Why: one line of 1 to 200 characters (optional; pausing a paused job with a reason
    /// changes it).
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
}

/// `--json` alone.
#[derive(Debug, Args)]
pub struct JsonArgs {
    /// JSON output (see docs/cli.md).
    #[arg(long)]
    pub json: bool,
}

/// `--yes` alone.
#[derive(Debug, Args)]
pub struct YesArgs {
    /// Do not ask.
    #[arg(long, short)]
    pub yes: bool,
}
