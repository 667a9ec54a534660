//! Masking: every secret the run holds is replaced by `***` in any text that
//! leaves the process.

use std::sync::{Arc, RwLock};

/// Environment variable names that hold secrets by convention.
const SECRET_MARKERS: [&str; 6] = [
    "TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "PRIVATE",
];

/// Values shorter than this are not masked: they would blank out ordinary words.
const MIN_SECRET_LEN: usize = 4;

pub const MASK: &str = "***";

/// Replaces known secret values in text.
#[derive(Clone, Default)]
pub struct Masker {
    /// Longest first, so a secret containing another is masked whole.
    secrets: Vec<String>,
}

impl std::fmt::Debug for Masker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Masker({} secrets)", self.secrets.len())
    }
}

impl Masker {
    /// Masks the values of environment variables whose names say they are secret.
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut masker = Self::default();
        for (name, value) in vars {
            if is_secret_name(&name) {
                masker.add(value);
            }
        }
        masker
    }

    /// Adds a secret, each of its lines (CI runners mask line by line, and a
    /// multi-line key may be printed in part) and its base64 form (how it
    /// travels in an `Authorization: Basic` header or a Kubernetes Secret).
    pub fn add(&mut self, secret: impl Into<String>) {
        let secret = secret.into();
        for line in secret.lines() {
            self.add_exact(line.trim().to_owned());
        }
        self.add_exact(base64(secret.as_bytes()));
        self.add_exact(secret);
    }

    /// A basic-auth pair: each part, and `user:password` in clear and in base64.
    pub fn add_basic_auth(&mut self, username: &str, password: &str) {
        self.add(username);
        self.add(password);
        self.add(format!("{username}:{password}"));
    }

    fn add_exact(&mut self, secret: String) {
        if secret.len() >= MIN_SECRET_LEN && !self.secrets.contains(&secret) {
            self.secrets.push(secret);
            self.secrets
                .sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        }
    }

    /// Adds every secret `other` knows.
    pub fn extend(&mut self, other: &Masker) {
        for secret in &other.secrets {
            self.add_exact(secret.clone());
        }
    }

    /// The secrets, longest first (for `::add-mask::`).
    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    pub fn mask(&self, text: &str) -> String {
        self.secrets.iter().fold(text.to_owned(), |masked, secret| {
            masked.replace(secret.as_str(), MASK)
        })
    }
}

/// Whether an environment variable's name says it holds a secret.
pub fn is_secret_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_MARKERS.iter().any(|marker| upper.contains(marker))
}

/// The masker every output goes through: what the environment holds at first
/// use, plus what [`remember`] adds once the spec is known.
fn global() -> &'static RwLock<Arc<Masker>> {
    static GLOBAL: std::sync::OnceLock<RwLock<Arc<Masker>>> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(|| RwLock::new(Arc::new(Masker::from_env(std::env::vars()))))
}

/// Adds `secrets` to the masker every output goes through.
pub fn remember(secrets: &Masker) {
    let mut current = global()
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut merged = Masker::clone(&current);
    merged.extend(secrets);
    *current = Arc::new(merged);
}

/// The masker every output goes through.
pub fn current() -> Arc<Masker> {
    global()
        .read()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// `text` with every secret the run holds replaced by `***`.
pub fn mask(text: &str) -> String {
    current().mask(text)
}

/// Standard base64 with padding (RFC 4648), as HTTP basic auth uses.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (index, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if index <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secret_looking_variables_and_added_values() {
        let mut masker = Masker::from_env([
            ("GITHUB_TOKEN".to_owned(), "ghs_abcdef".to_owned()),
            ("db_password".to_owned(), "hunter22".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ]);
        masker.add("s3cr3t-header");
        let masked = masker.mask("token ghs_abcdef, pw hunter22, header s3cr3t-header, home /root");
        assert_eq!(masked, "token ***, pw ***, header ***, home /root");
    }

    #[test]
    fn short_values_are_left_alone() {
        let masker = Masker::from_env([("API_KEY".to_owned(), "x".to_owned())]);
        assert_eq!(masker.mask("x marks the spot"), "x marks the spot");
    }

    #[test]
    fn base64_matches_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(
            base64(b"Aladdin:open sesame"),
            "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
    }

    #[test]
    fn basic_auth_pairs_are_masked_in_clear_and_base64() {
        let mut masker = Masker::default();
        masker.add_basic_auth("Aladdin", "open sesame");
        assert_eq!(
            masker
                .mask("Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== for Aladdin:open sesame"),
            "Authorization: Basic *** for ***"
        );
    }

    #[test]
    fn each_line_of_a_multiline_secret_is_masked() {
        let mut masker = Masker::default();
        masker.add("-----BEGIN KEY-----\nAAAAsecretline\n-----END KEY-----");
        assert_eq!(masker.mask("printed AAAAsecretline"), "printed ***");
    }
}
