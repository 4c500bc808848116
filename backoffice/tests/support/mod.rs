//! What the back office's test files share: the binary and its answers (`cli`), requests
//! and event streams through curl (`http`), and a PostgreSQL server of a test's own
//! (`postgres_server`). Each test file compiles its own copy and uses part of it, hence
//! the `#[allow(dead_code)]` on its `mod support;`.

pub mod cli;
pub mod http;
pub mod postgres_server;
