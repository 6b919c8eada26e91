//! Posting a notification to an app's webhook ([`Dispatch::notify`](super::Dispatch::notify)):
//! the same client as the job calls (the address guard, no redirects, no proxy), a JSON body.

use std::time::Duration;

use super::{HttpDispatcher, error_chain};

impl HttpDispatcher {
    /// Posts `body` to `url` within `timeout`. The errors never carry the URL (a webhook's
    /// path holds its token): reqwest's are stripped of it, and a refusal names the host only.
    pub(super) async fn post_json(
        &self,
        url: &str,
        body: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        if let Some(refusal) = self.refuse_literal(url) {
            return Err(refusal);
        }
        let request = self
            .client
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
            Err(_) => Err(format!("no answer within {timeout:?}")),
            Ok(Err(e)) => Err(error_chain(&e.without_url())),
            Ok(Ok(code)) if code.is_success() => Ok(()),
            Ok(Ok(code)) => Err(format!("the webhook answered {code}")),
        }
    }
}
