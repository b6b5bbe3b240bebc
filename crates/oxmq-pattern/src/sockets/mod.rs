//! The socket types. Each one mirrors the libzmq class of the same name; comments say where
//! libzmq's behaviour is surprising and kept on purpose.

pub use dealer::Dealer;
pub use pair::Pair;
pub use pipeline::{Pull, Push};
pub use rep::Rep;
pub use req::Req;
pub use router::Router;
pub use stream::Stream;
pub use xpub::{Pub, XPub};
pub use xsub::{Sub, XSub};

mod dealer;
mod pair;
mod pipeline;
mod rep;
mod req;
mod router;
mod stream;
mod xpub;
mod xsub;

#[cfg(test)]
mod tests;
