//! Least privilege (`--user NAME`, as nginx's `user`): once the program is attached, the
//! UMEMs registered and the sockets bound, each worker thread gives up root for NAME's
//! uid and gid with no capability; what stopping cleanly needs (detaching the program)
//! stays with the thread that started the engine, and the control thread stays with it.
//! A worker compromised through a parser bug then holds no root.

use std::fmt;

/// A user to run the workers as.
#[derive(Clone, PartialEq, Eq)]
pub struct RunAs {
    /// The user's name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary group.
    pub gid: u32,
}

impl fmt::Debug for RunAs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}:{})", self.name, self.uid, self.gid)
    }
}

impl RunAs {
    /// NAME's uid and primary gid from /etc/passwd (a number is taken as a uid).
    pub fn lookup(name: &str) -> Result<RunAs, String> {
        let passwd = std::fs::read_to_string("/etc/passwd")
            .map_err(|e| format!("reading /etc/passwd: {e}"))?;
        from_passwd(&passwd, name)
    }
}

fn from_passwd(passwd: &str, name: &str) -> Result<RunAs, String> {
    let by_uid = name.parse::<u32>().ok();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 {
            continue;
        }
        let (Ok(uid), Ok(gid)) = (f[2].parse::<u32>(), f[3].parse::<u32>()) else {
            continue;
        };
        if f[0] == name || by_uid == Some(uid) {
            if uid == 0 {
                return Err(format!("user '{name}' is root: give an unprivileged user"));
            }
            return Ok(RunAs {
                name: f[0].to_string(),
                uid,
                gid,
            });
        }
    }
    Err(format!("no user '{name}' in /etc/passwd"))
}

#[cfg(test)]
mod tests {
    use super::from_passwd;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
        broken line\n\
        www:x:33:44::/var/www:/usr/sbin/nologin\n";

    #[test]
    fn users_by_name_or_uid_and_never_root() {
        let n = from_passwd(PASSWD, "nobody").unwrap();
        assert_eq!((n.uid, n.gid, n.name.as_str()), (65534, 65534, "nobody"));
        assert_eq!(from_passwd(PASSWD, "33").unwrap().gid, 44);
        assert!(from_passwd(PASSWD, "root").unwrap_err().contains("is root"));
        assert!(from_passwd(PASSWD, "ghost")
            .unwrap_err()
            .contains("no user"));
    }
}
