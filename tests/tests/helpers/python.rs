//! The documented Python verifier (docs/verifying-requests.md), run as an app would run it.

/// The project's virtualenv Python if there is one, else `python3`.
pub fn python() -> String {
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    if std::path::Path::new(venv).exists() {
        venv.to_owned()
    } else {
        "python3".to_owned()
    }
}

/// The Python code block of docs/verifying-requests.md, as written.
pub fn documented_python() -> String {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/verifying-requests.md"
    ))
    .expect("docs/verifying-requests.md");
    let start = doc.find("```python\n").expect("a python block") + "```python\n".len();
    let end = start + doc[start..].find("```").expect("end of block");
    doc[start..end].to_owned()
}

/// Runs the documented verifier followed by `harness` (which reads `input` on stdin) and
/// returns its standard output; fails the test when Python fails.
pub fn run_with_documented_verifier(harness: &str, input: &serde_json::Value) -> String {
    let dir = std::env::temp_dir().join(format!(
        "psu-sched-verify-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let file = dir.join("verify.py");
    std::fs::write(&file, format!("{}\n{harness}", documented_python())).expect("script");
    let mut child = std::process::Command::new(python())
        .arg(&file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python");
    std::io::Write::write_all(
        child.stdin.as_mut().expect("stdin"),
        input.to_string().as_bytes(),
    )
    .expect("feed");
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("python ran");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
