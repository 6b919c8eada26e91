//! Apps behind a private CA (issue 28): the certificates in `PSU_SCHED_CA_CERTS_FILE` are
//! trusted besides the system's roots, so a job on an internal HTTPS app whose certificate a
//! company CA signed is called; without them the call fails on the certificate, and a file that
//! holds no certificate is refused before anything is called. Against the real binary and an
//! HTTPS server on 127.0.0.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use axum::Router;
use axum::routing::get;
use axum_server::tls_rustls::RustlsConfig;

use crate::cli::Cli;

/// A CA, and a server certificate for localhost and 127.0.0.1 that it signed: (CA PEM,
/// server certificate PEM, server key PEM).
fn private_ca() -> (String, String, String) {
    let ca_key = rcgen::KeyPair::generate().expect("a CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "psu-sched test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("the CA");
    let server_key = rcgen::KeyPair::generate().expect("a server key");
    let server_params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server params");
    let server = server_params
        .signed_by(&server_key, &ca)
        .expect("a certificate the CA signed");
    (ca.pem(), server.pem(), server_key.serialize_pem())
}

/// An HTTPS server on 127.0.0.1 answering `GET /ok` with 200; its port.
async fn https_server(cert: &str, key: &str) -> u16 {
    let config = RustlsConfig::from_pem(cert.as_bytes().to_vec(), key.as_bytes().to_vec())
        .await
        .expect("the server's TLS configuration");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("address");
    let app = Router::new().route("/ok", get(|| async { "done" }));
    let server = axum_server::from_tcp_rustls(listener, config).expect("a TLS server");
    tokio::spawn(server.serve(app.into_make_service()));
    addr.port()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "psu-sched-ca-{name}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

async fn run_ok_job(cli: &Cli, env: &[(&str, &str)]) -> crate::cli::Run {
    cli.run_with(&["run", "--app", "internal", "--name", "report"], env)
        .await
}

async fn last_run(cli: &Cli) -> serde_json::Value {
    cli.run(&["history", "--app", "internal", "--name", "report", "--json"])
        .await
        .ok()
        .json()[0]
        .clone()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_on_an_app_behind_a_private_ca_is_called_once_its_ca_is_given() {
    let (ca, cert, key) = private_ca();
    let port = https_server(&cert, &key).await;
    let dir = temp_dir("trust");
    let ca_file = dir.join("company-ca.pem");
    std::fs::write(&ca_file, &ca).expect("write the CA");
    let cli = Cli::new().await;
    cli.run(&[
        "create",
        "--app",
        "internal",
        "--name",
        "report",
        "--url",
        &format!("https://localhost:{port}/ok"),
        "--every",
        "1h",
        "--paused",
    ])
    .await
    .ok();

    // Without the CA: the certificate is not trusted, the call fails on it.
    let refused = run_ok_job(&cli, &[]).await;
    assert_ne!(refused.code, 0, "{refused:?}");
    let last = last_run(&cli).await;
    assert_eq!(last["status"], "failed", "{last}");
    assert!(
        last["error"]
            .as_str()
            .is_some_and(|e| e.to_lowercase().contains("certificate")),
        "the error names the certificate: {last}"
    );

    // With it: called, and succeeded (a second later: two manual runs of a job in one second
    // are one execution id).
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let called = run_ok_job(&cli, &[("PSU_SCHED_CA_CERTS_FILE", path(&ca_file))]).await;
    assert_eq!(called.code, 0, "{called:?}");
    let last = last_run(&cli).await;
    assert_eq!(last["status"], "succeeded", "{last}");
    assert_eq!(last["http_status"], 200, "{last}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_file_without_a_certificate_is_refused_before_anything_is_called() {
    let dir = temp_dir("bad");
    let cli = Cli::new().await;
    cli.run(&[
        "create",
        "--app",
        "internal",
        "--name",
        "report",
        "--url",
        "https://localhost:9/ok",
        "--every",
        "1h",
        "--paused",
    ])
    .await
    .ok();
    let not_pem = dir.join("not-a-certificate.txt");
    std::fs::write(&not_pem, "hello").expect("write");
    let missing = dir.join("missing.pem");
    for file in [&not_pem, &missing] {
        let run = run_ok_job(&cli, &[("PSU_SCHED_CA_CERTS_FILE", path(file))]).await;
        assert_eq!(run.code, 2, "a configuration error: {run:?}");
        assert!(
            run.stderr.contains("PSU_SCHED_CA_CERTS_FILE") && run.stderr.lines().count() == 1,
            "one line naming the variable: {run:?}"
        );
    }
    let history = cli
        .run(&["history", "--app", "internal", "--name", "report", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(
        history,
        serde_json::json!([]),
        "nothing was called or claimed"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
