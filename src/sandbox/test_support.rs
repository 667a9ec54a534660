//! A plain HTTP client for the sandbox's own tests.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::StatusCode;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::app::VERSION_HEADER;

pub(crate) struct TestClient {
    client: Client<HttpConnector, Empty<Bytes>>,
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) version: Option<String>,
}

impl TestClient {
    pub(crate) fn new() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub(crate) async fn get(&self, url: &str) -> Reply {
        let response = self.client.get(url.parse().unwrap()).await.unwrap();
        let status = response.status();
        let version = response
            .headers()
            .get(VERSION_HEADER)
            .map(|value| value.to_str().unwrap().to_owned());
        response.into_body().collect().await.unwrap();
        Reply { status, version }
    }
}
