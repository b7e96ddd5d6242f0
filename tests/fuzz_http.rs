//! The HTTP fuzz target: a real `ztlens serve` fed random request bodies for every source it
//! declares (mutations of valid records from the generator: flipped and inserted bytes, cuts,
//! splices, type swaps, deep nesting, gzip, valid and broken) and random SQL from a typed
//! grammar over the lake's real tables and columns (expressions, functions, aggregates, joins,
//! subqueries, CTEs, set operations, window functions, and statements that write).
//!
//! Every answer must be below 500 — a bad body or statement is the client's error — and an
//! error must be the JSON error shape; the server must never log a panic and must keep
//! answering `/healthz`. No storage failure is injected here, so no 5xx is expected at all.
//!
//! Deterministic by default; `ZTLENS_FUZZ_SEED` and `ZTLENS_FUZZ_CASES` (per endpoint) explore
//! further, e.g. `ZTLENS_FUZZ_SEED=$RANDOM ZTLENS_FUZZ_CASES=5000 cargo test --test fuzz_http`.
//! A failing case is written to `target/fuzz-http-failure.txt`.

mod support;

use std::io::Write;

use support::*;

/// xorshift64*: a small deterministic generator (the cases must replay from the seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Record a failing case where a developer can replay it, then fail.
fn fail(what: &str, request: &[u8], response: &Response, server: &Server) -> ! {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-http-failure.txt");
    if let Ok(mut f) = std::fs::File::create(&path) {
        let _ = writeln!(
            f,
            "{what}\nstatus {}\n{}\n--- request ---",
            response.status,
            response.text()
        );
        let _ = f.write_all(request);
    }
    panic!(
        "{what}: {} {}\n(request saved to {})\n{}",
        response.status,
        response.text(),
        path.display(),
        server.log()
    );
}

fn check(what: &str, request: &[u8], response: &Response, server: &Server) {
    if response.status >= 500 {
        fail(what, request, response, server);
    }
    if response.status >= 400 {
        let body = response.json();
        if !(body["code"].is_string() && body["message"].is_string()) {
            fail(
                &format!("{what}: not a JSON error"),
                request,
                response,
                server,
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies

const NASTY: &[&[u8]] = &[
    b"\0",
    b"\"",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b",",
    b":",
    b"\n",
    b"\r\n",
    b"\t",
    b" ",
    b"null",
    b"true",
    b"-",
    b"1e999999",
    b"-9223372036854775809",
    b"18446744073709551616",
    b"NaN",
    b"\xff\xfe",
    b"\xc3\x28",
    b"\xf0\x9f\x92\xa9",
    b"\\u0000",
    b"\\ud800",
    b"\"\":\"\"",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    b"2026-13-45T25:61:61Z",
    b"0000-00-00T00:00:00Z",
    b"99999999999999",
    b"::",
    b"[2001:db8::1]:443",
    b"999.999.999.999",
    b"%s%n%x",
    b"' OR 1=1 --",
];

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut body = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(body.len() + 1);
        match rng.below(9) {
            0 if !body.is_empty() => {
                let i = rng.below(body.len());
                body[i] ^= 1 << rng.below(8);
            }
            1 => body.truncate(at),
            2 => {
                let nasty = rng.pick(NASTY);
                body.splice(at..at, nasty.iter().copied());
            }
            3 if !body.is_empty() => {
                let end = (at + rng.below(200)).min(body.len());
                let copy = body[at.min(end)..end].to_vec();
                body.splice(at..at, copy);
            }
            4 => {
                let cut = rng.below(other.len() + 1);
                body.truncate(at);
                body.extend_from_slice(&other[cut..]);
            }
            5 => {
                // A number or string value swapped for another JSON type.
                let text = String::from_utf8_lossy(&body).into_owned();
                let swapped = match rng.below(4) {
                    0 => text.replacen(":\"", ":{\"x\":[", 1),
                    1 => text.replacen(":\"", ":null,\"_\":\"", 1),
                    2 => text.replacen(":1", ":\"1\"", 1),
                    _ => text.replacen(":{", ":[", 1),
                };
                body = swapped.into_bytes();
            }
            6 => {
                let mut lines: Vec<&[u8]> = body.split(|b| *b == b'\n').collect();
                if lines.len() > 1 {
                    let i = rng.below(lines.len());
                    let j = rng.below(lines.len());
                    lines.swap(i, j);
                }
                body = lines.join(&b'\n');
            }
            7 => {
                let depth = 1 + rng.below(5000);
                let deep = format!("{}{}", "[".repeat(depth), "]".repeat(rng.below(depth + 1)));
                body.splice(at..at, deep.into_bytes());
            }
            _ => {
                let junk: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
                body.splice(at..at, junk);
            }
        }
    }
    body
}

/// Up to `limit` bytes of a file, cut at a line end.
fn head(path: &std::path::Path, limit: usize) -> Vec<u8> {
    let data = std::fs::read(path).unwrap_or_default();
    if data.len() <= limit {
        return data;
    }
    let cut = data[..limit]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(limit, |p| p + 1);
    data[..cut].to_vec()
}

/// The source names the server declares (from its answer to an unknown one).
fn declared_sources(server: &Server) -> Vec<String> {
    let r = server.post("/api/v1/ingest/no-such-source", &[], b"x");
    assert_eq!(r.status, 404, "{}", r.text());
    let message = r.json()["message"].as_str().unwrap().to_string();
    let known = message
        .split("known: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no list of sources in {message:?}"));
    known
        .trim_end_matches(')')
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// SQL

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Num,
    Text,
    Time,
    Bool,
    Other,
}

struct Table {
    name: String,
    columns: Vec<(String, Kind)>,
}

fn kind_of(data_type: &str) -> Kind {
    let t = data_type.to_ascii_lowercase();
    if t.starts_with("int")
        || t.starts_with("uint")
        || t.starts_with("float")
        || t.starts_with("decimal")
    {
        Kind::Num
    } else if t.contains("utf8") || t.contains("string") || t.starts_with("dictionary") {
        Kind::Text
    } else if t.starts_with("timestamp") || t.starts_with("date") {
        Kind::Time
    } else if t == "boolean" {
        Kind::Bool
    } else {
        Kind::Other
    }
}

struct SqlGen<'a> {
    rng: Rng,
    tables: &'a [Table],
}

impl SqlGen<'_> {
    fn column(&mut self, table: &Table, alias: &str, kind: Kind) -> Option<String> {
        let matching: Vec<&(String, Kind)> =
            table.columns.iter().filter(|(_, k)| *k == kind).collect();
        if matching.is_empty() {
            return None;
        }
        let (name, _) = matching[self.rng.below(matching.len())];
        Some(format!("{alias}.\"{name}\""))
    }

    fn literal(&mut self, kind: Kind) -> String {
        match kind {
            Kind::Num => self
                .rng
                .pick(&[
                    "0",
                    "1",
                    "-1",
                    "42",
                    "3.5",
                    "1e10",
                    "9223372036854775807",
                    "-0.0",
                    "NULL",
                ])
                .to_string(),
            Kind::Text => self
                .rng
                .pick(&[
                    "''",
                    "'x'",
                    "'alice@corp.example'",
                    "'%'",
                    "'_'",
                    "'ü∂'",
                    "'\\'",
                    "'a''b'",
                    "NULL",
                ])
                .to_string(),
            Kind::Time => self
                .rng
                .pick(&[
                    "now()",
                    "TIMESTAMP '2026-03-01 00:00:00'",
                    "to_timestamp(0)",
                    "now() - INTERVAL '1 day'",
                    "CAST(NULL AS TIMESTAMP)",
                ])
                .to_string(),
            Kind::Bool => self.rng.pick(&["true", "false", "NULL"]).to_string(),
            Kind::Other => "NULL".into(),
        }
    }

    fn expr(&mut self, table: &Table, alias: &str, kind: Kind, depth: usize) -> String {
        if depth == 0 || self.rng.chance(30) {
            if self.rng.chance(70)
                && let Some(c) = self.column(table, alias, kind)
            {
                return c;
            }
            return self.literal(kind);
        }
        let d = depth - 1;
        match kind {
            Kind::Num => match self.rng.below(8) {
                0 => format!(
                    "({} {} {})",
                    self.expr(table, alias, Kind::Num, d),
                    self.rng.pick(&["+", "-", "*", "/", "%"]),
                    self.expr(table, alias, Kind::Num, d)
                ),
                1 => format!("length({})", self.expr(table, alias, Kind::Text, d)),
                2 => format!("abs({})", self.expr(table, alias, Kind::Num, d)),
                3 => format!("round({}, 2)", self.expr(table, alias, Kind::Num, d)),
                4 => format!(
                    "CAST({} AS {})",
                    self.expr(table, alias, Kind::Text, d),
                    self.rng.pick(&["BIGINT", "INT", "DOUBLE", "SMALLINT"])
                ),
                5 => format!(
                    "extract(hour FROM {})",
                    self.expr(table, alias, Kind::Time, d)
                ),
                6 => format!(
                    "coalesce({}, {})",
                    self.expr(table, alias, Kind::Num, d),
                    self.literal(Kind::Num)
                ),
                _ => format!(
                    "CASE WHEN {} THEN {} ELSE {} END",
                    self.expr(table, alias, Kind::Bool, d),
                    self.expr(table, alias, Kind::Num, d),
                    self.expr(table, alias, Kind::Num, d)
                ),
            },
            Kind::Text => match self.rng.below(9) {
                0 => format!(
                    "({} || {})",
                    self.expr(table, alias, Kind::Text, d),
                    self.expr(table, alias, Kind::Text, d)
                ),
                1 => format!("lower({})", self.expr(table, alias, Kind::Text, d)),
                2 => format!(
                    "substr({}, {}, {})",
                    self.expr(table, alias, Kind::Text, d),
                    self.expr(table, alias, Kind::Num, d),
                    self.literal(Kind::Num)
                ),
                3 => format!(
                    "split_part({}, '@', {})",
                    self.expr(table, alias, Kind::Text, d),
                    self.literal(Kind::Num)
                ),
                4 => format!(
                    "replace({}, {}, {})",
                    self.expr(table, alias, Kind::Text, d),
                    self.literal(Kind::Text),
                    self.expr(table, alias, Kind::Text, d)
                ),
                5 => format!(
                    "regexp_replace({}, '{}', {})",
                    self.expr(table, alias, Kind::Text, d),
                    self.rng
                        .pick(&["[0-9]+", "^(.*)@", "", "(a|b)*", "\\\\", "["]),
                    self.literal(Kind::Text)
                ),
                6 => format!("CAST({} AS VARCHAR)", self.expr(table, alias, Kind::Num, d)),
                7 => format!(
                    "concat_ws({}, {}, {})",
                    self.literal(Kind::Text),
                    self.expr(table, alias, Kind::Text, d),
                    self.expr(table, alias, Kind::Text, d)
                ),
                _ => format!(
                    "to_char({}, '%Y-%m-%d')",
                    self.expr(table, alias, Kind::Time, d)
                ),
            },
            Kind::Time => match self.rng.below(4) {
                0 => format!(
                    "date_trunc('{}', {})",
                    self.rng
                        .pick(&["hour", "day", "minute", "week", "month", "year"]),
                    self.expr(table, alias, Kind::Time, d)
                ),
                1 => format!(
                    "date_bin(INTERVAL '{}', {}, TIMESTAMP '2026-01-01')",
                    self.rng
                        .pick(&["5 minutes", "1 hour", "0 seconds", "1 day"]),
                    self.expr(table, alias, Kind::Time, d)
                ),
                2 => format!(
                    "({} + INTERVAL '{}')",
                    self.expr(table, alias, Kind::Time, d),
                    self.rng.pick(&["1 hour", "-1 day", "1000000 years"])
                ),
                _ => format!("to_timestamp({})", self.expr(table, alias, Kind::Num, d)),
            },
            Kind::Bool => match self.rng.below(8) {
                0 => {
                    let k = *self.rng.pick(&[Kind::Num, Kind::Text, Kind::Time]);
                    format!(
                        "({} {} {})",
                        self.expr(table, alias, k, d),
                        self.rng.pick(&["=", "<>", "<", ">=", "IS DISTINCT FROM"]),
                        self.expr(table, alias, k, d)
                    )
                }
                1 => format!(
                    "({} {} {})",
                    self.expr(table, alias, Kind::Bool, d),
                    self.rng.pick(&["AND", "OR"]),
                    self.expr(table, alias, Kind::Bool, d)
                ),
                2 => format!("NOT {}", self.expr(table, alias, Kind::Bool, d)),
                3 => format!(
                    "{} LIKE {}",
                    self.expr(table, alias, Kind::Text, d),
                    self.literal(Kind::Text)
                ),
                4 => format!(
                    "{} IS {}NULL",
                    self.expr(table, alias, Kind::Text, d),
                    self.rng.pick(&["", "NOT "])
                ),
                5 => format!(
                    "{} IN ({}, {})",
                    self.expr(table, alias, Kind::Num, d),
                    self.literal(Kind::Num),
                    self.literal(Kind::Num)
                ),
                6 => format!(
                    "{} BETWEEN {} AND {}",
                    self.expr(table, alias, Kind::Time, d),
                    self.literal(Kind::Time),
                    self.literal(Kind::Time)
                ),
                _ => format!(
                    "EXISTS (SELECT 1 FROM \"{}\" WHERE {})",
                    self.rng.pick(self.tables).name,
                    self.literal(Kind::Bool)
                ),
            },
            Kind::Other => "NULL".into(),
        }
    }

    fn select(&mut self, depth: usize) -> String {
        let table = self.rng.pick(self.tables);
        let kinds = [Kind::Num, Kind::Text, Kind::Time, Kind::Bool];
        let mut out = String::from("SELECT ");
        let grouped = self.rng.chance(40);
        let mut keys = Vec::new();
        let mut items = Vec::new();
        if grouped {
            for _ in 0..1 + self.rng.below(2) {
                let kind = *self.rng.pick(&kinds);
                keys.push(self.expr(table, "t", kind, 2));
            }
            items.extend(keys.iter().cloned());
            for _ in 0..1 + self.rng.below(3) {
                let kind = *self.rng.pick(&kinds);
                let arg = self.expr(table, "t", kind, 2);
                items.push(match self.rng.below(6) {
                    0 => "count(*)".to_string(),
                    1 => format!("count(DISTINCT {arg})"),
                    2 => format!("min({arg})"),
                    3 => format!("max({arg})"),
                    4 => format!("approx_distinct({arg})"),
                    _ => format!("sum(length(CAST({arg} AS VARCHAR)))"),
                });
            }
        } else {
            for _ in 0..1 + self.rng.below(4) {
                let kind = *self.rng.pick(&kinds);
                let item = self.expr(table, "t", kind, 3);
                items.push(if self.rng.chance(15) {
                    format!(
                        "row_number() OVER (PARTITION BY {} ORDER BY {})",
                        item,
                        self.expr(table, "t", Kind::Time, 1)
                    )
                } else {
                    item
                });
            }
        }
        let aliased: Vec<String> = items
            .iter()
            .enumerate()
            .map(|(i, e)| format!("{e} AS c{i}"))
            .collect();
        out.push_str(&aliased.join(", "));
        out.push_str(&format!(" FROM \"{}\" t", table.name));
        if self.rng.chance(15) {
            let other = self.rng.pick(self.tables);
            let on = match (
                self.column(table, "t", Kind::Text),
                self.column(other, "u", Kind::Text),
            ) {
                (Some(a), Some(b)) => format!("{a} = {b}"),
                _ => "false".into(),
            };
            out.push_str(&format!(
                " {} JOIN \"{}\" u ON {on}",
                self.rng.pick(&["", "LEFT", "FULL"]),
                other.name
            ));
        }
        if self.rng.chance(60) {
            out.push_str(&format!(" WHERE {}", self.expr(table, "t", Kind::Bool, 3)));
        }
        if grouped {
            out.push_str(&format!(" GROUP BY {}", keys.join(", ")));
            if self.rng.chance(30) {
                out.push_str(" HAVING count(*) > 1");
            }
        }
        if self.rng.chance(40) {
            out.push_str(&format!(
                " ORDER BY 1 {}",
                self.rng.pick(&["ASC", "DESC NULLS LAST"])
            ));
        }
        if self.rng.chance(60) {
            out.push_str(&format!(
                " LIMIT {}",
                self.rng.pick(&["0", "1", "10", "1000"])
            ));
        }
        if depth > 0 && self.rng.chance(20) {
            let inner = self.select(depth - 1);
            return match self.rng.below(3) {
                0 => format!("WITH q AS ({inner}) SELECT count(*) AS n FROM q"),
                1 => format!("SELECT * FROM ({inner}) AS s LIMIT 5"),
                _ => format!(
                    "SELECT count(*) AS n FROM ({out}) a UNION ALL SELECT count(*) FROM ({inner}) b"
                ),
            };
        }
        out
    }

    fn statement(&mut self) -> String {
        if self.rng.chance(8) {
            let table = &self.rng.pick(self.tables).name;
            return self
                .rng
                .pick(&[
                    format!("INSERT INTO \"{table}\" SELECT * FROM \"{table}\""),
                    format!("COPY (SELECT 1) TO '/tmp/fuzz-{table}.csv'"),
                    format!("CREATE TABLE fuzz AS SELECT * FROM \"{table}\""),
                    format!("DROP TABLE \"{table}\""),
                    "SET datafusion.execution.batch_size = 1".to_string(),
                    format!("EXPLAIN ANALYZE SELECT count(*) FROM \"{table}\""),
                    format!("DESCRIBE \"{table}\""),
                    "SELECT 1; SELECT 2".to_string(),
                ])
                .clone();
        }
        self.select(2)
    }
}

fn describe(server: &Server, table: &str) -> Table {
    let r = server.post(
        "/api/v1/query",
        &[],
        format!("DESCRIBE \"{table}\"").as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let rows = r.json()["rows"].as_array().cloned().unwrap_or_default();
    let columns = rows
        .iter()
        .map(|row| {
            (
                row["column_name"].as_str().unwrap_or_default().to_string(),
                kind_of(row["data_type"].as_str().unwrap_or_default()),
            )
        })
        .collect();
    Table {
        name: table.to_string(),
        columns,
    }
}

#[test]
fn random_bodies_and_random_sql_never_get_a_server_error() {
    let seed = env_number("ZTLENS_FUZZ_SEED", 0x5eed_2026).max(1);
    let cases = env_number("ZTLENS_FUZZ_CASES", 250) as usize;
    let dir = tempfile::tempdir().unwrap();
    let dataset = generate(dir.path(), 11, 3000);
    let (_lake, server) = serve_empty(&[
        ("ZTLENS_SERVER__RATE_LIMIT_PER_SECOND", "0"),
        ("ZTLENS_QUERY__TIMEOUT_SECS", "60"),
    ]);
    let sources = declared_sources(&server);
    assert!(sources.len() >= 12, "{sources:?}");

    // Seeds: the generator's records of each source (valid ones first, so the lake has rows
    // for the SQL below), and of other sources for the sources it does not write.
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    for source in &sources {
        let source_dir = dataset.join(source);
        let Ok(entries) = std::fs::read_dir(&source_dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "gz") {
                continue;
            }
            let body = head(&path, 48 * 1024);
            let r = server.post(&format!("/api/v1/ingest/{source}"), &[], &body);
            check(&format!("valid {source} records"), &body, &r, &server);
            seeds.push((source.clone(), body));
        }
    }
    assert!(seeds.len() >= 10, "{} seed files", seeds.len());

    let started = std::time::Instant::now();
    let mut rng = Rng(seed);
    for case in 0..cases {
        let (seed_source, body) = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())].1;
        let source = if rng.chance(70) {
            seed_source.clone()
        } else if rng.chance(50) {
            "auto".to_string()
        } else {
            rng.pick(&sources).clone()
        };
        let mut mutated = mutate(&mut rng, body, other);
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if rng.chance(15) {
            mutated = gzip(&mutated);
            if rng.chance(50) {
                headers.push(("Content-Encoding", "gzip"));
            }
            if rng.chance(30) {
                let len = mutated.len();
                mutated.truncate(len.saturating_sub(1 + rng.below(16)));
            }
        }
        if rng.chance(10) {
            headers.push((
                "Content-Type",
                *rng.pick(&["application/json", "text/plain", "application/x-ndjson"]),
            ));
        }
        let r = server.post(&format!("/api/v1/ingest/{source}"), &headers, &mutated);
        check(
            &format!("ingest case {case} as {source}"),
            &mutated,
            &r,
            &server,
        );
        if case % 50 == 0 {
            assert_eq!(
                server.get("/healthz").status,
                200,
                "after ingest case {case}"
            );
        }
    }

    eprintln!("{cases} bodies in {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let tables: Vec<Table> = [
        "authentication",
        "network_activity",
        "http_activity",
        "device_state",
        "detection_finding",
        "account_change",
        "base_event",
        "dead_letters",
    ]
    .iter()
    .map(|t| describe(&server, t))
    .collect();
    assert!(tables.iter().all(|t| !t.columns.is_empty()));
    let mut sql = SqlGen {
        rng: Rng(seed ^ 0x9e37_79b9_7f4a_7c15),
        tables: &tables,
    };
    let mut answered = 0;
    for case in 0..cases {
        let statement = sql.statement();
        let r = server.post("/api/v1/query", &[], statement.as_bytes());
        check(
            &format!("SQL case {case}"),
            statement.as_bytes(),
            &r,
            &server,
        );
        answered += usize::from(r.status == 200);
        if case % 50 == 0 {
            assert_eq!(server.get("/healthz").status, 200, "after SQL case {case}");
        }
    }
    eprintln!(
        "{answered} of {cases} generated statements ran (seed {seed}) in {:?}",
        started.elapsed()
    );
    // The grammar is typed: most statements must run, or the fuzzing only tests the parser.
    assert!(
        answered * 2 > cases,
        "only {answered} of {cases} generated statements ran"
    );
    let log = server.log();
    assert!(!log.contains("panicked"), "{log}");
    // The writes among them changed nothing.
    for table in &tables {
        let copied = format!("/tmp/fuzz-{}.csv", table.name);
        assert!(
            !std::path::Path::new(&copied).exists(),
            "{copied} was written"
        );
    }
}
