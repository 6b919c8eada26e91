//! Releases (docs/releasing.md): one version for the CLI, the Lambda and the Python package,
//! a CHANGELOG whose every release says whether its upgrade is one-way, and `scripts/release`
//! refusing what would make a wrong release before it builds anything.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::binary;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("read {path}: {e}"))
}

fn toml_table(path: &str) -> toml::Table {
    read(path)
        .parse()
        .unwrap_or_else(|e| panic!("{path} is not TOML: {e}"))
}

/// `[workspace.package] version` of the root Cargo.toml: the release's version.
fn workspace_version() -> String {
    toml_table("Cargo.toml")["workspace"]["package"]["version"]
        .as_str()
        .expect("Cargo.toml has [workspace.package] version")
        .to_owned()
}

#[test]
fn the_python_package_has_the_workspaces_version() {
    let version = workspace_version();
    let pyproject = toml_table("clients/python/pyproject.toml");
    assert_eq!(
        pyproject["project"]["version"].as_str(),
        Some(version.as_str()),
        "clients/python/pyproject.toml's [project] version must be the workspace's ({version})"
    );
    let init = read("clients/python/src/psu_sched/__init__.py");
    let dunder = init
        .lines()
        .find_map(|line| line.strip_prefix("__version__ = "))
        .expect("psu_sched/__init__.py sets __version__");
    assert_eq!(
        dunder,
        format!("\"{version}\""),
        "psu_sched.__version__ must be the workspace's version"
    );
}

#[test]
fn psu_sched_version_prints_the_workspaces_version() {
    let out = Command::new(binary())
        .arg("--version")
        .output()
        .expect("run psu-sched --version");
    assert!(out.status.success(), "psu-sched --version failed: {out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        format!("psu-sched {}", workspace_version())
    );
}

/// The CHANGELOG's `## ` sections: (heading, body).
fn changelog_sections() -> Vec<(String, String)> {
    let mut sections: Vec<(String, String)> = Vec::new();
    for line in read("CHANGELOG.md").lines() {
        if let Some(heading) = line.strip_prefix("## ") {
            sections.push((heading.to_owned(), String::new()));
        } else if let Some((_, body)) = sections.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    sections
}

#[test]
fn every_changelog_section_says_whether_its_upgrade_is_one_way() {
    let sections = changelog_sections();
    assert!(!sections.is_empty(), "CHANGELOG.md has no ## sections");
    for (heading, body) in &sections {
        let upgrade = body
            .lines()
            .find(|line| line.starts_with("**Upgrade: "))
            .unwrap_or_else(|| panic!("CHANGELOG.md's section {heading:?} has no **Upgrade: line"));
        assert!(
            upgrade.starts_with("**Upgrade: one-way**")
                || upgrade.starts_with("**Upgrade: reversible**"),
            "section {heading:?} must say **Upgrade: one-way** or **Upgrade: reversible**, not {upgrade:?}"
        );
    }
}

#[test]
fn the_changelog_opens_with_unreleased_or_the_workspaces_version() {
    let version = workspace_version();
    let sections = changelog_sections();
    let headings: Vec<&str> = sections.iter().map(|(h, _)| h.as_str()).collect();
    // Released sections read `## 0.1.0 (2026-12-07)`, newest first, under `## Unreleased` when
    // changes wait for the next release.
    let released: Vec<&str> = headings
        .iter()
        .filter(|h| **h != "Unreleased")
        .map(|h| h.split_whitespace().next().unwrap_or_default())
        .collect();
    assert!(
        headings.iter().skip(1).all(|h| *h != "Unreleased"),
        "Unreleased must be the first section: {headings:?}"
    );
    if headings.first() != Some(&"Unreleased") {
        assert_eq!(
            released.first(),
            Some(&version.as_str()),
            "without an Unreleased section, the newest release in CHANGELOG.md must be the workspace's version"
        );
    }
    assert!(
        released.iter().all(|v| semver(v) <= semver(&version)),
        "CHANGELOG.md names a release newer than the workspace's {version}: {released:?}"
    );
}

fn semver(v: &str) -> Vec<u64> {
    v.split('.')
        .map(|n| n.parse().unwrap_or_else(|_| panic!("not a version: {v}")))
        .collect()
}

/// A throwaway git repository holding scripts/release and the two files it reads the version
/// from, with the Python package at `py_version`; removed on drop.
struct ReleaseRepo(PathBuf);

impl ReleaseRepo {
    fn new(py_version: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "psu-sched-release-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(dir.join("scripts")).expect("create the repository");
        std::fs::create_dir_all(dir.join("clients/python")).expect("create clients/python");
        std::fs::copy(root().join("scripts/release"), dir.join("scripts/release"))
            .expect("copy scripts/release");
        std::fs::copy(root().join("Cargo.toml"), dir.join("Cargo.toml")).expect("copy Cargo.toml");
        // The first `version = ` line is [project]'s.
        let mut replaced = false;
        let mut pyproject = String::new();
        for line in read("clients/python/pyproject.toml").lines() {
            if line.starts_with("version = ") && !replaced {
                replaced = true;
                pyproject.push_str(&format!("version = \"{py_version}\"\n"));
            } else {
                pyproject.push_str(line);
                pyproject.push('\n');
            }
        }
        assert!(replaced, "pyproject.toml has no version line");
        std::fs::write(dir.join("clients/python/pyproject.toml"), pyproject)
            .expect("write pyproject.toml");
        let repo = Self(dir);
        repo.git(&["init", "-q"]);
        repo.git(&["add", "."]);
        repo.git(&["commit", "-q", "-m", "a release"]);
        repo
    }

    fn git(&self, args: &[&str]) {
        let status = Command::new("git")
            .args([
                "-c",
                "user.name=test",
                "-c",
                "user.email=test@example.invalid",
            ])
            .args(args)
            .current_dir(&self.0)
            .status()
            .expect("run git");
        assert!(status.success(), "git {args:?} failed");
    }

    /// Runs scripts/release; (exit code, stderr).
    fn release(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(self.0.join("scripts/release"))
            .args(args)
            .current_dir(&self.0)
            .output()
            .expect("run scripts/release");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for ReleaseRepo {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn scripts_release_refuses_a_python_package_of_another_version_before_building() {
    let repo = ReleaseRepo::new("9.9.9");
    let (code, stderr) = repo.release(&["--out", "out"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the Python package is 9.9.9 but the workspace is {}",
            workspace_version()
        )),
        "{stderr}"
    );
    assert!(!repo.0.join("out").exists(), "nothing may be written");
}

#[test]
fn scripts_release_refuses_uncommitted_changes_and_a_tag_of_another_version() {
    let version = workspace_version();
    let repo = ReleaseRepo::new(&version);
    std::fs::write(repo.0.join("notes.txt"), "not committed").expect("write a file");
    let (code, stderr) = repo.release(&["--out", "out"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("uncommitted changes"), "{stderr}");

    std::fs::remove_file(repo.0.join("notes.txt")).expect("remove the file");
    repo.git(&["tag", "v9.9.9"]);
    let (code, stderr) = repo.release(&["--out", "out"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "HEAD is tagged v9.9.9 but the version is {version}"
        )),
        "{stderr}"
    );
    assert!(!repo.0.join("out").exists(), "nothing may be written");
}

#[test]
fn scripts_release_refuses_an_untagged_commit_unless_it_is_a_snapshot() {
    // A build of an untagged commit must never pass for the release of its version.
    let version = workspace_version();
    let repo = ReleaseRepo::new(&version);
    let (code, stderr) = repo.release(&["--out", "out"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains(&format!("HEAD has no tag v{version}")) && stderr.contains("--snapshot"),
        "{stderr}"
    );
    assert!(!repo.0.join("out").exists(), "nothing may be written");
}
