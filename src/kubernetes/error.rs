//! Turning the API server's answers into errors users can act on: its own
//! message first, then a hint chosen by status code.

use crate::provider::ProviderError;

/// `verb` and `what` say what was attempted: ("updating", "HTTPRoute shop/checkout").
pub fn describe(error: &kube::Error, verb: &str, what: &str) -> ProviderError {
    match error {
        kube::Error::Api(status) => {
            let hint = match status.code {
                401 => "the API server refused the credentials: refresh the kubeconfig's token",
                403 => {
                    "the CI identity lacks an RBAC permission: see the Role in examples/kubernetes/"
                }
                404 => "check the name and the namespace (and that the CRD is installed)",
                409 => "someone else changed it at the same time; run again",
                422 => "the API server rejected the object as invalid",
                429 | 500..=599 => "the API server is struggling; run again later",
                _ => "see the API server's message",
            };
            ProviderError::new(format!(
                "{verb} {what}: {} (HTTP {}{})",
                status.message,
                status.code,
                if status.reason.is_empty() {
                    String::new()
                } else {
                    format!(", {}", status.reason)
                }
            ))
            .with_hint(hint)
        }
        other => ProviderError::new(format!("{verb} {what}: {other}"))
            .with_hint("check that the kubeconfig's server is reachable from here"),
    }
}

pub fn code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}
