//! The response future and the response body, both polled inside the request's context.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{self, Poll, ready};

use contextvars::Context;
use http::Response;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

pin_project! {
    /// The future of [`Context`](super::Context): polls the inner service's
    /// future inside the request's context, then hands that context to the response body.
    ///
    /// The inner future is dropped inside the request's context too, when it finishes or when
    /// the request is abandoned.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: Option<F>,
        context: Option<Context>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            if let Some(context) = this.context.as_mut() {
                context.run(|| this.inner.set(None));
            }
        }
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn new(inner: F, context: Context) -> ResponseFuture<F> {
        ResponseFuture {
            inner: Some(inner),
            context: Some(context),
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ContextBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let context = this
            .context
            .as_mut()
            .expect("ResponseFuture polled after completion");
        // One entry into the context: the finished inner future is dropped in the same one.
        let result = ready!(context.run(|| {
            let inner = this.inner.as_mut().as_pin_mut();
            let poll = inner
                .expect("the inner future is there until completion")
                .poll(cx);
            if poll.is_ready() {
                this.inner.set(None);
            }
            poll
        }));
        let context = this.context.take().expect("taken only here");
        Poll::Ready(result.map(|response| response.map(|body| ContextBody::new(body, context))))
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

pin_project! {
    /// A response body whose every frame is produced inside the request's context: the body
    /// [`Context`](super::Context) responds with.
    ///
    /// A streaming body (server-sent events, chunked output, a file read in pieces) is polled
    /// by the server after the handler's future has finished; wrapped, it still reads the
    /// request's variables, and its log lines still carry them. The context is the one the
    /// handler ran in, with everything it set. The inner body is dropped inside it too.
    pub struct ContextBody<B> {
        #[pin]
        inner: Option<B>,
        context: Context,
    }

    impl<B> PinnedDrop for ContextBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let mut this = this.project();
            this.context.run(|| this.inner.set(None));
        }
    }
}

impl<B> ContextBody<B> {
    /// Wraps `inner` so that it is polled and dropped inside `context`.
    pub fn new(inner: B, context: Context) -> ContextBody<B> {
        ContextBody {
            inner: Some(inner),
            context,
        }
    }

    /// The context the body is polled in.
    #[must_use]
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The wrapped body.
    #[must_use]
    pub fn get_ref(&self) -> &B {
        self.inner
            .as_ref()
            .expect("the body is there until dropped")
    }
}

impl<B: Body> Body for ContextBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut task::Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let inner = this
            .inner
            .as_pin_mut()
            .expect("the body is there until dropped");
        this.context.run(|| inner.poll_frame(cx))
    }

    fn is_end_stream(&self) -> bool {
        self.get_ref().is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.get_ref().size_hint()
    }
}

impl<B: fmt::Debug> fmt::Debug for ContextBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextBody")
            .field("inner", &self.inner)
            .field("context", &self.context)
            .finish()
    }
}
