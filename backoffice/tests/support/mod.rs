//! What the protocol tests share beside their own helpers.

pub mod postgres_server;
