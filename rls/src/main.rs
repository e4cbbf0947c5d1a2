//! mesh-guardrail-rls --config limits.json (--memory | --redis redis://127.0.0.1:6379)
//!                    [--listen 127.0.0.1:8081] [--validate]

use mesh_guardrail_rls::config::Config;
use mesh_guardrail_rls::service::{Limiter, Service};
use std::process::ExitCode;

const USAGE: &str =
    "usage: mesh-guardrail-rls --config FILE (--memory | --redis URL) [--listen ADDR] [--validate]

  --config FILE   limits file (JSON, see rls/README.md)
  --memory        counters in this process (lost on exit; for tests)
  --redis URL     counters in Redis, e.g. redis://127.0.0.1:6379 (shared by every RLS process)
  --listen ADDR   gRPC address (default 127.0.0.1:8081; port 0 picks a free port)
  --validate      check the limits file and exit";

struct Args {
    config: String,
    redis: Option<String>,
    memory: bool,
    listen: String,
    validate: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut out = Args {
        config: String::new(),
        redis: None,
        memory: false,
        listen: "127.0.0.1:8081".into(),
        validate: false,
    };
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--config" => out.config = value("--config")?,
            "--redis" => out.redis = Some(value("--redis")?),
            "--memory" => out.memory = true,
            "--listen" => out.listen = value("--listen")?,
            "--validate" => out.validate = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if out.config.is_empty() {
        return Err("--config is required".into());
    }
    if !out.validate && out.memory == out.redis.is_some() {
        return Err("give exactly one of --memory and --redis".into());
    }
    Ok(out)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn run(args: Args) -> Result<(), String> {
    let config = Config::load(&args.config)?;
    config.limits()?;
    if args.validate {
        println!(
            "{}: domain {:?}, {} limits: OK",
            args.config,
            config.domain,
            config.limits.len()
        );
        return Ok(());
    }
    let (limiter, storage) = match &args.redis {
        Some(url) => (Limiter::redis(url).await?, url.as_str()),
        None => (Limiter::memory(), "memory"),
    };
    let service = Service::new(&config, limiter)?;
    let (listener, addr) = mesh_guardrail_rls::bind(&args.listen).await?;
    // One line on stdout once the port is bound (scripts and tests wait for it).
    println!(
        "mesh-guardrail-rls listening on {addr} (domain {:?}, {} limits, storage {storage})",
        config.domain,
        config.limits.len()
    );
    mesh_guardrail_rls::serve(service, listener, shutdown_signal()).await
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("mesh-guardrail-rls: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mesh-guardrail-rls: {e}");
            ExitCode::FAILURE
        }
    }
}
