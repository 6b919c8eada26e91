//! Which endpoint the client talks to, and whether it is a local one.

/// The DynamoDB endpoint `sdk_config` leads the client to, decided as the SDK's
/// `Config::from(&SdkConfig)` decides it: one set in code wins; else the service-specific one
/// (`AWS_ENDPOINT_URL_DYNAMODB`, or a profile's `[services]`; the SDK's loader already drops
/// them under `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true`); else the global one. `None`: AWS's
/// own endpoint for the region.
pub(super) fn endpoint_of(sdk_config: &aws_config::SdkConfig) -> Option<String> {
    if sdk_config.get_origin("endpoint_url").is_client_config() {
        return sdk_config.endpoint_url().map(str::to_owned);
    }
    let key = aws_types::service_config::ServiceConfigKey::builder()
        .service_id("DynamoDB")
        .env("AWS_ENDPOINT_URL")
        .profile("endpoint_url")
        .build();
    key.ok()
        .and_then(|key| sdk_config.service_config()?.load_config(key))
        .or_else(|| sdk_config.endpoint_url().map(str::to_owned))
}

/// True when `endpoint` is an http(s) URL whose host is `localhost` or a loopback address.
pub fn is_loopback_endpoint(endpoint: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(endpoint) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use aws_types::service_config::{LoadServiceConfig, ServiceConfigKey};

    use super::{endpoint_of, is_loopback_endpoint};

    /// A service configuration (as the environment and profile give the SDK) with one
    /// DynamoDB endpoint.
    #[derive(Debug)]
    struct DynamoEndpoint(&'static str);

    impl LoadServiceConfig for DynamoEndpoint {
        fn load_config(&self, key: ServiceConfigKey<'_>) -> Option<String> {
            (key.service_id() == "DynamoDB" && key.env() == "AWS_ENDPOINT_URL")
                .then(|| self.0.to_owned())
        }
    }

    #[test]
    fn the_endpoint_is_the_one_the_sdk_uses() {
        // A service-specific endpoint (AWS_ENDPOINT_URL_DYNAMODB, or a profile's [services])
        // outranks the global one that did not come from code.
        let remote = aws_config::SdkConfig::builder()
            .endpoint_url("http://127.0.0.1:8000")
            .service_config(DynamoEndpoint("https://dynamodb.example"))
            .build();
        assert_eq!(
            endpoint_of(&remote).as_deref(),
            Some("https://dynamodb.example")
        );
        let local = aws_config::SdkConfig::builder()
            .endpoint_url("https://dynamodb.example")
            .service_config(DynamoEndpoint("http://127.0.0.1:8000"))
            .build();
        assert_eq!(
            endpoint_of(&local).as_deref(),
            Some("http://127.0.0.1:8000")
        );
        let global = aws_config::SdkConfig::builder()
            .endpoint_url("http://localhost:8000")
            .build();
        assert_eq!(
            endpoint_of(&global).as_deref(),
            Some("http://localhost:8000")
        );
    }

    #[test]
    fn only_a_loopback_endpoint_is_a_local_table() {
        for local in [
            "http://127.0.0.1:5000",
            "http://localhost:8000",
            "http://[::1]:8000/",
            "https://127.8.0.1",
        ] {
            assert!(is_loopback_endpoint(local), "{local}");
        }
        for remote in [
            "https://dynamodb.us-west-2.amazonaws.com",
            "http://10.0.0.5:8000",
            "http://localhost.example.com",
            "http://169.254.169.254",
            "not a url",
        ] {
            assert!(!is_loopback_endpoint(remote), "{remote}");
        }
    }
}
