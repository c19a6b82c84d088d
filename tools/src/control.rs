//! The client side of a running engine's control socket (the engine's
//! `runtime::control` describes the protocol): which socket, one request, one answer.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use fastpath_engine::runtime::{default_control_path, CONTROL_VERSION};
use serde_json::Value;

/// `--iface IF | --control PATH`, shared by `stat`, `ss` and `reload`.
#[derive(clap::Args, Debug, Clone)]
pub struct Target {
    /// The interface of the engine to ask (its control socket is /run/fastpath/IF.sock).
    #[arg(long, value_name = "IF", conflicts_with = "control")]
    pub iface: Option<String>,

    /// The engine's control socket, when it was started with `--control PATH`.
    #[arg(long, value_name = "PATH")]
    pub control: Option<PathBuf>,
}

impl Target {
    pub fn path(&self) -> anyhow::Result<PathBuf> {
        match (&self.control, &self.iface) {
            (Some(p), _) => Ok(p.clone()),
            (None, Some(i)) => Ok(default_control_path(i)),
            (None, None) => bail!("say which engine: --iface IF (or --control PATH)"),
        }
    }
}

/// A connection to one engine's control socket.
pub struct Client {
    out: UnixStream,
    input: BufReader<UnixStream>,
    path: PathBuf,
}

impl Client {
    pub fn connect(target: &Target) -> anyhow::Result<Client> {
        let path = target.path()?;
        let shown = path.display();
        let out = UnixStream::connect(&path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => anyhow::anyhow!(
                "{shown} does not exist: no engine runs there (start `fastpath serve --iface IF`, or give the --control PATH it was started with)"
            ),
            ErrorKind::PermissionDenied => anyhow::anyhow!(
                "{shown}: permission denied: ask as the user that started the engine (or root)"
            ),
            ErrorKind::ConnectionRefused => anyhow::anyhow!(
                "{shown}: nobody answers: the engine that made it has stopped"
            ),
            _ => anyhow::anyhow!("{shown}: {e}"),
        })?;
        out.set_read_timeout(Some(Duration::from_secs(30)))?;
        let input = BufReader::new(out.try_clone()?);
        Ok(Client { out, input, path })
    }

    /// How long an answer may take (30 s unless changed).
    pub fn set_timeout(&mut self, wait: Duration) -> anyhow::Result<()> {
        self.out.set_read_timeout(Some(wait))?;
        Ok(())
    }

    /// Sends `cmd` and returns the engine's answer (an error answer becomes an error).
    pub fn ask(&mut self, cmd: &str) -> anyhow::Result<Value> {
        let req = serde_json::json!({"v": CONTROL_VERSION, "cmd": cmd});
        let shown = self.path.display().to_string();
        let mut line = req.to_string();
        line.push('\n');
        self.out
            .write_all(line.as_bytes())
            .with_context(|| format!("writing to {shown}"))?;
        let mut answer = String::new();
        let n = self
            .input
            .read_line(&mut answer)
            .with_context(|| format!("reading from {shown}"))?;
        if n == 0 {
            bail!("{shown}: the engine closed the connection without answering");
        }
        let v: Value = serde_json::from_str(&answer)
            .with_context(|| format!("{shown}: an answer that is not JSON"))?;
        if v["ok"] != true {
            bail!(
                "{shown}: {}",
                v["error"]
                    .as_str()
                    .unwrap_or("the engine refused the request")
            );
        }
        Ok(v)
    }
}
