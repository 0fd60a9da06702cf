//! A private PostgreSQL server for a test that must stop and start its database (store
//! outages), run from the machine's PostgreSQL binaries in a temporary directory.
//!
//! Tests that only need a database use the machine's shared server with a database of their
//! own; stopping that server would break every other test running at the same time, so an
//! outage test gets a server nobody else uses. PostgreSQL refuses to run as root, so the server
//! runs as the `postgres` user when the test runs as root.

use std::path::{Path, PathBuf};
use std::process::Command;

use nix::unistd::{Uid, User};

/// A private PostgreSQL server on a free loopback port, user `postgres` with trust auth.
pub struct PostgresServer {
    dir: tempfile::TempDir,
    port: u16,
    running: bool,
}

fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries are not installed (/usr/lib/postgresql)")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop().expect("no pg_ctl under /usr/lib/postgresql")
}

/// Runs a PostgreSQL binary, as the `postgres` user if this process is root.
fn pg(bin: &str, args: &[&str]) -> std::process::Output {
    let program = bin_dir().join(bin);
    let mut cmd = if Uid::effective().is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    cmd.args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PostgresServer {
    /// Creates a cluster in a temporary directory and starts it.
    pub fn start() -> PostgresServer {
        let dir = tempfile::Builder::new()
            .prefix("steward-pg-")
            .tempdir()
            .unwrap();
        if Uid::effective().is_root() {
            let user = User::from_name("postgres")
                .unwrap()
                .expect("a postgres user");
            nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid)).unwrap();
        }
        let data = dir.path().join("data");
        let out = pg(
            "initdb",
            &[
                "-D",
                path(&data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut server = PostgresServer {
            port: free_port(),
            dir,
            running: false,
        };
        server.start_again();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `postgresql://postgres@127.0.0.1:<port>/postgres`
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (again, on the same port and data) and waits until it accepts
    /// connections (`pg_ctl -w`).
    pub fn start_again(&mut self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            path(self.dir.path())
        );
        let log = self.dir.path().join("postgres.log");
        let out = pg(
            "pg_ctl",
            &[
                "-D",
                path(&self.data()),
                "-o",
                &options,
                "-l",
                path(&log),
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        self.running = true;
    }

    /// Stops the server at once (`pg_ctl -m fast`), dropping every connection.
    pub fn stop(&mut self) {
        let out = pg(
            "pg_ctl",
            &["-D", path(&self.data()), "-m", "fast", "-w", "stop"],
        );
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.running = false;
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if self.running {
            let _ = pg(
                "pg_ctl",
                &["-D", path(&self.data()), "-m", "immediate", "-w", "stop"],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_stops_and_starts_again() {
        let mut pg_server = PostgresServer::start();
        let ready = |port: u16| {
            pg("pg_isready", &["-h", "127.0.0.1", "-p", &port.to_string()])
                .status
                .success()
        };
        assert!(ready(pg_server.port));
        pg_server.stop();
        assert!(!ready(pg_server.port));
        pg_server.start_again();
        assert!(ready(pg_server.port));
    }
}
