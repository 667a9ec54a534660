//! The loopback HTTP/1.1 server shared by the sandbox app and proxy.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::task::OwnedTasks;

/// Pause after a failed `accept` so a persistent error (e.g. out of file
/// descriptors) does not turn the accept loop into a busy loop.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(10);

/// A server on 127.0.0.1 with an ephemeral port. Dropping it aborts the accept
/// loop and, with it, every open connection.
pub(crate) struct LoopbackServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    accept_loop: JoinHandle<()>,
}

impl LoopbackServer {
    /// Binds 127.0.0.1:0 and answers every request on every connection with `handler`.
    pub(crate) async fn start<H, Fut>(handler: H) -> io::Result<Self>
    where
        H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
    {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel();
        let accept_loop = tokio::spawn(accept_loop(listener, handler, stopped));
        Ok(Self {
            addr,
            stop: Some(stop),
            accept_loop,
        })
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, closes every connection and waits until all of it is gone.
    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            // A send error means the loop already ended, which is what we want.
            let _ = stop.send(());
        }
        if let Err(error) = (&mut self.accept_loop).await {
            tracing::debug!(%error, addr = %self.addr, "sandbox accept loop ended abnormally");
        }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

async fn accept_loop<H, Fut>(listener: TcpListener, handler: H, mut stopped: oneshot::Receiver<()>)
where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let connections = OwnedTasks::default();
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => connections.spawn(serve_connection(stream, handler.clone())),
                Err(error) => {
                    tracing::warn!(%error, "sandbox server could not accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            },
        }
    }
    connections.shutdown().await;
}

async fn serve_connection<H, Fut>(stream: TcpStream, handler: H)
where
    H: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    // Small request/response pairs on keep-alive connections would otherwise
    // stall on Nagle + delayed ACK and pollute the latency numbers.
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not disable Nagle on a sandbox connection");
    }
    let service = service_fn(move |request| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler(request).await) }
    });
    if let Err(error) = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(%error, "sandbox connection ended with an error");
    }
}
