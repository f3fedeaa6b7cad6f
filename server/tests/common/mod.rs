//! A granary-server process on a free port with a data directory of its own, for the tests.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use tokio_postgres::{Client, NoTls};

pub struct ServerProcess {
    child: Child,
    /// The PostgreSQL protocol listener.
    pub addr: SocketAddr,
    /// The ClickHouse native protocol listener.
    #[allow(dead_code)]
    pub native_addr: SocketAddr,
    _data: tempfile::TempDir,
}

impl ServerProcess {
    pub fn start() -> ServerProcess {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_granary-server"))
            .args(["--pg-addr", "127.0.0.1:0", "--native-addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data.path())
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
            _data: data,
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
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
