//! `app create|update`'s settings (apart from `args.rs`, which holds every other command's
//! arguments, to keep that file short).

use clap::Args;

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

    /// JSON output (see docs/cli.md).
    #[arg(long)]
    pub json: bool,
}
