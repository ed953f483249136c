//! SSH to the servers: the user's key ([`key`]) and authenticated sessions
//! that run rendered scripts with streamed output ([`session`]).

pub mod key;
pub mod pool;
pub mod session;

pub use key::Identity;
pub use pool::Pool;
pub use session::{
    API, Endpoint, HeldLock, HostKeyCheck, HostKeyMismatch, LOCAL, Outcome, Session, Sink, Stream,
};
