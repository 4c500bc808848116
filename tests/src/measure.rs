//! What the benchmarks read of a process: its memory and its CPU and wake-ups.

use std::fs;

/// Proportional set size in KiB.
pub fn pss_kib(pid: u32) -> u64 {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("Pss:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU clock ticks (user + system, all threads) and context switches of all threads.
pub fn cpu_and_switches(pid: u32) -> (u64, u64) {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = fields
        .get(11)
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    let mut switches = 0;
    if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let status = fs::read_to_string(task.path().join("status")).unwrap_or_default();
            for line in status.lines() {
                if let Some(count) = line
                    .strip_prefix("voluntary_ctxt_switches:")
                    .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
                {
                    switches += count.trim().parse::<u64>().unwrap_or(0);
                }
            }
        }
    }
    (ticks, switches)
}

/// Prints `name: median N ms, max M ms (K runs)` for a benchmark's times.
pub fn summary(name: &str, mut times: Vec<std::time::Duration>) {
    times.sort();
    let ms = |at: usize| times[at].as_secs_f64() * 1e3;
    println!(
        "{name}: median {:.0} ms, max {:.0} ms ({} runs)",
        ms(times.len() / 2),
        ms(times.len() - 1),
        times.len()
    );
}
