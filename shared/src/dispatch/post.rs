//! Posting a notification to an app's webhook ([`Dispatch::notify`](super::Dispatch::notify)):
//! the same client as the job calls (the address guard, no redirects, no proxy), a JSON body.

use std::time::Duration;

use super::{HttpDispatcher, Refused, error_chain, refused_range};
use crate::model::WebhookUrl;

/// Why a notification was not delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct NotifyError {
    /// Why, never with the URL's path or query.
    pub text: String,
    /// Trying again may help: no answer in time, a connection error, a 5xx, 408 or 429. Not
    /// for an address refused, a redirect (never followed) or another 4xx: the same request
    /// gets the same answer.
    pub transient: bool,
}

impl NotifyError {
    /// A failure that trying again may mend.
    pub fn transient(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            transient: true,
        }
    }

    /// A failure that the same request meets again.
    pub fn lasting(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            transient: false,
        }
    }

    /// The answer `code` (not a success), as a failure.
    fn answered(code: reqwest::StatusCode) -> Self {
        let text = if code.is_redirection() {
            format!(
                "the webhook answered {code} (a redirect, never followed: give the URL it points to)"
            )
        } else {
            format!("the webhook answered {code}")
        };
        let transient = code.is_server_error()
            || code == reqwest::StatusCode::REQUEST_TIMEOUT
            || code == reqwest::StatusCode::TOO_MANY_REQUESTS;
        Self { text, transient }
    }
}

/// Why a webhook is refused where it is typed, whatever the private-address policy: its host
/// is an IP literal in a range no webhook is ever posted to (link-local, where the cloud
/// metadata services live; a metadata address; unspecified; NAT64 local use). Loopback and
/// private addresses, and host names, are checked when posting, as a job's call is. Never
/// prints the URL's path or query.
pub fn webhook_refusal(url: &WebhookUrl) -> Option<String> {
    always_refused(url.expose())
}

fn always_refused(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let host = parsed
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']');
    let ip: std::net::IpAddr = host.parse().ok()?;
    let range = refused_range(ip).filter(|r| *r != Refused::Loopback)?;
    Some(format!(
        "{ip} is {}, where a webhook is never posted; give the incoming webhook's URL as its service shows it (https://host/path)",
        range.describe()
    ))
}

impl HttpDispatcher {
    /// Posts `body` to `url` within `timeout`. The errors never carry the URL (a webhook's
    /// path holds its token): reqwest's are stripped of it, and a refusal names the host only.
    pub(super) async fn post_json(
        &self,
        url: &str,
        body: &str,
        timeout: Duration,
    ) -> Result<(), NotifyError> {
        // The same guard as a job's call (the policy's refusals of an IP literal here, of a
        // host name's addresses in the resolver), and the ranges never posted to whatever it
        // allows.
        if let Some(refusal) = always_refused(url).or_else(|| self.refuse_literal(url)) {
            return Err(NotifyError::lasting(refusal));
        }
        // Host names: the webhooks' client, whose resolver refuses the never-posted ranges
        // whatever the policy (`webhook_targets`).
        let request = self
            .webhook_client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_owned())
            .timeout(timeout);
        let sent = tokio::time::timeout(timeout, async {
            let response = request.send().await?;
            let code = response.status();
            // Read (a little of) the answer so that the connection may be reused.
            let _ = response.bytes().await;
            Ok::<_, reqwest::Error>(code)
        })
        .await;
        match sent {
            Err(_) => Err(NotifyError::transient(format!(
                "no answer within {timeout:?}"
            ))),
            // A host name refused by the resolver is a connection error too: tried again, it
            // is refused again within the attempt's instant, at no cost.
            Ok(Err(e)) => Err(NotifyError::transient(error_chain(&e.without_url()))),
            Ok(Ok(code)) if code.is_success() => Ok(()),
            Ok(Ok(code)) => Err(NotifyError::answered(code)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::{PrivateTargets, webhook_targets};

    /// Review of issue 32: with every address allowed for job calls, a webhook's host name
    /// that resolved to 0.0.0.0 was posted to (and one resolving to 169.254.169.254 would
    /// have been); the webhooks' resolver refuses those ranges under every policy.
    #[tokio::test]
    async fn a_webhook_host_name_resolving_to_a_never_posted_range_is_refused_under_every_policy() {
        use reqwest::dns::Resolve;
        for policy in [
            PrivateTargets::Refuse,
            PrivateTargets::AllowLoopback,
            PrivateTargets::AllowAll,
        ] {
            let resolver = super::super::GuardedResolver(webhook_targets(policy));
            let name: reqwest::dns::Name = "0.0.0.0".parse().expect("a name");
            let answer = resolver.resolve(name).await;
            assert!(
                answer.is_err(),
                "{policy:?}: 0.0.0.0 resolved for a webhook"
            );
        }
        assert_eq!(
            webhook_targets(PrivateTargets::AllowAll),
            PrivateTargets::AllowLoopback
        );
    }

    #[test]
    fn a_webhook_on_a_link_local_or_metadata_address_is_refused_without_its_path() {
        for bad in [
            "https://169.254.169.254/SECRETTOKEN",
            "http://169.254.170.2/SECRETTOKEN",
            "http://[fe80::1]/SECRETTOKEN",
            "http://0.0.0.0/SECRETTOKEN",
            "http://100.100.100.200/SECRETTOKEN",
        ] {
            let url = WebhookUrl::parse(bad).unwrap_or_else(|e| panic!("{e:?}"));
            let refusal = webhook_refusal(&url).unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(!refusal.contains("SECRETTOKEN"), "{refusal}");
        }
        for good in [
            "http://127.0.0.1:9/hook",
            "https://hooks.slack.com/services/x",
        ] {
            let url = WebhookUrl::parse(good).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(webhook_refusal(&url), None, "{good}");
        }
    }
}
