//! ztlens: a telemetry pipeline and Zero Trust analytics service.
//!
//! Layout of the binary, each module importing only those listed before it (and the library
//! crates; `main` wires them):
//! - `auth`: API tokens and their scopes;
//! - `syslog`: `[[syslog]]` listeners (TCP, UDP) feeding the ingest pipeline;
//! - `tls`: `[server.tls]`, the rustls acceptor with a certificate reloaded on change;
//! - `config`: `ztlens.toml` + `ZTLENS_*` environment; each section validates itself;
//! - `metrics`: the Prometheus registry and KPI gauges;
//! - `pgwire`: the lake over the PostgreSQL wire protocol (`[pgwire]`);
//! - `otlp`: OpenTelemetry log requests (protobuf, JSON) read into ingest messages;
//! - `status`: the typed answers about the service (status, maturity report);
//! - `synth`: the synthetic company generator and its ground truth;
//! - `service`: wiring shared by `serve` and `demo` (writer, engine, background tasks) and the
//!   [`service::AppState`] handlers read;
//! - `api`: the HTTP API (`app`, `serve`), one module per resource;
//! - `kafka_mock`: `ztlens kafka-mock`, a broker-less Kafka for trying and testing the Kafka source;
//! - `lake_ddl`: `ztlens lake ddl`, the lake's tables for Athena, Trino and Spark;
//! - `bench`: `ztlens bench`, throughput and latency figures on generated data;
//! - `cli`: the command line (clap) and [`cli::OutputFormat`];
//! - `ingest_command`: `ztlens ingest` (files, directories, standard input, progress);
//! - `commands`: one function per CLI command.
//!
//! So the service never depends on the HTTP layer, and nothing but `main` reaches `commands`.

mod allocator;
mod api;
mod auth;
mod bench;
mod cli;
mod commands;
mod config;
mod detect;
mod ingest_command;
mod kafka_mock;
mod lake_ddl;
mod metrics;
mod otlp;
mod pgwire;
mod service;
mod status;
mod synth;
mod syslog;
mod tls;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, OutputFormat};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        // Needs no configuration: it runs wherever the binary is installed.
        use clap::CommandFactory;
        clap_complete::generate(shell, &mut Cli::command(), "ztlens", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let default_log = match cli.command {
        Command::Serve { .. } | Command::Demo { .. } => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ZTLENS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        cli::LogFormat::Text => logs.init(),
        cli::LogFormat::Json => logs.json().init(),
    }

    let mut config = match config::Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = cli.data_dir {
        config.lake.data_dir = dir;
    }
    if let Some(dir) = cli.queries {
        config.queries_dir = Some(dir);
    }
    // Commands that ingest keep glibc's default (see the module). Set before the runtime's
    // threads start allocating.
    let ingests = matches!(
        cli.command,
        Command::Ingest { .. }
            | Command::Gen { .. }
            | Command::Serve { .. }
            | Command::Demo { .. }
            | Command::KafkaMock { .. }
            | Command::Bench { lake: None, .. }
    );
    if !ingests {
        allocator::return_large_buffers();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { listen } => commands::serve(config, listen).await,
            Command::Ingest {
                source,
                paths,
                quiet,
            } => ingest_command::ingest(config, &source, paths, quiet).await,
            Command::Completions { .. } => unreachable!("handled before the configuration"),
            Command::Kpi {
                id,
                from,
                to,
                step,
                format,
                list,
                filters,
            } => {
                let request = commands::KpiRequest {
                    id,
                    from,
                    to,
                    step,
                    filters,
                };
                commands::kpi(config, request, format, list).await
            }
            Command::Query { sql, format } => commands::query(config, &sql, format).await,
            Command::AccessPaths {
                apps,
                services,
                from,
                to,
                offset,
                limit,
                format,
            } => {
                let request = commands::AccessPathRequest {
                    apps,
                    services,
                    from,
                    to,
                    page: (offset, limit),
                };
                commands::access_paths(config, request, format).await
            }
            Command::Whatif {
                policy,
                baseline,
                from,
                to,
                evidence,
                offset,
                limit,
                format,
            } => {
                let request = commands::WhatIfRequest {
                    policy,
                    baseline,
                    from,
                    to,
                    evidence: evidence.map(|rule| (rule, offset, limit)),
                };
                commands::whatif(config, request, format).await
            }
            Command::Detect {
                from,
                to,
                rules,
                format,
                list,
            } => commands::detect(config, from, to, rules, format, list).await,
            Command::Alerts {
                from,
                to,
                state,
                severity,
                rule,
                limit,
                format,
            } => {
                let filter = commands::AlertListing {
                    from,
                    to,
                    state,
                    severity,
                    rule,
                    limit,
                };
                commands::alerts(config, filter, format)
            }
            Command::Config => commands::print_config(&config),
            Command::Maturity { from, to, format } => {
                commands::maturity(config, from, to, format).await
            }
            Command::Gen {
                seed,
                out,
                events,
                start,
                duration,
                attacks,
                story_at,
            } => commands::generate(
                seed,
                &out,
                events,
                (&start, &duration),
                attacks,
                story_at.as_deref(),
            ),
            Command::Demo { listen, rate } => commands::demo(config, &listen, rate).await,
            Command::DeadLetters { limit, format } => commands::dead_letters(config, limit, format),
            Command::Maintain => commands::maintain(config).await,
            Command::Lake {
                action:
                    cli::LakeCommand::Ddl {
                        dialect,
                        location,
                        database,
                    },
            } => {
                let location = location.unwrap_or_else(|| {
                    std::path::absolute(&config.lake.data_dir)
                        .unwrap_or_else(|_| config.lake.data_dir.clone())
                        .display()
                        .to_string()
                });
                lake_ddl::check(&location, &database)
                    .map(|()| print!("{}", lake_ddl::ddl(dialect, &location, &database)))
                    .map_err(Into::into)
            }
            Command::Status {
                url,
                format,
                json,
                token,
            } => {
                let format = if json { OutputFormat::Json } else { format };
                commands::status(config, url, format, token).await
            }
            Command::Token { scopes, name } => commands::token(&scopes, &name),
            Command::KafkaMock {
                topics,
                produce,
                brokers,
            } => kafka_mock::run(brokers, &topics, &produce).await,
            Command::Bench {
                events,
                dir,
                repeat,
                kafka,
                lake,
                from,
                to,
                whatif,
                skip_kpis,
            } => {
                // The KPIs timed are the ones `kpi` and `serve` evaluate: the built-ins, plus
                // or replaced by `--queries` / `queries_dir`.
                if let Some(lake) = lake {
                    match (config.inventory.load(), service::kpi_catalog(&config)) {
                        (Ok(inventory), Ok(catalog)) => {
                            let observe = bench::ObserveBench {
                                policy: whatif,
                                skip_kpis,
                                site: config.site.clone(),
                            };
                            bench::run_lake(
                                lake,
                                (&from, &to),
                                repeat,
                                config.query.clone(),
                                catalog,
                                &inventory,
                                observe,
                            )
                            .await
                        }
                        (Err(e), _) => Err(e.into()),
                        (_, Err(e)) => Err(e),
                    }
                } else if kafka {
                    bench::run_kafka(events, dir).await
                } else {
                    match service::kpi_catalog(&config) {
                        Ok(catalog) => bench::run(events, dir, repeat, catalog).await,
                        Err(e) => Err(e),
                    }
                }
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
