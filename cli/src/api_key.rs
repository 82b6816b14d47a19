//! Where `orders serve` gets its API keys: `ORDERS_API_KEY` (comma-separated for rotation), else the
//! digests stored in the data dir, else a new random key that is printed once and stored only as
//! its SHA-256 digest.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use orders_ingest::http::ApiKeys;
use rand::RngCore;

/// The environment variable holding the accepted key(s).
pub const API_KEY_ENV: &str = "ORDERS_API_KEY";
/// File in the data dir with one hex SHA-256 digest per line.
pub const DIGEST_FILE: &str = "api-key.sha256";

/// The keys to accept, and a newly generated key to show once (if one was made).
pub struct LoadedKeys {
    /// Accepted keys.
    pub keys: ApiKeys,
    /// A key generated now: print it once, it is stored nowhere.
    pub generated: Option<String>,
    /// Where the digests live (when they come from the data dir).
    pub digest_file: Option<PathBuf>,
}

/// Loads the keys, as the module doc says. An empty `env_value` counts as unset.
pub fn load(env_value: Option<String>, data_dir: &Path) -> anyhow::Result<LoadedKeys> {
    // An empty variable counts as unset (as shells and CI systems often leave them).
    if let Some(value) = env_value.filter(|v| !v.trim().is_empty()) {
        let keys: Vec<&str> = value.split(',').map(str::trim).filter(|k| !k.is_empty()).collect();
        if keys.is_empty() {
            bail!("{API_KEY_ENV} is set but holds no key");
        }
        let keys = ApiKeys::from_keys(keys).with_context(|| format!("{API_KEY_ENV} is not usable"))?;
        return Ok(LoadedKeys { keys, generated: None, digest_file: None });
    }
    let path = data_dir.join(DIGEST_FILE);
    if path.exists() {
        let text = fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let digests: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
        let keys = ApiKeys::from_hex_digests(digests).with_context(|| format!("{} is not usable", path.display()))?;
        return Ok(LoadedKeys { keys, generated: None, digest_file: Some(path) });
    }
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    let key = format!("ok_{}", hex::encode(bytes));
    write_private(&path, &format!("{}\n", ApiKeys::hex_digest(&key)))?;
    let keys = ApiKeys::from_keys([&key]).context("generated key")?;
    Ok(LoadedKeys { keys, generated: Some(key), digest_file: Some(path) })
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(contents.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_all().with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_generated_key_is_stored_as_a_digest_and_accepted_after_restart() {
        let dir = tempfile::tempdir().unwrap();
        let first = load(None, dir.path()).unwrap();
        let key = first.generated.unwrap();
        let stored = fs::read_to_string(dir.path().join(DIGEST_FILE)).unwrap();
        assert!(!stored.contains(&key), "the key itself must not be stored");
        let again = load(None, dir.path()).unwrap();
        assert!(again.generated.is_none());
        assert!(again.keys.accepts(key.as_bytes()));
    }

    #[test]
    fn the_environment_wins_and_allows_several_keys() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(Some("old-key-0123456789ab, new-key-0123456789ab".into()), dir.path()).unwrap();
        assert!(loaded.keys.accepts(b"old-key-0123456789ab"));
        assert!(loaded.keys.accepts(b"new-key-0123456789ab"));
        assert!(!dir.path().join(DIGEST_FILE).exists());
        assert!(load(Some("short".into()), dir.path()).is_err());
        assert!(load(Some(" , ".into()), dir.path()).is_err());
    }
}
