//! The server binary against a real Redis (Debian's redis-server, started here on a free
//! loopback port with a temporary directory and the append-only file on). Skipped with a
//! reason when redis-server is missing, except under CI=true, where that is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;
use mesh_guardrail_rls::proto::envoy::service::ratelimit::v3::rate_limit_response::Code;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const OK: i32 = Code::Ok as i32;
const OVER: i32 = Code::OverLimit as i32;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn redis_available() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("redis-server is missing (CI=true): .ci/run installs it");
        }
        eprintln!("SKIPPED: redis-server not found (apt-get install redis-server); CI=true makes this a failure");
    }
    found
}

fn start_redis(port: u16, dir: &PathBuf) -> Proc {
    let redis = Proc(
        Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let mut buf = [0u8; 7];
            if s.write_all(b"PING\r\n").is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf == b"+PONG\r\n"
            {
                return redis;
            }
        }
        assert!(
            Instant::now() < deadline,
            "redis-server did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the mesh-guardrail-rls binary; returns it and its gRPC URL.
fn start_rls(config: &PathBuf, redis_port: u16) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mesh-guardrail-rls"))
        .arg("--config")
        .arg(config)
        .args(["--redis", &format!("redis://127.0.0.1:{redis_port}")])
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "mesh-guardrail-rls listening on 127.0.0.1:PORT (...)"
    let addr = line
        .split_whitespace()
        .nth(3)
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    (Proc(child), format!("http://{addr}"))
}

async fn admitted_of_60(url: &str, name: &str) -> usize {
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let mut c = client(url).await;
        let name = name.to_string();
        tasks.push(tokio::spawn(async move {
            c.should_rate_limit(request(vec![user("free", &name, "requests", None)], 0))
                .await
                .unwrap()
                .into_inner()
                .overall_code
        }));
    }
    let mut admitted = 0;
    for t in tasks {
        if t.await.unwrap() == OK {
            admitted += 1;
        }
    }
    admitted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_counters_are_exact_and_survive_a_redis_restart() {
    if !redis_available() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("rls-redis-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("limits.json");
    std::fs::write(&config, CONFIG).unwrap();
    let port = free_port();
    let redis = start_redis(port, &dir);
    let (_rls, url) = start_rls(&config, port);
    let mut c = client(&url).await;

    // Exact admission: 60 concurrent requests, a limit of 20, in each of 3 rounds.
    for round in 0..3 {
        assert_eq!(
            admitted_of_60(&url, &format!("redis-{round}")).await,
            20,
            "round {round}"
        );
    }
    // Token amounts through hits_addend, remaining and reset from Redis.
    let r = c
        .should_rate_limit(request(
            vec![user("free", "redis-t", "tokens", Some(600))],
            0,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.overall_code, r.statuses[0].limit_remaining), (OK, 400));
    let reset = r.statuses[0].duration_until_reset.unwrap();
    assert!(
        reset.seconds > 86_390 && reset.seconds <= 86_400,
        "{reset:?}"
    );

    // Redis stops: the RLS answers UNAVAILABLE (Envoy's and the filter's failure mode apply),
    // promptly and without hanging.
    drop(redis);
    let t = Instant::now();
    let e = c
        .should_rate_limit(request(vec![user("free", "redis-t", "tokens", Some(1))], 0))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());

    // Redis comes back with its append-only file: the day's counters are still there and the
    // same RLS process serves again.
    let _redis = start_redis(port, &dir);
    let deadline = Instant::now() + Duration::from_secs(10);
    let r = loop {
        match c
            .should_rate_limit(request(
                vec![user("free", "redis-t", "tokens", Some(100))],
                0,
            ))
            .await
        {
            Ok(r) => break r.into_inner(),
            Err(e) if Instant::now() < deadline => {
                assert_eq!(e.code(), tonic::Code::Unavailable);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the RLS did not recover after Redis came back: {e:?}"),
        }
    };
    assert_eq!((r.overall_code, r.statuses[0].limit_remaining), (OK, 300));
    let r = c
        .should_rate_limit(request(vec![user("free", "redis-0", "requests", None)], 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.overall_code, OVER);
    let _ = std::fs::remove_dir_all(&dir);
}
