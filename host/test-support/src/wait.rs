//! Readiness waits with a deadline: a test never sleeps for a guessed time
//! and never hangs.

use std::io::BufRead;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Polls `ready` every `every` until it returns `Some`, or panics with
/// `what` after `timeout`.
#[track_caller]
pub fn until<T>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut ready: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = ready() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(every);
    }
}

/// Waits until something accepts TCP connections at `addr`.
#[track_caller]
pub fn tcp(addr: SocketAddr, timeout: Duration) {
    until(
        &format!("a listener on {addr}"),
        timeout,
        Duration::from_millis(20),
        || TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok(),
    );
}

/// Reads lines from `reader` until one satisfies `want`, returning it (and
/// panicking at EOF or after `timeout`, with the lines seen). Runs on the
/// calling thread: `reader` must produce lines (a child's piped stdout).
#[track_caller]
pub fn line(
    reader: &mut impl BufRead,
    timeout: Duration,
    mut want: impl FnMut(&str) -> bool,
) -> String {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => panic!("the output ended before the line wanted; saw: {seen:#?}"),
            Ok(_) => {
                if want(line.trim_end()) {
                    return line.trim_end().to_string();
                }
                seen.push(line);
            }
            Err(e) => panic!("reading output: {e}; saw: {seen:#?}"),
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?}; saw: {seen:#?}");
        }
    }
}
