//! `remote-service-backoffice`: see the library.

fn main() -> std::process::ExitCode {
    remote_service_backoffice::main()
}
