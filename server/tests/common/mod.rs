//! A granary-server process on a free port with a data directory of its own, for the tests.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use tokio_postgres::{Client, NoTls};

pub mod raw;

pub struct ServerProcess {
    child: Child,
    /// The PostgreSQL protocol listener.
    pub addr: SocketAddr,
    /// The ClickHouse native protocol listener.
    #[allow(dead_code)]
    pub native_addr: SocketAddr,
    _data: Option<tempfile::TempDir>,
}

impl ServerProcess {
    #[allow(dead_code)]
    pub fn start() -> ServerProcess {
        ServerProcess::start_with_users(&[])
    }

    #[allow(dead_code)]
    /// A server whose configuration has exactly these users (name, password; an empty password
    /// is none); no users means the built-in `default`.
    pub fn start_with_users(users: &[(&str, &str)]) -> ServerProcess {
        let data = tempfile::tempdir().unwrap();
        let config = data.path().join("granary.toml");
        let mut text = String::new();
        for (name, password) in users {
            text.push_str(&format!("[users.{name}]\n"));
            if !password.is_empty() {
                text.push_str(&format!(
                    "password_scram_sha256 = \"{}\"\n",
                    scram_secret(password)
                ));
            }
        }
        std::fs::write(&config, text).unwrap();
        let mut server = ServerProcess::start_in(&data.path().join("data"), &config);
        server._data = Some(data);
        server
    }

    #[allow(dead_code)]
    /// A server on the data directory `data` (kept after it stops) with the configuration file
    /// `config`.
    pub fn start_in(data: &std::path::Path, config: &std::path::Path) -> ServerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_granary-server"))
            .args(["--pg-addr", "127.0.0.1:0", "--native-addr", "127.0.0.1:0"])
            .arg("--config")
            .arg(config)
            .arg("--data-dir")
            .arg(data)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let (mut addr, mut native_addr) = (None, None);
        while addr.is_none() || native_addr.is_none() {
            let line = lines
                .next()
                .expect("the server logs its addresses")
                .unwrap();
            let Some(rest) = line.split("listening on ").nth(1) else {
                continue;
            };
            let bound: SocketAddr = rest.split_whitespace().next().unwrap().parse().unwrap();
            if line.contains("PostgreSQL protocol") {
                addr = Some(bound);
            } else if line.contains("native protocol") {
                native_addr = Some(bound);
            }
        }
        // Keep reading the log so that the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        ServerProcess {
            child,
            addr: addr.unwrap(),
            native_addr: native_addr.unwrap(),
            _data: None,
        }
    }

    #[allow(dead_code)]
    pub async fn connect(&self, database: &str) -> Result<Client, tokio_postgres::Error> {
        let config = format!(
            "host={} port={} user=default dbname={database}",
            self.addr.ip(),
            self.addr.port()
        );
        let (client, connection) = tokio_postgres::connect(&config, NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the server to exit (after a signal sent with [`ServerProcess::pid`]).
    #[allow(dead_code)]
    pub fn wait(mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }

    /// SIGKILL: the process dies at once, wherever it is.
    #[allow(dead_code)]
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    #[allow(dead_code)]
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

/// The SCRAM-SHA-256 secret of `password`, as `granary-server --hash-password` prints it.
fn scram_secret(password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_granary-server"))
        .arg("--hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
