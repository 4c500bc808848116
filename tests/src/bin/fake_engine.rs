//! Test support only, never installed: a process that poses as the Remote Service engine on
//! a Unix socket, as another user could in a folder of the temporary folder. It answers
//! what a front-end asks first (the status, the settings) as an engine would, takes every
//! request, and writes each one, whole, into a record file for the test to read.
//!
//! Usage: `remote-service-fake-engine SOCKET RECORD` (prints `listening` when it is).

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

const STATUS: &str = r#"{"connection":{"state":"green","reason":null},"enabled":true,"licence":null,"licence_folder":"/nonexistent","plugins":[],"plugin_folder_problem":null,"menu":[]}"#;
const CONFIG: &str = r#"{"file":"/nonexistent/settings.toml","settings":{},"secrets":{"verification_code":"not set","proxy_password":"not set"},"secret_store":"a fake"}"#;

fn main() {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(socket), Some(record)) = (args.next(), args.next()) else {
        eprintln!("usage: remote-service-fake-engine SOCKET RECORD");
        std::process::exit(2);
    };
    let folder = socket.parent().expect("the socket's folder");
    fs::create_dir_all(folder).expect("create the socket's folder");
    fs::set_permissions(folder, fs::Permissions::from_mode(0o755)).expect("folder mode");
    let listener = UnixListener::bind(&socket).expect("bind the socket");
    // Anyone may connect: that is the trap.
    fs::set_permissions(&socket, fs::Permissions::from_mode(0o777)).expect("socket mode");
    println!("listening");
    std::io::stdout().flush().expect("stdout");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            let end = line == "\r\n";
            head.push_str(&line);
            if end {
                break;
            }
        }
        let mut body = vec![0u8; length];
        let _ = reader.read_exact(&mut body);
        let mut recorded = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&record)
            .expect("the record file");
        let _ = writeln!(recorded, "{head}{}", String::from_utf8_lossy(&body));
        let (status, answer) = if head.starts_with("GET /v1/status") {
            ("200 OK", STATUS)
        } else if head.starts_with("GET /v1/config") {
            ("200 OK", CONFIG)
        } else {
            // What the engine answers to a stored secret or a changed setting.
            ("204 No Content", "")
        };
        let mut stream = reader.into_inner();
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        );
    }
}
