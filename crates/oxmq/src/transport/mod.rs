//! Transports: the only code that touches operating-system sockets, with the engine.

pub(crate) mod tcp;
