//! `fastpath reload`: asks a running `serve --root DIR` (through its control socket) to
//! read the tree again, waits until it has, and says what happened.

use std::time::Duration;

use crate::control::{Client, Target};

/// Loading a big tree with `--compress` takes a while; the answer comes when it is done.
const WAIT: Duration = Duration::from_secs(600);

#[derive(clap::Args, Debug, Clone)]
pub struct ReloadArgs {
    #[command(flatten)]
    pub target: Target,
}

pub fn main(args: &ReloadArgs) -> anyhow::Result<()> {
    let mut client = Client::connect(&args.target)?;
    client.set_timeout(WAIT)?;
    // A failed load, or an engine serving no --root, is an error answer: its text says
    // which, and which generation still serves.
    let answer = client.ask("reload")?;
    println!("{}", answer["message"].as_str().unwrap_or("reloaded"));
    Ok(())
}
