//! The dispatcher's unit tests.

use super::*;

/// A call of an app without a record is never made while calls are signed, whether the
/// secrets were given at start or read at run time into the dispatcher's holder (the
/// Lambda's Secrets Manager path). The URL is a closed loopback port: nothing answers there.
#[tokio::test]
async fn an_app_without_a_record_is_not_called_while_calls_are_signed() {
    let dispatcher = HttpDispatcher::with_options(DispatchOptions {
        private_targets: PrivateTargets::AllowLoopback,
        signing_secrets: Vec::new(),
        ca_certs_pem: None,
    })
    .expect("dispatcher");
    dispatcher
        .signing_secrets()
        .replace(vec!["read-at-run-time".to_owned()]);
    let execution =
        ExecutionId::parse("0123456789abcdef0123456789abcdef.20270115T080000Z.s1").expect("id");
    let result = dispatcher
        .call(&CallRequest {
            url: "http://127.0.0.1:9/jobs/x",
            method: Method::Get,
            timeout: Duration::from_secs(2),
            execution: &execution,
            key: "k",
            job: "orphan/x",
            key_generations: &[],
            key_salt: None,
            scheduled_for: Utc::now(),
            attempt: 1,
        })
        .await;
    assert_eq!(result.status, Status::Failed);
    assert_eq!(result.http_status, None);
    let error = result.error.unwrap_or_default();
    assert!(
        error.starts_with("not called: the app orphan has no record")
            && error.contains("psu-sched app create --app orphan"),
        "{error}"
    );
}

/// Every refused range, by policy. These addresses are only classified here: nothing is
/// connected to.
#[test]
fn each_refused_range_is_refused_as_its_policy_says() {
    use PrivateTargets::{AllowAll, AllowLoopback, Refuse};
    let cases: &[(&str, Refused)] = &[
        ("127.0.0.1", Refused::Loopback),
        ("127.8.9.10", Refused::Loopback),
        ("::1", Refused::Loopback),
        ("::ffff:127.0.0.1", Refused::Loopback),
        ("169.254.169.254", Refused::LinkLocal),
        ("169.254.170.2", Refused::LinkLocal),
        ("169.254.0.1", Refused::LinkLocal),
        ("fe80::1", Refused::LinkLocal),
        ("febf::1", Refused::LinkLocal),
        ("::ffff:169.254.169.254", Refused::LinkLocal),
        ("::a9fe:a9fe", Refused::LinkLocal),
        ("64:ff9b::169.254.169.254", Refused::LinkLocal),
        ("64:ff9b:1::a9fe:a9fe", Refused::Translated),
        ("64:ff9b:1:a9fe:a900:fe00::", Refused::Translated),
        ("fd00:ec2::254", Refused::Metadata),
        ("100.100.100.200", Refused::Metadata),
        ("0.0.0.0", Refused::Unspecified),
        ("0.1.2.3", Refused::Unspecified),
        ("::", Refused::Unspecified),
    ];
    for &(text, range) in cases {
        let ip: std::net::IpAddr = text.parse().expect("ip");
        assert_eq!(refused_range(ip), Some(range), "{text}");
        assert_eq!(
            Refuse.refusal(ip),
            Some(range),
            "{text}: refused by default"
        );
        assert_eq!(AllowAll.refusal(ip), None, "{text}: allowed by true");
        let loopback_ok = AllowLoopback.refusal(ip);
        if range == Refused::Loopback {
            assert_eq!(
                loopback_ok, None,
                "{text}: the CLI's default allows loopback"
            );
        } else {
            assert_eq!(
                loopback_ok,
                Some(range),
                "{text}: the CLI's default refuses it"
            );
        }
    }
    for ok in [
        "10.0.0.5",
        "172.16.3.4",
        "192.168.1.1",
        "100.100.100.201",
        "8.8.8.8",
        "2001:db8::1",
        "fd00::1",
        "fd00:ec2::253",
        "fec0::1",
        "64:ff9b::808:808",
    ] {
        let ip: std::net::IpAddr = ok.parse().expect("ip");
        for policy in [Refuse, AllowLoopback, AllowAll] {
            assert_eq!(policy.refusal(ip), None, "{ok} under {policy:?}");
        }
    }
}

#[test]
fn a_refusal_names_the_address_its_range_and_the_setting() {
    let text = refusal_text(
        "metadata.example",
        "169.254.169.254".parse().expect("ip"),
        Refused::LinkLocal,
    );
    assert_eq!(
        text,
        "refused: metadata.example (169.254.169.254) is a link-local address (cloud metadata services live there); set PSU_SCHED_ALLOW_PRIVATE_TARGETS=true to allow it"
    );
}
