//! Tries each kind of ambient authority and reports, as JSON lines, what happened.
//! The host must deny every attempt (and freeze clocks, seed randomness).

use std::io::Read;

use clusterai_plugin_sdk::{Input, Output, Plugin, PluginInfo, TaskError, export_plugin};

struct Escape;

fn attempt(what: &str) -> String {
    match what {
        "read-file" => match std::fs::File::open("/etc/passwd") {
            Ok(mut f) => {
                let mut s = String::new();
                let _ = f.read_to_string(&mut s);
                format!("ALLOWED: read {} bytes", s.len())
            }
            Err(e) => format!("denied: {e}"),
        },
        "list-dir" => match std::fs::read_dir(".") {
            Ok(d) => format!("ALLOWED: {} entries", d.count()),
            Err(e) => format!("denied: {e}"),
        },
        "write-file" => match std::fs::write("/tmp/clusterai-escape", b"pwned") {
            Ok(()) => "ALLOWED: wrote /tmp/clusterai-escape".into(),
            Err(e) => format!("denied: {e}"),
        },
        "env" => {
            let vars: Vec<(String, String)> = std::env::vars().collect();
            if vars.is_empty() {
                "denied: no environment".into()
            } else {
                format!("ALLOWED: {vars:?}")
            }
        }
        "args" => {
            let args: Vec<String> = std::env::args().collect();
            if args.is_empty() {
                "denied: no arguments".into()
            } else {
                format!("ALLOWED: {args:?}")
            }
        }
        "tcp" => match std::net::TcpStream::connect("127.0.0.1:22") {
            Ok(_) => "ALLOWED: connected".into(),
            Err(e) => format!("denied: {e}"),
        },
        "udp" => match std::net::UdpSocket::bind("0.0.0.0:0") {
            Ok(s) => match s.send_to(b"x", "127.0.0.1:53") {
                Ok(_) => "ALLOWED: sent".into(),
                Err(e) => format!("denied: {e}"),
            },
            Err(e) => format!("denied: {e}"),
        },
        "dns" => match std::net::ToSocketAddrs::to_socket_addrs("example.com:80") {
            Ok(mut a) => format!("ALLOWED: {:?}", a.next()),
            Err(e) => format!("denied: {e}"),
        },
        "clock" => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let a = std::time::Instant::now();
            let b = std::time::Instant::now();
            format!("frozen: wall={now} monotonic_delta={:?}", b - a)
        }
        other => format!("unknown attempt {other}"),
    }
}

impl Plugin for Escape {
    fn describe() -> PluginInfo {
        PluginInfo::new("escape", "0.1.0").produces("text/plain")
    }

    fn run(input: Input) -> Result<Output, TaskError> {
        let all = [
            "read-file",
            "list-dir",
            "write-file",
            "env",
            "args",
            "tcp",
            "udp",
            "dns",
            "clock",
        ];
        let mut out = String::new();
        for what in all {
            out.push_str(&format!("{what}: {}\n", attempt(what)));
        }
        // Randomness: deterministic per input, so report a few bytes.
        let mut map = std::collections::HashMap::new();
        map.insert(input.data().to_vec(), 1);
        out.push_str(&format!(
            "random: {:?}\n",
            std::hash::BuildHasher::hash_one(map.hasher(), 42u8)
        ));
        Ok(Output::text(out))
    }
}

export_plugin!(Escape);
