//! The security checks' own parts: host names, sessions, the status polling, the token.

use super::*;

fn host(name: &str, port: Option<u16>) -> Option<HostName> {
    Some(HostName {
        name: name.to_owned(),
        port,
    })
}

#[test]
fn a_host_is_a_name_or_address_and_an_optional_port() {
    assert_eq!(HostName::parse("localhost"), host("localhost", None));
    assert_eq!(
        HostName::parse("LocalHost:8710"),
        host("localhost", Some(8710))
    );
    assert_eq!(
        HostName::parse("127.0.0.1:8710"),
        host("127.0.0.1", Some(8710))
    );
    assert_eq!(HostName::parse("[::1]:8710"), host("[::1]", Some(8710)));
    assert_eq!(HostName::parse("[0:0::1]"), host("[::1]", None));
    assert_eq!(
        HostName::parse("admin.example.edu:443"),
        host("admin.example.edu", Some(443))
    );
}

#[test]
fn a_malformed_host_is_none() {
    for text in [
        "",
        "[::1].attacker.com:8710",
        "[::1].attacker.com",
        "[::1]x",
        "[::1]:",
        "[::1",
        "[localhost]",
        "localhost:",
        "localhost:http",
        "localhost:8710:8710",
        "localhost:65536",
        "localhost:000008710",
        "localhost.",
        ".localhost",
        "local host",
        "localhost@attacker.com",
        "-admin.example.edu",
        "admin..example.edu",
        "::1",
    ] {
        assert_eq!(HostName::parse(text), None, "{text:?}");
    }
}

#[test]
fn a_session_ends_after_its_idle_time_unused_and_only_a_renewal_extends_it() {
    let sessions = Sessions::new(Duration::from_secs(60));
    let start = Instant::now();
    let at = |secs| start + Duration::from_secs(secs);
    let used = sessions.create(start);
    let polled = sessions.create(start);
    let csrf = sessions.find(used.reveal(), at(50), true);
    assert!(csrf.is_some());
    // Looked at without renewal (the status polling), up to its last use + 60 s.
    assert!(sessions.find(polled.reveal(), at(50), false).is_some());
    assert!(sessions.find(polled.reveal(), at(59), false).is_some());
    assert!(sessions.find(polled.reveal(), at(60), false).is_none());
    assert!(
        sessions.find(polled.reveal(), at(1), true).is_none(),
        "ended"
    );
    // Renewed at 50 s: alive until 110 s, with the same CSRF token.
    let again = sessions.find(used.reveal(), at(109), false);
    assert_eq!(
        again.map(|t| t.reveal().to_owned()),
        csrf.map(|t| t.reveal().to_owned())
    );
    assert!(sessions.find(used.reveal(), at(110), true).is_none());
}

#[test]
fn each_session_has_its_own_csrf_token_and_ends_alone() {
    let sessions = Sessions::new(SESSION_IDLE);
    let now = Instant::now();
    let (a, b) = (sessions.create(now), sessions.create(now));
    assert!(!a.matches(b.reveal()));
    let csrf_a = sessions
        .find(a.reveal(), now, true)
        .map(|t| t.reveal().to_owned());
    let csrf_b = sessions
        .find(b.reveal(), now, true)
        .map(|t| t.reveal().to_owned());
    assert!(csrf_a.is_some() && csrf_a != csrf_b);
    assert!(sessions.find("", now, true).is_none());
    assert!(
        sessions
            .find(&csrf_a.unwrap_or_default(), now, true)
            .is_none()
    );
    sessions.end(a.reveal());
    assert!(sessions.find(a.reveal(), now, true).is_none());
    assert!(sessions.find(b.reveal(), now, true).is_some());
}

#[test]
fn the_sessions_held_are_capped_and_the_one_unused_longest_goes_first() {
    let sessions = Sessions::new(SESSION_IDLE);
    let start = Instant::now();
    let at = |secs| start + Duration::from_secs(secs);
    let ids: Vec<Token> = (0..MAX_SESSIONS as u64)
        .map(|i| sessions.create(at(i)))
        .collect();
    // The first is used again: the second is now unused the longest.
    assert!(sessions.find(ids[0].reveal(), at(100), true).is_some());
    let newest = sessions.create(at(101));
    assert_eq!(sessions.held().len(), MAX_SESSIONS);
    assert!(sessions.find(ids[1].reveal(), at(102), false).is_none());
    for id in [&ids[0], &ids[2], &newest] {
        assert!(sessions.find(id.reveal(), at(102), false).is_some());
    }
}

#[test]
fn only_an_executions_status_is_the_polling() {
    assert!(is_status_polling("/executions/01J9/status"));
    for path in [
        "/executions/01J9",
        "/executions//status",
        "/executions/a/b/status",
        "/apps/billing/jobs/status",
        "/status",
    ] {
        assert!(!is_status_polling(path), "{path}");
    }
}

#[test]
fn a_token_matches_only_itself() {
    let token = Token("0123456789abcdef".to_owned());
    assert!(token.matches("0123456789abcdef"));
    assert!(!token.matches("0123456789abcdeF"));
    assert!(!token.matches("0123456789abcde"));
    assert!(!token.matches(""));
    assert_eq!(format!("{token:?}"), "Token(…)");
}
