//! A SQLite database file in a directory of its own under the system's temporary directory,
//! removed when the test ends, passed or failed.

use std::path::PathBuf;

/// `<tmp>/psu-sched-test-<uuid>/psu-sched.db` (the directory does not exist yet: opening
/// creates it).
pub fn temp_db_path() -> PathBuf {
    std::env::temp_dir()
        .join(format!("psu-sched-test-{}", uuid::Uuid::new_v4().simple()))
        .join("psu-sched.db")
}

/// Removes the database's directory when dropped.
pub struct TempDb(pub PathBuf);

impl TempDb {
    /// A fresh path, removed on drop.
    pub fn new() -> Self {
        Self(temp_db_path())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
