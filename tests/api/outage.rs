//! Database outage: against a PostgreSQL cluster of the test's own (never the shared one),
//! stopped and started under light load, Tipline answers 503 problem+json quickly while the
//! database is away, `/readyz` says so, and it recovers by itself.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::pg_base_url;
use crate::process::{post_json, try_request, Server};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A throwaway cluster owned by the `postgres` user, on a port of its own.
struct Cluster {
    dir: PathBuf,
    port: u16,
}

fn as_postgres(program: &str, args: &[&str]) -> std::process::Output {
    Command::new("runuser")
        .args(["-u", "postgres", "--", &format!("{PG_BIN}/{program}")])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} as postgres: {e}"))
}

impl Cluster {
    fn create(root: &Path) -> Cluster {
        let dir = root.join("pgdata");
        std::fs::create_dir_all(&dir).unwrap();
        Command::new("chown").args(["-R", "postgres:postgres"]).arg(root).status().unwrap();
        let out = as_postgres("initdb", &["-D", dir.to_str().unwrap(), "-A", "trust", "-U", "postgres", "--no-sync"]);
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Cluster { dir, port }
    }

    fn start(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.display());
        let log = self.dir.join("server.log");
        let out = as_postgres(
            "pg_ctl",
            &["-D", self.dir.to_str().unwrap(), "-o", &options, "-l", log.to_str().unwrap(), "-w", "start"],
        );
        assert!(out.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn stop(&self) {
        as_postgres("pg_ctl", &["-D", self.dir.to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn submit(addr: &str) -> (u16, String) {
    let body = r#"{"kind":"station","narrative":"outage","country":"NL"}"#;
    try_request(addr, &post_json("/api/v1/reports", body, "")).expect("Tipline answers")
}

fn readyz(addr: &str) -> (u16, String) {
    try_request(addr, "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").expect("Tipline answers")
}

/// Polls until `check` holds, for at most `limit`.
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Tipline serving on a private cluster, checked to accept a submission and to be ready.
/// Fields drop in order: the server, then the cluster, then their folder.
struct Serving {
    server: Server,
    cluster: Cluster,
    _root: tempfile::TempDir,
}

impl Serving {
    fn start() -> Serving {
        let root = tempfile::tempdir().unwrap();
        let cluster = Cluster::create(root.path());
        cluster.start();
        let data = root.path().join("tipline");
        std::fs::create_dir_all(&data).unwrap();
        let server = Server::start_with(&cluster.url(), &data);
        assert_eq!(submit(&server.addr).0, 201);
        assert_eq!(readyz(&server.addr).0, 200);
        Serving { server, cluster, _root: root }
    }
}

#[test]
fn answers_503_while_the_database_is_away_and_recovers() {
    // Like every PostgreSQL test, this one runs when PostgreSQL is configured (always in CI).
    if pg_base_url().is_none() {
        return;
    }
    let serving = Serving::start();
    let (server, cluster) = (&serving.server, &serving.cluster);

    cluster.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let (status, response) = submit(&server.addr);
        assert_eq!(status, 503, "{response}");
        assert!(started.elapsed() < Duration::from_secs(5), "answered in {:?}", started.elapsed());
        assert!(response.contains("application/problem+json"), "{response}");
        let (status, response) = readyz(&server.addr);
        assert_eq!(status, 503, "{response}");
        assert!(response.contains("application/problem+json"));
    }

    cluster.start();
    assert!(eventually(Duration::from_secs(15), || readyz(&server.addr).0 == 200), "readyz did not recover");
    assert!(eventually(Duration::from_secs(5), || submit(&server.addr).0 == 201), "writes did not recover");
    let (exit, _) = serving.server.stop();
    assert!(exit.success());
}

/// A pooled connection that the database dropped while it sat idle (a restart, a failover, an
/// idle timeout) is found dead when it is next taken from the pool, and replaced: the request
/// does not see it. Only a connection that answered in the last 500 ms is handed out untested
/// (`db::TRUSTED_AFTER_CHECK`), so the test waits longer than that before asking.
#[test]
fn connections_dropped_while_idle_are_replaced_unseen() {
    use diesel::{Connection, PgConnection, RunQueryDsl};
    if pg_base_url().is_none() {
        return;
    }
    let serving = Serving::start();
    let (server, cluster) = (&serving.server, &serving.cluster);

    let mut admin = PgConnection::establish(&cluster.url()).unwrap();
    for _ in 0..3 {
        let killed = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'",
        )
        .execute(&mut admin)
        .unwrap();
        assert!(killed > 0, "the server holds pooled connections");
        std::thread::sleep(Duration::from_millis(700));
        let (status, response) = submit(&server.addr);
        assert_eq!(status, 201, "{response}");
        let (status, response) = readyz(&server.addr);
        assert_eq!(status, 200, "{response}");
    }
    let (exit, _) = serving.server.stop();
    assert!(exit.success());
}
