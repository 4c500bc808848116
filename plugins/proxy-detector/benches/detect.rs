//! The proxy detector alone, without the engine (no PAC): the time of one answer for a URL
//! from the environment with a `no_proxy` list of 20 rules, from KDE's `kioslaverc` (a
//! file read each time), and with nothing configured.
//!
//! Run: `cargo bench -p remote-service-plugin-proxy-detector`

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use remote_service_plugin_proxy_detector::detect::{candidates, Inputs};
use remote_service_plugin_proxy_detector::pac::Pac;

const CALLS: u32 = 100_000;

fn measure(name: &str, url: &str, inputs: &Inputs) {
    let mut pac = Pac::default();
    let started = Instant::now();
    for _ in 0..CALLS {
        black_box(candidates(black_box(url), inputs, &mut pac).unwrap());
    }
    let each = started.elapsed() / CALLS;
    println!(
        "{name}: {:.2} µs per URL ({CALLS} calls)",
        each.as_secs_f64() * 1e6
    );
}

fn main() {
    let url = "https://backoffice.example.com/v1/sessions";
    let rules: Vec<String> = (0..19)
        .map(|n| format!(".intranet{n}.example.org"))
        .collect();
    let mut env = Inputs {
        sysconfig: PathBuf::from("/nonexistent/sysconfig"),
        ..Inputs::default()
    };
    env.env
        .insert("https_proxy".into(), "http://proxy.example.com:3128".into());
    env.env
        .insert("no_proxy".into(), format!("{},10.0.0.0/8", rules.join(",")));
    println!("remote-service proxy detector benchmark (no PAC)");
    measure("environment, no_proxy of 20 rules", url, &env);

    let folder = tempfile_folder();
    std::fs::write(
        folder.join("kioslaverc"),
        "[Proxy Settings]\nProxyType=1\nhttpsProxy=http://kde.example.com 8080\nNoProxyFor=.intranet.example.org\n",
    )
    .unwrap();
    let mut kde = Inputs {
        sysconfig: PathBuf::from("/nonexistent/sysconfig"),
        kioslaverc: Some(folder.join("kioslaverc")),
        ..Inputs::default()
    };
    kde.env.insert("XDG_CURRENT_DESKTOP".into(), "KDE".into());
    measure("KDE kioslaverc (read each time)", url, &kde);

    let nothing = Inputs {
        sysconfig: PathBuf::from("/nonexistent/sysconfig"),
        ..Inputs::default()
    };
    measure("nothing configured", url, &nothing);

    // A cached PAC script (KDE ProxyType=2, a file): evaluation only, the script unchanged.
    std::fs::write(
        folder.join("proxy.pac"),
        "function FindProxyForURL(url, host) {\n  if (isPlainHostName(host) || dnsDomainIs(host, '.intranet.example.org')) return 'DIRECT';\n  if (shExpMatch(host, '*.example.com')) return 'PROXY pac.example.com:3128; DIRECT';\n  return 'DIRECT';\n}\n",
    )
    .unwrap();
    std::fs::write(
        folder.join("kioslaverc"),
        format!(
            "[Proxy Settings]\nProxyType=2\nProxy Config Script=file://{}\n",
            folder.join("proxy.pac").display()
        ),
    )
    .unwrap();
    let mut pac = Pac::default();
    candidates(url, &kde, &mut pac).unwrap();
    let started = Instant::now();
    const PAC_CALLS: u32 = 20_000;
    for _ in 0..PAC_CALLS {
        black_box(candidates(black_box(url), &kde, &mut pac).unwrap());
    }
    let each = started.elapsed() / PAC_CALLS;
    println!(
        "cached PAC script (file, evaluated each time): {:.1} µs per URL ({PAC_CALLS} calls)",
        each.as_secs_f64() * 1e6
    );
    let script_url = format!("file://{}", folder.join("proxy.pac").display());
    println!(
        "PAC engine memory: {} KiB (QuickJS runtime with the helpers and the script)",
        pac.memory_used(&script_url).unwrap_or(0) / 1024
    );
    let _ = std::fs::remove_dir_all(folder);
}

fn tempfile_folder() -> PathBuf {
    let folder = std::env::temp_dir().join(format!("proxy-detector-bench-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    folder
}
